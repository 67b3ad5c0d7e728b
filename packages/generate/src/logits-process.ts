/**
 * Ports of transformers' logits processors and warpers (generation/logits_process.py) for one row
 * of scores. Each function changes `scores` in place and quotes the PyTorch lines it follows.
 * `ids` is the row's decoder sequence so far, decoder start token included (transformers' `input_ids`).
 */

import { encoderNoRepeatNgram, encoderRepetitionPenalty } from './encoder-processors.js';
import { exponentialDecayLengthPenalty } from './length-decay.js';
import { endsWithPrefixOf, ngramContinuations } from './ngram.js';
import { sequenceBias, type SequenceBiasEntry } from './sequence-bias.js';
import { RESOLVED_OPTIONS } from './options.js';
import { checkArg, checkMinTokensToKeep } from './warper-args.js';
import { type KnownOptions, notAnOptionsObject, unknownOptionProblems, unknownOptionsText } from './unknown-options.js';
import { categoricalEntropyF32, cumsumF32, f32, logSoftmax, softmax, sumF32 } from './float32.js';

export { logSoftmax, softmax } from './float32.js';

/** `RepetitionPenaltyLogitsProcessor`:
 *  `score = gather(scores, ids); score = where(score < 0, score * penalty, score / penalty); scatter`.
 *  PyTorch casts the Python scalar to the tensor's float32 before multiplying / dividing. */
export function repetitionPenalty(scores: Float32Array, ids: readonly number[], penalty: number): void {
  // `if not isinstance(penalty, float) or not (penalty > 0): raise ValueError`
  checkArg('repetitionPenalty', 'penalty', penalty, Number.isFinite(penalty) && penalty > 0, 'a finite number > 0');
  const p = f32(penalty);
  for (const t of new Set(ids)) {
    const s = scores[t];
    if (s === undefined) continue;
    scores[t] = s < 0 ? f32(s * p) : f32(s / p);
  }
}

/** `NoRepeatNGramLogitsProcessor`: bans every token that would complete an n-gram already in `ids`:
 *  the tokens following earlier occurrences of the last `n - 1` tokens. */
export function noRepeatNgram(scores: Float32Array, ids: readonly number[], n: number): void {
  for (const t of ngramContinuations(ids, ids, n)) scores[t] = -Infinity;
}

/** `MinLengthLogitsProcessor`: `if input_ids.shape[-1] < min_length: scores[:, eos] = -inf`. */
export function minLength(scores: Float32Array, curLen: number, min: number, eos: readonly number[]): void {
  if (curLen < min) for (const e of eos) if (e < scores.length) scores[e] = -Infinity;
}

/** `MinNewTokensLengthLogitsProcessor`: `if input_ids.shape[-1] - prompt_length_to_skip < min_new_tokens: eos = -inf`
 *  (`prompt_length_to_skip`: the decoder prompt's length, the start token and any `decoderInputIds`; 1 by default). */
export function minNewTokens(scores: Float32Array, curLen: number, min: number, eos: readonly number[], promptLength = 1): void {
  if (curLen - promptLength < min) for (const e of eos) if (e < scores.length) scores[e] = -Infinity;
}

/** `TemperatureLogitsWarper`: `scores / temperature` (the Python scalar cast to float32, as PyTorch does). */
export function temperature(scores: Float32Array, t: number): void {
  // "`temperature` (=0) has to be a strictly positive float ... set `do_sample=False`" for greedy decoding
  checkArg('temperature', 'temperature', t, Number.isFinite(t) && t > 0, 'a finite number > 0 (for greedy decoding, do not sample)');
  const tt = f32(t);
  for (let i = 0; i < scores.length; i++) scores[i] = f32((scores[i] as number) / tt);
}

/** `TopKLogitsWarper`: `top_k = min(max(top_k, min_tokens_to_keep), vocab)`;
 *  `scores < topk(scores, top_k)[0][..., -1]` → -inf (ties with the k-th score are kept). */
