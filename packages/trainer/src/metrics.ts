/**
 * Evaluation metrics beyond the eval loss, as transformers' `Trainer` names and compares them:
 * `compute_metrics` results prefixed with `eval_` (`Trainer.evaluation_loop`, `metric_key_prefix`),
 * `metric_for_best_model` with or without that prefix, and `greater_is_better`'s default
 * (`TrainingArguments.__post_init__`).
 */
import type { EvalResult } from './evaluate.js';
import type { Trainable } from './types.js';

/** HF's `metric_key_prefix` of `Trainer.evaluate` (default `"eval"`), with its underscore. */
export const EVAL_PREFIX = 'eval_';
/** The eval loss under its transformers name (`metrics[f"{metric_key_prefix}_loss"]`). */
export const EVAL_LOSS = 'eval_loss';

/** What `computeMetrics` gets at each evaluation. */
export interface MetricsContext<B> {
  /**
   * The evaluation batches, a fresh pass over `evalData` (the array again, or a new iterable from
   * the function): run your own model on them (greedy generation, logits for token accuracy, …).
   */
  batches: Iterable<B>;
  /** The model being trained (`training` must be false if you call `lossSum`; dispose what you create). */
  model: Trainable<B>;
  /** Optimizer steps done (0 for `evalOnStart`'s evaluation). */
  step: number;
  /** The epoch of that step. */
  epoch: number;
  /** This evaluation's loss figures (the eval record's `loss`, `tokens`, …), e.g. for a perplexity. */
  eval: EvalResult;
}

/**
 * transformers' `compute_metrics`, fitted to a model-agnostic trainer: called once per evaluation,
 * after the loss pass, with the eval batches and the model; returns metric values by name. Names
 * are prefixed with `eval_` unless they already start with it (`accuracy` → `eval_accuracy`), as
 * `Trainer.evaluation_loop` does. `loss` / `eval_loss` are the trainer's own and may not be returned.
 */
export type ComputeMetrics<B> = (context: MetricsContext<B>) => Record<string, number> | Promise<Record<string, number>>;

/** `metric_for_best_model` as `Trainer._determine_best_metric` looks it up: `eval_` prefixed unless it already is. */
export function metricKey(name: string): string {
  return name.startsWith(EVAL_PREFIX) ? name : `${EVAL_PREFIX}${name}`;
}

/**
 * `greater_is_better`'s default in `TrainingArguments.__post_init__`:
 * `self.greater_is_better = not self.metric_for_best_model.endswith("loss")` (on the name as given:
 * `"perplexity"` defaults to greater-is-better there too, so say `greaterIsBetter: false` for it).
 */
export function defaultGreaterIsBetter(metricForBestModel: string): boolean {
  return !metricForBestModel.endsWith('loss');
}

/**
 * The metrics of one evaluation under their `eval_` names: `eval_loss` first, then `computeMetrics`'
 * values (checked: an object of numbers by name, no `loss`, no two names that meet after prefixing).
 * `hasComputeMetrics`: whether the option is given; with it, a returned `undefined` (a forgotten
 * `return`) is an error, not "no metrics", as a `None` fails transformers' `evaluation_loop`.
 */
export function evalMetrics(loss: number, computed: unknown, hasComputeMetrics: boolean): Record<string, number> {
  const out: Record<string, number> = { [EVAL_LOSS]: loss };
  if (!hasComputeMetrics) return out;
  const got =
    computed === undefined || computed === null ? String(computed)
    : typeof computed !== 'object' ? `a ${typeof computed}`
    : Array.isArray(computed) ? 'an array'
    : computed instanceof Map ? 'a Map'
    : null;
  if (got !== null) throw new TypeError(`train: computeMetrics must return an object of numbers by name, got ${got}`);
  const from = new Map<string, string>(); // eval_ key → the name computeMetrics gave it
  for (const [name, value] of Object.entries(computed as Record<string, unknown>)) {
    const key = metricKey(name);
    if (key === EVAL_LOSS) throw new RangeError(`train: computeMetrics returned "${name}": the eval loss is the trainer's own (eval_loss); give your metric another name`);
    if (typeof value !== 'number') throw new TypeError(`train: computeMetrics returned a ${typeof value} for "${name}" (metrics are numbers)`);
    if (from.has(key)) throw new RangeError(`train: computeMetrics returned both "${from.get(key)}" and "${name}", which are the same metric once prefixed (${key})`);
    from.set(key, name);
    out[key] = value;
  }
  return out;
}

/** Whether `value` beats `best` in the metric's direction (`np.greater` / `np.less`, strict); a non-finite value never does. */
export function isBetter(value: number, best: number | null, greaterIsBetter: boolean): boolean {
  if (!Number.isFinite(value)) return false;
  if (best === null) return true;
  return greaterIsBetter ? value > best : value < best;
}
