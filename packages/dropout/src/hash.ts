/**
 * The counter-based generator behind the masks: element `i` of a mask drawn with `seed` keeps
 * its value iff `bits24(keyOf(seed), i) ≥ threshold(rate)`. Pure 32-bit integer arithmetic
 * (`Math.imul`, shifts, xor), so JavaScript and WGSL (`u32`, wrapping) give the same bits: a mask
 * is the same on every backend, and the device needs no random numbers from the host.
 */

/** MurmurHash3's 32-bit finalizer (a bijection on u32 with full avalanche). */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The per-call key: the seed (any integer, taken mod 2³²) mixed once. */
export function keyOf(seed: number): number {
  return fmix32((seed ^ 0x9e3779b9) >>> 0);
}

/** 24 uniform bits for flat index `i` under `key`: fmix32(i · φ ⊕ key) >> 8 (φ = 0x9e3779b9, odd, so i ↦ i · φ is a bijection). */
export function bits24(key: number, i: number): number {
  return fmix32((Math.imul(i, 0x9e3779b9) ^ key) >>> 0) >>> 8;
}

/** The keep threshold on 24-bit draws: P(bits24 ≥ threshold) = 1 − round(rate · 2²⁴) / 2²⁴. */
export function threshold(rate: number): number {
  return Math.round(rate * 2 ** 24);
}

/** WGSL of the same generator (`fmix32`, `bits24`), for shaders that draw masks. */
export const WGSL_HASH = `
fn conifer_fmix32(h0 : u32) -> u32 {
  var h = h0;
  h = h ^ (h >> 16u);
  h = h * 0x85ebca6bu;
  h = h ^ (h >> 13u);
  h = h * 0xc2b2ae35u;
  h = h ^ (h >> 16u);
  return h;
}
fn conifer_bits24(key : u32, i : u32) -> u32 {
  return conifer_fmix32((i * 0x9e3779b9u) ^ key) >> 8u;
}`;
