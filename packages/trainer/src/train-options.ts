/**
 * `train()`'s options, its checkpointed state and its result, and the options checked and resolved
 * into the settings the loop runs with (one clear error each, before anything is allocated).
 */
import type * as tf from '@tensorflow/tfjs-core';
import type seedrandom from 'seedrandom';
import type { AdamW } from './adamw.js';
import { checkEarlyStopping, type EarlyStoppingOptions } from './early-stopping.js';
import type { EvalRecord, MetricRecord, TrainLogger } from './report/types.js';
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
   * (maxSteps, early stopping, SIGINT); 'best': after training, with `loadBestModelAtEnd`, the
   * variables now hold the best evaluation's values (`step`/`epoch` are that evaluation's).
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
  /** AdamW betas (default [0.9, 0.999]). */
  betas?: [number, number];
  /** AdamW eps (default 1e-8). */
  eps?: number;
  /** AdamW decoupled weight decay (default 0.01). */
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
  /** Call `onSave` every N optimizer steps (default 0: only at epoch ends and when stopping early). */
  saveEvery?: number;
  /** Saves the adapter (or whatever the caller wants) — awaited before training continues. */
  onSave?: (info: SaveInfo) => Promise<void> | void;
  /** Folder for `checkpoint-<step>/`, `metrics.jsonl` and `loss-curve.svg` (default: none of them). */
  checkpointDir?: string;
  /** Write a checkpoint every N optimizer steps (default `saveEvery`); also at every epoch end and when stopping. */
  checkpointEvery?: number;
  /** Complete checkpoints to keep (default 2), transformers' `save_total_limit`; `Infinity` keeps them all. */
  keepLast?: number;
  /** Continue from the newest complete checkpoint in `checkpointDir`, if any (default false). */
  resume?: boolean;
  /** Seed of the trainer's RNG, which draws a dropout seed per step for `model.setDropoutSeed` (default 42). */
  seed?: number | string;
  /** Reporter (default: a progress bar on a TTY, lines otherwise); `false` for silence. */
  logger?: TrainLogger | false;
  /** Stop after this many optimizer steps in total (counting steps before a resume). */
  maxSteps?: number;
  /** Report to `logger.onStep` every N optimizer steps with the mean loss over them (transformers' `logging_steps`; default 1). `metrics.jsonl` keeps every step. */
  loggingSteps?: number;
  /** Stop when the eval loss has not improved for `patience` evaluations (see {@link EarlyStoppingOptions}). Needs `evalData` and evaluations. */
  earlyStopping?: EarlyStoppingOptions;
  /**
   * transformers' `load_best_model_at_end` (metric: eval loss, lower is better): keeps a copy of the
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
  bestEvalLoss: number | null;
  evalsWithoutImprovement: number;
  /** The lowest eval loss so far and where (tracked with `loadBestModelAtEnd`; absent in older states). */
  best?: { step: number; epoch: number; loss: number } | null;
  lastEvalStep: number;
  /** The schedule: the lr multiplier of the next step is `lrMultiplier(step, { ...schedule, lr })` (`lrSchedulerKwargs` only when given). */
  schedule: { kind: ScheduleKind; warmupSteps: number; totalSteps: number | null; lrSchedulerKwargs?: LrSchedulerKwargs };
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
   * With `loadBestModelAtEnd`: the best evaluation (null: no evaluation ran). The variables hold its
   * values when training ended by itself; after an interrupt they hold the last step's (to resume).
   */
  best: { step: number; epoch: number; loss: number } | null;
  resumedFrom: string | null;
  /** The optimizer (its state; dispose it when done). */
  optimizer: AdamW;
}

const positive = (name: string, x: number | undefined, def: number, allowZero = false): number => {
  const v = x ?? def;
  if (!Number.isInteger(v) || v < (allowZero ? 0 : 1)) throw new RangeError(`train: ${name} must be an integer >= ${allowZero ? 0 : 1}, got ${x}`);
  return v;
};