export function topK(scores: Float32Array, k: number, minTokensToKeep = 1): void {
  // "`top_k` has to be a strictly positive integer" (generate's `topK: 0` means no warper: it is not called then)
  checkArg('topK', 'k', k, Number.isInteger(k) && k > 0, 'an integer > 0 (leave the warper out for no top-k)');
  const kk = Math.min(Math.max(k, minTokensToKeep), scores.length);
  if (kk <= 0) return;
  const kth = Float32Array.from(scores).sort().reverse()[kk - 1] as number;
  for (let i = 0; i < scores.length; i++) if ((scores[i] as number) < kth) scores[i] = -Infinity;
}

/** `TopPLogitsWarper`: sort ascending, `cumulative_probs = softmax(sorted).cumsum()`, remove
 *  `cumulative_probs <= 1 - top_p`, but keep the last `min_tokens_to_keep` (the best ones). Equal scores
 *  sort by index (torch's sort order for ties is unspecified). */
export function topP(scores: Float32Array, p: number, minTokensToKeep = 1): void {
  // `if top_p < 0 or top_p > 1.0: raise ValueError`; `min_tokens_to_keep` a positive integer
  checkArg('topP', 'p', p, p >= 0 && p <= 1, 'a number in [0, 1]');
  checkMinTokensToKeep('topP', minTokensToKeep);
  if (p >= 1) return;
  const order = Array.from(scores.keys()).sort((a, b) => (scores[a] as number) - (scores[b] as number) || a - b);
  const cum = cumsumF32(softmax(Float32Array.from(order, (i) => scores[i] as number)));
  // PyTorch compares the float32 cumsum with the Python scalar `1 - top_p` cast to float32 (top_p 0.9 →
  // f32(0.1), which a probability of 0.1 equals).
  const threshold = f32(1 - p);
  const keepFrom = order.length - minTokensToKeep;
  for (let r = 0; r < keepFrom; r++) if ((cum[r] as number) <= threshold) scores[order[r] as number] = -Infinity;
}

/** The k-th largest score (k clipped to [1, vocab]): what `torch.topk(scores, k)[0][..., -1]` gives. */
function kthLargest(scores: Float32Array, k: number): number {
  return Float32Array.from(scores).sort().reverse()[Math.min(Math.max(k, 1), scores.length) - 1] as number;
}

/** `MinPLogitsWarper`: `probs = softmax(scores)`; `scaled_min_p = self.min_p * probs.amax()`; remove
 *  `probs < scaled_min_p`, except the `min_tokens_to_keep` most probable (`topk(probs, k)`; ties by index here).
 *  `self.min_p` is a Python float: PyTorch casts it to float32, and the product is float32. */
export function minP(scores: Float32Array, p: number, minTokensToKeep = 1): void {
  const probs = softmax(scores);
  let top = 0;
  for (const q of probs) if (q > top) top = q;
  const threshold = f32(f32(p) * top);
  // The best min_tokens_to_keep by score (transformers: topk(probs), the same order unless probabilities underflow to 0).
  const keep = new Set(Array.from(scores.keys()).sort((a, b) => (scores[b] as number) - (scores[a] as number) || a - b).slice(0, Math.min(minTokensToKeep, scores.length)));
  for (let i = 0; i < scores.length; i++) if ((probs[i] as number) < threshold && !keep.has(i)) scores[i] = -Infinity;
}

/** `TypicalLogitsWarper`, in float32 like PyTorch: `normalized = log_softmax(scores)`, `p = exp(normalized)`,
 *  `ent = -(normalized * p).nansum(-1)`; `shifted_scores = abs((-normalized) - ent)` sorted ascending (ties by
 *  index); `cumulative_probs = softmax(scores sorted so).cumsum(-1)`; `last_ind = (cumulative_probs < self.mass).sum()`
 *  with the Python float `mass` cast to float32, clamped to vocab - 1; remove the sorted tokens whose shifted score
 *  exceeds the one at `last_ind`, never the first `min_tokens_to_keep`. */
