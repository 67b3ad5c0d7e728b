import type { Decoder } from './decoder.js';
import { argmax, processScores } from './logits-process.js';
import type { ResolvedOptions } from './options.js';
import { makeRng, sampleFromScores } from './sampling.js';

/** Whether the text of `generated` (token ids, decoder start token excluded) contains one of `stopStrings`. */
export function hitsStopString(generated: readonly number[], stopStrings: readonly string[], tokenizer: ResolvedOptions['tokenizer']): boolean {
  if (stopStrings.length === 0 || !tokenizer) return false;
  const text = tokenizer.decode([...generated]);
  return stopStrings.some((s) => text.includes(s));
}

/**
 * Greedy decoding and multinomial sampling: transformers' `_sample`. Yields each step's new token per row
 * (the pad id for rows already finished) after appending it to `sequences`. A row finishes on an EOS id;
 * all rows stop at `maxLength`; the loop ends when every row has finished.
 */
export async function* sampleSteps<Enc, Cache>(
  decoder: Decoder<Enc, Cache>,
  rows: number,
  o: ResolvedOptions,
  sequences: number[][],
  /** When given (outputScores), each step's processed scores per row are appended (`scores[step][row]`). */
  scoresOut?: Float32Array[][],
  /** The prompts' token ids (one row per prompt; `rows` is a multiple of their number), for the encoder processors. */
  encoderInputIds?: readonly (readonly number[])[],
): AsyncGenerator<number[], void, void> {
  const rng = o.doSample ? makeRng(o.seed) : undefined;
  const eos = new Set(o.eosTokenIds);
  for (let r = 0; r < rows; r++) sequences.push([o.decoderStartTokenId]);
  const unfinished = new Array<boolean>(rows).fill(true);
  const proc = { ...o, minTokensToKeep: 1, encoderInputIds, rowsPerInput: encoderInputIds ? rows / encoderInputIds.length : 1 };
  let curLen = 1;
  while (true) {
    const logits = await decoder.step(sequences);
    const next: number[] = [];
    const stepScores: Float32Array[] | undefined = scoresOut ? [] : undefined;
    for (let r = 0; r < rows; r++) {
      const scores = logits[r] as Float32Array;
      const ids = sequences[r] as number[];
      processScores(scores, ids, proc, r);
      stepScores?.push(scores.slice());
      const token = rng ? sampleFromScores(scores, rng) : argmax(scores);
      // `next_tokens = next_tokens * unfinished_sequences + pad_token_id * (1 - unfinished_sequences)`
      const t = unfinished[r] ? token : o.padTokenId;
      ids.push(t);
      next.push(t);
      // `unfinished_sequences & ~stopping_criteria(input_ids)`: EOS, max length, or a stop string.
      if (unfinished[r] && (eos.has(t) || curLen + 1 >= o.maxLength || hitsStopString(ids.slice(1), o.stopStrings, o.tokenizer))) unfinished[r] = false;
    }
    curLen += 1;
    if (stepScores) scoresOut!.push(stepScores);
    yield next;
    if (!unfinished.some(Boolean)) return;
  }
}
