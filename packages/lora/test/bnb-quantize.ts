/** Test helper: a float32 weight quantized as bitsandbytes' `Int8Params` does (the reference the 8-bit merge tests build their checkpoints with). */

/** `torch.round`: half to even. */
const roundHalfEven = (v: number): number => {
  const f = Math.floor(v);
  const d = v - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
};

/**
 * `w [out, inF]` row-major → bitsandbytes' `CB` (int8, `round(w · 127 / SCB)` in float32, half to even) and
 * `SCB` (float32 row absmax).
 */
export function quantizeBnb(w: Float32Array, out: number, inF: number): { CB: Int8Array; SCB: Float32Array } {
  const CB = new Int8Array(out * inF);
  const SCB = new Float32Array(out);
  for (let r = 0; r < out; r++) {
    SCB[r] = Math.max(...w.subarray(r * inF, (r + 1) * inF).map(Math.abs));
    for (let c = 0; c < inF; c++) CB[r * inF + c] = roundHalfEven(Math.fround(w[r * inF + c]! * Math.fround(127 / SCB[r]!)));
  }
  return { CB, SCB };
}
