/** Token-sequence matching shared by the n-gram and sequence processors. */

/**
 * The tokens that follow, in `source`, each occurrence of the last `n - 1` tokens of `ids` (in order of
 * occurrence, repeats kept): transformers' `_get_ngrams` over `source` looked up with
 * `prev_input_ids[cur_len + 1 - n : cur_len]`. None while `ids` is shorter than `n - 1` (`cur_len + 1 < n`);
 * `n = 1`: every token of `source`.
 */
export function ngramContinuations(source: readonly number[], ids: readonly number[], n: number): number[] {
  const start = ids.length + 1 - n;
  if (start < 0) return [];
  const out: number[] = [];
  for (let i = 0; i + n <= source.length; i++) {
    let match = true;
    for (let j = 0; j < n - 1 && match; j++) match = source[i + j] === ids[start + j];
    if (match) out.push(source[i + n - 1] as number);
  }
  return out;
}

/**
 * Whether `ids` ends with `seq` less its last token, `seq` being no longer than `ids`
 * (`SequenceBiasLogitsProcessor`'s test for a multi-token sequence, also used for bad words).
 */
export function endsWithPrefixOf(ids: readonly number[], seq: readonly number[]): boolean {
  if (seq.length > ids.length) return false;
  const prefix = seq.length - 1;
  for (let j = 0; j < prefix; j++) if (ids[ids.length - prefix + j] !== seq[j]) return false;
  return true;
}
