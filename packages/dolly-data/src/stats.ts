import type { EncodedExample } from './encode';
import { paddingStats, type BatchPlan, type PaddingStats } from './plan';
import { checkOptions, type KnownOptions } from './unknown-options';

/** Summary of token lengths (before truncation, `</s>` included). */
export interface LengthStats {
  mean: number;
  min: number;
  max: number;
  /** Percentiles with linear interpolation (NumPy's default). */
  p50: number;
  p90: number;
  p99: number;
  /** Records longer than the maximum length, i.e. truncated. */
  truncated: number;
}

/** What {@link datasetStats} reports. */
export interface DatasetStats {
  records: number;
  /** Record count per category, largest first. */
  categories: Record<string, number>;
  source: LengthStats;
  target: LengthStats;
  /** Padding of the batching plan, when one was given. */
  padding?: PaddingStats;
}

/** Percentile `q` (0..1) of ascending `sorted`, linear interpolation between ranks. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = (n - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Length statistics of `lengths`, counting those over `maxLength` as truncated. */
export function lengthStats(lengths: ArrayLike<number>, maxLength: number): LengthStats {
  const sorted = Float64Array.from(lengths).sort();
  let sum = 0;
  let truncated = 0;
  for (const l of sorted) {
    sum += l;
    if (l > maxLength) truncated++;
  }
  const n = sorted.length;
  return {
    mean: n > 0 ? sum / n : NaN,
    min: n > 0 ? sorted[0]! : NaN,
    max: n > 0 ? sorted[n - 1]! : NaN,
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    truncated,
  };
}

/** Options for {@link datasetStats}. */
export interface DatasetStatsOptions {
  /** The source maximum the examples were truncated to (default 512). */
  maxSourceLength?: number;
  /** The target maximum the examples were truncated to (default 512). */
  maxTargetLength?: number;
  /** A batching plan over `examples` whose padding to report. */
  plan?: BatchPlan;
  /** The `padToMultipleOf` the plan's batches are collated with (default 1). */
  padToMultipleOf?: number;
}

const DATASET_STATS_OPTIONS: KnownOptions<DatasetStatsOptions> = { maxSourceLength: true, maxTargetLength: true, plan: true, padToMultipleOf: true };

/** Counts per category, token-length percentiles, truncation counts and (optionally) a plan's padding. */
export function datasetStats(examples: readonly EncodedExample[], options: DatasetStatsOptions = {}): DatasetStats {
  checkOptions('datasetStats', options, DATASET_STATS_OPTIONS);
  const { maxSourceLength = 512, maxTargetLength = 512, plan, padToMultipleOf } = options;
  const counts = new Map<string, number>();
  for (const e of examples) counts.set(e.category, (counts.get(e.category) ?? 0) + 1);
  const categories = Object.fromEntries([...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)));
  const stats: DatasetStats = {
    records: examples.length,
    categories,
    source: lengthStats(examples.map((e) => e.fullSourceLength), maxSourceLength),
    target: lengthStats(examples.map((e) => e.fullTargetLength), maxTargetLength),
  };
  if (plan) {
    const lengths = examples.map((e) => ({ source: e.sourceIds.length, target: e.targetIds.length }));
    stats.padding = paddingStats(lengths, plan, { padToMultipleOf });
  }
  return stats;
}
