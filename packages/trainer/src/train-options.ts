/**
 * `train()`'s options, its checkpointed state and its result, and the options checked and resolved
 * into the settings the loop runs with (one clear error each, before anything is allocated).
 */
import type * as tf from '@tensorflow/tfjs-core';
import type seedrandom from 'seedrandom';
import type { Adafactor } from './adafactor.js';
import { resolveAdafactorOptions, type AdafactorOptions, type ResolvedAdafactorOptions } from './adafactor-options.js';
import type { AdamW } from './adamw.js';
import type { EarlyStoppingOptions } from './early-stopping.js';
import { defaultGreaterIsBetter, EVAL_LOSS, metricKey, type ComputeMetrics } from './metrics.js';
import type { EvalRecord, MetricRecord, TrainLogger } from './report/types.js';
import { optionsError, trainOptionProblems } from './option-problems.js';
import { resolveSchedule, type LrSchedulerKwargs, type ResolvedSchedule, type ScheduleKind } from './schedule.js';
import type { Cursor, DataSource, EvalData, Trainable } from './types.js';

/** What the save callback gets. */
export interface SaveInfo {
  /** Optimizer steps done. */
  step: number;
  /** The epoch the step belongs to (for 'epoch': the epoch just finished). */
  epoch: number;
  /**
   * 'steps': every `saveEvery` steps; 'epoch': an epoch ended; 'final': training stopped elsewhere
   * (maxSteps, early stopping, SIGINT); 'best': the variables hold the best evaluation's values —
   * after training, with `loadBestModelAtEnd` (`step`/`epoch` are that evaluation's), or, with
   * `saveStrategy: 'best'`, right after an evaluation that reached a new best.
   */
  reason: 'steps' | 'epoch' | 'final' | 'best';
  /** The trainable variables (read them; do not dispose). */
  variables: tf.Variable[];
}