/** transformers' `TrainingArguments.get_warmup_steps`: `warmup_steps if warmup_steps > 0 else ceil(num_training_steps * warmup_ratio)`. */
function warmupFrom(steps: number | undefined, ratio: number | undefined, totalSteps: number | undefined): number {
  const fixed = positive('warmupSteps', steps, 0, true);
  if (ratio === undefined) return fixed;
  if (!(ratio >= 0 && ratio <= 1)) throw new RangeError(`train: warmupRatio must be in [0, 1], got ${ratio}`);
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
  keepBest: boolean;
  baseLr: number;
  /** Optimizer steps the schedule spans (undefined: unknown, for the schedules that need none). */
  totalSteps: number | undefined;
  sched: ResolvedSchedule;
  /** What the checkpoints record as the schedule in use (`TrainerState.schedule`). */
  scheduleRecord: TrainerState['schedule'];
}

/** Checks `train()`'s options (a RangeError naming the first bad one) and resolves them. */
export function trainSettings<B>(options: TrainOptions<B>): TrainSettings {
  const { data, evalData, maxGradNorm, earlyStopping } = options;
  const epochs = positive('epochs', options.epochs, 1);
  const accum = positive('gradientAccumulationSteps', options.gradientAccumulationSteps, 1);
  const evalEvery = positive('evalEvery', options.evalEvery, 0, true);
  const saveEvery = positive('saveEvery', options.saveEvery, 0, true);
  const checkpointEvery = positive('checkpointEvery', options.checkpointEvery, saveEvery, true);
  // transformers' save_total_limit = None keeps every checkpoint: Infinity here
  const keepLast = options.keepLast === Number.POSITIVE_INFINITY ? Number.POSITIVE_INFINITY : positive('keepLast', options.keepLast, 2);
  const maxBad = positive('maxBadStepsInARow', options.maxBadStepsInARow, 5);
  const maxSteps = options.maxSteps === undefined ? undefined : positive('maxSteps', options.maxSteps, 0, true);
  const loggingSteps = positive('loggingSteps', options.loggingSteps, 1);
  const keepBest = options.loadBestModelAtEnd ?? false;
  // Both act on evaluations only: without any they would silently do nothing. transformers refuses
  // the same (EarlyStoppingCallback.on_train_begin asserts an eval strategy; load_best_model_at_end
  // requires one).
  const evaluates = evalEvery > 0 || (options.evalAtEpochEnd ?? true);
  for (const [name, on] of [['loadBestModelAtEnd', keepBest], ['earlyStopping', earlyStopping !== undefined]] as const) {
    if (!on) continue;
    if (!evalData) throw new RangeError(`train: ${name} needs evalData`);
    if (!evaluates) throw new RangeError(`train: ${name} needs evaluations, but evalEvery is 0 and evalAtEpochEnd is false`);
  }
  if (maxGradNorm !== undefined && !(maxGradNorm >= 0)) throw new RangeError(`train: maxGradNorm must be a number >= 0 (0: no clipping), got ${maxGradNorm}`);
  if (earlyStopping) checkEarlyStopping(earlyStopping);
  const baseLr = options.lr ?? 1e-3;
  const kind = options.schedule ?? 'constant';
  const kwargs = options.lrSchedulerKwargs;

  let totalSteps = options.totalSteps;
  if (totalSteps === undefined && data.batchesPerEpoch) totalSteps = totalOptimizerSteps(data.batchesPerEpoch.bind(data), epochs, accum, maxSteps);
  else if (maxSteps !== undefined) totalSteps = totalSteps === undefined ? maxSteps : Math.min(totalSteps, maxSteps);
  const warmupSteps = warmupFrom(options.warmupSteps, options.warmupRatio, totalSteps);
  // One clear error before anything is allocated: an unknown kind, a missing totalSteps, a bad keyword.
  const sched = resolveSchedule({ kind, warmupSteps, totalSteps, lr: baseLr, lrSchedulerKwargs: kwargs });
  const scheduleRecord = { kind, warmupSteps, totalSteps: totalSteps ?? null, ...(kwargs && Object.keys(kwargs).length ? { lrSchedulerKwargs: kwargs } : {}) };
  return { epochs, accum, evalEvery, saveEvery, checkpointEvery, keepLast, maxBad, maxSteps, loggingSteps, keepBest, baseLr, totalSteps, sched, scheduleRecord };
}