export function typicalP(scores: Float32Array, mass: number, minTokensToKeep = 1): void {
  const normalized = logSoftmax(scores);
  // Each product float32; -inf · 0 is NaN, which nansum leaves out.
  const ent = -sumF32(Array.from(normalized, (l) => f32(l * f32(Math.exp(l)))), true);
  const shifted = Float32Array.from(normalized, (l) => Math.abs(f32(-l - ent)));
  const order = Array.from(scores.keys()).sort((a, b) => (shifted[a] as number) - (shifted[b] as number) || a - b);
  const cum = cumsumF32(softmax(Float32Array.from(order, (i) => scores[i] as number)));
  const m = f32(mass);
  let lastInd = 0;
  for (const c of cum) if (c < m) lastInd++;
  lastInd = Math.min(lastInd, order.length - 1);
  const cut = shifted[order[lastInd] as number] as number;
  for (let r = minTokensToKeep; r < order.length; r++) {
    const i = order[r] as number;
    if ((shifted[i] as number) > cut) scores[i] = -Infinity;
  }
}

/** `EpsilonLogitsWarper`: remove `softmax(scores) < epsilon` (the Python float cast to float32), but not the
 *  `min_tokens_to_keep` best (`scores < topk(scores, k)[0][..., -1]` must hold too). */
export function epsilonCutoff(scores: Float32Array, epsilon: number, minTokensToKeep = 1): void {
  cutBelow(scores, softmax(scores), f32(epsilon), minTokensToKeep);
}

/** `EtaLogitsWarper`, in float32: `self.epsilon = torch.tensor(epsilon)` (float32);
 *  `eta = torch.min(self.epsilon, torch.sqrt(self.epsilon) * torch.exp(-entropy))` with the float32 entropy of
 *  `Categorical(logits=scores)`; remove `softmax(scores) < eta`, but not the `min_tokens_to_keep` best. */
export function etaCutoff(scores: Float32Array, epsilon: number, minTokensToKeep = 1): void {
  const eps = f32(epsilon);
  const entropy = categoricalEntropyF32(scores);
  const eta = Math.min(eps, f32(f32(Math.sqrt(eps)) * f32(Math.exp(-entropy))));
  cutBelow(scores, softmax(scores), eta, minTokensToKeep);
}

function cutBelow(scores: Float32Array, probs: Float32Array, threshold: number, minTokensToKeep: number): void {
  const kth = kthLargest(scores, minTokensToKeep);
  for (let i = 0; i < scores.length; i++) if ((probs[i] as number) < threshold && (scores[i] as number) < kth) scores[i] = -Infinity;
}

/** `NoBadWordsLogitsProcessor` (a `SequenceBiasLogitsProcessor` with bias -inf): a one-token sequence is
 *  always banned; a longer one bans its last token when the sequence so far ends with the rest of it (and
 *  is at least as long as the whole). `badWords` must already leave out single EOS tokens. */
export function noBadWords(scores: Float32Array, ids: readonly number[], badWords: readonly (readonly number[])[]): void {
  for (const seq of badWords) {
    const last = seq[seq.length - 1] as number;
    if (last >= scores.length || seq.some((t) => t >= scores.length)) {
      throw new Error(`badWordsIds: the model vocabulary size is ${scores.length}, but [${seq}] has a token beyond it`);
    }
    if (endsWithPrefixOf(ids, seq)) scores[last] = -Infinity;
  }
}

/** `ForcedBOSTokenLogitsProcessor` (`cur_len == 1`) and `ForcedEOSTokenLogitsProcessor` (`cur_len == max_length - 1`):
 *  every score -inf but the forced tokens', which become 0. A token past the vocabulary throws (PyTorch's index error). */
export function forceTokens(scores: Float32Array, tokens: readonly number[]): void {
  for (const t of tokens) if (t >= scores.length) throw new Error(`forced token ${t} is past the model's vocabulary (${scores.length})`);
  scores.fill(-Infinity);
  for (const t of tokens) scores[t] = 0;
}

/** `SuppressTokensLogitsProcessor` (every step) and `SuppressTokensAtBeginLogitsProcessor` (one step): -inf; ids past the vocabulary are ignored (`isin`). */
export function suppress(scores: Float32Array, tokens: readonly number[]): void {
  for (const t of tokens) if (t < scores.length) scores[t] = -Infinity;
}

/** Index of the largest score (the first one on ties, like `torch.argmax`). NaN counts as the largest, as in
 *  PyTorch's argmax (its `greater_or_nan` comparison): the first NaN wins. */
export function argmax(scores: Float32Array): number {
  let best = 0;
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i] as number;
    if (Number.isNaN(s)) return i;
    if (s > (scores[best] as number)) best = i;
  }
  return best;
}