/** Options of {@link train}. */
export interface TrainOptions<B> {
  /** What to train. */
  model: Trainable<B>;
  /** Training batches, resumable by cursor (e.g. `@conifer/dolly-data`'s `BatchSampler`). */
  data: DataSource<B>;
  /** Epochs (default 1). */
  epochs?: number;
  /** Micro-batches per optimizer step (default 1); the gradient is normalised by the window's target tokens. An epoch's last window may be shorter. */
  gradientAccumulationSteps?: number;
  /** Base learning rate (default 1e-3). */
  lr?: number;
  /**
   * transformers' `optim`: `'adamw'` (default; `torch.optim.AdamW`, transformers' `adamw_torch`) or
   * `'adafactor'` (transformers' `Adafactor` as `Trainer` builds it: `scale_parameter=False`,
   * `relative_step=False`, `lr` = this `lr` under the schedule, `weight_decay` = `weightDecay`).
   */
  optim?: 'adamw' | 'adafactor';
  /**
   * With `optim: 'adafactor'`: Adafactor's other arguments, transformers' names in camelCase
   * (`eps`, `clipThreshold`, `decayRate`, `beta1`, `scaleParameter`, `relativeStep`, `warmupInit`).
   * Defaults are `Trainer`'s: `scaleParameter` and `relativeStep` false, the rest Adafactor's own.
   * The learning rate and weight decay are `lr` and `weightDecay`; with `relativeStep: true`,
   * Adafactor computes its own step size, so `lr`, `schedule` and warmup must be left out.
   */
  adafactor?: Omit<AdafactorOptions, 'lr' | 'weightDecay'>;
  /** AdamW betas (default [0.9, 0.999]). */
  betas?: [number, number];
  /** AdamW eps (default 1e-8). */
  eps?: number;
  /** Decoupled weight decay (default 0.01 with AdamW, as `torch.optim.AdamW`; 0 with Adafactor, as transformers' `Adafactor` and `weight_decay`). */
  weightDecay?: number;
  /** Learning-rate schedule: a transformers `lr_scheduler_type` (default 'constant'). */
  schedule?: ScheduleKind;
  /** The schedule's extra arguments, transformers' `lr_scheduler_kwargs` (e.g. `{ num_cycles: 2 }`, `{ min_lr_rate: 0.1 }`). */
  lrSchedulerKwargs?: LrSchedulerKwargs;
  /** Linear warmup steps (default 0). */
  warmupSteps?: number;
  /** transformers' `warmup_ratio`: warmup over `ceil(totalSteps × warmupRatio)` steps (0 to 1; not with `warmupSteps` > 0). */
  warmupRatio?: number;
  /** Optimizer steps the schedule spans (default: from `data.batchesPerEpoch` and `epochs`, capped by `maxSteps`). */
  totalSteps?: number;
  /** Clip gradients to this global L2 norm (default: no clipping; 0 also means none, as transformers' `max_grad_norm`). */
  maxGradNorm?: number;
  /** Evaluation batches; evaluated at every epoch end and every `evalEvery` steps. */
  evalData?: EvalData<B>;
  /** Evaluate every N optimizer steps (default 0: only at epoch ends). */
  evalEvery?: number;
  /** Also evaluate at every epoch end (default true). */
  evalAtEpochEnd?: boolean;
  /**
   * transformers' `eval_on_start`: evaluate once before the first step (step 0; not again when a
   * run is resumed, so the records stay those of an uninterrupted run). That evaluation is reported
   * and recorded, and `computeMetrics` runs on it, but it is never the best nor counted by early
   * stopping (transformers runs it through `_evaluate` alone, not `_determine_best_metric`). Default false.
   */
  evalOnStart?: boolean;
  /**
   * transformers' `eval_delay` (default 0): no evaluation before it. In optimizer steps when
   * `evalEvery` > 0 (`eval_strategy="steps"`: `eval_delay <= global_step`; epoch-end evaluations
   * follow the same rule), else in epochs (`eval_strategy="epoch"`: the evaluation at the end of the
   * k-th epoch, counting from 1, runs when `eval_delay <= k`). `evalOnStart` ignores it, as there.
   */
  evalDelay?: number;
  /**
   * transformers' `compute_metrics`: more evaluation metrics than the loss, computed once per
   * evaluation from the eval batches and the model (see {@link MetricsContext}). They appear in the
   * eval records and logs under `eval_` names (`accuracy` → `eval_accuracy`), beside `eval_loss`,
   * and `metricForBestModel` can pick one. Needs `evalData` that can be iterated again (an array, or
   * a function returning a fresh iterable).
   */
  computeMetrics?: ComputeMetrics<B>;
  /**
   * transformers' `metric_for_best_model`: the metric that `loadBestModelAtEnd`, `earlyStopping` and
   * `saveStrategy: 'best'` compare — `'loss'` (the default) or a `computeMetrics` name, with or
   * without the `eval_` prefix. A name no evaluation reports is an error at the first evaluation.
   * Given alone, the best evaluation is still tracked (`TrainResult.best`).
   */
  metricForBestModel?: string;
  /**
   * transformers' `greater_is_better`: whether a higher `metricForBestModel` is better. Default, as
   * `TrainingArguments.__post_init__`: true unless the metric's name ends with "loss" (so a metric
   * named "perplexity" defaults to true: set false for it). Needs `metricForBestModel`.
   */
  greaterIsBetter?: boolean;
  /** Call `onSave` every N optimizer steps (default 0: only at epoch ends and when stopping early). */
  saveEvery?: number;
  /** Saves the adapter (or whatever the caller wants) — awaited before training continues. */
  onSave?: (info: SaveInfo) => Promise<void> | void;
  /**
   * transformers' `save_strategy="best"`: `onSave` is called (reason 'best') only after an
   * evaluation that reaches a new best `metricForBestModel` — not every `saveEvery` steps (not with
   * `saveEvery`), nor at epoch ends or stops, nor again at the end with `loadBestModelAtEnd`.
   * Checkpoints (the resumable state) still follow `checkpointEvery`, epoch ends and stops. Needs
   * `onSave`, `evalData` and evaluations. Leave it out for the other save behaviour.
   */
  saveStrategy?: 'best';
  /** Folder for `checkpoint-<step>/`, `metrics.jsonl` and `loss-curve.svg` (default: none of them). */
  checkpointDir?: string;
  /** Write a checkpoint every N optimizer steps (default `saveEvery`); also at every epoch end and when stopping. Needs `checkpointDir` (except 0). */
  checkpointEvery?: number;
  /** Complete checkpoints to keep (default 2), transformers' `save_total_limit`; `Infinity` keeps them all. Needs `checkpointDir` (except `Infinity`). */
  keepLast?: number;
  /** Continue from the newest complete checkpoint in `checkpointDir`, if any (default false; a folder without one: a fresh run). `true` needs `checkpointDir`. */
  resume?: boolean;
  /** Seed of the trainer's RNG, which draws a dropout seed per step for `model.setDropoutSeed` (default 42). */
  seed?: number | string;
  /** Reporter (default: a progress bar on a TTY, lines otherwise); `false` for silence. */
  logger?: TrainLogger | false;
  /** Stop after this many optimizer steps in total (counting steps before a resume). */
  maxSteps?: number;
  /** Report to `logger.onStep` every N optimizer steps with the mean loss over them (transformers' `logging_steps`; default 1). `metrics.jsonl` keeps every step. */
  loggingSteps?: number;
  /**
   * transformers' `logging_first_step`: also report step 1 to `logger.onStep` (with its own loss);
   * the next report's mean then starts after step 1, as transformers' `_globalstep_last_logged`. Default false.
   */
  loggingFirstStep?: boolean;
  /** Stop when `metricForBestModel` (default: the eval loss) has not improved for `patience` evaluations (see {@link EarlyStoppingOptions}). Needs `evalData` and evaluations. */
  earlyStopping?: EarlyStoppingOptions;
  /**
   * transformers' `load_best_model_at_end` (metric: `metricForBestModel`, default the eval loss, lower is better): keeps a copy of the
   * variables at the best evaluation (in memory, and in each checkpoint so a resume keeps it) and,
   * when training ends, puts them back into the variables and calls `onSave` with reason 'best'.
   * Needs `evalData` and evaluations (`evalEvery` > 0 or `evalAtEpochEnd`). Default false.
   */
  loadBestModelAtEnd?: boolean;
  /** Abort after this many skipped (NaN/Inf) steps in a row (default 5). */
  maxBadStepsInARow?: number;
  /** Throw if a step leaves tensors behind (`tf.memory().numTensors` checked around each step). */
  debug?: boolean;
  /** On SIGINT, finish the current step, write a checkpoint and return with stopReason 'interrupted' (default true). */
  handleSigint?: boolean;
  /** Aborting it stops training like SIGINT. */
  signal?: AbortSignal;
}

