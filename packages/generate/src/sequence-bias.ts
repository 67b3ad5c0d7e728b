/**
 * transformers' `SequenceBiasLogitsProcessor` (generation/logits_process.py), for one row of scores.
 */

import { endsWithPrefixOf } from './ngram.js';

const f32 = Math.fround;

/** A token sequence and the bias added to its last token when the decoder sequence ends with the rest. */
export type SequenceBiasEntry = readonly [readonly number[], number];

/**
 * `_convert_list_arguments_into_dict`: `{tuple(ids): bias for ids, bias in sequence_bias}` — a repeated
 * sequence keeps the position of its first occurrence and the bias of its last (a Python dict).
 */
export function sequenceBiasEntries(pairs: readonly SequenceBiasEntry[]): Array<[number[], number]> {
  const byKey = new Map<string, [number[], number]>();
  for (const [ids, bias] of pairs) {
    const key = ids.join(',');
    const seen = byKey.get(key);
    if (seen) seen[1] = bias;
    else byKey.set(key, [[...ids], bias]);
  }
  return [...byKey.values()];
}

/**
 * `SequenceBiasLogitsProcessor.__call__` with `entries` already de-duplicated ({@link sequenceBiasEntries}):
 * `bias = zeros_like(scores)`; `bias += length_1_bias` (the one-token sequences, always); for each longer
 * sequence not longer than `ids` whose prefix ends `ids`, `bias[last] += bias_value`; `scores + bias`.
 * The biases are float32 tensors (`torch.tensor(python_floats)`), so they are rounded to float32 and summed
 * in float32, in the dict's order. A biased token past the vocabulary throws, listing them, as transformers'
 * `_prepare_bias_variables` does.
 */
export function sequenceBias(scores: Float32Array, ids: readonly number[], entries: readonly SequenceBiasEntry[]): void {
  const vocab = scores.length;
  const invalid = entries.flatMap(([seq]) => seq.filter((t) => t >= vocab));
  if (invalid.length > 0) {
    throw new Error(`sequenceBias: the model vocabulary size is ${vocab}, but the following tokens were being biased: [${invalid.join(', ')}]`);
  }
  const bias = new Float32Array(vocab);
  for (const [seq, b] of entries) if (seq.length === 1) bias[seq[0] as number] = f32(b); // `length_1_bias[ids] = tensor(biases)`
  for (const [seq, b] of entries) {
    if (seq.length === 1 || !endsWithPrefixOf(ids, seq)) continue;
    const last = seq[seq.length - 1] as number;
    bias[last] = f32((bias[last] as number) + f32(b));
  }
  for (let i = 0; i < vocab; i++) scores[i] = f32((scores[i] as number) + (bias[i] as number));
}
