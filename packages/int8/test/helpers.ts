/** mulberry32: a small deterministic PRNG in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Deterministic standard-normal values (Box–Muller). */
export function randn(n: number, seed: number, std = 1): Float32Array {
  const next = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(next(), 1e-12);
    out[i] = std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
  }
  return out;
}

/** ‖a − b‖₂ / ‖b‖₂. */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += ((a[i] as number) - (b[i] as number)) ** 2;
    den += (b[i] as number) ** 2;
  }
  return Math.sqrt(num / den);
}

/** x · Wᵀ in float64: x [M, K], w [N, K] → [M, N]. */
export function matMulT(x: ArrayLike<number>, w: ArrayLike<number>, M: number, K: number, N: number): Float64Array {
  const out = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += (x[m * K + k] as number) * (w[n * K + k] as number);
      out[m * N + n] = s;
    }
  }
  return out;
}

/** dY · Ŵ in float64: dy [M, N], w [N, K] → [M, K]. */
export function matMulN(dy: ArrayLike<number>, w: ArrayLike<number>, M: number, N: number, K: number): Float64Array {
  const out = new Float64Array(M * K);
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
    const d = dy[m * N + n] as number;
    for (let k = 0; k < K; k++) out[m * K + k] = (out[m * K + k] as number) + d * (w[n * K + k] as number);
  }
  return out;
}
