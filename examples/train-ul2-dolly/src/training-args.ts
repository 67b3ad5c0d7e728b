/**
 * The train command's optimisation flags (transformers' `Seq2SeqTrainingArguments` names, kebab-case)
 * → `@conifer/trainer`'s `train()` options, and the checks that make a bad schedule a usage error
 * before anything loads.
 */
import { lrMultiplier, type LrSchedulerKwargs, type TrainOptions as TrainerOptions } from '@conifer/trainer';
import { UsageError } from './errors.js';
import type { TrainOptions } from './options.js';

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
    betas: [o.adamBeta1, o.adamBeta2],
    eps: o.adamEpsilon,
    weightDecay: o.weightDecay,
    schedule: o.lrSchedulerType,
    ...(o.lrSchedulerKwargs !== undefined ? { lrSchedulerKwargs: o.lrSchedulerKwargs } : {}),
    ...(o.warmupRatio !== undefined ? { warmupRatio: o.warmupRatio } : { warmupSteps: o.warmupSteps }),
    maxGradNorm: o.maxGradNorm,
    ...(o.evalEvery !== undefined ? { evalEvery: o.evalEvery } : {}),
    ...(o.saveEvery !== undefined ? { saveEvery: o.saveEvery } : {}),
    ...(o.maxSteps !== undefined ? { maxSteps: o.maxSteps } : {}),
    keepLast: o.saveTotalLimit,
    loggingSteps: o.loggingSteps,
    ...(o.earlyStopping !== undefined ? { earlyStopping: { ...o.earlyStopping } } : {}),
    loadBestModelAtEnd: o.loadBestModelAtEnd,
    resume: o.resume,
    seed: o.seed,
  };
}
