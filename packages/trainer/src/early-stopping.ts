/**
 * Early stopping on `metricForBestModel` (default: the eval loss, lower is better). `threshold` is transformers'
 * `EarlyStoppingCallback(early_stopping_patience, early_stopping_threshold)`; `minDelta` is Keras's
 * `EarlyStopping(patience, min_delta)`. They differ in the reference an evaluation is compared with.
 */
import { isBetter } from './metrics.js';
import { nestedOptionProblems, notAnOptionsObject, showValue, unknownOptionsText, type KnownOptions } from './unknown-options.js';

export interface EarlyStoppingOptions {
  /** Stop after this many evaluations in a row without an improvement (an integer >= 1). */
  patience: number;
  /**
   * transformers' `early_stopping_threshold` (default 0): an evaluation improves when its metric
   * beats the best so far by more than this; the best so far moves on every better value
   * (transformers' `state.best_metric`), even one that did not count as an improvement.
   */
  threshold?: number;
  /**
   * Keras's `min_delta`: an evaluation improves when its metric beats the reference by more than
   * this; the reference moves only on such an improvement. Give `threshold` or `minDelta`, not both
   * (with neither, or either at 0, the two agree).
   */
  minDelta?: number;
}

/** What early stopping keeps between evaluations (in the trainer's checkpointed state). */
export interface EarlyStoppingState {
  /** The reference value of `metricForBestModel` (the eval loss by default; null before the first finite evaluation). The name predates other metrics: old checkpoints keep it. */
  bestEvalLoss: number | null;
  evalsWithoutImprovement: number;
}

const EARLY_STOPPING_OPTIONS: KnownOptions<EarlyStoppingOptions> = { patience: true, threshold: true, minDelta: true };
/** transformers' `EarlyStoppingCallback` arguments (Keras's `min_delta` finds `minDelta` by its camelCase). */
const CALLBACK_NAMES: Readonly<Record<string, string>> = { early_stopping_patience: 'patience', early_stopping_threshold: 'threshold' };

/**
 * Everything wrong with the `earlyStopping` option, for `train()`'s one error: not an object, unknown keys (by their
 * path, `earlyStopping.early_stopping_threshold` (did you mean `earlyStopping.threshold`?)), a patience that is not
 * an integer >= 1, a negative or non-finite `threshold` / `minDelta`, both of them.
 */
export function earlyStoppingProblems(options: unknown): string[] {
  const wrong = notAnOptionsObject(options);
  if (wrong !== undefined) return [`earlyStopping must be an object ({ patience, threshold? } or { patience, minDelta? }), got ${wrong}`];
  const o = options as Record<string, unknown>;
  const p: string[] = [];
  const unknown = nestedOptionProblems('earlyStopping', o, EARLY_STOPPING_OPTIONS, CALLBACK_NAMES);
  if (unknown.length > 0) p.push(unknownOptionsText(unknown));
  if (!Number.isInteger(o['patience']) || (o['patience'] as number) < 1) p.push(`earlyStopping.patience must be an integer >= 1, got ${showValue(o['patience'])}`);
  for (const key of ['threshold', 'minDelta'] as const) {
    const v = o[key];
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v >= 0)) p.push(`earlyStopping.${key} must be a finite number >= 0, got ${showValue(v)}`);
  }
  if (o['threshold'] !== undefined && o['minDelta'] !== undefined) p.push('earlyStopping takes threshold (transformers) or minDelta (Keras), not both');
  return p;
}

/**
 * The state after an evaluation whose `metricForBestModel` value is `value` (the eval loss by
 * default), and whether to stop. A non-finite value is never an improvement and never the best.
 * transformers (`EarlyStoppingCallback.check_metric_value`, `operator = np.greater if
 * args.greater_is_better else np.less`, with `state.best_metric` updated afterwards by
 * `Trainer._determine_best_metric`): `improved = best is None or (operator(value, best) and
 * abs(value − best) > threshold)`, then `best = value if operator(value, best)`; Keras:
 * `improved = value < best − min_delta` (`>` `best + min_delta` when greater is better), `best = value if improved`.
 */
export function earlyStoppingStep(st: EarlyStoppingState, value: number, o: EarlyStoppingOptions, greaterIsBetter = false): EarlyStoppingState & { stop: boolean } {
  const best = st.bestEvalLoss;
  let improved: boolean;
  let nextBest = best;
  if (!Number.isFinite(value)) improved = false;
  else if (best === null) {
    improved = true;
    nextBest = value;
  } else if (o.minDelta !== undefined) {
    improved = greaterIsBetter ? value > best + o.minDelta : value < best - o.minDelta;
    if (improved) nextBest = value;
  } else {
    const beats = isBetter(value, best, greaterIsBetter);
    improved = beats && Math.abs(value - best) > (o.threshold ?? 0);
    if (beats) nextBest = value;
  }
  const evalsWithoutImprovement = improved ? 0 : st.evalsWithoutImprovement + 1;
  return { bestEvalLoss: nextBest, evalsWithoutImprovement, stop: evalsWithoutImprovement >= o.patience };
}
