import seedrandom from 'seedrandom';

/**
 * PyTorch's `nn.init.kaiming_uniform_(w, a=math.sqrt(5))` (what `nn.Linear` and PEFT use for
 * lora_A), for a weight [rows, fanIn]:
 *   gain  = sqrt(2 / (1 + a²)) = sqrt(2 / 6) = sqrt(1/3)
 *   std   = gain / sqrt(fan_in)
 *   bound = sqrt(3) · std = sqrt(3) · sqrt(1/3) / sqrt(fan_in) = 1 / sqrt(fan_in)
 * so w ~ U(-1/√fan_in, 1/√fan_in). Drawn from a seeded generator (not PyTorch's: same law, other numbers).
 */
export function kaimingUniformA5(rows: number, fanIn: number, seed: string): Float32Array {
  const bound = 1 / Math.sqrt(fanIn);
  const rng = seedrandom(seed);
  const out = new Float32Array(rows * fanIn);
  for (let i = 0; i < out.length; i++) out[i] = (2 * rng() - 1) * bound;
  return out;
}

/** N(0, std²) by Box–Muller from a seeded generator (PEFT's `init_lora_weights="gaussian"`: std = 1/r). */
export function gaussian(n: number, std: number, seed: string): Float32Array {
  const rng = seedrandom(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u1 = 1 - rng(); // (0, 1]
    const u2 = rng();
    const rad = Math.sqrt(-2 * Math.log(u1));
    out[i] = rad * Math.cos(2 * Math.PI * u2) * std;
    if (i + 1 < n) out[i + 1] = rad * Math.sin(2 * Math.PI * u2) * std;
  }
  return out;
}

/**
 * PEFT's `init_lora_weights="orthogonal"` (`LoraLayer.orthogonal_init`), r even: Q = qr(N(0,1)^{r×r}).Q,
 * A = (N(0,1)^{in×r/2} · Q[0::2])ᵀ / 10 → [r, in], B = N(0,1)^{out×r/2} · Q[1::2] / 10 → [out, r].
 * Q's even and odd rows are orthonormal to each other, so B·A = 0 while both are random: the adapter
 * starts as a no-op, as with the default init. Seeded, not PyTorch's numbers.
 */
export function orthogonalLora(r: number, inFeatures: number, outFeatures: number, seed: string): { a: Float32Array; b: Float32Array } {
  if (r % 2 !== 0) throw new Error(`Orthogonal initialization requires the LoRA rank to be even, got ${r} instead.`);
  const q = orthonormalRows(r, seed);
  const half = r / 2;
  const ra = gaussian(inFeatures * half, 1, `${seed}:A`); // [in, r/2]
  const rb = gaussian(outFeatures * half, 1, `${seed}:B`); // [out, r/2]
  const a = new Float32Array(r * inFeatures); // Aᵀ[i, j] = Σ_k ra[i, k] · q[2k, j]
  const b = new Float32Array(outFeatures * r); // B[o, j] = Σ_k rb[o, k] · q[2k + 1, j]
  for (let i = 0; i < inFeatures; i++) {
    for (let j = 0; j < r; j++) {
      let s = 0;
      for (let k = 0; k < half; k++) s += ra[i * half + k]! * q[2 * k * r + j]!;
      a[j * inFeatures + i] = s / 10;
    }
  }
  for (let o = 0; o < outFeatures; o++) {
    for (let j = 0; j < r; j++) {
      let s = 0;
      for (let k = 0; k < half; k++) s += rb[o * half + k]! * q[(2 * k + 1) * r + j]!;
      b[o * r + j] = s / 10;
    }
  }
  return { a, b };
}

/** The Q of a QR of an r×r N(0,1) matrix (modified Gram–Schmidt in float64), row-major: its rows are orthonormal too. */
function orthonormalRows(r: number, seed: string): Float64Array {
  const x = Float64Array.from(gaussian(r * r, 1, `${seed}:X`));
  const q = new Float64Array(r * r);
  for (let j = 0; j < r; j++) {
    const v = new Float64Array(r);
    for (let i = 0; i < r; i++) v[i] = x[i * r + j]!;
    for (let pass = 0; pass < 2; pass++) {
      // twice (re-orthogonalisation) keeps Qᵀ·Q = I to ~1e-15 even for ill-conditioned draws
      for (let k = 0; k < j; k++) {
        let d = 0;
        for (let i = 0; i < r; i++) d += q[i * r + k]! * v[i]!;
        for (let i = 0; i < r; i++) v[i]! -= d * q[i * r + k]!;
      }
    }
    let n = 0;
    for (let i = 0; i < r; i++) n += v[i]! * v[i]!;
    n = Math.sqrt(n);
    for (let i = 0; i < r; i++) q[i * r + j] = v[i]! / n;
  }
  return q;
}
