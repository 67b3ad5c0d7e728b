import type * as tf from '@tensorflow/tfjs-core';
import type { CandidateGenerator, Candidates } from './assisted-search.js';
import { Decoder } from './decoder.js';
import { softmax } from './float32.js';
import { argmax } from './logits-process.js';
import type { ResolvedOptions } from './options.js';
import { sampleFromScores, type Rng } from './sampling.js';
import type { Seq2Seq } from './types.js';
import { processRows, type RowProcessorOptions } from './user-processors.js';

/**
 * The count a `"heuristic"` schedule ended with, per assistant: transformers writes it back to
 * `assistant_model.generation_config.num_assistant_tokens` at the end of `_assisted_decoding`, so the next call starts
 * from it (`"heuristic_transient"` does not).
 */
const heuristicCounts = new WeakMap<object, number>();

/**
 * transformers' `AssistedCandidateGenerator` for an encoder-decoder assistant with the model's vocabulary: its own
 * encoder on the same prompt, its own cache, candidates chosen from its processed scores as the model chooses
 * (greedy: argmax; sampling: a draw after the warpers, as the assistant's `generate` runs with a copy of the model's
 * generation config).
 *
 * - How many: `_calculate_new_tokens`: `min(num_assistant_tokens, max_length - cur_len - 1)`; none when that is 0.
 * - Processors: the model's (transformers passes its `logits_processor` list, without `MinLengthLogitsProcessor`,
 *   which it replaces by the assistant's `min_new_tokens = max(min(max_new, main_min_length - cur_len), 0)`: the
 *   same EOS ban as the model's `min_length`, so the model's options apply here unchanged).
 * - Stops (the assistant's `generate` stopping criteria): `max_new_tokens`, the model's EOS ids, and
 *   `ConfidenceCriteria`: the softmax of its processed scores gives its own token a probability below
 *   `assistant_confidence_threshold` (that token is still proposed).
 * - Cache: `_update_past_and_masks` crops the assistant's cache to what still matches the sequence; here to the
 *   longest prefix of what it was fed that the sequence still starts with (the rest is fed again).
 * - `update_candidate_strategy`: the `"heuristic"` schedules add 2 after a round whose candidates were all accepted,
 *   else subtract 1 (at least 1). The ROC-based adjustment of the confidence threshold, which transformers makes only
 *   when scikit-learn is installed, is not made: the threshold stays as given (it changes how many candidates are
 *   proposed, never the greedy output).
 */
export class AssistantCandidates implements CandidateGenerator {
  /** Tokens whose positions the assistant's cache holds, in order. */
  private fed: number[] = [];
  private numTokens: number;
  private readonly eos: ReadonlySet<number>;

  private constructor(
    private readonly assistant: Seq2Seq,
    private readonly decoder: Decoder<unknown, unknown>,
    private readonly encoder: unknown,
    private readonly o: ResolvedOptions,
    private readonly proc: RowProcessorOptions,
    private readonly rng: Rng | undefined,
  ) {
    const stored = o.numAssistantTokensSchedule === 'heuristic' ? heuristicCounts.get(assistant) : undefined;
    this.numTokens = stored ?? o.numAssistantTokens;
    this.eos = new Set(o.eosTokenIds);
  }

  /** Encodes the prompt with the assistant (the caller disposes the result with `dispose`). */
  static create(assistant: Seq2Seq, ids: tf.Tensor2D, mask: tf.Tensor2D, o: ResolvedOptions, proc: RowProcessorOptions, rng?: Rng): AssistantCandidates {
    const enc = assistant.encode(ids, mask);
    return new AssistantCandidates(assistant, new Decoder(assistant, enc, true, o.signal), enc, o, proc, rng);
  }

  async get(ids: readonly number[]): Promise<Candidates> {
    const maxNew = Math.min(Math.floor(this.numTokens), this.o.maxLength - ids.length - 1);
    if (maxNew <= 0) return { tokens: [] };
    let keep = 0;
    while (keep < this.fed.length && keep < ids.length - 1 && this.fed[keep] === ids[keep]) keep++;
    this.decoder.crop(keep);
    let rows = await this.decoder.feed(ids.slice(keep));
    this.fed = [...ids];
    const seq = [...ids];
    const tokens: number[] = [];
    const scores: Float32Array[] = [];
    for (;;) {
      // The model's processors, the caller's `logitsProcessor` included (transformers hands the assistant its list).
      const s = processRows([rows[rows.length - 1] as Float32Array], [seq], this.proc)[0] as Float32Array;
      const t = this.rng ? sampleFromScores(s, this.rng) : argmax(s);
      tokens.push(t);
      scores.push(s);
      seq.push(t);
      const threshold = this.o.assistantConfidenceThreshold;
      if (tokens.length >= maxNew || this.eos.has(t) || (threshold > 0 && (softmax(s)[t] as number) < threshold)) break;
      rows = await this.decoder.feed([t]);
      this.fed.push(t);
    }
    return { tokens, scores };
  }

  update(numMatches: number, candidateLength: number): void {
    if (this.o.numAssistantTokensSchedule === 'constant') return;
    // "len(scores[0])-1 is the number of candidates": all of them were accepted.
    this.numTokens = numMatches === candidateLength ? this.numTokens + 2 : Math.max(1, this.numTokens - 1);
  }

  finish(): void {
    if (this.o.numAssistantTokensSchedule === 'heuristic') heuristicCounts.set(this.assistant, this.numTokens);
  }

  dispose(): void {
    this.decoder.dispose();
    this.assistant.disposeEncoder(this.encoder);
  }
}
