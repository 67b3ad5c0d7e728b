import type * as tf from '@tensorflow/tfjs-core';
import type { PrefixAllowedTokensFn } from './logits-process.js';
import type { LogitsProcessorFn, StoppingCriterionFn } from './user-processors.js';

/**
 * What generation needs from an encoder-decoder (this package's structural copy of the
 * `Seq2Seq` contract in docs/interfaces.md; `@conifer/t5-model` satisfies it without either
 * package importing the other).
 */
export interface Seq2Seq<Enc = unknown, Cache = unknown> {
  /** inputIds, attentionMask: int32 [B, S]. */
  encode(inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D): Enc;
  /** tokens: int32 [B, T] (the new tokens only: on the first step, cache null, the start token or the whole decoderInputIds prefix; then 1 per step, or the candidates + 1 in assisted decoding).
   *  Consumes `cache` (disposes what it no longer needs) and returns logits [B, T, vocab] float32
   *  for the new positions and the grown cache. */
  decodeStep(tokens: tf.Tensor2D, encoder: Enc, cache: Cache | null): { logits: tf.Tensor3D; cache: Cache };
  /** Rows of the cache picked by `indices` (int32 [B']) — beams. Consumes the old cache. */
  reorderCache(cache: Cache, indices: tf.Tensor1D): Cache;
  /** Rows of the encoder state picked by `indices` (int32 [B']). Returns a new state. */
  reorderEncoder(encoder: Enc, indices: tf.Tensor1D): Enc;
  /** Optional: keeps the first `length` decoder positions of the cache (transformers' `DynamicCache.crop`); consumes
   *  the old cache. Assisted decoding (`assistantModel`, `promptLookupNumTokens`) needs it, on the model and the
   *  assistant, to drop the positions of rejected candidate tokens. */
  cropCache?(cache: Cache, length: number): Cache;
  disposeCache(cache: Cache): void;
  disposeEncoder(encoder: Enc): void;
  /**
   * Optional generation defaults, as transformers' `model.generation_config`: a parsed
   * `generation_config.json` (snake_case keys). Used under the caller's options.
   */
  readonly generationConfig?: Readonly<Record<string, unknown>> | null;
  /**
   * Optional model config (`config.json`'s keys): without `generationConfig`, its
   * `decoder_start_token_id`, `eos_token_id`, `pad_token_id` (and any other generation key it has)
   * are the defaults, as transformers' `GenerationConfig.from_model_config`.
   */
  readonly config?: object;
}

/** Any tokenizer with these two methods (e.g. `@conifer/dolly-data`'s, or a wrapper around `tokenizers`). */
export interface TextTokenizer {
  /** Token ids of `text`, with whatever special tokens the model expects (T5: the trailing `</s>`). */
  encode(text: string): ArrayLike<number>;
  /** Text of `ids`. `options` is passed only when the caller of `generateText` / `streamText` set
   *  `cleanUpTokenizationSpaces` (or, for the stream's raw text, as `false`); a tokenizer without clean-up may ignore it. */
  decode(ids: number[], options?: TextDecodeOptions): string;
}

/** What the text functions ask of `TextTokenizer.decode` (transformers' `tokenizer.decode` keyword arguments). */
export interface TextDecodeOptions {
  /**
   * transformers' `clean_up_tokenization_spaces`: remove the space before `.`, `?`, `!`, `,` and in English
   * contractions (`"do n't ."` → `"don't."`). transformers' `decode` / `batch_decode` default to the
   * tokenizer_config.json's value (`true` in T5's original one; `@conifer/dolly-data`'s
   * `T5Tokenizer.configCleanUpTokenizationSpaces`).
   */
  cleanUpTokenizationSpaces?: boolean;
}

/** `generateText` / `streamText` options: `generate`'s, and how the texts are decoded. */
export interface TextGenerateOptions extends GenerateOptions, TextDecodeOptions {}

/** A batch of prompts: tensors (not disposed by `generate`) or plain rows. */
export interface GenerateInputs {
  /** int32 [B, S]. */
  inputIds: tf.Tensor2D | number[][];
  /** int32 [B, S], 1 = token, 0 = padding. When omitted it is inferred like transformers does:
   *  `inputIds != padTokenId` if the pad id occurs in the inputs and differs from the EOS id, else all ones. */
  attentionMask?: tf.Tensor2D | number[][];
  /**
   * transformers' `decoder_input_ids`: a decoder prefix per prompt (int32 [B, P], rows of one length, no padding) that
   * decoding continues from, as if those tokens had been generated — fed through the decoder in one pass. The decoder
   * start token is prepended when no row starts with it (rows are used as given when some do, as transformers).
   * `maxNewTokens`, `minNewTokens` and beam search's length penalty count the tokens after the prefix; `maxLength` and
   * `minLength` count it; repetition penalties, n-gram bans and the processors see it; `sequences` include it. Rows of
   * different lengths (and a `decoderAttentionMask`) are refused. Works with every decoding mode.
   */
  decoderInputIds?: tf.Tensor2D | number[][];
}