/** The processors transformers' `_get_logits_processor` builds for our options, in its order:
 *  sequence bias, encoder repetition penalty, repetition penalty, no-repeat n-gram, encoder no-repeat n-gram,
 *  bad words, min length, min new tokens, prefix-allowed tokens, forced BOS, forced EOS, exponential decay length penalty,
 *  suppress tokens, begin-suppress tokens; then, when sampling, temperature, top-k, top-p, min-p,
 *  typical-p, epsilon, eta; last, logit renormalization. */
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
  /** The rest default to off when absent (so older callers of processScores keep working). */
  maxLength?: number;
  badWordsIds?: readonly (readonly number[])[];
  forcedBosTokenId?: number;
  forcedEosTokenIds?: readonly number[];
  suppressTokens?: readonly number[];
  beginSuppressTokens?: readonly number[];
  minP?: number;
  typicalP?: number;
  epsilonCutoff?: number;
  etaCutoff?: number;
  /** `SequenceBiasLogitsProcessor`, de-duplicated as a Python dict (`sequenceBiasEntries`). */
  sequenceBias?: readonly SequenceBiasEntry[];
  /** `EncoderRepetitionPenaltyLogitsProcessor` (1: off); needs `encoderInputIds`. */
  encoderRepetitionPenalty?: number;
  /** `EncoderNoRepeatNGramLogitsProcessor` (0: off); needs `encoderInputIds`. */
  encoderNoRepeatNgramSize?: number;
  /** The prompts' token ids, one row per prompt, padding included (transformers' `inputs_tensor`). */
  encoderInputIds?: readonly (readonly number[])[];
  /** Score rows per prompt (beams or returned sequences): row r belongs to prompt ⌊r / rowsPerInput⌋. Default 1. */
  rowsPerInput?: number;
  /** `ExponentialDecayLengthPenalty`: `[start_index, decay_factor]`. */
  exponentialDecayLengthPenalty?: readonly [number, number];
  /** `LogitNormalization` (a final log-softmax). */
  renormalizeLogits?: boolean;
  /** `PrefixConstrainedLogitsProcessor`: the tokens allowed after `tokenIds`, for batch id ⌊row / numBeams⌋. */
  prefixAllowedTokensFn?: PrefixAllowedTokensFn;
  /** transformers' `num_beams` (1 without beams), for `prefixAllowedTokensFn`'s batch id. Default 1. */
  numBeams?: number;
  /** `input_ids_seq_length`: the decoder prompt's length (the start token and any `decoderInputIds`), which
   *  `minNewTokens`, `exponentialDecayLengthPenalty` and `beginSuppressTokens` count from. Default 1. */
  decoderPromptLength?: number;
}

/** transformers' `prefix_allowed_tokens_fn(batch_id, input_ids)`: the token ids allowed next. */
export type PrefixAllowedTokensFn = (batchId: number, tokenIds: readonly number[]) => readonly number[];

/**
 * `PrefixConstrainedLogitsProcessor`: `mask = full_like(scores, -inf)`; `mask[row, fn(batch_id, sent)] = 0`;
 * `scores + mask` (so an allowed score is kept, the others become -inf, and +inf or NaN plus -inf is NaN). An empty
 * list raises, as transformers ("the constraint is unsatisfiable"); so does an id that is not a token of the
 * vocabulary (PyTorch's index error; a negative id, which Python indexing would wrap, is refused too).
 */
export function prefixAllowedTokens(scores: Float32Array, ids: readonly number[], fn: PrefixAllowedTokensFn, batchId: number): void {
  const allowed = fn(batchId, ids);
  if (!Array.isArray(allowed) && !ArrayBuffer.isView(allowed)) {
    throw new TypeError(`prefixAllowedTokensFn must return a list of token ids (got ${typeof allowed} for batch ID ${batchId})`);
  }
  const list = allowed as ArrayLike<number>;
  if (list.length === 0) {
    throw new Error(`\`prefixAllowedTokensFn\` returned an empty list for batch ID ${batchId}: the constraint is unsatisfiable (transformers raises too)`);
  }
  const keep = new Uint8Array(scores.length);
  for (let i = 0; i < list.length; i++) {
    const t = list[i] as number;
    if (!Number.isInteger(t) || t < 0 || t >= scores.length) {
      throw new Error(`prefixAllowedTokensFn returned ${String(t)} for batch ID ${batchId}: not a token id of the vocabulary (0 to ${scores.length - 1})`);
    }
    keep[t] = 1;
  }
  for (let i = 0; i < scores.length; i++) if (keep[i] === 0) scores[i] = (scores[i] as number) + -Infinity;
}