/** The state saved in `state.json` (everything besides tensors that an exact resume needs). */
export interface TrainerState {
  version: 1;
  /** Optimizer steps done (skipped ones included: the schedule advances over them). */
  step: number;
  /** Where the data continues. */
  cursor: Cursor;
  /** The trainer's seedrandom ARC4 state. */
  rng: seedrandom.State.Arc4;
  badStepsInARow: number;
  skippedSteps: number;
  metrics: MetricRecord[];
  /** Early stopping's reference value of the metric (named when only the eval loss was compared). */
  bestEvalLoss: number | null;
  evalsWithoutImprovement: number;
  /** The best evaluation so far and where (tracked with `loadBestModelAtEnd`, `saveStrategy: 'best'` or `metricForBestModel`; absent in older states). */
  best?: BestEval | null;
  /** The metric that `best` and early stopping compare (absent in older states: `eval_loss`, lower is better). */
  bestMetric?: { name: string; greaterIsBetter: boolean };
  lastEvalStep: number;
  /** The schedule: the lr multiplier of the next step is `lrMultiplier(step, { ...schedule, lr })` (`lrSchedulerKwargs` only when given). */
  schedule: { kind: ScheduleKind; warmupSteps: number; totalSteps: number | null; lrSchedulerKwargs?: LrSchedulerKwargs };
}

/** The best evaluation: its step, epoch and eval loss; with `metricForBestModel` given, also the metric's `eval_` name and value. */
export interface BestEval {
  step: number;
  epoch: number;
  /** The eval loss of that evaluation. */
  loss: number;
  /** `metricForBestModel`'s key (e.g. `'eval_accuracy'`), when that option was given. */
  metric?: string;
  /** Its value at that evaluation, when `metricForBestModel` was given. */
  value?: number;
}

