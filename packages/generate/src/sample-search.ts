import type { Decoder } from './decoder.js';
import { argmax } from './logits-process.js';
import type { ResolvedOptions } from './options.js';
import { makeRng, sampleFromScores } from './sampling.js';
import { processRows, userStops } from './user-processors.js';

/**
 * Whether the text of `generated` (token ids, decoder start token excluded) contains one of `stopStrings`. With a
 * decoder prefix (`decoderInputIds`), its first `contextLength` tokens are the prefix: a stop string counts only where
 * it ends after the prefix's text as it stands in the decoded row (transformers' `StopStringCriteria` looks for stop
 * strings that end at the newest token, so one wholly inside the prefix never stops a row, and one completed across
 * the boundary does).
 */
export function hitsStopString(
  generated: readonly number[],
  stopStrings: readonly string[],
  tokenizer: ResolvedOptions['tokenizer'],
  contextLength = 0,
  /** What the prefix's text is remembered with: one `generate` call's resolved options (its lifetime); none: decoded each time. */
  call?: object,
): boolean {
  if (stopStrings.length === 0 || !tokenizer) return false;
  const text = tokenizer.decode([...generated]);
  // Where the prefix's text ends in `text`: decode(prefix) need not be a prefix of decode(row) (a clean-up of the space
  // before "." drops the prefix's trailing space once "." follows), so the length of what the two have in common.
  let ctx = 0;
  if (contextLength > 0) {
    const before = prefixText(tokenizer, generated.slice(0, contextLength), call);
    const n = Math.min(before.length, text.length);
    while (ctx < n && before.charCodeAt(ctx) === text.charCodeAt(ctx)) ctx++;
  }
  return stopStrings.some((s) => text.indexOf(s, Math.max(0, ctx - s.length + 1)) !== -1);
}

/**
 * Decoded decoder prefixes of one `generate` call (a prefix's text is the same at every check of every step), at most
 * 64 a call. Kept per call, not per tokenizer: a tokenizer object reused with another vocabulary in a later call must
 * not get the text of the earlier one.
 */
const prefixTexts = new WeakMap<object, Map<string, string>>();

/** `tokenizer.decode(ids)`, decoded once per `call` and prefix (within a call the tokenizer's decode is taken to be a pure function). */
function prefixText(tokenizer: NonNullable<ResolvedOptions['tokenizer']>, ids: readonly number[], call: object | undefined): string {
  if (!call) return tokenizer.decode([...ids]);
  let texts = prefixTexts.get(call);
  if (!texts) prefixTexts.set(call, (texts = new Map()));
  const key = ids.join(',');
  let text = texts.get(key);
  if (text === undefined) {
    if (texts.size >= 64) texts.clear();
    text = tokenizer.decode([...ids]);
    texts.set(key, text);
  }
  return text;
}

/** The decoder rows decoding starts from: `rows` rows, row r the prefix of prompt ⌊r / perPrompt⌋ (transformers'
 *  `repeat_interleave` of `decoder_input_ids`), or the start token alone without a prefix. */
export function startRows(o: Pick<ResolvedOptions, 'decoderStartTokenId'>, rows: number, perPrompt: number, prefix?: readonly (readonly number[])[]): number[][] {
  return Array.from({ length: rows }, (_, r) => (prefix ? [...(prefix[Math.floor(r / perPrompt)] as readonly number[])] : [o.decoderStartTokenId]));
}

/**
 * Whether a decoder sequence `seq` (start token first, the newest token last) has stopped: transformers'
 * `stopping_criteria(input_ids)` of `_sample`, one row: the newest token is an EOS id (`EosTokenCriteria`), the
 * sequence has `maxLength` tokens (`MaxLengthCriteria`: `cur_len >= max_length`) or its text contains a stop string
 * (`StopStringCriteria`). Plain and assisted decoding both stop with it, so assisted output ends where plain greedy does.
 */
