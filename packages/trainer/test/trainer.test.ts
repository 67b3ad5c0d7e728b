import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { NonFiniteLossError, train, type EvalRecord, type SaveInfo, type StepInfo, type TrainLogger } from '../src';
import { scriptedEval as scriptedEvalModel, ToyModel, toBatch, toyData, toyExamples, valuesOf } from './toy';
import { tempDirs } from './temp-dirs';

const tmp = tempDirs('conifer-trainer-');

function recorder(): TrainLogger & { steps: StepInfo[]; evals: EvalRecord[]; epochs: number[]; messages: string[] } {
  const r = {
    steps: [] as StepInfo[],
    evals: [] as EvalRecord[],
    epochs: [] as number[],
    messages: [] as string[],
    onStep: (s: StepInfo) => void r.steps.push(s),
    onEval: (e: EvalRecord) => void r.evals.push(e),
    onEpoch: (e: { epoch: number }) => void r.epochs.push(e.epoch),
    log: (m: string) => void r.messages.push(m),
  };
  return r;
}

describe('train', () => {
  it('runs epochs with accumulation, a schedule, eval and the save callback', async () => {
    const model = new ToyModel(3, 'loop');
    const data = toyData(40); // 11 batches of 3,5,2,4,…
    const evalBatches = [toBatch(toyExamples(6, 3, 7)), toBatch(toyExamples(3, 3, 8))];
    const saves: SaveInfo[] = [];
    const log = recorder();
    const dir = tmp();
    const before = tf.memory().numTensors;
    const res = await train({
      model,
      data,
      epochs: 2,
      gradientAccumulationSteps: 4, // 11 batches → windows 4, 4, 3 → 3 steps per epoch
      lr: 0.05,
      schedule: 'linear',
      warmupSteps: 1,
      evalData: evalBatches,
      evalEvery: 2,
      saveEvery: 2,
      onSave: async (info) => void saves.push({ ...info }),
      checkpointDir: dir,
      logger: log,
      debug: true,
    });
    expect(res.stopReason).toBe('completed');
    expect(res.step).toBe(6);
    expect(log.steps.map((s) => s.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(log.steps.map((s) => s.totalSteps)).toEqual([6, 6, 6, 6, 6, 6]);
    // linear warmup 1, total 6: multipliers 0, 1, 4/5, 3/5, 2/5, 1/5
    log.steps.forEach((s, i) => expect(s.lr).toBeCloseTo(0.05 * [0, 1, 0.8, 0.6, 0.4, 0.2][i]!, 12));
    expect(log.steps[0]!.tokens).toBeGreaterThan(0);
    // eval at steps 2, 3 (epoch end), 4, 6 (step and epoch end coincide: once)
    expect(log.evals.map((e) => e.step)).toEqual([2, 3, 4, 6]);
    const e = log.evals[0]!;
    expect(e.batches).toBe(2);
    expect(e.meanOfBatchMeans).toBeCloseTo(e.sumOfBatchMeans / 2, 12);
    expect(log.epochs).toEqual([0, 1]);
    expect(saves.map((s) => [s.step, s.reason])).toEqual([
      [2, 'steps'],
      [3, 'epoch'],
      [4, 'steps'],
      [6, 'steps'],
    ]);
    expect(res.metrics.filter((m) => m.type === 'train')).toHaveLength(6);
    // loss went down
    expect(log.evals.at(-1)!.loss).toBeLessThan(log.evals[0]!.loss);
    // files: metrics.jsonl (one line per record), loss-curve.svg, the last 2 checkpoints with manifests
    const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual(JSON.parse(JSON.stringify(res.metrics)));
    const svg = readFileSync(join(dir, 'loss-curve.svg'), 'utf8');
    expect(svg).toMatch(/^<svg[\s\S]*<polyline[\s\S]*<polyline[\s\S]*<\/svg>\n$/);
    expect(readdirSync(dir).filter((n) => n.startsWith('checkpoint-')).sort()).toEqual(['checkpoint-4', 'checkpoint-6']);
    for (const f of ['trainable.safetensors', 'optimizer.safetensors', 'state.json', 'COMPLETE']) expect(existsSync(join(dir, 'checkpoint-6', f))).toBe(true);
    res.optimizer.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('skips NaN steps, reports them, and aborts after maxBadStepsInARow in a row', async () => {
    const model = new ToyModel(3, 'nan');
    const log = recorder();
    model.poison = 2; // the first two steps' losses are NaN
    const res = await train({ model, data: toyData(40), lr: 0.01, logger: log, maxSteps: 5 });
    expect(res.skippedSteps).toBe(2);
    expect(log.steps.map((s) => s.skipped)).toEqual([true, true, false, false, false]);
    expect(log.steps[0]!.loss).toBeNull();
    expect(log.messages.filter((m) => /skipped: NaN\/Inf/.test(m))).toHaveLength(2);
    res.optimizer.dispose();

    const w0 = model.w.dataSync().slice();
    model.poison = 1000;
    await expect(train({ model, data: toyData(40), lr: 0.01, logger: false, maxBadStepsInARow: 3 })).rejects.toThrow(NonFiniteLossError);
    model.poison = 1000;
    await expect(train({ model, data: toyData(40), lr: 0.01, logger: false, maxBadStepsInARow: 3 })).rejects.toThrow(
      /aborted at optimizer step 3: 3 steps in a row had a NaN\/Inf loss or gradient/,
    );
    expect(model.w.dataSync()).toEqual(w0); // nothing was applied
    model.dispose();
  });

  it('leaves no tensors behind across 100 steps (debug mode checks every step)', async () => {
    const model = new ToyModel(3, 'leak');
    const before = tf.memory().numTensors;
    const res = await train({ model, data: toyData(200), epochs: 5, gradientAccumulationSteps: 2, maxSteps: 100, maxGradNorm: 1, lr: 0.01, logger: false, debug: true, evalData: [toBatch(toyExamples(5))], evalEvery: 10 });
    expect(res.step).toBe(100);
    expect(res.stopReason).toBe('maxSteps');
    res.optimizer.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('debug mode names the leaking step', async () => {
    const model = new ToyModel(3, 'leaky');
    const orig = model.lossSum.bind(model);
    let calls = 0;
    model.lossSum = (b, t) => {
      if (++calls === 3) tf.keep(tf.scalar(1)); // leaks one tensor during step 3
      return orig(b, t);
    };
    await expect(train({ model, data: toyData(40), lr: 0.01, logger: false, debug: true })).rejects.toThrow(/tensor leak at optimizer step 3/);
    model.dispose();
  });

  /** A ToyModel whose eval losses are scripted (training losses are the toy's own): by default the best eval is the 2nd. */
  const scriptedEval = (prefix: string, script = [5, 3, 4, 6, 7, 8, 9, 10]) => scriptedEvalModel(prefix, script);

  it('loadBestModelAtEnd: the variables end as they were at the best evaluation, onSave gets reason "best"; needs evalData', async () => {
    const model = scriptedEval('best');
    const evalData = [toBatch(toyExamples(4, 3, 9))];
    const atStep = new Map<number, number[][]>();
    const saves: string[] = [];
    const before = tf.memory().numTensors;
    const res = await train({
      model, data: toyData(40), lr: 0.05, evalData, evalEvery: 1, evalAtEpochEnd: false, saveEvery: 1, maxSteps: 5, logger: false, loadBestModelAtEnd: true,
      onSave: async (i) => {
        saves.push(`${i.reason}@${i.step}`);
        if (i.reason === 'steps') atStep.set(i.step, await valuesOf(i.variables));
        else if (i.reason === 'best') expect(await valuesOf(i.variables)).toEqual(atStep.get(2));
      },
    });
    expect(res.best).toEqual({ step: 2, epoch: 0, loss: 3 });
    expect(saves).toEqual(['steps@1', 'steps@2', 'steps@3', 'steps@4', 'steps@5', 'best@2']);
    expect(await valuesOf(model.trainableVariables())).toEqual(atStep.get(2));
    expect(atStep.get(5)).not.toEqual(atStep.get(2)); // training did move them
    res.optimizer.dispose();
    expect(tf.memory().numTensors).toBe(before);
    await expect(train({ model, data: toyData(40), logger: false, loadBestModelAtEnd: true })).rejects.toThrow('loadBestModelAtEnd needs evalData');
    model.dispose();
  });

  it('a NaN eval loss is neither the best nor an improvement (early stopping keeps counting from the next finite one)', async () => {
    const model = scriptedEval('nan', [Number.NaN, 5, 4, 3, 2, 1]);
    const res = await train({ model, data: toyData(40), lr: 0.05, evalData: [toBatch(toyExamples(4, 3, 9))], evalEvery: 1, evalAtEpochEnd: false, maxSteps: 6, earlyStopping: { patience: 2 }, loadBestModelAtEnd: true, logger: false });
    expect(res.stopReason).toBe('maxSteps'); // with NaN as the best, nothing would improve on it and it would stop at step 3
    expect(res.best).toEqual({ step: 6, epoch: 0, loss: 1 });
    res.optimizer.dispose();
    model.dispose();
  });

  it('loadBestModelAtEnd survives a resume: the best variables travel in each checkpoint (best.safetensors)', async () => {
    const dir = tmp();
    const evalData = [toBatch(toyExamples(4, 3, 9))];
    const opts = { data: toyData(40), lr: 0.05, evalData, evalEvery: 1, evalAtEpochEnd: false, checkpointDir: dir, checkpointEvery: 1, maxSteps: 5, loadBestModelAtEnd: true };
    const first = scriptedEval('bestr');
    const atStep = new Map<number, number[][]>();
    const ac = new AbortController();
    const r1 = await train({ ...opts, model: first, signal: ac.signal, saveEvery: 1, onSave: async (i) => { if (i.reason === 'steps') atStep.set(i.step, await valuesOf(i.variables)); }, logger: { ...recorder(), onStep: (st) => (st.step === 3 ? ac.abort() : undefined) } });
    expect(r1.stopReason).toBe('interrupted');
    expect(r1.best).toEqual({ step: 2, epoch: 0, loss: 3 });
    expect(readdirSync(join(dir, 'checkpoint-3'))).toContain('best.safetensors');
    r1.optimizer.dispose();
    first.dispose();
    // A fresh process would start with fresh variables: resume them, with evals scripted to stay worse.
    const second = scriptedEval('bestr', [4, 6]);
    const r2 = await train({ ...opts, model: second, resume: true, logger: false });
    expect(r2.resumedFrom).toMatch(/checkpoint-3$/);
    expect(r2.step).toBe(5);
    expect(r2.best).toEqual({ step: 2, epoch: 0, loss: 3 });
    expect(await valuesOf(second.trainableVariables())).toEqual(atStep.get(2));
    r2.optimizer.dispose();
    second.dispose();
  });

  it('loadBestModelAtEnd after a resume without it: the best is tracked afresh (no stale best, no error); an interrupt keeps the last weights', async () => {
    const dir = tmp();
    const evalData = [toBatch(toyExamples(4, 3, 9))];
    const opts = { data: toyData(40), lr: 0.05, evalData, evalEvery: 1, evalAtEpochEnd: false, checkpointDir: dir, checkpointEvery: 1 };
    const m1 = scriptedEval('bests');
    const ac = new AbortController();
    const atStep = new Map<number, number[][]>();
    const r1 = await train({
      ...opts, model: m1, maxSteps: 5, loadBestModelAtEnd: true, signal: ac.signal, saveEvery: 1,
      onSave: async (i) => { if (i.reason === 'steps') atStep.set(i.step, await valuesOf(i.variables)); },
      logger: { ...recorder(), onStep: (st) => (st.step === 3 ? ac.abort() : undefined) },
    });
    expect(r1.stopReason).toBe('interrupted');
    expect(r1.best?.step).toBe(2);
    expect(await valuesOf(m1.trainableVariables())).toEqual(atStep.get(3)); // interrupted: the last weights, to resume from
    r1.optimizer.dispose();
    m1.dispose();
    const m2 = scriptedEval('bests', [1]);
    const r2 = await train({ ...opts, model: m2, maxSteps: 4, resume: true, logger: false });
    expect(r2.best).toBeNull();
    r2.optimizer.dispose();
    m2.dispose();
    const m3 = scriptedEval('bests', [2]);
    const log = recorder();
    const r3 = await train({ ...opts, model: m3, maxSteps: 5, resume: true, loadBestModelAtEnd: true, logger: log });
    expect(r3.best).toEqual({ step: 5, epoch: 0, loss: 2 }); // not run 1's step 2, not run 2's (untracked) step 4
    expect(log.messages.some((m) => /holds no best\.safetensors: the best model is tracked from here on/.test(m))).toBe(false); // run 2 cleared it
    r3.optimizer.dispose();
    m3.dispose();
  });

  it('stops early when the eval loss stops improving, and on abort (like SIGINT) after a checkpoint', async () => {
    const model = new ToyModel(3, 'es');
    const evalData = [toBatch(toyExamples(5, 3, 9))];
    const res = await train({ model, data: toyData(400), lr: 0.5, evalData, evalEvery: 1, earlyStopping: { patience: 2, minDelta: 10 }, logger: false });
    expect(res.stopReason).toBe('earlyStopping');
    expect(res.step).toBe(3); // first eval sets the best; two without a 10-unit improvement
    res.optimizer.dispose();

    const listeners = process.listenerCount('SIGINT');
    const ac = new AbortController();
    const dir = tmp();
    const log = recorder();
    const saves: SaveInfo['reason'][] = [];
    const run = train({ model, data: toyData(400), lr: 0.01, checkpointDir: dir, signal: ac.signal, onSave: (i) => void saves.push(i.reason), logger: { ...log, onStep: (s) => (s.step === 4 ? ac.abort() : undefined) } });
    const r2 = await run;
    expect(r2.stopReason).toBe('interrupted');
    expect(process.listenerCount('SIGINT')).toBe(listeners); // the handler is removed
    expect(r2.step).toBe(4);
    expect(saves).toEqual(['final']);
    expect(readdirSync(dir)).toContain('checkpoint-4');
    r2.optimizer.dispose();
    model.dispose();
  });
});
