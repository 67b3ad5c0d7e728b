/**
 * The train command's optimisation flags (transformers' `Seq2SeqTrainingArguments` names, kebab-case)
 * → `@conifer/trainer`'s `train()` options, and the checks that make a bad schedule a usage error
 * before anything loads.
 */
import { lrMultiplier, type EvalRecord, type LrSchedulerKwargs, type SaveInfo, type TrainOptions as TrainerOptions, type TrainResult } from '@conifer/trainer';
import { UsageError } from './errors.js';
import type { SaveStrategy, TrainOptions } from './options.js';

/** `--lr-scheduler-kwargs`: a JSON object (transformers parses the string the same way), its keys checked by {@link checkSchedule}. */
export function parseLrSchedulerKwargs(text: string): LrSchedulerKwargs {
  let value: unknown;
  let why = '';
  try {
    value = JSON.parse(text);
  } catch (e) {
    why = `: ${(e as Error).message}`;
  }
  if (why || value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UsageError(`--lr-scheduler-kwargs must be a JSON object such as '{"num_cycles": 2}' (got "${text}"${why})`);
  }
  return value as LrSchedulerKwargs;
}

type ScheduleFlags = Pick<TrainOptions, 'lrSchedulerType' | 'lrSchedulerKwargs' | 'warmupSteps' | 'warmupRatio' | 'lr'>;

/**
 * Checks the schedule with the trainer's own rules (`resolveSchedule`, through `lrMultiplier`): a keyword
 * the kind does not take, a missing required one, a bad value. Without `totalSteps` (at parse time, before
 * the data is read) only what does not depend on the run's length is checked; with it (the exact count
 * `train()` will derive), everything, e.g. `warmup_stable_decay`'s `num_decay_steps` longer than the run.
 * Throws a UsageError (exit 2).
 */
export function checkSchedule(o: ScheduleFlags, totalSteps?: number): void {
  const kw = o.lrSchedulerKwargs ?? {};
  const warmupSteps = o.warmupRatio === undefined ? o.warmupSteps : totalSteps === undefined ? 0 : Math.ceil(totalSteps * o.warmupRatio);
  // A length every length-dependent rule accepts (decay fits, polynomial's total ≠ warmup): only the keywords are judged.
  const decay = typeof kw.num_decay_steps === 'number' && kw.num_decay_steps >= 0 ? Math.ceil(kw.num_decay_steps) : 0;
  const total = totalSteps ?? warmupSteps + decay + 1;
  try {
    lrMultiplier(0, { kind: o.lrSchedulerType, warmupSteps, totalSteps: total, lr: o.lr, lrSchedulerKwargs: kw });
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    const msg = e.message.replace(/lrSchedulerKwargs\./g, '').replace(/ through lrSchedulerKwargs/g, '');
    if (totalSteps === undefined) throw new UsageError(`--lr-scheduler-kwargs: ${msg}`);
    const steps = `${totalSteps} optimizer ${totalSteps === 1 ? 'step' : 'steps'}`;
    throw new UsageError(`--lr-scheduler-type ${o.lrSchedulerType}: ${msg.replace(/warmupSteps/g, 'warmup steps').replace(/totalSteps/g, 'total steps')} (this run has ${steps}${warmupSteps ? `, ${warmupSteps} of warmup` : ''})`);
  }
}

/** What the flags give `train()`: everything but the wiring (model, data, eval batches, onSave, checkpoint folder). */
export type TrainerHyperparameters = Omit<TrainerOptions<unknown>, 'model' | 'data' | 'evalData' | 'onSave' | 'checkpointDir'>;