const PROCESSOR_OPTIONS: KnownOptions<ProcessorOptions> = {
  repetitionPenalty: true, noRepeatNgramSize: true, minLength: true, minNewTokens: true, eosTokenIds: true, doSample: true, temperature: true,
  topK: true, topP: true, minTokensToKeep: true, maxLength: true, badWordsIds: true, forcedBosTokenId: true, forcedEosTokenIds: true,
  suppressTokens: true, beginSuppressTokens: true, minP: true, typicalP: true, epsilonCutoff: true, etaCutoff: true, sequenceBias: true,
  encoderRepetitionPenalty: true, encoderNoRepeatNgramSize: true, encoderInputIds: true, rowsPerInput: true, exponentialDecayLengthPenalty: true,
  renormalizeLogits: true, prefixAllowedTokensFn: true, numBeams: true, decoderPromptLength: true,
};

/**
 * {@link ProcessorOptions}' keys and those of `resolveOptions`' result, which `generate` spreads into the processors'
 * options (`{ ...resolveOptions(options), minTokensToKeep }` is a valid argument: its other keys are not read).
 */
const PROCESS_SCORES_KEYS: Readonly<Record<string, true>> = { ...RESOLVED_OPTIONS, ...PROCESSOR_OPTIONS };

/** One RangeError (as for the processors' bad arguments) for `o` not an object or with keys {@link ProcessorOptions} lacks. */
function checkProcessorOptions(o: unknown): void {
  const wrong = notAnOptionsObject(o);
  if (wrong !== undefined || o === undefined) throw new RangeError(`processScores: options must be an object, got ${wrong ?? 'undefined'}`);
  const unknown = unknownOptionProblems(o as object, PROCESS_SCORES_KEYS, { eos_token_id: 'eosTokenIds', eosTokenId: 'eosTokenIds', forced_eos_token_id: 'forcedEosTokenIds', forcedEosTokenId: 'forcedEosTokenIds', min_tokens_to_keep: 'minTokensToKeep' });
  if (unknown.length > 0) throw new RangeError(`processScores: ${unknownOptionsText(unknown)}`);
}

/**
 * Applies the processors to one score row in place. `o` with a key {@link ProcessorOptions} lacks (or not an object)
 * is a RangeError naming every such key. `row` is the row's index among all rows of the step
 * (`input · rowsPerInput + beam`); the encoder processors and `prefixAllowedTokensFn` use it.
 */
export function processScores(scores: Float32Array, ids: readonly number[], o: ProcessorOptions, row = 0): void {
  checkProcessorOptions(o);
  applyProcessors(scores, ids, o, row);
  applyWarpers(scores, o);
}

/**
 * The processors of `processScores` before the warpers: transformers' `_get_logits_processor` list up to
 * `SuppressTokensAtBeginLogitsProcessor`, where it merges the caller's `logits_processor` list (`generate` runs
 * `logitsProcessor` between this and `applyWarpers`).
 */
