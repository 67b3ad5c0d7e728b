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
