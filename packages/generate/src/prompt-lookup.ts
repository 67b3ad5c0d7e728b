import type { CandidateGenerator, Candidates } from './assisted-search.js';

/**
 * transformers' `PromptLookupCandidateGenerator` (generation/candidate_generator.py), for one row: the candidates are
 * the tokens that followed the first earlier occurrence (left to right) of the sequence's last n-gram, trying
 * n = `maxMatchingNgramSize` down to 1, at most `numOutputTokens` of them, cut before their first EOS. For an
 * encoder-decoder, transformers looks in `input_ids` = the decoder sequence (start token and generated tokens), not
 * in the encoder prompt; so does this. `_get_candidate_generator` passes it no logits processor (so no forbidden-token
 * check), as here.
 */
export class PromptLookupCandidates implements CandidateGenerator {
  constructor(
    private readonly numOutputTokens: number,
    private readonly maxMatchingNgramSize: number,
    private readonly maxLength: number,
    private readonly eosTokenIds: readonly number[],
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
          // "remove remaining candidate ids if an "eos" token is found"; a match whose candidates are all cut this way
          // still ends the search (transformers then returns no candidates).
          const chosen = ids.slice(start, end);
          const firstEos = chosen.findIndex((t) => this.eosTokenIds.includes(t));
          return { tokens: firstEos < 0 ? chosen : chosen.slice(0, firstEos) };
        }
      }
    }
    return { tokens: [] }; // no match: one plain decoding step
  }

  /** `update_candidate_strategy`: "Currently does nothing". */
  update(): void {}

  finish(): void {}

  dispose(): void {}
}
