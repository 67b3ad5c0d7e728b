import { applyProcessors, applyWarpers, type ProcessorOptions } from './logits-process.js';

/** What a `logitsProcessor` function is told about the step besides the rows. */
export interface LogitsProcessorStep {
  /** Tokens generated before this step in these rows (0 on the first step): their decoder length − the decoder
   *  prompt's length (1, the start token, or more with `decoderInputIds`). */
  step: number;
  /** Score rows per prompt: `numBeams` with beams, `numReturnSequences` when sampling, else 1. Row r belongs to
   *  prompt ⌊r / rowsPerPrompt⌋. Assisted decoding processes one row at a time (1). */
  rowsPerPrompt: number;
}

/**
 * A user logits processor (transformers' `LogitsProcessor.__call__(input_ids, scores)`): `scores[r]` is row r's
 * next-token scores (a `Float32Array` of the vocabulary size, already through the built-in processors) and
 * `tokenIds[r]` its decoder sequence so far, start token first (`input_ids[r]`). Change the rows in place and return
 * nothing, or return new rows (as many, each a `Float32Array` of the vocabulary size; they are copied). Neither the
 * rows given nor `tokenIds` (the live, growing sequences) are copied for it: keep no reference to them after it returns.
 */
export type LogitsProcessorFn = (
  scores: Float32Array[],
  tokenIds: readonly (readonly number[])[],
  step: LogitsProcessorStep,
) => Float32Array[] | void;

/**
 * A user stopping criterion (transformers' `StoppingCriteria.__call__(input_ids, scores)`): for each row's decoder
 * sequence (start token first, the newest token last) whether that row is done; one boolean per row.
 */
export type StoppingCriterionFn = (tokenIds: readonly (readonly number[])[]) => ArrayLike<boolean>;

/** The options `processRows` reads: the built-in processors' and the caller's `logitsProcessor` list. */
export type RowProcessorOptions = ProcessorOptions & { logitsProcessor?: readonly LogitsProcessorFn[] };

/**
 * transformers' full `logits_processor` list on a step's rows: the built-in processors (per row), then the caller's
 * `logitsProcessor` functions in order (`_merge_criteria_processor_list` appends them to the built-in list, before
 * the warpers), then, when sampling, the warpers and last `LogitNormalization` (per row). `rows[i]` is step row
 * `firstRow + i` (assisted decoding passes one row). Returns the processed rows: `rows` changed in place unless a
 * user function returned new ones.
 */
export function processRows(
  rows: Float32Array[],
  ids: readonly (readonly number[])[],
  o: RowProcessorOptions,
  firstRow = 0,
): Float32Array[] {
  for (let i = 0; i < rows.length; i++) applyProcessors(rows[i] as Float32Array, ids[i] as readonly number[], o, firstRow + i);
  let out = rows;
  const fns = o.logitsProcessor ?? [];
  if (fns.length > 0) {
    const info: LogitsProcessorStep = { step: (ids[0] as readonly number[]).length - (o.decoderPromptLength ?? 1), rowsPerPrompt: o.rowsPerInput ?? 1 };
    const vocab = (rows[0] as Float32Array).length;
    for (const [k, fn] of fns.entries()) {
      const next = fn(out, ids, info);
      if (next === undefined) continue;
      if (!Array.isArray(next) || next.length !== out.length || !next.every((r) => r instanceof Float32Array && r.length === vocab)) {
        throw new Error(`logitsProcessor[${k}] must change the rows in place or return ${out.length} Float32Array rows of ${vocab} scores`);
      }
      out = next.map((r) => r.slice()); // copies: the caller may reuse or keep its arrays; assisted decoding keeps rows as given
    }
  }
  for (const row of out) applyWarpers(row, o);
  return out;
}

/**
 * transformers' `StoppingCriteriaList.__call__` for the caller's criteria: `is_done |= criterion(input_ids)` for
 * each (every criterion is called). `undefined` when there are none.
 */
export function userStops(criteria: readonly StoppingCriterionFn[], seqs: readonly (readonly number[])[]): boolean[] | undefined {
  if (criteria.length === 0) return undefined;
  const done = new Array<boolean>(seqs.length).fill(false);
  for (const [k, fn] of criteria.entries()) {
    const r = fn(seqs);
    if (r === null || typeof r !== 'object' || typeof (r as ArrayLike<boolean>).length !== 'number' || r.length !== seqs.length) {
      throw new Error(`stoppingCriteria[${k}] must return one boolean per row (${seqs.length})`);
    }
    for (let i = 0; i < seqs.length; i++) if (r[i]) done[i] = true;
  }
  return done;
}
