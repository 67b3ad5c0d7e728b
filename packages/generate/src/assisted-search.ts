import type * as tf from '@tensorflow/tfjs-core';
import { AssistantCandidates } from './assistant-candidates.js';
import type { Decoder } from './decoder.js';
import { argmax } from './logits-process.js';
import type { ResolvedOptions } from './options.js';
import { PromptLookupCandidates } from './prompt-lookup.js';
import { isStopped, startRows, type StepRecord } from './sample-search.js';
import { makeRng, sampleFromScores } from './sampling.js';
import { speculativeSampling } from './speculative-sampling.js';
import { processRows, userStops, type RowProcessorOptions } from './user-processors.js';

/** What a candidate generator proposes after a sequence: tokens, and (an assistant) the processed scores they came from. */
export interface Candidates {
  tokens: number[];
  scores?: Float32Array[];
}

/** transformers' `CandidateGenerator`, for one row. */
export interface CandidateGenerator {
  /** `get_candidates`: the tokens proposed after `ids` (the decoder sequence so far); none = a plain step. */
  get(ids: readonly number[]): Promise<Candidates>;
  /** `update_candidate_strategy(input_ids, scores, num_matches)`. */
  update(numMatches: number, candidateLength: number): void;
  /** End of a call that ran to its end (the `"heuristic"` schedule keeps its count). */
  finish(): void;
  dispose(): void;
}

/**
 * Assisted decoding of one prompt: transformers 5's `_assisted_decoding` (generation/utils.py), greedy or, with
 * prompt lookup, sampling. Each round:
 * 1. candidates from `assistantModel` (`AssistedCandidateGenerator`) or prompt lookup (`PromptLookupCandidateGenerator`);
 * 2. one decoder pass of the model over the uncached tokens and the candidates: `candidate_length + 1` logits rows;
 * 3. row i is processed with the sequence and the first i candidates (`logits_processor(candidate_input_ids[:, :cur_len + i],
 *    new_logits[:, i, :])`), the token chosen from it (argmax, or a draw when sampling); candidates are accepted up to
 *    the first one that differs, and the token chosen after the last accepted one is kept too (so no candidate = a
 *    plain greedy step). When the candidates end in a stop (`is_done_candidate`: EOS, the maximum length or a stop
 *    string) and all are accepted, that extra token is dropped (`n_matches -= 1`);
 * 4. the model's cache is cropped to the accepted positions (`past_key_values.crop(new_cur_len - 1)`).
 * The kept tokens are appended one at a time with the stopping checks of `sampleSteps`, so a row ends on the first
 * EOS, at `maxLength` (tokens accepted past it are cut) or on a completed stop string, exactly where plain decoding
 * ends it; greedy output equals plain greedy decoding. `scores` / `logits` get one row per kept token, the processed
 * and raw rows of step 3 (transformers: `new_logits[:, i, :]` and `next_token_logits[:, i, :]` for
 * `i < n_matches + 1`). Yields each kept token (as `[token]`, like `sampleSteps` with one row).
 */