/** The result of {@link train}. */
export interface TrainResult {
  /** Optimizer steps done. */
  step: number;
  /** The data cursor where training stopped. */
  cursor: Cursor;
  stopReason: 'completed' | 'maxSteps' | 'earlyStopping' | 'interrupted';
  metrics: MetricRecord[];
  skippedSteps: number;
  lastEval: EvalRecord | null;
  /** The last checkpoint written or loaded (null without `checkpointDir`). */
  checkpoint: string | null;
  /**
   * With `loadBestModelAtEnd`, `saveStrategy: 'best'` or `metricForBestModel`: the best evaluation
   * (null: no evaluation ran, or none was finite). With `loadBestModelAtEnd` the variables hold its
   * values when training ended by itself; after an interrupt they hold the last step's (to resume).
   */
  best: BestEval | null;
  resumedFrom: string | null;
  /** The optimizer (its state; dispose it when done): `AdamW`, or `Adafactor` with `optim: 'adafactor'`. */
  optimizer: AdamW | Adafactor;
}

/**
 * transformers' `TrainingArguments.get_warmup_steps`: `warmup_steps if warmup_steps > 0 else ceil(num_training_steps * warmup_ratio)`
 * (`steps` and `ratio` in range: `trainOptionProblems` checked them).
 */
function warmupFrom(steps: number | undefined, ratio: number | undefined, totalSteps: number | undefined): number {
  const fixed = steps ?? 0;
  if (ratio === undefined) return fixed;
  if (fixed > 0) throw new RangeError('train: give warmupSteps or warmupRatio, not both');
  if (totalSteps === undefined) throw new RangeError('train: warmupRatio needs totalSteps (give totalSteps or maxSteps, or a data source with batchesPerEpoch)');
  return Math.ceil(totalSteps * ratio);
}

/**
 * The optimizer steps `train()` plans for a data source with `batchesPerEpoch`: Σ over epochs of
 * ⌈batches / gradientAccumulationSteps⌉ (an epoch's last window may be short), capped by `maxSteps`.
 */
export function totalOptimizerSteps(batchesPerEpoch: (epoch: number) => number, epochs: number, gradientAccumulationSteps: number, maxSteps?: number): number {
  let total = 0;
  for (let e = 0; e < epochs; e++) total += Math.ceil(batchesPerEpoch(e) / gradientAccumulationSteps);
  return maxSteps === undefined ? total : Math.min(total, maxSteps);
}

/** What {@link trainSettings} resolves: every option checked, defaults filled in. */
export interface TrainSettings {
  epochs: number;
  accum: number;
  evalEvery: number;
  saveEvery: number;
  checkpointEvery: number;
  keepLast: number;
  maxBad: number;
  maxSteps: number | undefined;
  loggingSteps: number;
  loggingFirstStep: boolean;
  keepBest: boolean;
  /** `saveStrategy: 'best'`. */
  saveBest: boolean;
  /** Whether evaluations track the best (`TrainerState.best`). */
  trackBest: boolean;
  /** The metric compared (its `eval_` key), its direction, and whether `metricForBestModel` was given. */
  metric: { name: string; greaterIsBetter: boolean; explicit: boolean };
  evalOnStart: boolean;
  evalDelay: number;
  baseLr: number;
  /** `optim`, and with 'adafactor' its options resolved (the Trainer's defaults, `lr` and `weightDecay` filled in). */
  optim: 'adamw' | 'adafactor';
  adafactor: ResolvedAdafactorOptions | null;
  /** Optimizer steps the schedule spans (undefined: unknown, for the schedules that need none). */
  totalSteps: number | undefined;
  sched: ResolvedSchedule;
  /** What the checkpoints record as the schedule in use (`TrainerState.schedule`). */
  scheduleRecord: TrainerState['schedule'];
}

/**
 * Checks `train()`'s options and resolves them: one RangeError listing every problem of single options
 * (unknown keys, types, ranges: `trainOptionProblems`), else one naming the first bad combination.
 * The ranges are checked there only: here they are resolved to their defaults.
 */
