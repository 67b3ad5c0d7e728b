import { checkPadToMultipleOf, roundUp } from './batch';
import { makeRng, permutation, shuffleInPlace } from './rng';
import { checkOptions, type KnownOptions } from './unknown-options';

/** Which records (positions in the example list) form each batch, in order. */
export type BatchPlan = number[][];

/** Source and target token counts of one example (`</s>` included, after truncation). */
export interface ExampleLength {
  source: number;
  target: number;
}

/** Options for {@link fixedBatchPlan}. */
export interface FixedBatchOptions {
  /** Records per batch. */
  batchSize: number;
  /** Shuffle the records each epoch (default true); false keeps their order. */
  shuffle?: boolean;
  /** Seed of the epoch shuffles (default 42). */
  seed?: number | string;
  /** The epoch: each one gets its own permutation (default 0). */
  epoch?: number;
  /** Drop the last, smaller batch (default false). */
  dropLast?: boolean;
}

const FIXED_BATCH_OPTIONS: KnownOptions<FixedBatchOptions> = { batchSize: true, shuffle: true, seed: true, epoch: true, dropLast: true };

/** Fixed-size batches over a seeded permutation of `n` records (one permutation per epoch). */
export function fixedBatchPlan(n: number, options: FixedBatchOptions): BatchPlan {
  checkOptions('fixedBatchPlan', options, FIXED_BATCH_OPTIONS);
  const { batchSize, shuffle = true, seed = 42, epoch = 0, dropLast = false } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be an integer >= 1, got ${batchSize}`);
  const order = shuffle ? permutation(n, makeRng(seed, 'epoch', epoch)) : Array.from({ length: n }, (_, i) => i);
  const plan: BatchPlan = [];
  for (let i = 0; i < n; i += batchSize) {
    const b = order.slice(i, i + batchSize);
    if (dropLast && b.length < batchSize) break;
    plan.push(b);
  }
  return plan;
}

/** Options for {@link tokenBudgetPlan}. */
export interface TokenBudgetOptions {
  /**
   * Most padded tokens per batch: `batchSize × (maxSource + maxTarget) <= maxTokens`, the
   * lengths rounded up to `padToMultipleOf`. A single longer record still gets a batch of its own.
   */
  maxTokens: number;
  /** Most records per batch (default: no limit). */
  maxBatchSize?: number;
  /** Relative width of the source-length buckets (default 0.1: lengths within ~10% share a bucket). */
  bucketWidth?: number;
  /** Seed of the tie-breaking and batch-order shuffles (default 42). */
  seed?: number | string;
  /** The epoch: when shuffled, batch membership among equal lengths and batch order change with it (default 0). */
  epoch?: number;
  /**
   * Shuffle (default true): ties between equal lengths are broken at random per epoch and the
   * batch order is shuffled. false: ties keep the record order and the batches stay sorted by
   * length, so every epoch (and every seed) gets the same plan.
   */
  shuffle?: boolean;
  /**
   * Lengths are rounded up to a multiple of this before the budget check, as `collate`'s
   * `padToMultipleOf` pads them (default 1). Pass the same value to both.
   */
  padToMultipleOf?: number;
}

const TOKEN_BUDGET_OPTIONS: KnownOptions<TokenBudgetOptions> = {
  maxTokens: true, maxBatchSize: true, bucketWidth: true, seed: true, epoch: true, shuffle: true, padToMultipleOf: true,
};

/** Checks `padToMultipleOf` and returns the rounding it implies. */
function roundUpTo(padToMultipleOf: number): (n: number) => number {
  checkPadToMultipleOf(padToMultipleOf);
  return (n) => roundUp(n, padToMultipleOf);
}

/**
 * Length-bucketed batches under a token budget. Records are bucketed by source length
 * (geometric buckets), sorted by target length inside a bucket in alternating directions
 * (so neighbouring buckets join smoothly), cut greedily while the padded size (lengths
 * rounded up to `padToMultipleOf`) stays within `maxTokens`, and the batch order is shuffled
 * with the seed and epoch.
 */
export function tokenBudgetPlan(lengths: readonly ExampleLength[], options: TokenBudgetOptions): BatchPlan {
  checkOptions('tokenBudgetPlan', options, TOKEN_BUDGET_OPTIONS);
  const { maxTokens, maxBatchSize = Infinity, bucketWidth = 0.1, seed = 42, epoch = 0, shuffle = true, padToMultipleOf = 1 } = options;
  if (!(maxTokens > 0)) throw new RangeError(`maxTokens must be > 0, got ${maxTokens}`);
  if (!(maxBatchSize >= 1)) throw new RangeError(`maxBatchSize must be >= 1, got ${maxBatchSize}`);
  if (maxBatchSize !== Infinity && !Number.isInteger(maxBatchSize)) throw new RangeError(`maxBatchSize must be a whole number (or Infinity), got ${maxBatchSize}`);
  if (!(bucketWidth > 0)) throw new RangeError(`bucketWidth must be > 0, got ${bucketWidth}`);
  const pad = roundUpTo(padToMultipleOf);
  const rng = makeRng(seed, 'token-budget', epoch);
  const logW = Math.log1p(bucketWidth);
  const bucketOf = (len: number): number => Math.floor(Math.log(Math.max(len, 1)) / logW);
  // Shuffled: a random order first, so the stable sort breaks ties differently each epoch.
  // Not shuffled: the record order, so the plan is the same every epoch.
  const order = shuffle ? permutation(lengths.length, rng) : Array.from({ length: lengths.length }, (_, i) => i);
  const bucket = lengths.map((l) => bucketOf(l.source));
  order.sort((a, b) => {
    const ba = bucket[a]!;
    const bb = bucket[b]!;
    if (ba !== bb) return ba - bb;
    const dir = ba % 2 === 0 ? 1 : -1;
    return dir * (lengths[a]!.target - lengths[b]!.target);
  });
  const plan: BatchPlan = [];
  let cur: number[] = [];
  let maxS = 0;
  let maxT = 0;
  for (const i of order) {
    // The lengths collate will pad to.
    const source = pad(lengths[i]!.source);
    const target = pad(lengths[i]!.target);
    const s = Math.max(maxS, source);
    const t = Math.max(maxT, target);
    if (cur.length > 0 && ((cur.length + 1) * (s + t) > maxTokens || cur.length + 1 > maxBatchSize)) {
      plan.push(cur);
      cur = [i];
      maxS = source;
      maxT = target;
    } else {
      cur.push(i);
      maxS = s;
      maxT = t;
    }
  }
  if (cur.length > 0) plan.push(cur);
  return shuffle ? shuffleInPlace(plan, rng) : plan;
}

/** Real and padded token counts of a plan (source + target). */
export interface PaddingStats {
  batches: number;
  realTokens: number;
  paddedTokens: number;
  /** paddedTokens / realTokens (1 = no padding). */
  factor: number;
  /** Share of padded positions that are padding: 1 - realTokens / paddedTokens. */
  paddingFraction: number;
}

/** Options for {@link paddingStats}. */
export interface PaddingStatsOptions {
  /** Lengths are padded up to a multiple of this, as `collate`'s option (default 1). */
  padToMultipleOf?: number;
}

const PADDING_STATS_OPTIONS: KnownOptions<PaddingStatsOptions> = { padToMultipleOf: true };

/** How much padding a plan costs. */
export function paddingStats(lengths: readonly ExampleLength[], plan: BatchPlan, options: PaddingStatsOptions = {}): PaddingStats {
  checkOptions('paddingStats', options, PADDING_STATS_OPTIONS);
  const pad = roundUpTo(options.padToMultipleOf ?? 1);
  let real = 0;
  let padded = 0;
  for (const b of plan) {
    let s = 0;
    let t = 0;
    for (const i of b) {
      const l = lengths[i]!;
      real += l.source + l.target;
      s = Math.max(s, l.source);
      t = Math.max(t, l.target);
    }
    padded += b.length * (pad(s) + pad(t));
  }
  return { batches: plan.length, realTokens: real, paddedTokens: padded, factor: real > 0 ? padded / real : 1, paddingFraction: padded > 0 ? 1 - real / padded : 0 };
}
