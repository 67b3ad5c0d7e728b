/** An independent reference of the generator, in BigInt arithmetic (not the package's Math.imul code). */
const M32 = (1n << 32n) - 1n;
export function fmix32Ref(h0: number): number {
  let h = BigInt(h0 >>> 0);
  h ^= h >> 16n;
  h = (h * 0x85ebca6bn) & M32;
  h ^= h >> 13n;
  h = (h * 0xc2b2ae35n) & M32;
  h ^= h >> 16n;
  return Number(h);
}
export function maskRef(size: number, rate: number, seed: number): Float32Array {
  const key = fmix32Ref(Number((BigInt(seed >>> 0) ^ 0x9e3779b9n) & M32));
  const thr = Math.round(rate * 2 ** 24);
  const scale = Math.fround(1 / (1 - rate));
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    const h = fmix32Ref(Number(((BigInt(i) * 0x9e3779b9n) & M32) ^ BigInt(key)));
    if (h >>> 8 >= thr) out[i] = scale;
  }
  return out;
}
export function randn(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 1) / 2 ** 32;
  return new Float32Array(n).map(() => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

/** Independent reference of the noise (BigInt hash, double arithmetic): magnitude · (2b + 1 − 2²⁴) / 2²⁴ rounded to float32. */
export function noiseRef(size: number, magnitude: number, seed: number): Float32Array {
  const dropoutKey = fmix32Ref(Number((BigInt(seed >>> 0) ^ 0x9e3779b9n) & M32));
  const key = fmix32Ref(Number((BigInt(dropoutKey) ^ 0x6a09e667n) & M32));
  const mag = Math.fround(magnitude);
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    const b = fmix32Ref(Number(((BigInt(i) * 0x9e3779b9n) & M32) ^ BigInt(key))) >>> 8;
    out[i] = Math.fround((mag * (2 * b + 1 - 2 ** 24)) / 2 ** 24);
  }
  return out;
}