export function trainSettings<B>(options: TrainOptions<B>): TrainSettings {
  const problems = trainOptionProblems(options as TrainOptions<unknown>);
  if (problems.length > 0) throw optionsError(problems);
  const { data, evalData, earlyStopping } = options;
  const epochs = options.epochs ?? 1;
  const accum = options.gradientAccumulationSteps ?? 1;
  const evalEvery = options.evalEvery ?? 0;
  const saveEvery = options.saveEvery ?? 0;
  const checkpointEvery = options.checkpointEvery ?? saveEvery;
  // transformers' save_total_limit = None keeps every checkpoint: Infinity here
  const keepLast = options.keepLast ?? 2;
  const maxBad = options.maxBadStepsInARow ?? 5;
  const maxSteps = options.maxSteps;
  const loggingSteps = options.loggingSteps ?? 1;
  const loggingFirstStep = options.loggingFirstStep ?? false;
  const keepBest = options.loadBestModelAtEnd ?? false;
  if (options.saveStrategy !== undefined && options.saveStrategy !== 'best') {
    throw new RangeError(`train: saveStrategy must be 'best' or left out, got ${JSON.stringify(options.saveStrategy)}`);
  }
  const saveBest = options.saveStrategy === 'best';
  if (saveBest && saveEvery > 0) throw new RangeError("train: saveStrategy 'best' saves at new bests only: do not give saveEvery with it");
  if (saveBest && !options.onSave) throw new RangeError("train: saveStrategy 'best' needs onSave (it decides when onSave is called)");
  // They act on evaluations only: without any they would silently do nothing. transformers refuses
  // the same (EarlyStoppingCallback.on_train_begin asserts an eval strategy; load_best_model_at_end
  // requires one; Trainer.__init__ raises when eval_strategy is set without an eval_dataset).
  const evaluates = evalEvery > 0 || (options.evalAtEpochEnd ?? true);
  const needEvals = [
    ['loadBestModelAtEnd', keepBest],
    ['earlyStopping', earlyStopping !== undefined],
    ["saveStrategy 'best'", saveBest],
  ] as const;
  for (const [name, on] of needEvals) {
    if (!on) continue;
    if (!evalData) throw new RangeError(`train: ${name} needs evalData`);
    if (!evaluates) throw new RangeError(`train: ${name} needs evaluations, but evalEvery is 0 and evalAtEpochEnd is false`);
  }
  const evalOnStart = options.evalOnStart ?? false;
  if (evalOnStart && !evalData) throw new RangeError('train: evalOnStart needs evalData');
  const evalDelay = options.evalDelay ?? 0;
  if (options.computeMetrics !== undefined) {
    if (typeof options.computeMetrics !== 'function') throw new TypeError('train: computeMetrics must be a function');
    if (!evalData) throw new RangeError('train: computeMetrics needs evalData');
    // a one-shot iterator (a generator object) would be spent by the loss pass
    if (typeof evalData !== 'function' && (evalData[Symbol.iterator]() as unknown) === evalData) {
      throw new RangeError('train: computeMetrics needs evalData that can be iterated again (an array, or a function returning a fresh iterable), not a one-shot iterator');
    }
  }
  // transformers' Trainer.__init__: "You have set `args.eval_strategy` to steps but you didn't pass an `eval_dataset`"
  if (evalEvery > 0 && !evalData) throw new RangeError(`train: evalEvery (${evalEvery}) needs evalData: there is nothing to evaluate`);
  const metric = resolveMetric(options.metricForBestModel, options.greaterIsBetter, options.computeMetrics !== undefined);
  const trackBest = keepBest || saveBest || metric.explicit;
  const baseLr = options.lr ?? 1e-3;
  const { optim, adafactor } = optimizerSettings(options);
  const kind = options.schedule ?? 'constant';
  const kwargs = options.lrSchedulerKwargs;

  let totalSteps = options.totalSteps;
  if (totalSteps === undefined && data.batchesPerEpoch) totalSteps = totalOptimizerSteps(data.batchesPerEpoch.bind(data), epochs, accum, maxSteps);
  else if (maxSteps !== undefined) totalSteps = totalSteps === undefined ? maxSteps : Math.min(totalSteps, maxSteps);
  const warmupSteps = warmupFrom(options.warmupSteps, options.warmupRatio, totalSteps);
  // One clear error before anything is allocated: an unknown kind, a missing totalSteps, a bad keyword.
  const sched = resolveSchedule({ kind, warmupSteps, totalSteps, lr: baseLr, lrSchedulerKwargs: kwargs });
  const scheduleRecord = { kind, warmupSteps, totalSteps: totalSteps ?? null, ...(kwargs && Object.keys(kwargs).length ? { lrSchedulerKwargs: kwargs } : {}) };
  return {
    epochs, accum, evalEvery, saveEvery, checkpointEvery, keepLast, maxBad, maxSteps, loggingSteps, loggingFirstStep, keepBest, saveBest, trackBest, metric,
    evalOnStart, evalDelay, baseLr, optim, adafactor, totalSteps, sched, scheduleRecord,
  };
}

