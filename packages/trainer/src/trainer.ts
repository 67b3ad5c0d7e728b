import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { writeFileAtomic } from '@conifer/safetensors';
import seedrandom from 'seedrandom';
import { Adafactor } from './adafactor.js';
import { AdamW } from './adamw.js';
import { BEST_FILE, checkpointToResume, isAdafactorState, optimizerKind, pruneCheckpoints, readCheckpoint, restoreVariables, snapshotVariables, writeCheckpoint } from './checkpoint.js';
import { evaluate, type EvalResult } from './evaluate.js';
import { registerCoreGradients } from './register-gradients.js';
import { defaultLogger, silentLogger } from './report/logger.js';
import { lossCurveSvg } from './report/svg.js';
import type { EvalRecord, MetricRecord, TrainRecord } from './report/types.js';
import { earlyStoppingStep } from './early-stopping.js';
import { EVAL_LOSS, evalMetrics, isBetter } from './metrics.js';
import { EpochReader } from './epoch-reader.js';
import { multiplierOf } from './schedule.js';
import { scheduleChange } from './schedule-change.js';
import { NonFiniteLossError, optimizerStep } from './step.js';
import { trainSettings, type BestEval, type SaveInfo, type TrainerState, type TrainOptions, type TrainResult } from './train-options.js';

export type { BestEval, SaveInfo, TrainerState, TrainOptions, TrainResult } from './train-options.js';

export const METRICS_FILE = 'metrics.jsonl';
export const LOSS_CURVE_FILE = 'loss-curve.svg';

/** `TrainResult.best` for an evaluation: `metric` and `value` only when `metricForBestModel` was given. */
function bestEvalOf(metric: { name: string; explicit: boolean }, step: number, epoch: number, loss: number, value: number): BestEval {
  return metric.explicit ? { step, epoch, loss, metric: metric.name, value } : { step, epoch, loss };
}

/**
 * Trains `model` with AdamW (or Adafactor, `optim: 'adafactor'`): epochs of micro-batches, token-normalised gradient accumulation,
 * schedule, clipping, NaN/Inf skipping, periodic evaluation, save callbacks, atomic checkpoints and
 * exact resume. Returns when the epochs are done, `maxSteps` is reached, early stopping triggers,
 * or on SIGINT / abort (after a checkpoint).
 */
