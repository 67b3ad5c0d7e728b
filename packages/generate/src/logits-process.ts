/**
 * Ports of transformers' logits processors and warpers (generation/logits_process.py) for one row
 * of scores. Each function changes `scores` in place and quotes the PyTorch lines it follows.
 * `ids` is the row's decoder sequence so far, decoder start token included (transformers' `input_ids`).
 */

const f32 = Math.fround;

/** `RepetitionPenaltyLogitsProcessor`:
 *  `score = gather(scores, ids); score = where(score < 0, score * penalty, score / penalty); scatter`. */
export function repetitionPenalty(scores: Float32Array, ids: readonly number[], penalty: number): void {
  for (const t of new Set(ids)) {
    const s = scores[t];
    if (s === undefined) continue;
    scores[t] = s < 0 ? f32(s * penalty) : f32(s / penalty);
  }
}

/** `NoRepeatNGramLogitsProcessor`: bans every token that would complete an n-gram already in `ids`:
 *  the tokens following earlier occurrences of the last `n - 1` tokens. */
export function noRepeatNgram(scores: Float32Array, ids: readonly number[], n: number): void {
  const curLen = ids.length;
  if (curLen + 1 < n) return; // `if cur_len + 1 < ngram_size: return [[] ...]`
  const start = curLen + 1 - n; // `prev_input_ids[start_idx:cur_len]`
  for (let i = 0; i + n <= curLen; i++) {
    let match = true;
    for (let j = 0; j < n - 1; j++) {
      if (ids[i + j] !== ids[start + j]) { match = false; break; }
    }
    if (match) scores[ids[i + n - 1] as number] = -Infinity;
  }
}

/** `MinLengthLogitsProcessor`: `if input_ids.shape[-1] < min_length: scores[:, eos] = -inf`. */
export function minLength(scores: Float32Array, curLen: number, min: number, eos: readonly number[]): void {
  if (curLen < min) for (const e of eos) if (e < scores.length) scores[e] = -Infinity;
}

/** `MinNewTokensLengthLogitsProcessor`: `if input_ids.shape[-1] - prompt_length_to_skip < min_new_tokens: eos = -inf`
 *  (the decoder prompt is the start token: length 1). */
export function minNewTokens(scores: Float32Array, curLen: number, min: number, eos: readonly number[]): void {
  if (curLen - 1 < min) for (const e of eos) if (e < scores.length) scores[e] = -Infinity;
}

/** `TemperatureLogitsWarper`: `scores / temperature`. */
export function temperature(scores: Float32Array, t: number): void {
  for (let i = 0; i < scores.length; i++) scores[i] = f32((scores[i] as number) / t);
}

/** `TopKLogitsWarper`: `top_k = min(max(top_k, min_tokens_to_keep), vocab)`;
 *  `scores < topk(scores, top_k)[0][..., -1]` → -inf (ties with the k-th score are kept). */
export function topK(scores: Float32Array, k: number, minTokensToKeep = 1): void {
  const kk = Math.min(Math.max(k, minTokensToKeep), scores.length);
  if (kk <= 0) return;
  const kth = Float32Array.from(scores).sort().reverse()[kk - 1] as number;
  for (let i = 0; i < scores.length; i++) if ((scores[i] as number) < kth) scores[i] = -Infinity;
}

/** `TopPLogitsWarper`: sort ascending, `cumulative_probs = softmax(sorted).cumsum()`, remove
 *  `cumulative_probs <= 1 - top_p`, but keep the last `min_tokens_to_keep` (the best ones). Equal scores
 *  sort by index (torch's sort order for ties is unspecified). */
export function topP(scores: Float32Array, p: number, minTokensToKeep = 1): void {
  if (p >= 1) return;
  const order = Array.from(scores.keys()).sort((a, b) => (scores[a] as number) - (scores[b] as number) || a - b);
  const probs = softmax(Float32Array.from(order, (i) => scores[i] as number));
  let cum = 0;
  const keepFrom = order.length - minTokensToKeep;
  for (let r = 0; r < order.length; r++) {
    cum = f32(cum + (probs[r] as number));
    if (r < keepFrom && cum <= 1 - p) scores[order[r] as number] = -Infinity;
  }
}

/** float32 softmax (computed in float64, rounded); -inf → 0. */
export function softmax(scores: Float32Array): Float32Array {
  let max = -Infinity;
  for (const s of scores) if (s > max) max = s;
  const out = new Float32Array(scores.length);
  if (max === -Infinity) return out.fill(1 / scores.length);
  let sum = 0;
  for (let i = 0; i < scores.length; i++) sum += Math.exp((scores[i] as number) - max);
  for (let i = 0; i < scores.length; i++) out[i] = Math.exp((scores[i] as number) - max) / sum;
  return out;
}

/** `log_softmax` in float32 the way PyTorch computes it: `(x - max) - log(sum(exp(x - max)))`. */
export function logSoftmax(scores: Float32Array): Float32Array {
  let max = -Infinity;
  for (const s of scores) if (s > max) max = s;
  let sum = 0;
  for (let i = 0; i < scores.length; i++) sum += Math.exp((scores[i] as number) - max);
  const lse = f32(Math.log(sum));
  const out = new Float32Array(scores.length);
  for (let i = 0; i < scores.length; i++) out[i] = f32(f32((scores[i] as number) - max) - lse);
  return out;
}

/** Index of the largest score (the first one on ties, like `torch.argmax`). */
export function argmax(scores: Float32Array): number {
  let best = 0;
  for (let i = 1; i < scores.length; i++) if ((scores[i] as number) > (scores[best] as number)) best = i;
  return best;
}

/** The processors transformers' `_get_logits_processor` builds for our options, in its order:
 *  repetition penalty, no-repeat n-gram, min length, min new tokens; then, when sampling,
 *  temperature, top-k, top-p. */
export interface ProcessorOptions {
  repetitionPenalty: number;
  noRepeatNgramSize: number;
  minLength: number;
  minNewTokens: number;
  eosTokenIds: readonly number[];
  doSample: boolean;
  temperature: number;
  topK: number;
  topP: number;
  /** 1, or `len(eos) + 1` for beam sampling. */
  minTokensToKeep: number;
}

export function processScores(scores: Float32Array, ids: readonly number[], o: ProcessorOptions): void {
  if (o.repetitionPenalty !== 1) repetitionPenalty(scores, ids, o.repetitionPenalty);
  if (o.noRepeatNgramSize > 0) noRepeatNgram(scores, ids, o.noRepeatNgramSize);
  if (o.minLength > 0) minLength(scores, ids.length, o.minLength, o.eosTokenIds);
  if (o.minNewTokens > 0) minNewTokens(scores, ids.length, o.minNewTokens, o.eosTokenIds);
  if (!o.doSample) return;
  if (o.temperature !== 1) temperature(scores, o.temperature);
  if (o.topK !== 0) topK(scores, o.topK, o.minTokensToKeep);
  if (o.topP < 1) topP(scores, o.topP, o.minTokensToKeep);
}