/**
 * `optim` and `adafactor` checked and resolved as transformers' `Trainer.get_optimizer_cls_and_kwargs`
 * builds Adafactor for `optim="adafactor"`: `scale_parameter=False, relative_step=False, lr=learning_rate`
 * (`weight_decay` through the parameter groups: here `weightDecay`, on every variable).
 */
function optimizerSettings<B>(options: TrainOptions<B>): Pick<TrainSettings, 'optim' | 'adafactor'> {
  const optim = options.optim ?? 'adamw';
  if (optim !== 'adamw' && optim !== 'adafactor') throw new RangeError(`train: optim must be 'adamw' or 'adafactor', got ${JSON.stringify(options.optim)}`);
  if (optim === 'adamw') {
    if (options.adafactor !== undefined) throw new RangeError("train: adafactor options need optim: 'adafactor'");
    return { optim, adafactor: null };
  }
  for (const k of ['betas', 'eps'] as const) {
    if (options[k] !== undefined) throw new RangeError(`train: ${k} is AdamW's; with optim: 'adafactor' give Adafactor's in adafactor: { ... } (${k === 'eps' ? 'adafactor.eps: [eps1, eps2]' : 'adafactor.beta1'})`);
  }
  const af = (options.adafactor ?? {}) as AdafactorOptions;
  if (af === null || typeof af !== 'object' || Array.isArray(af)) throw new TypeError(`train: adafactor must be an object of Adafactor options, got ${JSON.stringify(af)}`);
  if (af.lr !== undefined) throw new RangeError('train: adafactor.lr: give lr (transformers\' learning_rate), which the schedule scales');
  if (af.weightDecay !== undefined) throw new RangeError('train: adafactor.weightDecay: give weightDecay (transformers\' weight_decay)');
  const weightDecay = options.weightDecay ?? 0;
  const relative = af.relativeStep === true;
  if (relative) {
    // Adafactor(relative_step=True) ignores the group's lr: a given lr or schedule would silently do nothing
    const given = ([['lr', options.lr], ['schedule', options.schedule], ['lrSchedulerKwargs', options.lrSchedulerKwargs], ['warmupSteps', options.warmupSteps], ['warmupRatio', options.warmupRatio]] as const).find(([, v]) => v !== undefined);
    if (given) throw new RangeError(`train: ${given[0]} cannot be given with adafactor.relativeStep: true (Adafactor computes its own step size: min(1e-2, 1/sqrt(step)))`);
  }
  const lr = relative ? undefined : (options.lr ?? 1e-3);
  const adafactor = resolveAdafactorOptions({ ...af, lr, weightDecay }, 'train: adafactor.', { scaleParameter: false, relativeStep: false });
  return { optim, adafactor };
}

/**
 * `metricForBestModel` / `greaterIsBetter` resolved as `TrainingArguments.__post_init__` does:
 * `metric_for_best_model = "loss"` when unset (there: when `load_best_model_at_end`; here every
 * consumer compares the loss by default), `greater_is_better = not metric_for_best_model.endswith("loss")`
 * when unset; the key gets the `eval_` prefix as `Trainer._determine_best_metric` adds it.
 */
function resolveMetric(name: string | undefined, greater: boolean | undefined, hasComputeMetrics: boolean): TrainSettings['metric'] {
  if (name === undefined) {
    if (greater !== undefined) throw new RangeError('train: greaterIsBetter needs metricForBestModel (the default metric, the eval loss, is lower-is-better)');
    return { name: EVAL_LOSS, greaterIsBetter: false, explicit: false };
  }
  if (typeof name !== 'string' || name === '' || name === 'eval_') throw new RangeError(`train: metricForBestModel must be a metric name such as 'loss' or 'eval_accuracy', got ${JSON.stringify(name)}`);
  if (greater !== undefined && typeof greater !== 'boolean') throw new TypeError(`train: greaterIsBetter must be a boolean, got ${JSON.stringify(greater)}`);
  const key = metricKey(name);
  if (key !== EVAL_LOSS && !hasComputeMetrics) throw new RangeError(`train: metricForBestModel "${name}" needs computeMetrics (without it the only metric is eval_loss)`);
  return { name: key, greaterIsBetter: greater ?? defaultGreaterIsBetter(name), explicit: true };
}
