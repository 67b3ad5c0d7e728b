/**
 * The checks of `train()`'s options that are reported together, in one error: unknown keys (a transformers
 * `TrainingArguments` name or a typo), the model and data shapes, each option's type and range, and the
 * checkpoint options given without `checkpointDir` (they would do nothing).
 * `trainSettings` throws ONE error listing every problem found here, before the checks that combine
 * options or need a schedule (which stop at the first: `unknown schedule`, …) and before anything is allocated.
 */
import type { TrainOptions } from './train-options.js';
import { earlyStoppingProblems } from './early-stopping.js';
import { showValue, unknownOptionProblems, unknownOptionsText } from './unknown-options.js';

/** Every option of {@link TrainOptions}: a `Record` over its keys, so a new option fails typecheck until it is listed. */
const KNOWN: Record<keyof TrainOptions<unknown>, true> = {
  model: true, data: true, epochs: true, gradientAccumulationSteps: true, lr: true, optim: true, adafactor: true, betas: true, eps: true,
  weightDecay: true, schedule: true, lrSchedulerKwargs: true, warmupSteps: true, warmupRatio: true, totalSteps: true, maxGradNorm: true,
  evalData: true, evalEvery: true, evalAtEpochEnd: true, evalOnStart: true, evalDelay: true, computeMetrics: true, metricForBestModel: true,
  greaterIsBetter: true, saveEvery: true, onSave: true, saveStrategy: true, checkpointDir: true, checkpointEvery: true, keepLast: true,
  resume: true, seed: true, logger: true, maxSteps: true, loggingSteps: true, loggingFirstStep: true, earlyStopping: true,
  loadBestModelAtEnd: true, maxBadStepsInARow: true, debug: true, handleSigint: true, signal: true,
};

/**
 * transformers' `TrainingArguments` / `Trainer` names whose option here has another name (matched in any case or
 * separator, so `learningRate` too); other snake_case names find their camelCase option by the shared near-miss search.
 */
const TRANSFORMERS_NAMES: Readonly<Record<string, string>> = {
  learning_rate: 'lr', num_train_epochs: 'epochs', max_steps: 'maxSteps', adam_beta1: 'betas', adam_beta2: 'betas', adam_epsilon: 'eps',
  lr_scheduler_type: 'schedule', eval_steps: 'evalEvery', eval_strategy: 'evalEvery` / `evalAtEpochEnd', save_steps: 'saveEvery',
  save_total_limit: 'keepLast', output_dir: 'checkpointDir', resume_from_checkpoint: 'resume', train_dataset: 'data', eval_dataset: 'evalData',
};

const show = showValue;
const isFn = (v: unknown): boolean => typeof v === 'function';

