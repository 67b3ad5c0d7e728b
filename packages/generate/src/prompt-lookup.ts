import type { CandidateGenerator, Candidates } from './assisted-search.js';
import { processRows, type RowProcessorOptions } from './user-processors.js';

/**
 * transformers' `PromptLookupCandidateGenerator` (generation/candidate_generator.py), for one row: the candidates are
 * the tokens that followed the first earlier occurrence (left to right) of the sequence's last n-gram, trying
 * n = `maxMatchingNgramSize` down to 1, at most `numOutputTokens` of them, cut before their first EOS. For an
 * encoder-decoder, transformers looks in `input_ids` = the decoder sequence (start token and generated tokens), not
 * in the encoder prompt; so does this.
 *
 * Forbidden tokens: `_get_candidate_generator` passes it the model's `logits_processor` and `vocab_size`, and a
 * candidate whose score the processors set to -inf, given the sequence and the candidates before it, is cut with
 * the ones after it (scored on "fake" logits of ones, so only the bans show); a match left with no candidate gives
 * way to the next match. Here: `proc` (the model's processors and warpers) and `vocab()`, the model's logits width
 * (known once the model has run: the first round, on the start token alone, never has a match).
 */
export class PromptLookupCandidates implements CandidateGenerator {
  constructor(
    private readonly numOutputTokens: number,
    private readonly maxMatchingNgramSize: number,
    private readonly maxLength: number,
    private readonly eosTokenIds: readonly number[],
    private readonly proc?: RowProcessorOptions,
    private readonly vocab?: () => number | undefined,
  ) {}

  async get(ids: readonly number[]): Promise<Candidates> {
    const inputLength = ids.length;
    // "Don't generate more than `max_length - 1` candidates since the target model generates one extra token."
    if (this.maxLength === inputLength + 1) return { tokens: [] };
    for (let n = Math.min(this.maxMatchingNgramSize, inputLength - 1); n > 0; n--) {
      // `windows = input_ids.unfold(1, n, 1)`; `matches = (windows == input_ids[0, -n:]).all(2)`: every window, the
      // last (the n-gram itself) included; it never yields candidates since `start_idx == input_length` there.
      for (let idx = 0; idx + n <= inputLength; idx++) {
        let match = true;
        for (let j = 0; j < n && match; j++) match = ids[idx + j] === ids[inputLength - n + j];
        if (!match) continue;
        const start = idx + n;
        const end = Math.min(start + this.numOutputTokens, inputLength, this.maxLength);
        if (start < end) {
          const chosen = this.allowed(ids, ids.slice(start, end));
          if (chosen.length === 0) continue; // "no valid candidate tokens -> look for a different match"
          // "remove remaining candidate ids if an "eos" token is found"; a match whose candidates are all cut this way
          // still ends the search (transformers then returns no candidates).
          const firstEos = chosen.findIndex((t) => this.eosTokenIds.includes(t));
          return { tokens: firstEos < 0 ? chosen : chosen.slice(0, firstEos) };
        }
      }
    }
    return { tokens: [] }; // no match: one plain decoding step
  }

  /**
   * `chosen` up to its first forbidden token: `fake_output_logits = self.logits_processor(sequence_with_candidate,
   * torch.ones((bsz, vocab_size)))`, forbidden when `fake_output_logits[0, token]` is -inf (or float32's lowest).
   */
  private allowed(ids: readonly number[], chosen: number[]): number[] {
    const vocab = this.vocab?.();
    if (!this.proc || vocab === undefined) return chosen;
    for (let i = 0; i < chosen.length; i++) {
      const fake = processRows([new Float32Array(vocab).fill(1)], [[...ids, ...chosen.slice(0, i)]], this.proc)[0] as Float32Array;
      const s = fake[chosen[i] as number];
      if (s === -Infinity || s === -3.4028234663852886e38) return chosen.slice(0, i);
    }
    return chosen;
  }

  /** `update_candidate_strategy`: "Currently does nothing". */
  update(): void {}

  finish(): void {}

  dispose(): void {}
}