/** The `train()` options of the parsed flags, defaults included (every one given explicitly, so a trainer default never decides). */
export function trainerHyperparameters(o: TrainOptions): TrainerHyperparameters {
  return {
    epochs: o.epochs,
    gradientAccumulationSteps: o.gradAccum,
    lr: o.lr,
    // --optim: AdamW's betas/eps, or Adafactor as transformers' Trainer builds it (the trainer's defaults for optim 'adafactor')
    ...(o.optim === 'adafactor' ? { optim: 'adafactor' as const } : { betas: [o.adamBeta1, o.adamBeta2] as [number, number], eps: o.adamEpsilon }),
    weightDecay: o.weightDecay,
    schedule: o.lrSchedulerType,
    ...(o.lrSchedulerKwargs !== undefined ? { lrSchedulerKwargs: o.lrSchedulerKwargs } : {}),
    ...(o.warmupRatio !== undefined ? { warmupRatio: o.warmupRatio } : { warmupSteps: o.warmupSteps }),
    maxGradNorm: o.maxGradNorm,
    ...(o.evalEvery !== undefined ? { evalEvery: o.evalEvery } : {}),
    ...(o.saveEvery !== undefined ? { saveEvery: o.saveEvery } : {}),
    // save_strategy "best" is the trainer's (it decides when onSave runs); the others only pick adapter folders (adapterFolder).
    ...(o.saveStrategy === 'best' ? { saveStrategy: 'best' as const } : {}),
    evalOnStart: o.evalOnStart,
    evalDelay: o.evalDelay,
    ...(o.maxSteps !== undefined ? { maxSteps: o.maxSteps } : {}),
    keepLast: o.saveTotalLimit,
    loggingSteps: o.loggingSteps,
    loggingFirstStep: o.loggingFirstStep,
    // greater_is_better: the trainer's default (`not name.endswith("loss")`) is right for every metric (loss, accuracy, rouge*)
    ...(o.metricForBestModel !== undefined ? { metricForBestModel: o.metricForBestModel } : {}),
    ...(o.earlyStopping !== undefined ? { earlyStopping: { ...o.earlyStopping } } : {}),
    loadBestModelAtEnd: o.loadBestModelAtEnd,
    resume: o.resume,
    seed: o.seed,
  };
}

/**
 * The named adapter folder (under `--out`) that one `onSave` call writes besides `--out/adapter`,
 * which every call rewrites (the latest adapter; with `best`, the best one): `adapter-epoch-E` at
 * the end of epoch E (counting from 1), `adapter-step-N` every `--save-every` N steps, as
 * `--save-strategy` allows (transformers' `DefaultFlowCallback`: `on_epoch_end` saves when
 * `save_strategy == SaveStrategy.EPOCH`, `on_step_end` when `SaveStrategy.STEPS` and
 * `global_step % save_steps == 0`; `no` and `best` neither; without the flag, both). With `steps`
 * the run's last step is saved too (`on_step_end`: `if state.global_step >= state.max_steps: ...
 * if args.save_strategy == SaveStrategy.STEPS: control.should_save = True`), whatever the reason
 * the trainer gives (`totalSteps`: transformers' `max_steps`, the trainer's `totalOptimizerSteps`).
 * Other stops ('final': early stopping, SIGINT) and the best model put back at the end ('best')
 * write `--out/adapter` only.
 */
export function adapterFolder(info: Pick<SaveInfo, 'reason' | 'step' | 'epoch'>, strategy: SaveStrategy | undefined, totalSteps: number): string | null {
  if (info.reason === 'best') return null;
  if (info.reason === 'epoch' && (strategy === undefined || strategy === 'epoch')) return `adapter-epoch-${info.epoch + 1}`;
  if (info.reason === 'steps' && (strategy === undefined || strategy === 'steps')) return `adapter-step-${info.step}`;
  if (strategy === 'steps' && info.step >= totalSteps) return `adapter-step-${info.step}`;
  return null;
}

/**
 * The trainer's last evaluation when it measured the weights the model holds after `train()` (so
 * the "eval loss after training" need not evaluate again), else null: it must be of the last step,
 * and with `--load-best-model-at-end` the variables hold the best evaluation's values, so that must
 * be the last step too. A best tracked for `--save-strategy best` alone leaves the last step's weights.
 */
export function reusableFinalEval(result: Pick<TrainResult, 'lastEval' | 'step' | 'best'>, loadBestModelAtEnd: boolean): EvalRecord | null {
  if (!result.lastEval || result.lastEval.step !== result.step) return null;
  const swapped = loadBestModelAtEnd && result.best !== null && result.best.step !== result.step;
  return swapped ? null : result.lastEval;
}