/** Every problem with `options` that one option shows alone, each naming the option and the value (no `train: ` prefix). */
export function trainOptionProblems(options: TrainOptions<unknown>): string[] {
  const p: string[] = [];
  if (typeof options !== 'object' || options === null) return [`options must be an object ({ model, data, ... }), got ${show(options)}`];
  const o = options as unknown as Record<string, unknown>;
  const unknown = unknownOptionProblems(o, KNOWN, TRANSFORMERS_NAMES);
  if (unknown.length > 0) p.push(unknownOptionsText(unknown));
  const { model, data } = o as { model?: Record<string, unknown>; data?: Record<string, unknown> };
  if (typeof model !== 'object' || model === null || !isFn(model.lossSum) || !isFn(model.trainableVariables)) {
    p.push(`model must be a Trainable ({ lossSum(batch, training), trainableVariables() }), got ${model === null || typeof model !== 'object' ? show(model) : 'an object without them'}`);
  }
  if (typeof data !== 'object' || data === null || !isFn(data.batches)) {
    p.push(`data must be a DataSource ({ batches(from) }), got ${data === null || typeof data !== 'object' ? show(data) : 'an object without batches'}`);
  }
  const int = (name: keyof TrainOptions<unknown>, min: number, orInfinity = false): void => {
    const v = o[name];
    if (v === undefined || (orInfinity && v === Number.POSITIVE_INFINITY)) return;
    if (!Number.isInteger(v) || (v as number) < min) p.push(`${name} must be an integer >= ${min}, got ${show(v)}`);
  };
  int('epochs', 1);
  int('gradientAccumulationSteps', 1);
  int('evalEvery', 0);
  int('saveEvery', 0);
  int('checkpointEvery', 0);
  int('keepLast', 1, true);
  int('maxBadStepsInARow', 1);
  int('maxSteps', 0);
  int('loggingSteps', 1);
  int('warmupSteps', 0);
  int('totalSteps', 1);
  const num = (name: keyof TrainOptions<unknown>, ok: (v: number) => boolean, rule: string): void => {
    const v = o[name];
    if (v !== undefined && !(typeof v === 'number' && ok(v))) p.push(`${name} must be ${rule}, got ${show(v)}`);
  };
  num('lr', (v) => Number.isFinite(v) && v >= 0, 'a finite number >= 0');
  num('eps', (v) => Number.isFinite(v) && v >= 0, 'a finite number >= 0');
  num('weightDecay', (v) => Number.isFinite(v) && v >= 0, 'a finite number >= 0');
  num('warmupRatio', (v) => v >= 0 && v <= 1, 'in [0, 1]');
  num('maxGradNorm', (v) => v >= 0, 'a number >= 0 (0: no clipping)');
  num('evalDelay', (v) => Number.isFinite(v) && v >= 0, 'a finite number >= 0');
  const betas = o.betas;
  if (betas !== undefined && !(Array.isArray(betas) && betas.length === 2 && betas.every((b) => typeof b === 'number' && b >= 0 && b < 1))) {
    p.push(`betas must be two numbers in [0, 1) ([beta1, beta2]), got ${show(betas)}`);
  }
  for (const name of ['evalAtEpochEnd', 'evalOnStart', 'loadBestModelAtEnd', 'loggingFirstStep', 'resume', 'debug', 'handleSigint'] as const) {
    if (o[name] !== undefined && typeof o[name] !== 'boolean') p.push(`${name} must be a boolean, got ${show(o[name])}`);
  }
  const seed = o.seed;
  if (seed !== undefined && !(typeof seed === 'string' || (typeof seed === 'number' && Number.isFinite(seed)))) p.push(`seed must be a finite number or a string, got ${show(seed)}`);
  if (o.onSave !== undefined && !isFn(o.onSave)) p.push(`onSave must be a function, got ${show(o.onSave)}`);
  if (o.earlyStopping !== undefined) p.push(...earlyStoppingProblems(o.earlyStopping));
  const dir = o.checkpointDir;
  if (dir !== undefined && !(typeof dir === 'string' && dir !== '')) p.push(`checkpointDir must be a folder path (a non-empty string), got ${show(dir)}`);
  if (dir === undefined) p.push(...checkpointOnlyProblems(o));
  const logger = o.logger as Record<string, unknown> | false | undefined;
  if (logger !== undefined && logger !== false) {
    const missing = typeof logger === 'object' && logger !== null ? (['onStep', 'onEval', 'onEpoch', 'log'] as const).filter((m) => !isFn(logger[m])) : ['onStep', 'onEval', 'onEpoch', 'log'];
    if (missing.length) p.push(`logger must be false or a TrainLogger (onStep, onEval, onEpoch, log), got ${typeof logger === 'object' && logger !== null ? `an object without ${missing.join(', ')}` : show(logger)}`);
  }
  const signal = o.signal as { aborted?: unknown; addEventListener?: unknown } | undefined;
  if (signal !== undefined && !(typeof signal === 'object' && signal !== null && typeof signal.aborted === 'boolean' && isFn(signal.addEventListener))) {
    p.push(`signal must be an AbortSignal, got ${show(signal)}`);
  }
  return p;
}

/**
 * The options that act on `checkpointDir`'s checkpoints alone, given without it: they would do nothing,
 * silently (no checkpoint is written, pruned or resumed from). transformers cannot meet this (`output_dir`
 * is always set), but refuses the nearest case: `train(resume_from_checkpoint=True)` with no checkpoint in
 * `output_dir` raises "No valid checkpoint found in output directory". Values that ask for nothing pass:
 * `checkpointEvery: 0` (no checkpoints by step), `keepLast: Infinity` (remove none), `resume: false`; a value
 * with a problem of its own is named once, by that problem.
 */
function checkpointOnlyProblems(o: Record<string, unknown>): string[] {
  const acts = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 1;
  const needs = [
    ['checkpointEvery', acts(o.checkpointEvery), 'the folder checkpoints are written to'],
    ['keepLast', acts(o.keepLast), 'the folder whose newest checkpoints it keeps'],
    ['resume', o.resume === true, 'the folder whose newest checkpoint it continues from'],
  ] as const;
  return needs.filter(([, on]) => on).map(([name, , what]) => `${name} (${show(o[name])}) needs checkpointDir (${what})`);
}

/** One `RangeError` for the problems: the problem itself when there is one, all of them otherwise. */
export function optionsError(problems: readonly string[]): RangeError {
  return new RangeError(problems.length === 1 ? `train: ${problems[0]}` : `train: ${problems.length} problems with the options: ${problems.join('; ')}`);
}