/**
 * Generation options: transformers' `GenerationConfig` names in camelCase, with its defaults.
 * Build defaults from a checkpoint's `generation_config.json` with `generationOptionsFromConfig`
 * and spread your own options over them.
 */
export interface GenerateOptions {
  /** Most new tokens to generate (the decoder start token and any `decoderInputIds` prefix not counted). Wins over `maxLength`. */
  maxNewTokens?: number;
  /** Most decoder tokens including the decoder start token (transformers' `max_length`). Default: 20 new tokens
   *  (21), as transformers 5 when neither this nor `maxNewTokens` is set here or in the model's generation config. */
  maxLength?: number;
  /** Least new tokens before EOS may be produced (`MinNewTokensLengthLogitsProcessor`). When set, it wins over
   *  `minLength` (transformers sets `min_length = min_new_tokens + 1`). Default 0. */
  minNewTokens?: number;
  /** EOS is forbidden while the sequence, decoder start token included, is shorter than this
   *  (`MinLengthLogitsProcessor`). Default 0. */
  minLength?: number;
  /** Beams; 1 = greedy or sampling. Default 1. */
  numBeams?: number;
  /** Beam scores are `sum of log-probs / generatedLength ** lengthPenalty`, where generatedLength counts
   *  the generated tokens including EOS but not the decoder start token. Default 1. */
  lengthPenalty?: number;
  /** Beam stopping: `true` stops a batch row once it has `numBeams` finished hypotheses; `false` stops when
   *  the best running beam at its current length cannot beat the worst finished one; `"never"` uses the
   *  best possible length (maxLength when lengthPenalty > 0). Default false. */
  earlyStopping?: boolean | 'never';
  /** Rows returned per input: ≤ numBeams with beams; any number with sampling; 1 for greedy. Default 1. */
  numReturnSequences?: number;
  /** Sample instead of taking the argmax (with beams: beam-sample). Default false. */
  doSample?: boolean;
  /** Divides the scores before sampling (`TemperatureLogitsWarper`); > 0 when sampling (unused, and 0 accepted, otherwise). Default 1. */
  temperature?: number;
  /** Keep the k best tokens when sampling (`TopKLogitsWarper`); 0 disables. Default 50 (as transformers). */
  topK?: number;
  /** Keep the smallest set of best tokens with probability ≥ topP when sampling (`TopPLogitsWarper`). Default 1. */
  topP?: number;
  /** `RepetitionPenaltyLogitsProcessor`: scores of tokens already in the decoder sequence are divided by it
   *  when positive, multiplied when negative. > 0; 1 disables. Default 1. */
  repetitionPenalty?: number;
  /** Forbid any n-gram of this size from occurring twice in the decoder sequence. 0 disables. Default 0. */
  noRepeatNgramSize?: number;
  /** `MinPLogitsWarper` when sampling: drop tokens whose probability is below `minP` × the best token's. In [0, 1]. Default off. */
  minP?: number;
  /** `TypicalLogitsWarper` when sampling: keep the tokens closest to the distribution's entropy up to this mass. In (0, 1]; 1 disables. Default 1. */
  typicalP?: number;
  /** `EpsilonLogitsWarper` when sampling: drop tokens with probability < ε. In [0, 1); 0 disables. Default 0. */
  epsilonCutoff?: number;
  /** `EtaLogitsWarper` when sampling: drop tokens with probability < min(ε, √ε·e^(−entropy)). In [0, 1); 0 disables. Default 0. */
  etaCutoff?: number;
  /** `NoBadWordsLogitsProcessor`: token sequences never generated (a sequence's last token is banned when the rest
   *  of it ends the decoder sequence; a single token always). Single EOS tokens are dropped from the list. */
  badWordsIds?: number[][];
  /** `SuppressTokensLogitsProcessor`: tokens never generated. */
  suppressTokens?: number[];
  /** `SuppressTokensAtBeginLogitsProcessor`: tokens not generated as the first new token (the second after a forced BOS). */
  beginSuppressTokens?: number[];
  /** `ForcedBOSTokenLogitsProcessor`: the first generated token. */
  forcedBosTokenId?: number;
  /** `ForcedEOSTokenLogitsProcessor`: the token(s) forced when the maximum length is reached (the last position). */
  forcedEosTokenId?: number | number[];
  /** `SequenceBiasLogitsProcessor` (applied first): `[tokenIds, bias]` pairs (transformers' `sequence_bias` list form,
   *  ids > 0). A one-token sequence's bias is always added to that token's score; a longer sequence's bias is added to
   *  its last token when the decoder sequence ends with the rest of it. Biases add up (float32); a sequence given twice
   *  keeps its last bias. A token past the vocabulary rejects the call. */
  sequenceBias?: Array<[number[], number]>;
  /** `EncoderRepetitionPenaltyLogitsProcessor`: the scores of the prompt's tokens (padding included) are multiplied by
   *  it when positive, divided when negative (the inverse of `repetitionPenalty`: > 1 favours copying the prompt).
   *  > 0; 1 disables. Default 1. As in transformers, only the first `batch` score rows are changed, row i with prompt
   *  i's tokens: with beams or several returned sequences, the other rows are not penalised. */
  encoderRepetitionPenalty?: number;
  /** `EncoderNoRepeatNGramLogitsProcessor`: the decoder never completes an n-gram of this size that occurs in its
   *  prompt (padding included). 0 disables. Default 0. */
  encoderNoRepeatNgramSize?: number;
  /** `ExponentialDecayLengthPenalty`: `[startIndex, decayFactor]`; once more than `startIndex` tokens have been
   *  generated, the EOS scores get `|score| · (decayFactor ** (generated − startIndex) − 1)` added. Needs `eosTokenId`. */
  exponentialDecayLengthPenalty?: [number, number];
  /** `LogitNormalization`: a log-softmax after every other processor and warper. Default false. */
  renormalizeLogits?: boolean;
  /** Token(s) that end a sequence. */
  eosTokenId?: number | number[];
  /**
   * Stops generation: checked before every decoder step; when aborted, the call rejects (the stream
   * throws) with the signal's reason — an `AbortError` `DOMException` for `controller.abort()` — after
   * freeing every tensor it made.
   */
  signal?: AbortSignal;
  /**
   * transformers' `stop_strings`: a row stops once its generated text (decoded with `tokenizer`)
   * contains one of these; the token that completes it is kept, later positions are padded (when there are
   * EOS ids: without any, transformers pads nothing and the row goes on until every row has stopped). With beams,
   * a continuation that completes one is finished like one that ends in EOS (transformers applies its
   * stopping criteria to every continuation). Needs `tokenizer` (`generateText` and `streamText` pass theirs).
   */
  stopStrings?: string[];
  /** Return the processed scores of every step (`GenerateOutput.scores`; transformers' `output_scores`). Default false.
   *  `streamGenerate` / `streamText` return them as the generator's return value, after the last token. */
  outputScores?: boolean;
  /** Return the raw logits of every step, before any processor (`GenerateOutput.logits`; transformers'
   *  `output_logits`). Default false. `streamGenerate` / `streamText` return them as the generator's return value. */
  outputLogits?: boolean;
  /** The tokenizer `stopStrings` decodes with (transformers' `tokenizer=` argument of `generate`). */
  tokenizer?: TextTokenizer;
  /** Fills finished greedy/sampled rows. Defaults to the first EOS id (as transformers). */
  padTokenId?: number;
  /** First decoder token. Required (from the generation config or here); T5: 0. */
  decoderStartTokenId?: number;
  /** Seed for sampling; the same seed gives the same tokens. Without one, sampling is not reproducible. */
  seed?: number | string;
  /** Keep the decoder's self-attention cache between steps (default). `false` re-runs the decoder on the
   *  whole prefix each step: slower, same result; for checks and benchmarks. */
  useCache?: boolean;
  /**
   * transformers' `assistant_model`: a smaller encoder-decoder with the same vocabulary (e.g. Flan-T5-small for
   * Flan-UL2) that proposes candidate tokens, which the model checks in one decoder pass (assisted / speculative
   * decoding, transformers' `_assisted_decoding` with `AssistedCandidateGenerator`). Greedy output is plain greedy's
   * (up to the float32 rounding of a multi-token pass), with fewer passes of the big model. Needs `cropCache` on both
   * models; one prompt, `numBeams` 1, `numReturnSequences` 1, the cache on. Its encoder runs on the same prompt.
   */
  assistantModel?: Seq2Seq;
  /** Most candidate tokens the assistant proposes per round (`num_assistant_tokens`). Default: the assistant's
   *  `generationConfig.num_assistant_tokens`, else 20 (transformers 5). */
  numAssistantTokens?: number;
  /** How `numAssistantTokens` changes between rounds (`num_assistant_tokens_schedule`): `"constant"` (default in
   *  transformers 5, else the assistant's config), `"heuristic"` (+2 after a round whose candidates were all accepted,
   *  −1 (at least 1) otherwise; the count reached is kept for the next call with this assistant, as transformers writes
   *  it to the assistant's generation config) or `"heuristic_transient"` (the same within one call only). */
  numAssistantTokensSchedule?: 'constant' | 'heuristic' | 'heuristic_transient';
  /** The assistant stops proposing once its probability for its own token is below this (`assistant_confidence_threshold`,
   *  transformers' `ConfidenceCriteria`); 0 disables. In [0, 1]. Default: the assistant's config, else 0.4. */
  assistantConfidenceThreshold?: number;
  /** transformers' `prompt_lookup_num_tokens`: assisted decoding whose candidates are copied from the decoder sequence
   *  itself (`PromptLookupCandidateGenerator`: the tokens that followed an earlier occurrence of its last n-gram), at most
   *  this many per round. An integer ≥ 1; off by default. Same restrictions as `assistantModel` (not both). */
  promptLookupNumTokens?: number;
  /** Longest n-gram prompt lookup matches (`max_matching_ngram_size`); it tries this size first, then shorter. Default 2. */
  maxMatchingNgramSize?: number;
  /** Called after every step of greedy or sampled decoding with each row's new token (the pad id for
   *  rows already finished, when there are EOS ids) and the step number (0 first). Not available with beams. */
  onToken?: (tokens: number[], step: number) => void;
  /**
   * transformers' `logits_processor` argument: your own processors, run on each step's score rows after the built-in
   * processors (sequence bias … begin-suppress, `prefixAllowedTokensFn` among them) and, when sampling, before the
   * warpers (temperature, top-k, …) and `renormalizeLogits`, in transformers' order (`_get_logits_processor` merges the
   * list there). Greedy, sampling and assisted decoding pass the raw logits through them, beam search the
   * log-softmaxed ones (as transformers). Each is `(scores, tokenIds, { step, rowsPerPrompt }) => void | rows`: change
   * the `Float32Array` rows in place or return new ones. Not from a generation config.
   */
  logitsProcessor?: LogitsProcessorFn[];
  /**
   * transformers' `stopping_criteria` argument: your own criteria, checked after the built-in ones (max length, stop
   * strings, EOS); a row is done when any criterion says so. Each is `(tokenIds) => booleans`, one per row: greedy and
   * sampling call it after every step with every row's sequence (finished rows included, as transformers); beam search
   * with every candidate continuation of the step (`batch × max(2, 1 + EOS ids) × numBeams` rows), one that is done
   * finishes like one ending in EOS when it is among the step's best `numBeams` (the others are dropped); assisted decoding with the one sequence after each accepted token, and on the
   * candidates (`is_done_candidate`). Not from a generation config.
   */
  stoppingCriteria?: StoppingCriterionFn[];
  /**
   * transformers' `prefix_allowed_tokens_fn` (`PrefixConstrainedLogitsProcessor`, after `minNewTokens` and before
   * `forcedBosTokenId` in the built-in order): `(batchId, tokenIds) => allowed token ids`; every other token's score
   * becomes −∞. `tokenIds` is the row's decoder sequence (start token first); `batchId` is ⌊row / numBeams⌋, the
   * prompt with beams and the row itself when sampling several sequences per prompt (as transformers). An empty list
   * or an id outside the vocabulary throws. Not from a generation config.
   */
  prefixAllowedTokensFn?: PrefixAllowedTokensFn;
}