export async function train<B>(options: TrainOptions<B>): Promise<TrainResult> {
  registerCoreGradients();
  const { model, data, evalData, onSave, checkpointDir, maxGradNorm, earlyStopping, computeMetrics, debug = false } = options;
  const {
    epochs, accum, evalEvery, saveEvery, checkpointEvery, keepLast, maxBad, maxSteps, loggingSteps, loggingFirstStep, keepBest, saveBest, trackBest, metric,
    evalOnStart, evalDelay, baseLr, optim, adafactor, totalSteps, sched, scheduleRecord,
  } = trainSettings(options);
  const metricRecord = { name: metric.name, greaterIsBetter: metric.greaterIsBetter };
  const logger = options.logger === false ? silentLogger : (options.logger ?? defaultLogger());

  const variables = model.trainableVariables();
  const names = new Set<string>();
  for (const v of variables) {
    if (names.has(v.name)) throw new Error(`train: two trainable variables are named "${v.name}"`);
    names.add(v.name);
  }
  const optimizer = adafactor ? new Adafactor(adafactor) : new AdamW({ lr: baseLr, betas: options.betas, eps: options.eps, weightDecay: options.weightDecay });
  // The optimizer's moments reach the caller only through the result: freed here if the run throws.
  try {

    let rng = seedrandom(String(options.seed ?? 42), { state: true });
    let st: TrainerState = {
      version: 1,
      step: 0,
      cursor: { epoch: 0, position: 0 },
      rng: rng.state(),
      badStepsInARow: 0,
      skippedSteps: 0,
      metrics: [],
      bestEvalLoss: null,
      evalsWithoutImprovement: 0,
      lastEvalStep: -1,
      schedule: scheduleRecord,
      bestMetric: metricRecord,
    };
    let resumedFrom: string | null = null;
    let bestVariables: Awaited<ReturnType<typeof snapshotVariables>> | null = null;
    let lastCheckpoint: string | null = null;
    if (options.resume && checkpointDir) {
      // a damaged newest checkpoint is a DamagedCheckpointError here, before anything is written or pruned
      const found = await checkpointToResume(checkpointDir);
      if (found) {
        const ck = await readCheckpoint<TrainerState>(found);
        const written = optimizerKind(ck.optimizer);
        if (written !== optim) {
          throw new Error(`train: ${found} holds ${written === 'adafactor' ? 'Adafactor' : 'AdamW'}'s optimizer state, but optim is '${optim}': resume with optim: '${written}', or use a fresh checkpointDir`);
        }
        restoreVariables(variables, ck.variables);
        bestVariables = keepBest ? (ck.best ?? null) : null;
        const saved = ck.optimizer;
        if (optimizer instanceof Adafactor && isAdafactorState(saved)) optimizer.setState(saved, variables);
        else if (optimizer instanceof AdamW && !isAdafactorState(saved)) optimizer.setState(saved, variables);
        st = ck.state;
        // A checkpoint from before metricForBestModel compared the eval loss, lower is better.
        const usedMetric = st.bestMetric ?? { name: EVAL_LOSS, greaterIsBetter: false };
        if (usedMetric.name !== metricRecord.name || usedMetric.greaterIsBetter !== metricRecord.greaterIsBetter) {
          // The best and early stopping's reference were values of another metric: meaningless here.
          const dir = (g: boolean) => (g ? 'greater is better' : 'lower is better');
          logger.log(`the checkpoint compared ${usedMetric.name} (${dir(usedMetric.greaterIsBetter)}): the best and early stopping start afresh with ${metricRecord.name} (${dir(metricRecord.greaterIsBetter)})`);
          st.best = null;
          bestVariables = null;
          st.bestEvalLoss = null;
          st.evalsWithoutImprovement = 0;
        }
        st.bestMetric = metricRecord;
        // Without loadBestModelAtEnd, saveStrategy 'best' or metricForBestModel the best is not tracked;
        // with loadBestModelAtEnd it counts only with its variables (a checkpoint without them: afresh).
        if (st.best && (!trackBest || (keepBest && !bestVariables))) {
          if (keepBest) logger.log(`${found} holds no ${BEST_FILE}: the best model is tracked from here on`);
          st.best = null;
        }
        if (st.best) st.best = bestEvalOf(metric, st.best.step, st.best.epoch, st.best.loss, st.best.value ?? st.best.loss);
        rng = seedrandom('', { state: st.rng });
        resumedFrom = lastCheckpoint = found;
        // The schedule follows this call's options (as transformers rebuilds its scheduler from the
        // current arguments on resume); the state records the one in use from here on.
        const used = scheduleRecord;
        const change = scheduleChange(st.schedule, used);
        if (change) logger.log(`learning-rate schedule differs from the checkpoint's: ${change} (this run's is used, as transformers rebuilds its scheduler from the current arguments)`);
        st.schedule = used;
      }
    }
    optimizer.initSlots(variables); // so that the first step allocates nothing that outlives it
    const metricsPath = checkpointDir ? join(checkpointDir, METRICS_FILE) : null;
    if (checkpointDir && metricsPath) {
      await mkdir(checkpointDir, { recursive: true });
      // the metrics up to the checkpoint: lines written after it by a killed run are dropped
      await writeFileAtomic(metricsPath, st.metrics.map((r) => JSON.stringify(r) + '\n').join(''));
    }

    const record = async (r: MetricRecord) => {
      st.metrics.push(r);
      if (metricsPath) await appendFile(metricsPath, JSON.stringify(r) + '\n');
    };
    const saveCheckpoint = async () => {
      if (!checkpointDir) return;
      st.rng = rng.state();
      lastCheckpoint = await writeCheckpoint(checkpointDir, st.step, {
        variables: await snapshotVariables(variables), optimizer: await optimizer.getState(), state: st, ...(keepBest && bestVariables ? { best: bestVariables } : {}),
      });
      await pruneCheckpoints(checkpointDir, keepLast);
      await writeFileAtomic(join(checkpointDir, LOSS_CURVE_FILE), lossCurveSvg(st.metrics));
      logger.log(`checkpoint written: ${lastCheckpoint}`);
    };
    let lastSavedStep = resumedFrom ? st.step : -1;
    let lastCheckpointStep = resumedFrom ? st.step : -1;
    const save = async (reason: SaveInfo['reason'], epoch: number) => {
      if (onSave && lastSavedStep !== st.step) await onSave({ step: st.step, epoch, reason, variables });
      lastSavedStep = st.step;
    };
    const checkpoint = async () => {
      if (lastCheckpointStep !== st.step) await saveCheckpoint();
      lastCheckpointStep = st.step;
    };
    let lastEval: EvalRecord | null = [...st.metrics].reverse().find((r): r is EvalRecord => r.type === 'eval') ?? null;
    // A run that stopped early stays stopped when resumed with the same patience.
    let stopEarly = !!earlyStopping && st.evalsWithoutImprovement >= earlyStopping.patience;
    let lastStepEpoch = st.cursor.epoch; // the epoch of the last step taken (for the final save)
    /** Runs `computeMetrics` (its tensors checked in debug mode) and names the results as transformers does. */
    const metricsOf = async (e: EvalResult, epoch: number): Promise<Record<string, number>> => {
      if (!computeMetrics || !evalData) return evalMetrics(e.loss, undefined, false);
      const before = debug ? tf.memory().numTensors : 0;
      const computed = await computeMetrics({ batches: typeof evalData === 'function' ? evalData() : evalData, model, step: st.step, epoch, eval: e });
      if (debug && tf.memory().numTensors !== before) throw new Error(`tensor leak in computeMetrics at step ${st.step}: ${before} tensors before, ${tf.memory().numTensors} after`);
      return evalMetrics(e.loss, computed, true);
    };
    /**
     * Evaluates (once per step), records and reports; unless it is `evalOnStart`'s evaluation, then
     * updates early stopping and the best. Returns whether this evaluation is a new best
     * (transformers' `_determine_best_metric`), which `saveStrategy: 'best'` saves.
     */
    const runEval = async (epoch: number, atStart = false): Promise<boolean> => {
      if (!evalData || st.lastEvalStep === st.step) return false;
      const e: EvalResult = await evaluate(model, evalData);
      if (e.batches === 0) {
        throw new Error('train: evalData gave no batches (a one-shot iterator is spent after the first evaluation: pass an array, or a function that returns a fresh iterable)');
      }
      const all = await metricsOf(e, epoch);
      const rec: EvalRecord = { type: 'eval', step: st.step, epoch, ...e, ...(computeMetrics ? { metrics: all } : {}) };
      st.lastEvalStep = st.step;
      lastEval = rec;
      await record(rec);
      logger.onEval(rec);
      // _determine_best_metric: `metric_value = metrics[metric_to_check]`, a KeyError naming the option when absent
      const value = all[metric.name];
      if (value === undefined) {
        throw new RangeError(`train: metricForBestModel "${metric.name}" is not among the evaluation metrics (${Object.keys(all).join(', ')})`);
      }
      if (atStart) return false; // transformers' eval_on_start: `self._evaluate(...)` only
      if (earlyStopping) {
        const r = earlyStoppingStep(st, value, earlyStopping, metric.greaterIsBetter);
        st.bestEvalLoss = r.bestEvalLoss;
        st.evalsWithoutImprovement = r.evalsWithoutImprovement;
        if (r.stop && !stopEarly) {
          stopEarly = true;
          const what = metric.name === EVAL_LOSS ? 'eval loss' : metric.name;
          logger.log(`early stopping: ${what} has not improved for ${st.evalsWithoutImprovement} evaluation${st.evalsWithoutImprovement === 1 ? '' : 's'} (best ${st.bestEvalLoss})`);
        }
      }
      if (!trackBest || !isBetter(value, st.best ? (st.best.value ?? st.best.loss) : null, metric.greaterIsBetter)) return false;
      st.best = bestEvalOf(metric, st.step, epoch, e.loss, value);
      if (keepBest) bestVariables = await snapshotVariables(variables);
      return true;
    };

    let stopRequested = false;
    const onSigint = () => {
      if (!stopRequested) logger.log('SIGINT: finishing the current step, then writing a checkpoint');
      stopRequested = true;
    };
    const onAbort = () => {
      stopRequested = true;
    };
    const handleSigint = options.handleSigint ?? true;
    if (handleSigint) process.on('SIGINT', onSigint);
    options.signal?.addEventListener('abort', onAbort);
    if (options.signal?.aborted) stopRequested = true;

    // Why training must stop now (checked before each step), or null.
    const stopNow = (): TrainResult['stopReason'] | null =>
      // early stopping first: when it fires on the maxSteps step, that is why the run ends (its message was logged)
      stopEarly ? 'earlyStopping' : maxSteps !== undefined && st.step >= maxSteps ? 'maxSteps' : stopRequested ? 'interrupted' : null;
    // eval_delay: `args.eval_delay <= state.global_step` ("steps"), `args.eval_delay <= state.epoch` ("epoch", at the end of an epoch: epochs done)
    const delayed = (epoch: number) => (evalEvery > 0 ? st.step < evalDelay : epoch + 1 < evalDelay);
    /**
     * What follows a step (or an epoch's end without one), in this order: evaluations, the epoch's
     * end, `onSave`, then the checkpoint, which so records the step with everything it was due
     * (a resume from it never has to redo an evaluation or a save of that step).
     */
    const afterStep = async (epoch: number, stepped: boolean, epochEnded: boolean) => {
      let newBest = false;
      if (stepped && evalEvery > 0 && st.step % evalEvery === 0 && !delayed(epoch)) newBest = await runEval(epoch);
      if (epochEnded && (options.evalAtEpochEnd ?? true) && !delayed(epoch)) newBest = (await runEval(epoch)) || newBest;
      if (epochEnded) logger.onEpoch({ epoch, step: st.step });
      const stopping = stepped && stopNow() !== null;
      // save_strategy "best": `self.control.should_save = is_new_best_metric`, and no save at steps, epochs or the end
      const reason: SaveInfo['reason'] | null = saveBest
        ? newBest ? 'best' : null
        : stepped && saveEvery > 0 && st.step % saveEvery === 0 ? 'steps' : epochEnded ? 'epoch' : stopping ? 'final' : null;
      if (reason) await save(reason, epoch);
      if (epochEnded || stopping || (stepped && checkpointEvery > 0 && st.step % checkpointEvery === 0)) await checkpoint();
    };
    // The mean loss of the non-skipped steps in (step − loggingSteps, step] (transformers' logged "loss"),
    // or since step 1 when that step was reported on its own (logging_first_step).
    const loggedLoss = (rec: TrainRecord): number | null => {
      const from = Math.max(rec.step - loggingSteps, loggingFirstStep && rec.step > 1 ? 1 : 0);
      if (from === rec.step - 1) return rec.loss;
      let sum = 0;
      let n = 0;
      for (let i = st.metrics.length - 1; i >= 0; i--) {
        const m = st.metrics[i]!;
        if (m.type !== 'train') continue;
        if (m.step <= from) break;
        if (m.loss !== null) {
          sum += m.loss;
          n++;
        }
      }
      return n > 0 ? sum / n : null;
    };

    let stopReason: TrainResult['stopReason'] = 'completed';
    const started = performance.now();
    let stepsThisRun = 0;
    logger.onStart?.({ startStep: st.step, totalSteps, epochs, resumedFrom });
    try {
      // eval_on_start: before the first step of a run (a resumed one has evaluated it already)
      if (evalOnStart && st.step === 0) await runEval(st.cursor.epoch, true);
      outer: while (st.cursor.epoch < epochs) {
        const epoch = st.cursor.epoch;
        const reader = new EpochReader(data, st.cursor);
        for (;;) {
          const stop = stopNow();
          if (stop) {
            stopReason = stop;
            break outer;
          }
          const { batches: window, cursor, epochEnded } = reader.next(accum);
          if (window.length === 0) {
            // the epoch ended without a step (nothing was left of it)
            st.cursor = { epoch: epoch + 1, position: 0 };
            await afterStep(epoch, false, true);
            break;
          }

          const dropoutSeed = rng.int32() >>> 0;
          model.setDropoutSeed?.(dropoutSeed);
          // Adafactor with relativeStep ignores lr (as transformers'): the step size of its next step is logged instead
          const lr = adafactor?.relativeStep ? (optimizer as Adafactor).relativeStepSize(optimizer.step + 1) : baseLr * multiplierOf(st.step, sched);
          const tensorsBefore = debug ? tf.memory().numTensors : 0;
          const t0 = performance.now();
          const r = await optimizerStep(model, optimizer, window, { lr, maxGradNorm });
          const seconds = (performance.now() - t0) / 1000;
          st.step += 1;
          stepsThisRun += 1;
          lastStepEpoch = epoch;
          if (debug) {
            const after = tf.memory().numTensors;
            if (after !== tensorsBefore) throw new Error(`tensor leak at optimizer step ${st.step}: ${tensorsBefore} tensors before, ${after} after`);
          }
          st.cursor = epochEnded ? { epoch: epoch + 1, position: 0 } : cursor;
          if (r.skipped) {
            st.skippedSteps += 1;
            st.badStepsInARow += 1;
            logger.log(`step ${st.step} skipped: NaN/Inf loss or gradient (${st.badStepsInARow} in a row, ${st.skippedSteps} in all)`);
          } else {
            st.badStepsInARow = 0;
          }
          const rec: TrainRecord = {
            type: 'train',
            step: st.step,
            epoch,
            loss: r.skipped ? null : r.loss,
            lr,
            tokens: r.tokens,
            gradNorm: r.skipped ? null : r.gradNorm,
            skipped: r.skipped,
          };
          await record(rec);
          if (st.step % loggingSteps === 0 || (loggingFirstStep && st.step === 1)) {
            logger.onStep({
              ...rec,
              loss: loggedLoss(rec),
              totalSteps,
              tokensPerSecond: seconds > 0 ? r.tokens / seconds : 0,
              elapsedSeconds: (performance.now() - started) / 1000,
              stepsThisRun,
              skippedSteps: st.skippedSteps,
            });
          }
          if (st.badStepsInARow >= maxBad) throw new NonFiniteLossError(st.step, st.badStepsInARow);
          // An early stop on the epoch's last step still ends the epoch (its eval, save, checkpoint),
          // as transformers' Trainer runs on_epoch_end before it stops.
          await afterStep(epoch, true, epochEnded);
          if (epochEnded) break;
          await new Promise<void>((resolve) => setImmediate(resolve)); // lets SIGINT / abort arrive
        }
      }
      // An early stop on the last epoch's last step ended that epoch, then the loop.
      if (stopReason === 'completed' && stopEarly) stopReason = 'earlyStopping';
      if (stopReason !== 'completed') {
        if (!saveBest) await save('final', lastStepEpoch);
        await checkpoint();
      }
      if (checkpointDir) await writeFileAtomic(join(checkpointDir, LOSS_CURVE_FILE), lossCurveSvg(st.metrics));
      if (keepBest && st.best && bestVariables && stopReason !== 'interrupted') {
        // The checkpoints keep the last variables (a resume continues from there); the model gets the best.
        // Not on an interrupt (SIGINT / abort): the run is meant to be resumed, as transformers does.
        if (st.best.step !== st.step) restoreVariables(variables, bestVariables);
        logger.log(`loaded the best model: step ${st.best.step}, ${metric.name === EVAL_LOSS ? `eval loss ${st.best.loss.toFixed(4)}` : `${metric.name} ${st.best.value}`}`);
        // with saveStrategy 'best', onSave had these values when they were reached
        if (onSave && !saveBest) await onSave({ step: st.best.step, epoch: st.best.epoch, reason: 'best', variables });
      }
    } finally {
      if (handleSigint) process.off('SIGINT', onSigint);
      options.signal?.removeEventListener('abort', onAbort);
      logger.onEnd?.();
    }
    return {
      step: st.step,
      cursor: st.cursor,
      stopReason,
      metrics: st.metrics,
      skippedSteps: st.skippedSteps,
      lastEval,
      checkpoint: lastCheckpoint,
      best: trackBest ? (st.best ?? null) : null,
      resumedFrom,
      optimizer,
    };
  } catch (e) {
    optimizer.dispose();
    throw e;
  }
}