export function applyProcessors(scores: Float32Array, ids: readonly number[], o: ProcessorOptions, row = 0): void {
  const curLen = ids.length;
  const promptLen = o.decoderPromptLength ?? 1;
  if (o.sequenceBias?.length) sequenceBias(scores, ids, o.sequenceBias);
  if (o.encoderRepetitionPenalty !== undefined && o.encoderRepetitionPenalty !== 1) {
    // `torch.gather(scores, 1, encoder_input_ids)` / `scores.scatter(...)` with one index row per PROMPT: the
    // first `batch` score rows are penalised, row i with prompt i's tokens, whatever the beams or returned
    // sequences; later rows are left as they are. transformers does this; so do we.
    const enc = encoderRows(o, 'encoderRepetitionPenalty');
    if (row < enc.length) encoderRepetitionPenalty(scores, enc[row] as readonly number[], o.encoderRepetitionPenalty);
  }
  if (o.repetitionPenalty !== 1) repetitionPenalty(scores, ids, o.repetitionPenalty);
  if (o.noRepeatNgramSize > 0) noRepeatNgram(scores, ids, o.noRepeatNgramSize);
  if (o.encoderNoRepeatNgramSize !== undefined && o.encoderNoRepeatNgramSize > 0) {
    // `self.generated_ngrams[hypo_idx // num_beams]`, `num_beams = scores.shape[0] // batch_size`.
    const enc = encoderRows(o, 'encoderNoRepeatNgramSize');
    const prompt = enc[Math.floor(row / (o.rowsPerInput ?? 1))];
    if (prompt === undefined) throw new Error(`encoderNoRepeatNgramSize: score row ${row} has no prompt in encoderInputIds (${enc.length} rows, ${o.rowsPerInput ?? 1} per prompt)`);
    encoderNoRepeatNgram(scores, ids, prompt, o.encoderNoRepeatNgramSize);
  }
  if (o.badWordsIds?.length) noBadWords(scores, ids, o.badWordsIds);
  if (o.minLength > 0) minLength(scores, curLen, o.minLength, o.eosTokenIds);
  if (o.minNewTokens > 0) minNewTokens(scores, curLen, o.minNewTokens, o.eosTokenIds, promptLen);
  // `PrefixConstrainedLogitsProcessor(prefix_allowed_tokens_fn, generation_config.num_beams)`: batch_id = row // num_beams.
  if (o.prefixAllowedTokensFn) prefixAllowedTokens(scores, ids, o.prefixAllowedTokensFn, Math.floor(row / (o.numBeams ?? 1)));
  if (o.forcedBosTokenId !== undefined && curLen === 1) forceTokens(scores, [o.forcedBosTokenId]);
  if (o.forcedEosTokenIds?.length && o.maxLength !== undefined && curLen === o.maxLength - 1) forceTokens(scores, o.forcedEosTokenIds);
  if (o.exponentialDecayLengthPenalty) exponentialDecayLengthPenalty(scores, curLen, o.exponentialDecayLengthPenalty, o.eosTokenIds, promptLen);
  if (o.suppressTokens?.length) suppress(scores, o.suppressTokens);
  // `begin_index`: the decoder prompt length, one more when it is 1 and a BOS token is forced first
  // (`begin_index if (input_ids_seq_length > 1 or forced_bos_token_id is None) else begin_index + 1`).
  if (o.beginSuppressTokens?.length && curLen === (promptLen > 1 || o.forcedBosTokenId === undefined ? promptLen : promptLen + 1)) suppress(scores, o.beginSuppressTokens);
}

/** The warpers of `processScores` (when sampling) and the final `LogitNormalization`, in transformers' order. */
export function applyWarpers(scores: Float32Array, o: ProcessorOptions): void {
  if (o.doSample) {
    if (o.temperature !== 1) temperature(scores, o.temperature);
    if (o.topK !== 0) topK(scores, o.topK, o.minTokensToKeep);
    if (o.topP < 1) topP(scores, o.topP, o.minTokensToKeep);
    if (o.minP !== undefined) minP(scores, o.minP, o.minTokensToKeep);
    if (o.typicalP !== undefined && o.typicalP < 1) typicalP(scores, o.typicalP, o.minTokensToKeep);
    if (o.epsilonCutoff !== undefined && o.epsilonCutoff > 0 && o.epsilonCutoff < 1) epsilonCutoff(scores, o.epsilonCutoff, o.minTokensToKeep);
    if (o.etaCutoff !== undefined && o.etaCutoff > 0 && o.etaCutoff < 1) etaCutoff(scores, o.etaCutoff, o.minTokensToKeep);
  }
  // "`LogitNormalization` should always be the last logit processor, when present": `scores.log_softmax(dim=-1)`.
  if (o.renormalizeLogits) scores.set(logSoftmax(scores));
}

function encoderRows(o: ProcessorOptions, name: string): readonly (readonly number[])[] {
  if (!o.encoderInputIds) throw new Error(`${name} needs the prompts' token ids (ProcessorOptions.encoderInputIds)`);
  return o.encoderInputIds;
}