/** What `generate` returns. */
export interface GenerateOutput {
  /** [B × numReturnSequences] rows of token ids in transformers' layout: each starts with the decoder start
   *  id (and the `decoderInputIds` prefix, when given); rows are cut to the longest row and shorter ones are filled (see README: "Padding"). Rows of one
   *  input are adjacent (input 0's sequences first). */
  sequences: number[][];
  /** Beam search only: each returned row's final score (transformers' `sequences_scores`). */
  sequencesScores?: number[];
  /**
   * With `outputScores`: transformers' `scores` — per generated step, per row, the processed next-token
   * scores the token was chosen from: `scores[step][row]`, a `Float32Array` of the vocabulary size. Greedy
   * and sampling: after the logits processors (and, sampling, the warpers), rows as `sequences`. Beam
   * search: the processed log-probabilities of each running beam (`batch × numBeams` rows, before its
   * beam score is added); `beamIndices` says which row each returned token came from.
   */
  scores?: Float32Array[][];
  /**
   * With `outputLogits`: transformers' `logits` — per generated step, per row, the model's raw next-token
   * logits (before any processor, warper or log-softmax): `logits[step][row]`, a `Float32Array` of the
   * vocabulary size. Rows as in `scores`: the sequences' rows (greedy, sampling), the running beams
   * (`batch × numBeams` rows, beam search).
   */
  logits?: Float32Array[][];
  /**
   * Beam search with `outputScores` (transformers' `beam_indices`): per returned sequence and generated
   * position, the running row (`input · numBeams + beam`) of `scores[step]` its token was chosen from;
   * -1 past the sequence's end. `Σ_t scores[t][beamIndices[i][t]][token]` is the sequence's summed
   * log-probability (transformers' `compute_transition_scores`).
   */
  beamIndices?: number[][];
}