export function isStopped(
  seq: readonly number[],
  o: Pick<ResolvedOptions, 'maxLength' | 'stopStrings' | 'tokenizer'> & { decoderPromptLength?: number },
  eos: ReadonlySet<number>,
): boolean {
  return eos.has(seq[seq.length - 1] as number) || seq.length >= o.maxLength || hitsStopString(seq.slice(1), o.stopStrings, o.tokenizer, (o.decoderPromptLength ?? 1) - 1, o);
}

/** What `generate` records per step with `outputScores` / `outputLogits`: `[step][row]` rows of the vocabulary size. */
export interface StepRecord {
  scores?: Float32Array[][];
  logits?: Float32Array[][];
}

/**
 * Greedy decoding and multinomial sampling: transformers' `_sample`. Yields each step's new token per row
 * (the pad id for rows already finished, when there are EOS ids) after appending it to `sequences`. A row finishes on an EOS id;
 * all rows stop at `maxLength`; the loop ends when every row has finished.
 */
export async function* sampleSteps<Enc, Cache>(
  decoder: Decoder<Enc, Cache>,
  rows: number,
  o: ResolvedOptions,
  sequences: number[][],
  /** Filled per step and row when given: `scores` (outputScores) the processed scores, `logits` (outputLogits) the raw ones. */
  record: StepRecord = {},
  /** The prompts' token ids (one row per prompt; `rows` is a multiple of their number), for the encoder processors. */
  encoderInputIds?: readonly (readonly number[])[],
  /** The decoder prefix of each prompt (`decoderInputIds`, start token first): decoding continues after it. */
  decoderPrefix?: readonly (readonly number[])[],
): AsyncGenerator<number[], void, void> {
  const rng = o.doSample ? makeRng(o.seed) : undefined;
  const eos = new Set(o.eosTokenIds);
  // `has_eos_stopping_criteria`: finished rows are padded only when there is an EOS criterion; without EOS ids a
  // row stopped by a stop string keeps getting (real) tokens until every row has stopped.
  const padFinished = eos.size > 0;
  // The first step feeds the whole prefix (or the start token alone) in one decoder pass.
  sequences.push(...startRows(o, rows, o.doSample ? o.numReturnSequences : 1, decoderPrefix));
  const unfinished = new Array<boolean>(rows).fill(true);
  const proc = { ...o, minTokensToKeep: 1, encoderInputIds, rowsPerInput: o.numReturnSequences };
  while (true) {
    const logits = await decoder.step(sequences);
    // `raw_logits += (next_token_logits,)`: before the processors change them in place.
    record.logits?.push(logits.map((l) => l.slice()));
    const next: number[] = [];
    const stepScores: Float32Array[] | undefined = record.scores ? [] : undefined;
    // The built-in processors, the caller's `logitsProcessor`, the warpers: transformers' `logits_processor(input_ids, scores)`.
    const processed = processRows(logits, sequences, proc);
    for (let r = 0; r < rows; r++) {
      const scores = processed[r] as Float32Array;
      const ids = sequences[r] as number[];
      stepScores?.push(scores.slice());
      const token = rng ? sampleFromScores(scores, rng) : argmax(scores);
      // `if has_eos_stopping_criteria: next_tokens = next_tokens * unfinished_sequences + pad_token_id * (1 - unfinished_sequences)`
      const t = unfinished[r] || !padFinished ? token : o.padTokenId;
      ids.push(t);
      next.push(t);
      // `unfinished_sequences & ~stopping_criteria(input_ids)`: EOS, max length, or a stop string. A row still
      // unfinished was given its own token (`t === token`), so the newest token is the one the EOS test needs.
      if (unfinished[r] && isStopped(ids, o, eos)) unfinished[r] = false;
    }
    // The caller's `stoppingCriteria`, after the built-in ones, on every row (finished ones too, as transformers).
    userStops(o.stoppingCriteria, sequences)?.forEach((done, r) => { if (done) unfinished[r] = false; });
    if (stepScores) record.scores?.push(stepScores);
    yield next;
    if (!unfinished.some(Boolean)) return;
  }
}