export async function* assistedSteps<Enc, Cache>(
  decoder: Decoder<Enc, Cache>,
  o: ResolvedOptions,
  sequences: number[][],
  record: StepRecord,
  encoderInputIds: readonly (readonly number[])[] | undefined,
  input: { ids: tf.Tensor2D; mask: tf.Tensor2D },
  /** The decoder prefix (`decoderInputIds`, start token first), one row: decoding continues after it. */
  decoderPrefix?: readonly (readonly number[])[],
): AsyncGenerator<number[], void, void> {
  const proc: RowProcessorOptions = { ...o, minTokensToKeep: 1, encoderInputIds, rowsPerInput: 1 };
  const rng = o.doSample ? makeRng(o.seed) : undefined;
  const eos = new Set(o.eosTokenIds);
  // The built-in criteria, then the caller's `stoppingCriteria` (`stopping_criteria(input_ids, scores)`), on one sequence.
  // every criterion is called, the caller's first (StoppingCriteriaList calls them all; `||` would skip them after EOS)
  const stops = (seq: readonly number[]): boolean => {
    const user = userStops(o.stoppingCriteria, [seq])?.[0] ?? false;
    return isStopped(seq, o, eos) || user;
  };
  const ids = startRows(o, 1, 1, decoderPrefix)[0] as number[];
  sequences.push(ids);
  let vocab: number | undefined; // the model's logits width, once it has run (prompt lookup's forbidden-token check)
  let vocabChecked = false; // the assistant's scores compared with the model's logits
  const candidates: CandidateGenerator = o.assistantModel
    ? AssistantCandidates.create(o.assistantModel, input.ids, input.mask, o, proc, rng)
    : new PromptLookupCandidates(o.promptLookupNumTokens as number, o.maxMatchingNgramSize, o.maxLength, o.eosTokenIds, proc, () => vocab);
  try {
    let cached = 0; // positions in the model's cache
    for (;;) {
      const { tokens: cand, scores: candScores } = await candidates.get(ids);
      const rows = await decoder.feed([...ids.slice(cached), ...cand]);
      const logits = rows.slice(rows.length - cand.length - 1); // (candidate_length + 1) rows
      vocab = (logits[0] as Float32Array).length;
      // The logits' widths, once (they do not change between rounds): `assistedProblems` compared `config.vocab_size`
      // up front, which misses a model without one and a config that does not match the logits.
      if (!vocabChecked && candScores?.[0]) {
        vocabChecked = true;
        if (candScores[0].length !== vocab) {
          throw new Error(`assistantModel has a vocabulary of ${candScores[0].length} tokens and the model ${vocab}: assisted decoding needs the same vocabulary`);
        }
      }
      // Step 3: row i processed with the sequence and the first i candidates, lazily (rows past a rejection are unused).
      const processed: Float32Array[] = [];
      const raws: Array<Float32Array | undefined> = [];
      const scoresAt = (i: number): Float32Array => {
        for (let j = processed.length; j <= i; j++) {
          const raw = logits[j] as Float32Array;
          raws.push(record.logits ? raw.slice() : undefined); // `next_token_logits`, before the processors
          processed.push(processRows([raw], [[...ids, ...cand.slice(0, j)]], proc)[0] as Float32Array);
        }
        return processed[i] as Float32Array;
      };
      const isDoneCandidate = cand.length > 0 && stops([...ids, ...cand]);
      let kept: number[];
      let numMatches = 0;
      if (rng && candScores) {
        ({ tokens: kept, numMatches } = speculativeSampling(cand, candScores, scoresAt, isDoneCandidate, rng));
      } else {
        // Greedy: `selected_tokens = new_logits.argmax(-1)`; sampling (prompt lookup): a draw per position.
        kept = [];
        for (let i = 0; i <= cand.length; i++) {
          const token = rng ? sampleFromScores(scoresAt(i), rng) : argmax(scoresAt(i));
          kept.push(token);
          if (i < cand.length && token === cand[i]) numMatches++;
          else break;
        }
        // "Ensure we don't generate beyond max_len or an EOS token": `n_matches -= 1`, and the model's extra token is
        // dropped; here that token is never appended anyway, since the row stops at the candidates' stop (below).
        if (isDoneCandidate && numMatches === cand.length) numMatches -= 1;
      }
      let stopped = false;
      for (const [k, token] of kept.entries()) {
        // Plain decoding checks the signal before each step: an abort seen while this block is handed out (in
        // `onToken` or a stream's loop) ends the call before the next kept token, as it would before the next step.
        if (k > 0) o.signal?.throwIfAborted();
        ids.push(token);
        // `scores += new_logits[:, i, :]`, `raw_logits += next_token_logits[:, i, :]` for i < n_matches + 1.
        record.scores?.push([scoresAt(k)]);
        record.logits?.push([raws[k] as Float32Array]);
        yield [token];
        if (stops(ids)) {
          stopped = true;
          break;
        }
      }
      candidates.update(numMatches, cand.length);
      if (stopped) {
        candidates.finish();
        return;
      }
      cached = ids.length - 1;
      decoder.crop(cached); // `outputs.past_key_values.crop(new_cur_len - 1)`
    }
  } finally {
    candidates.dispose();
  }
}
