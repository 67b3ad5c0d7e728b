/**
 * The processors that read the ENCODER input ids (transformers' `inputs_tensor`, passed to
 * `_get_logits_processor` as `encoder_input_ids`): one row per prompt, padding included (transformers
 * does not look at the attention mask), NOT repeated per beam or returned sequence.
 */

import { ngramContinuations } from './ngram.js';

const f32 = Math.fround;

/** `EncoderRepetitionPenaltyLogitsProcessor`: `self.penalty = 1 / penalty`, then
 *  `score = gather(scores, 1, encoder_input_ids); where(score < 0, score * self.penalty, score / self.penalty); scatter`:
 *  an inverse repetition penalty (penalty > 1 raises the scores of the prompt's tokens), applied once per token.
 *  `1 / penalty` is a Python float; PyTorch casts it to float32 before multiplying / dividing.
 *  A prompt token past the vocabulary throws (PyTorch's gather index error). */
export function encoderRepetitionPenalty(scores: Float32Array, encoderIds: readonly number[], penalty: number): void {
  const p = f32(1 / penalty);
  const tokens = new Set(encoderIds);
  for (const t of tokens) if (t >= scores.length) throw new Error(`encoderRepetitionPenalty: prompt token ${t} is past the model's vocabulary (${scores.length})`);
  for (const t of tokens) {
    const s = scores[t] as number;
    scores[t] = s < 0 ? f32(s * p) : f32(s / p);
  }
}

/** `EncoderNoRepeatNGramLogitsProcessor`: bans the tokens that follow, in the prompt, the last `n - 1`
 *  decoder tokens (`_get_ngrams` over the prompt, looked up with `prev_input_ids[cur_len + 1 - n : cur_len]`).
 *  While `cur_len + 1 < n` that slice is shorter than the prompt's prefixes (Python slicing), so nothing is
 *  banned; `n = 1` bans every prompt token. A banned token past the vocabulary throws (PyTorch's index error). */
export function encoderNoRepeatNgram(scores: Float32Array, ids: readonly number[], encoderIds: readonly number[], n: number): void {
  for (const t of ngramContinuations(encoderIds, ids, n)) {
    if (t >= scores.length) throw new Error(`encoderNoRepeatNgramSize: prompt token ${t} is past the model's vocabulary (${scores.length})`);
    scores[t] = -Infinity;
  }
}
