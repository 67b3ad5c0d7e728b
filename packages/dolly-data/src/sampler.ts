import { COLLATE_OPTIONS, COLLATOR_NAMES, collateChecked, padToMultipleOfProblem, type Batch, type CollateOptions } from './batch';
import type { EncodedExample } from './encode';
import { fixedBatchPlan, tokenBudgetPlan, type BatchPlan, type ExampleLength } from './plan';
import { notAnOptionsObject, unknownOptionProblems, unknownOptionsText, type KnownOptions } from './unknown-options';

/** Where training stands: the epoch, and how many of its batches were already consumed. */
export interface Cursor {
  epoch: number;
  position: number;
}

/** How batches are formed. */
export type Batching =
  | {
      kind: 'fixed';
      /** Records per batch. */
      batchSize: number;
      /** Drop each epoch's last, smaller batch (default false). */
      dropLast?: boolean;
    }
  | {
      kind: 'tokenBudget';
      /** Most padded source + target tokens per batch (`padToMultipleOf` included). */
      maxTokens: number;
      /** Most records per batch (default: no limit). */
      maxBatchSize?: number;
      /** Relative width of the source-length buckets (default 0.1). */
      bucketWidth?: number;
    };

/** Options for {@link BatchSampler}. */
export interface BatchSamplerOptions extends CollateOptions {
  /** How batches are formed. */
  batching: Batching;
  /** Base seed; each epoch's order derives from it and the epoch number (default 42). */
  seed?: number | string;
  /** Shuffle each epoch (default true); false gives the same order every epoch. */
  shuffle?: boolean;
}

const SAMPLER_OPTIONS: KnownOptions<BatchSamplerOptions> = { ...COLLATE_OPTIONS, batching: true, seed: true, shuffle: true };
const BATCHING_OPTIONS: { [K in Batching['kind']]: KnownOptions<Extract<Batching, { kind: K }>> } = {
  fixed: { kind: true, batchSize: true, dropLast: true },
  tokenBudget: { kind: true, maxTokens: true, maxBatchSize: true, bucketWidth: true },
};

/** Every key of either kind of {@link Batching}: what a `batching` object of an unknown kind is checked against. */
const ANY_BATCHING_OPTIONS: Readonly<Record<string, true>> = { ...BATCHING_OPTIONS.fixed, ...BATCHING_OPTIONS.tokenBudget };

/**
 * Everything wrong with a {@link BatchSampler}'s arguments, so that one error names it all: no examples, unknown
 * outer keys, a `batching.kind` that is neither kind, unknown `batching` keys (for an unknown kind, keys of neither
 * kind), a bad `padToMultipleOf` (checked here, not at the first batch).
 */
function samplerProblems(examples: readonly EncodedExample[], options: BatchSamplerOptions): string[] {
  const problems: string[] = [];
  if (examples.length === 0) problems.push('no examples');
  const wrong = notAnOptionsObject(options) ?? (options === undefined ? 'undefined' : undefined);
  if (wrong !== undefined) return [...problems, `options must be an object with \`batching\`, got ${wrong}`];
  const outer = unknownOptionProblems(options, SAMPLER_OPTIONS, COLLATOR_NAMES);
  if (outer.length > 0) problems.push(unknownOptionsText(outer));
  const batching: unknown = options.batching;
  const wrongBatching = notAnOptionsObject(batching);
  const kind = wrongBatching === undefined ? (batching as { kind?: unknown } | undefined)?.kind : undefined;
  const known = kind === 'fixed' || kind === 'tokenBudget' ? BATCHING_OPTIONS[kind] : undefined;
  if (wrongBatching !== undefined) problems.push(`batching must be an object ({ kind: 'fixed' | 'tokenBudget', … }), got ${wrongBatching}`);
  else if (known === undefined) problems.push(`batching.kind must be 'fixed' or 'tokenBudget', got ${JSON.stringify(kind)}`);
  if (wrongBatching === undefined && batching !== undefined) {
    const nested = unknownOptionProblems(batching as object, known ?? ANY_BATCHING_OPTIONS);
    if (nested.length > 0) problems.push(`batching${known ? ` (kind '${String(kind)}')` : ''}: ${unknownOptionsText(nested)}`);
  }
  const pad = padToMultipleOfProblem(options.padToMultipleOf ?? 1);
  if (pad !== undefined) problems.push(pad);
  return problems;
}

/** A batch and the cursor to resume after it. */
export interface SampledBatch {
  batch: Batch;
  /** The cursor after this batch: pass it to {@link BatchSampler.batches} to continue with the next one. */
  next: Cursor;
}

/**
 * Epochs of batches over a list of encoded examples: a seeded plan per epoch (derived from
 * the seed and the epoch number), resumable from any {@link Cursor} exactly.
 */
export class BatchSampler {
  private readonly lengths: ExampleLength[];
  private cached: { epoch: number; plan: BatchPlan } | null = null;

  constructor(
    readonly examples: readonly EncodedExample[],
    readonly options: BatchSamplerOptions,
  ) {
    const problems = samplerProblems(examples, options);
    if (problems.length > 0) throw new RangeError(`BatchSampler: ${problems.join('; ')}`);
    this.lengths = examples.map((e) => ({ source: e.sourceIds.length, target: e.targetIds.length }));
  }

  /** The batches of one epoch, as record positions. */
  plan(epoch: number): BatchPlan {
    if (!Number.isInteger(epoch) || epoch < 0) throw new RangeError(`epoch must be an integer >= 0, got ${epoch}`);
    if (this.cached?.epoch === epoch) return this.cached.plan;
    const { batching, seed = 42, shuffle = true } = this.options;
    const plan =
      batching.kind === 'fixed'
        ? fixedBatchPlan(this.examples.length, { batchSize: batching.batchSize, dropLast: batching.dropLast, seed, epoch, shuffle })
        : tokenBudgetPlan(this.lengths, {
            maxTokens: batching.maxTokens,
            maxBatchSize: batching.maxBatchSize,
            bucketWidth: batching.bucketWidth,
            seed,
            epoch,
            shuffle,
            // collate pads to this, so the budget must count it
            padToMultipleOf: this.options.padToMultipleOf,
          });
    this.cached = { epoch, plan };
    return plan;
  }

  /** Number of batches in an epoch. */
  batchesPerEpoch(epoch = 0): number {
    return this.plan(epoch).length;
  }

  /**
   * Batches from `from` (default the start) on, through the end of epoch `untilEpoch - 1`
   * (default: just `from`'s epoch). Each comes with the cursor that resumes after it.
   */
  *batches(from: Cursor = { epoch: 0, position: 0 }, untilEpoch: number = from.epoch + 1): Generator<SampledBatch> {
    const first = this.plan(from.epoch);
    if (!Number.isInteger(from.position) || from.position < 0 || from.position > first.length) {
      throw new RangeError(`cursor position ${from.position} is outside epoch ${from.epoch} (${first.length} batches)`);
    }
    for (let epoch = from.epoch; epoch < untilEpoch; epoch++) {
      const plan = this.plan(epoch);
      for (let p = epoch === from.epoch ? from.position : 0; p < plan.length; p++) {
        const batch = collateChecked(this.examples, plan[p]!, this.options);
        const next = p + 1 < plan.length ? { epoch, position: p + 1 } : { epoch: epoch + 1, position: 0 };
        yield { batch, next };
      }
    }
  }
}
