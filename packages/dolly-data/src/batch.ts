import type { EncodedExample } from './encode';
import { checkOptions, type KnownOptions } from './unknown-options';

/** One batch, row-major int32 arrays plus shapes (see docs/interfaces.md). */
export interface Batch {
  /** [batch, source] row-major */ inputIds: Int32Array;
  /** [batch, source], 1 = token, 0 = pad */ attentionMask: Int32Array;
  /** [batch, target], -100 = ignored */ labels: Int32Array;
  /** [batch, target], labels shifted right, 0 first, -100 → 0 */ decoderInputIds: Int32Array;
  batchSize: number;
  sourceLength: number;
  targetLength: number;
  /** non-ignored label tokens */ numTargetTokens: number;
  /** indices of the records (in the split) in this batch */ indices: number[];
}

/** The label value the loss ignores. */
export const IGNORE_INDEX = -100;

/** Options for {@link collate}. */
export interface CollateOptions {
  /** Pad id of inputs and (with `seedCompatLabels`) labels (default 0, T5's `<pad>`). */
  padId?: number;
  /** The decoder start id put first in `decoderInputIds` (default 0, T5's). */
  decoderStartId?: number;
  /**
   * Pad labels with `padId` instead of -100, so the loss also counts the padding positions of
   * this batch (default false). An approximation of the original project, not a reproduction:
   * it padded labels with the pad id (0) to the longest row of each `dataset.map(batched=True)`
   * chunk, not of a training batch, and trained with batch size 1; so its loss counted padding
   * up to the longest target in the map chunk, which in-batch padding does not recreate.
   */
  seedCompatLabels?: boolean;
  /** Round source and target lengths up to a multiple of this (default 1: dynamic padding to the longest row). */
  padToMultipleOf?: number;
}

/** Every option of {@link CollateOptions} (also part of `BatchSamplerOptions`). */
export const COLLATE_OPTIONS: KnownOptions<CollateOptions> = { padId: true, decoderStartId: true, seedCompatLabels: true, padToMultipleOf: true };

/** transformers' `DataCollatorForSeq2Seq` / config names of options named differently here. */
export const COLLATOR_NAMES = { pad_token_id: 'padId', decoder_start_token_id: 'decoderStartId' };

/** `n` rounded up to a multiple of `m` (the padded length `collate` gives). */
export const roundUp = (n: number, m: number): number => Math.ceil(n / m) * m;

/** What is wrong with `padToMultipleOf`, or undefined when it is an integer >= 1 (transformers' `pad_to_multiple_of` is a positive int). */
export function padToMultipleOfProblem(padToMultipleOf: number): string | undefined {
  return Number.isInteger(padToMultipleOf) && padToMultipleOf >= 1 ? undefined : `padToMultipleOf must be an integer >= 1, got ${padToMultipleOf}`;
}

/** Throws unless `padToMultipleOf` is an integer >= 1 (see {@link padToMultipleOfProblem}). */
export function checkPadToMultipleOf(padToMultipleOf: number): void {
  const problem = padToMultipleOfProblem(padToMultipleOf);
  if (problem !== undefined) throw new RangeError(problem);
}

/** Pads the examples at `indices` into one {@link Batch} (dynamic padding to the longest row). */
export function collate(examples: readonly EncodedExample[], indices: readonly number[], options: CollateOptions = {}): Batch {
  checkOptions('collate', options, COLLATE_OPTIONS, COLLATOR_NAMES);
  return collateChecked(examples, indices, options);
}

/** {@link collate} without the check of the option keys (`BatchSampler` passes its own options, a wider object). */
export function collateChecked(examples: readonly EncodedExample[], indices: readonly number[], options: CollateOptions): Batch {
  const { padId = 0, decoderStartId = 0, seedCompatLabels = false, padToMultipleOf = 1 } = options;
  checkPadToMultipleOf(padToMultipleOf);
  if (indices.length === 0) throw new RangeError('collate: a batch needs at least one record');
  const rows = indices.map((i) => {
    const e = examples[i];
    if (!e) throw new RangeError(`collate: index ${i} out of range (${examples.length} examples)`);
    return e;
  });
  const B = rows.length;
  const S = roundUp(Math.max(...rows.map((r) => r.sourceIds.length)), padToMultipleOf);
  const T = roundUp(Math.max(...rows.map((r) => r.targetIds.length)), padToMultipleOf);
  const labelPad = seedCompatLabels ? padId : IGNORE_INDEX;
  const inputIds = new Int32Array(B * S).fill(padId);
  const attentionMask = new Int32Array(B * S);
  const labels = new Int32Array(B * T).fill(labelPad);
  const decoderInputIds = new Int32Array(B * T);
  let numTargetTokens = 0;
  rows.forEach((r, b) => {
    inputIds.set(r.sourceIds, b * S);
    attentionMask.fill(1, b * S, b * S + r.sourceIds.length);
    labels.set(r.targetIds, b * T);
  });
  for (let b = 0; b < B; b++) {
    decoderInputIds[b * T] = decoderStartId;
    for (let t = 0; t < T; t++) {
      const l = labels[b * T + t]!;
      if (l !== IGNORE_INDEX) numTargetTokens++;
      if (t + 1 < T) decoderInputIds[b * T + t + 1] = l === IGNORE_INDEX ? padId : l;
    }
  }
  return { inputIds, attentionMask, labels, decoderInputIds, batchSize: B, sourceLength: S, targetLength: T, numTargetTokens, indices: [...indices] };
}
