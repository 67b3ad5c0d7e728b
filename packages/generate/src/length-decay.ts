/**
 * transformers' `ExponentialDecayLengthPenalty` (generation/logits_process.py), for one row of scores.
 */

const f32 = Math.fround;

/**
 * `regulation_start = start_index + input_ids_seq_length`, where `input_ids_seq_length` is the decoder
 * prompt's length for encoder-decoders (the start token and any `decoderInputIds`: `promptLength`, default 1). When `cur_len > regulation_start`:
 * `penalty = abs(scores[:, eos]) * (pow(decay_factor, cur_len - regulation_start) - 1)`, `scores + penalties`
 * (zero but at the EOS ids). `pow(...) - 1` is Python float64 arithmetic, cast to float32 by the tensor product.
 * An EOS score of −∞ (from a min length) becomes NaN for a factor ≥ 1 (`−∞ + ∞`), as in PyTorch.
 * An EOS id past the vocabulary throws (PyTorch's index error).
 */
export function exponentialDecayLengthPenalty(
  scores: Float32Array,
  curLen: number,
  [startIndex, decayFactor]: readonly [number, number],
  eos: readonly number[],
  promptLength = 1,
): void {
  const regulationStart = startIndex + promptLength;
  if (!(curLen > regulationStart)) return;
  for (const e of eos) if (e >= scores.length) throw new Error(`exponentialDecayLengthPenalty: EOS token ${e} is past the model's vocabulary (${scores.length})`);
  // JS Math.pow and C's pow may differ in the last bit of a float64 for some inputs; the float32 cast hides it
  // but for values within half a float64 ulp of a float32 rounding boundary.
  const factor = f32(Math.pow(decayFactor, curLen - regulationStart) - 1);
  const penalties = new Float32Array(scores.length); // `torch.zeros_like(scores)`
  for (const e of eos) penalties[e] = f32(Math.abs(scores[e] as number) * factor); // from the scores before any is added
  for (let i = 0; i < scores.length; i++) scores[i] = f32((scores[i] as number) + (penalties[i] as number));
}
