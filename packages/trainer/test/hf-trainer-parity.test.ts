// What a user of Hugging Face's Trainer / TrainingArguments expects, checked against transformers'
// source (huggingface/transformers, src/transformers/trainer.py `Trainer._inner_training_loop`,
// `training_step`, `_maybe_log_save_evaluate`, `_determine_best_metric`; trainer_callback.py
// `EarlyStoppingCallback`; training_args.py `get_warmup_steps`): the expected values are derived from
// those lines (quoted next to each check), not from a previous run of this code.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { accumulateGradients, readCheckpoint, train, type StepInfo, type TrainerState, type TrainLogger, type TrainRecord } from '../src';
import { scriptedEval, ToyModel, toBatch, toyData, toyExamples, valuesOf, type ToyBatch } from './toy';
import { tempDirs } from './temp-dirs';

const tmp = tempDirs('conifer-trainer-hf-');

const steps = (into: StepInfo[]): TrainLogger => ({ onStep: (s) => void into.push(s), onEval: () => {}, onEpoch: () => {}, log: () => {} });
const evalData = [toBatch(toyExamples(4, 3, 9))];

describe('max_grad_norm', () => {
  it('0 turns clipping off (trainer.py: `if args.max_grad_norm is not None and args.max_grad_norm > 0`); a negative or NaN value is an error', async () => {
    const before = tf.memory().numTensors;
    const run = async (maxGradNorm: number | undefined) => {
      const model = new ToyModel(3, 'clip');
      const log: StepInfo[] = [];
      const r = await train({ model, data: toyData(20), lr: 0.1, maxSteps: 2, ...(maxGradNorm === undefined ? {} : { maxGradNorm }), logger: steps(log), handleSigint: false });
      r.optimizer.dispose();
      const out = { w: await valuesOf(model.trainableVariables()), gradNorms: log.map((s) => s.gradNorm) };
      model.dispose();
      return out;
    };
    const none = await run(undefined);
    expect(await run(0)).toEqual(none); // not clipped to 0 (which would zero every gradient)
    const clipped = await run(1e-3);
    expect(clipped.w).not.toEqual(none.w);
    // the logged norm is the one before clipping, as transformers' grad_norm (clip_grad_norm_'s return value)
    expect(clipped.gradNorms[0]).toBe(none.gradNorms[0]);
    expect(none.gradNorms[0]).toBeGreaterThan(1e-3);
    const model = new ToyModel(3, 'clipbad');
    for (const bad of [-1, Number.NaN]) {
      await expect(train({ model, data: toyData(20), maxGradNorm: bad, logger: false })).rejects.toThrow(`train: maxGradNorm must be a number >= 0 (0: no clipping), got ${bad}`);
    }
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('gradient accumulation: the mean over the real tokens of the whole window', () => {
  it("equals transformers' loss with num_items_in_batch, not its per-micro-batch mean / gradient_accumulation_steps", async () => {
    // trainer.py: get_batch_samples counts num_items_in_batch = the window's non-ignored labels; a model
    // that accepts loss kwargs returns sum / num_items_in_batch for each micro-batch and the gradients
    // add up to Σ_i ∂sum_i / N. Otherwise training_step divides each micro-batch's MEAN loss by
    // current_gradient_accumulation_steps (k): Σ_i ∂(sum_i / n_i) / k. Ours is the first.
    const micro = [toyExamples(2, 3, 4), toyExamples(5, 3, 5), toyExamples(1, 3, 6)].map(toBatch);
    const w0 = [0.1, 0.2, 0.3];
    const b0 = 0.05;
    // The toy's loss sum is Σ count·(w·x + b − y)²: ∂/∂w_j = Σ 2·count·err·x_j, ∂/∂b = Σ 2·count·err (float64 here).
    const grad = (batch: ToyBatch) => {
      const g = [0, 0, 0, 0];
      let sum = 0;
      batch.x.forEach((x, i) => {
        const err = x.reduce((a, xj, j) => a + xj * w0[j]!, b0) - batch.y[i]!;
        const c = batch.counts[i]!;
        sum += c * err * err;
        x.forEach((xj, j) => (g[j]! += 2 * c * err * xj));
        g[3]! += 2 * c * err;
      });
      return { g, sum, n: batch.counts.reduce((a, c) => a + c, 0) };
    };
    const parts = micro.map(grad);
    const N = parts.reduce((a, p) => a + p.n, 0);
    const k = micro.length;
    const tokenMean = [0, 1, 2, 3].map((j) => parts.reduce((a, p) => a + p.g[j]!, 0) / N);
    const meanOfMeans = [0, 1, 2, 3].map((j) => parts.reduce((a, p) => a + p.g[j]! / p.n, 0) / k);

    const model = new ToyModel(3, 'ga');
    const before = tf.memory().numTensors;
    const r = await accumulateGradients(model, micro);
    const got = [...Array.from(r.grads['ga.w']!.dataSync()), r.grads['ga.b']!.dataSync()[0]!];
    got.forEach((g, j) => expect(g).toBeCloseTo(tokenMean[j]!, 5));
    expect(Math.max(...got.map((g, j) => Math.abs(g - meanOfMeans[j]!)))).toBeGreaterThan(0.05); // the other convention is far off
    // the logged loss: tr_loss adds each micro-batch's sum_i / N, i.e. Σ sum_i / N
    expect(r.loss).toBeCloseTo(parts.reduce((a, p) => a + p.sum, 0) / N, 5);
    expect(r.tokens).toBe(N);
    tf.dispose(Object.values(r.grads));
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});

describe('save_total_limit (keepLast)', () => {
  it('Infinity keeps every checkpoint (save_total_limit None); with 1, the best model is never lost: every checkpoint carries it', async () => {
    const dir = tmp();
    const model = new ToyModel(3, 'keepall');
    (await train({ model, data: toyData(20), lr: 0.05, maxSteps: 4, checkpointDir: dir, checkpointEvery: 1, keepLast: Number.POSITIVE_INFINITY, logger: false, handleSigint: false })).optimizer.dispose();
    expect(readdirSync(dir).filter((n) => n.startsWith('checkpoint-')).sort()).toEqual(['checkpoint-1', 'checkpoint-2', 'checkpoint-3', 'checkpoint-4']);
    await expect(train({ model, data: toyData(20), keepLast: 2.5, logger: false })).rejects.toThrow('train: keepLast must be an integer >= 1, got 2.5');
    model.dispose();

    // transformers keeps best_model_checkpoint's folder out of the rotation (_sorted_checkpoints); here
    // the best variables travel in every checkpoint (best.safetensors), so keeping the newest suffices.
    const bestDir = tmp();
    const atStep = new Map<number, number[][]>();
    const opts = { data: toyData(40), lr: 0.05, evalData, evalEvery: 1, evalAtEpochEnd: false, maxSteps: 5, checkpointDir: bestDir, checkpointEvery: 1, keepLast: 1, loadBestModelAtEnd: true, handleSigint: false };
    const m1 = scriptedEval('keepbest', [5, 3, 4, 6, 7]);
    const r1 = await train({ ...opts, model: m1, saveEvery: 1, onSave: async (i) => void (i.reason === 'steps' && atStep.set(i.step, await valuesOf(i.variables))), logger: false });
    expect(r1.best?.step).toBe(2);
    r1.optimizer.dispose();
    m1.dispose();
    expect(readdirSync(bestDir).filter((n) => n.startsWith('checkpoint-'))).toEqual(['checkpoint-5']);
    const ck = await readCheckpoint<TrainerState>(join(bestDir, 'checkpoint-5'));
    expect(['keepbest.w', 'keepbest.b'].map((n) => Array.from(ck.best![n]!.values))).toEqual(atStep.get(2));
    // a run resumed from it (nothing left to train) ends on the best model too
    const m2 = scriptedEval('keepbest', [9]);
    const r2 = await train({ ...opts, model: m2, resume: true, logger: false });
    expect([r2.step, r2.best?.step]).toEqual([5, 2]);
    expect(await valuesOf(m2.trainableVariables())).toEqual(atStep.get(2));
    r2.optimizer.dispose();
    m2.dispose();
  });
});

describe('early stopping', () => {
  // Eval losses 10, 9.5, 8.7, 8.6, 8.5, 8.4 (one per step), patience 2, a margin of 1.
  const script = [10, 9.5, 8.7, 8.6, 8.5, 8.4];
  const stopAt = async (earlyStopping: { patience: number; threshold?: number; minDelta?: number }) => {
    const model = scriptedEval('es', script);
    const r = await train({ model, data: toyData(40), lr: 0.05, evalData, evalEvery: 1, evalAtEpochEnd: false, earlyStopping, logger: false, handleSigint: false });
    r.optimizer.dispose();
    model.dispose();
    return [r.stopReason, r.step];
  };

  it("threshold = EarlyStoppingCallback's early_stopping_threshold: the best moves on every lower loss", async () => {
    // check_metric_value: counter = 0 if best_metric is None or (value < best_metric and abs(value − best_metric) > threshold)
    // else counter + 1; _determine_best_metric then sets best_metric = value if value < best_metric.
    // 10: best None → 0 (best 10); 9.5: 0.5 ≤ 1 → 1 (best 9.5); 8.7: 0.8 ≤ 1 → 2 ≥ patience → stop at step 3.
    expect(await stopAt({ patience: 2, threshold: 1 })).toEqual(['earlyStopping', 3]);
  });

  it("minDelta = Keras's min_delta: the reference moves only on an improvement", async () => {
    // 10 → ref 10; 9.5 ≥ 9 → 1; 8.7 < 9 → 0, ref 8.7; 8.6 ≥ 7.7 → 1; 8.5 → 2: stop at step 5.
    expect(await stopAt({ patience: 2, minDelta: 1 })).toEqual(['earlyStopping', 5]);
    // with no margin the two agree (every loss here improves): no early stop within 6 steps
    expect(await stopAt({ patience: 2 })).toEqual(await stopAt({ patience: 2, threshold: 0 }));
  });

  it('bad settings are one clear error each', async () => {
    const model = new ToyModel(3, 'esbad');
    const cases: Array<[{ patience: number; threshold?: number; minDelta?: number }, string]> = [
      [{ patience: 0 }, 'train: earlyStopping.patience must be an integer >= 1, got 0'],
      [{ patience: 1.5 }, 'train: earlyStopping.patience must be an integer >= 1, got 1.5'],
      [{ patience: 2, threshold: -0.1 }, 'train: earlyStopping.threshold must be a finite number >= 0, got -0.1'],
      [{ patience: 2, minDelta: Number.NaN }, 'train: earlyStopping.minDelta must be a finite number >= 0, got NaN'],
      [{ patience: 2, threshold: 1, minDelta: 1 }, 'train: earlyStopping takes threshold (transformers) or minDelta (Keras), not both'],
    ];
    for (const [earlyStopping, message] of cases) await expect(train({ model, data: toyData(20), evalData, earlyStopping, logger: false })).rejects.toThrow(message);
    model.dispose();
  });

  it('without any evaluation it could never act: an error, as transformers (EarlyStoppingCallback.on_train_begin asserts an eval strategy; load_best_model_at_end needs one)', async () => {
    const model = new ToyModel(3, 'esnoeval');
    const w0 = Array.from(model.w.dataSync());
    const before = tf.memory().numTensors;
    const base = { model, data: toyData(20), logger: false as const, handleSigint: false };
    await expect(train({ ...base, earlyStopping: { patience: 1 } })).rejects.toThrow(/^train: earlyStopping needs evalData$/);
    await expect(train({ ...base, evalData, evalAtEpochEnd: false, earlyStopping: { patience: 1 } })).rejects.toThrow(/^train: earlyStopping needs evaluations, but evalEvery is 0 and evalAtEpochEnd is false$/);
    await expect(train({ ...base, evalData, evalAtEpochEnd: false, loadBestModelAtEnd: true })).rejects.toThrow(/^train: loadBestModelAtEnd needs evaluations, but evalEvery is 0 and evalAtEpochEnd is false$/);
    expect(tf.memory().numTensors).toBe(before); // refused before anything was allocated or trained
    expect(Array.from(model.w.dataSync())).toEqual(w0);
    // either kind of evaluation is enough
    for (const o of [{ evalEvery: 2, evalAtEpochEnd: false }, {}]) {
      const r = await train({ ...base, evalData, maxSteps: 2, earlyStopping: { patience: 1 }, ...o });
      r.optimizer.dispose();
    }
    model.dispose();
  });
});

describe('logging_steps (loggingSteps)', () => {
  it('the logger gets every N-th step with the mean loss since the previous report; metrics.jsonl keeps every step', async () => {
    // _maybe_log_save_evaluate: logs["loss"] = tr_loss / (global_step − _globalstep_last_logged), tr_loss
    // being the sum of the steps' losses since the last log; learning_rate and grad_norm are the last step's.
    const model = new ToyModel(3, 'logsteps');
    model.poison = 1; // step 1 is skipped (NaN): left out of its window's mean
    const log: StepInfo[] = [];
    const r = await train({ model, data: toyData(40), lr: 0.05, maxSteps: 7, loggingSteps: 3, logger: steps(log), handleSigint: false });
    const train_ = r.metrics.filter((m): m is TrainRecord => m.type === 'train');
    expect(train_.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(train_[0]!.loss).toBeNull();
    const loss = (s: number) => train_[s - 1]!.loss!;
    expect(log.map((s) => s.step)).toEqual([3, 6]);
    expect(log[0]!.loss).toBeCloseTo((loss(2) + loss(3)) / 2, 12);
    expect(log[1]!.loss).toBeCloseTo((loss(4) + loss(5) + loss(6)) / 3, 12);
    expect(log[1]!.lr).toBe(train_[5]!.lr);
    expect(log[1]!.gradNorm).toBe(train_[5]!.gradNorm);
    r.optimizer.dispose();
    model.dispose();
  });
});

describe('warmup_ratio and lr_scheduler_kwargs through train()', () => {
  it('warmupRatio gives ceil(total × ratio) warmup steps (TrainingArguments.get_warmup_steps); lrSchedulerKwargs reach the schedule and the checkpoint', async () => {
    const model = new ToyModel(3, 'ratio');
    const log: StepInfo[] = [];
    const dir = tmp();
    // total 10, ratio 0.25 → ceil(2.5) = 3 warmup steps; linear: 0, 1/3, 2/3, then (10 − s) / 7
    const r = await train({ model, data: toyData(60), lr: 0.1, schedule: 'linear', warmupRatio: 0.25, maxSteps: 10, logger: steps(log), handleSigint: false });
    const want = [0, 1 / 3, 2 / 3, 1, 6 / 7, 5 / 7, 4 / 7, 3 / 7, 2 / 7, 1 / 7];
    log.forEach((s, i) => expect(s.lr).toBeCloseTo(0.1 * want[i]!, 12));
    r.optimizer.dispose();
    // polynomial with lr_end 0.01 and power 2 over 4 steps, lr 0.1: ((0.1 − 0.01)·(1 − s/4)² + 0.01) / 0.1
    const log2: StepInfo[] = [];
    const kw = { lr_end: 0.01, power: 2 };
    const r2 = await train({ model, data: toyData(60), lr: 0.1, schedule: 'polynomial', lrSchedulerKwargs: kw, maxSteps: 4, checkpointDir: dir, logger: steps(log2), handleSigint: false });
    log2.forEach((s, k) => expect(s.lr).toBeCloseTo(0.1 * ((0.09 * (1 - k / 4) ** 2 + 0.01) / 0.1), 12));
    expect((JSON.parse(readFileSync(join(dir, 'checkpoint-4', 'state.json'), 'utf8')) as TrainerState).schedule).toEqual({ kind: 'polynomial', warmupSteps: 0, totalSteps: 4, lrSchedulerKwargs: kw });
    r2.optimizer.dispose();
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ warmupRatio: 1.5 }, 'train: warmupRatio must be in [0, 1], got 1.5'],
      [{ warmupRatio: 0.1, warmupSteps: 2 }, 'train: give warmupSteps or warmupRatio, not both'],
      [{ warmupRatio: 0.1, data: { batches: toyData(20).batches.bind(toyData(20)) } }, 'train: warmupRatio needs totalSteps'],
      [{ schedule: 'cosine', lrSchedulerKwargs: { power: 2 } }, "lrSchedulerKwargs.power does not apply to the 'cosine' schedule (it takes num_cycles)"],
    ];
    for (const [o, message] of bad) await expect(train({ model, data: toyData(20), logger: false, ...o })).rejects.toThrow(message);
    model.dispose();
  });
});
