// Paths a coverage run showed no test reached: option validation, AdamW's error paths and missing
// gradients, accumulation over micro-batches that do not all touch every variable, checkpoint
// failures on resume, pruning of torn checkpoint folders, and data sources without batchesPerEpoch
// or whose iterator ends the epoch itself. Each expectation comes from PyTorch / transformers or
// this package's README, not from a previous run of the code.
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import {
  accumulateGradients, AdamW, isCompleteCheckpoint, latestCheckpoint, listCheckpoints, lrMultiplier, MANIFEST_FILE, pruneCheckpoints,
  readCheckpoint, snapshotVariables, train, writeCheckpoint, type Cursor, type DataSource, type StepInfo, type Trainable,
  type TrainerState, type TrainLogger,
} from '../src';
import { ToyData, ToyDataEndsByDone, ToyModel, toBatch, toyData, toyExamples, type ToyBatch } from './toy';
import { tempDirs } from './temp-dirs';

const tmp = tempDirs('conifer-trainer-gaps-');

function recorder(): TrainLogger & { steps: StepInfo[]; messages: string[] } {
  const r = {
    steps: [] as StepInfo[],
    messages: [] as string[],
    onStep: (s: StepInfo) => void r.steps.push(s),
    onEval: () => {},
    onEpoch: () => {},
    log: (m: string) => void r.messages.push(m),
  };
  return r;
}

describe('train: option validation (one clear error, nothing allocated)', () => {
  it('rejects non-integer or out-of-range counts naming the option', async () => {
    const model = new ToyModel(3, 'opts');
    const data = toyData(20);
    const before = tf.memory().numTensors;
    const cases: Array<[Record<string, number>, RegExp]> = [
      [{ epochs: 0 }, /^train: epochs must be an integer >= 1, got 0$/],
      [{ gradientAccumulationSteps: 1.5 }, /^train: gradientAccumulationSteps must be an integer >= 1, got 1\.5$/],
      [{ keepLast: 0 }, /^train: keepLast must be an integer >= 1, got 0$/],
      [{ maxBadStepsInARow: 0 }, /^train: maxBadStepsInARow must be an integer >= 1, got 0$/],
      [{ evalEvery: -1 }, /^train: evalEvery must be an integer >= 0, got -1$/],
      [{ saveEvery: 2.5 }, /^train: saveEvery must be an integer >= 0, got 2\.5$/],
      [{ checkpointEvery: -3 }, /^train: checkpointEvery must be an integer >= 0, got -3$/],
      [{ maxSteps: -1 }, /^train: maxSteps must be an integer >= 0, got -1$/],
      [{ warmupSteps: Number.NaN }, /^train: warmupSteps must be an integer >= 0, got NaN$/],
    ];
    for (const [opts, message] of cases) {
      await expect(train({ model, data, logger: false, ...opts })).rejects.toThrow(message);
    }
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('an unknown schedule is refused before the first step (reduce_lr_on_plateau: transformers has it, this package does not)', async () => {
    const model = new ToyModel(3, 'sched');
    const w0 = model.w.dataSync().slice();
    const before = tf.memory().numTensors;
    // @ts-expect-error not a ScheduleKind
    await expect(train({ model, data: toyData(20), schedule: 'reduce_lr_on_plateau', logger: false })).rejects.toThrow(/^unknown schedule 'reduce_lr_on_plateau'$/);
    // @ts-expect-error not a ScheduleKind
    expect(() => lrMultiplier(3, { kind: 'reduce_lr_on_plateau', totalSteps: 10 })).toThrow(RangeError);
    // named even during warmup and without totalSteps (a source with no batchesPerEpoch), not "needs totalSteps"
    // @ts-expect-error not a ScheduleKind
    expect(() => lrMultiplier(1, { kind: 'reduce_lr_on_plateau', warmupSteps: 5 })).toThrow(/^unknown schedule 'reduce_lr_on_plateau'$/);
    // @ts-expect-error not a ScheduleKind
    expect(() => lrMultiplier(7, { kind: 'reduce_lr_on_plateau' })).toThrow(/^unknown schedule 'reduce_lr_on_plateau'$/);
    const noEpochs = { batches: (c: Cursor) => toyData(20).batches(c) };
    // @ts-expect-error not a ScheduleKind
    await expect(train({ model, data: noEpochs, schedule: 'reduce_lr_on_plateau', logger: false })).rejects.toThrow(/^unknown schedule 'reduce_lr_on_plateau'$/);
    expect(tf.memory().numTensors).toBe(before);
    expect(model.w.dataSync()).toEqual(w0);
    model.dispose();
  });

  it('a variable listed twice is refused (PyTorch refuses duplicate parameters in an optimizer); snapshotVariables too', async () => {
    const model = new ToyModel(3, 'twice');
    const twice: Trainable<ToyBatch> = { lossSum: (b, t) => model.lossSum(b, t), trainableVariables: () => [model.w, model.b, model.w] };
    const before = tf.memory().numTensors;
    await expect(train({ model: twice, data: toyData(20), logger: false })).rejects.toThrow('train: two trainable variables are named "twice.w"');
    await expect(snapshotVariables([model.w, model.w])).rejects.toThrow('two trainable variables are named "twice.w": checkpoints key variables by name');
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});

describe('AdamW: error paths and missing gradients', () => {
  it('rejects the hyper-parameters torch.optim.AdamW rejects, accepts its edge values', () => {
    // torch: 0 <= lr, 0 <= eps, 0 <= betas[i] < 1, 0 <= weight_decay
    expect(() => new AdamW({ lr: -1e-3 })).toThrow(/^AdamW: lr must be a finite number >= 0, got -0.001$/);
    expect(() => new AdamW({ lr: Number.NaN })).toThrow(/lr must be a finite number >= 0, got NaN/);
    expect(() => new AdamW({ lr: Number.POSITIVE_INFINITY })).toThrow(/lr must be a finite number >= 0, got Infinity/);
    expect(() => new AdamW({ eps: -1e-8 })).toThrow(/eps must be a finite number >= 0/);
    expect(() => new AdamW({ weightDecay: -0.01 })).toThrow(/weightDecay must be a finite number >= 0/);
    expect(() => new AdamW({ betas: [1, 0.999] })).toThrow(/^AdamW: betas must be in \[0, 1\), got 1$/);
    expect(() => new AdamW({ betas: [0.9, 1] })).toThrow(/betas must be in \[0, 1\), got 1$/);
    expect(() => new AdamW({ betas: [-0.1, 0.999] })).toThrow(/betas must be in \[0, 1\), got -0.1$/);
    expect(() => new AdamW({ lr: 0, eps: 0, weightDecay: 0, betas: [0, 0] })).not.toThrow();
  });

  it('a non-float32 gradient or variable is a TypeError naming it, on the fused and the tensor-op path', () => {
    const before = tf.memory().numTensors;
    const p = tf.tidy(() => tf.variable(tf.tensor1d([1, 2, 3]), true, 'gaps.p'));
    const g = tf.tensor1d([1, 2, 3], 'int32');
    for (const fused of [true, false]) {
      const opt = new AdamW({ fused });
      expect(() => opt.applyGradients([p], { 'gaps.p': g })).toThrow(TypeError);
      expect(() => opt.applyGradients([p], { 'gaps.p': g })).toThrow('AdamW: gradient of "gaps.p" is int32, expected float32');
      opt.dispose();
    }
    const q = tf.tidy(() => tf.variable(tf.tensor1d([1, 2], 'int32'), true, 'gaps.q'));
    const opt = new AdamW();
    expect(() => opt.initSlots([q])).toThrow('AdamW: variable "gaps.q" is int32, expected float32');
    opt.dispose();
    expect(p.dataSync()).toEqual(new Float32Array([1, 2, 3]));
    tf.dispose([p, g, q]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a missing gradient counts as a zero gradient (README), on both paths: weight decay and the moments still move', async () => {
    const before = tf.memory().numTensors;
    const init = [0.5, -1.25, 2, 0.125];
    const g1 = tf.tensor1d([0.3, -0.7, 0.01, 1.5]);
    const zeros = tf.zeros([4]);
    const run = async (fused: boolean, second: Record<string, tf.Tensor>) => {
      const p = tf.tidy(() => tf.variable(tf.tensor1d(init), true, `gaps.z.${fused}.${Object.keys(second).length}`));
      const opt = new AdamW({ lr: 0.1, weightDecay: 0.5, fused });
      opt.applyGradients([p], { [p.name]: g1 });
      opt.applyGradients([p], Object.fromEntries(Object.entries(second).map(([, t]) => [p.name, t])));
      const state = await opt.getState();
      const out = { p: Array.from(await p.data()), m: Array.from(state.m[p.name]!), v: Array.from(state.v[p.name]!) };
      opt.dispose();
      p.dispose();
      return out;
    };
    for (const fused of [true, false]) {
      const missing = await run(fused, {});
      const explicit = await run(fused, { z: zeros });
      expect(missing).toEqual(explicit); // bit for bit
      // step 2 with g = 0: m = 0.9·m1, v = 0.999·v1 (m1 = 0.1·g1, v1 = 0.001·g1²): not left unchanged
      for (let i = 0; i < 4; i++) {
        const g = [0.3, -0.7, 0.01, 1.5][i]!;
        expect(missing.m[i]).toBeCloseTo(0.9 * 0.1 * g, 7);
        expect(missing.v[i]).toBeCloseTo(0.999 * 0.001 * g * g, 9);
      }
    }
    tf.dispose([g1, zeros]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('setState refuses an unknown variable or wrong-sized moments and keeps the state it had', async () => {
    const p = tf.tidy(() => tf.variable(tf.tensor1d([1, 2, 3]), true, 'gaps.s'));
    const opt = new AdamW({ lr: 0.1 });
    const g = tf.tensor1d([0.5, -0.5, 0.25]);
    opt.applyGradients([p], { 'gaps.s': g });
    const kept = await opt.getState();
    const before = tf.memory().numTensors;
    expect(() => opt.setState({ step: 9, m: { other: new Float32Array(3) }, v: { other: new Float32Array(3) } }, [p])).toThrow(
      'AdamW.setState: no variable named "other"',
    );
    expect(() => opt.setState({ step: 9, m: { 'gaps.s': new Float32Array(2) }, v: { 'gaps.s': new Float32Array(3) } }, [p])).toThrow(
      'AdamW.setState: moments of "gaps.s" missing or not of size 3',
    );
    expect(() => opt.setState({ step: 9, m: { 'gaps.s': new Float32Array(3) }, v: {} }, [p])).toThrow(/moments of "gaps.s" missing/);
    expect(await opt.getState()).toEqual(kept);
    expect(opt.step).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
    opt.dispose();
    tf.dispose([p, g]);
  });
});

/** y ≈ w·x (+ u when the batch says so): u appears in some micro-batches only. */
interface PartBatch {
  x: number[];
  y: number[];
  useU: boolean;
}

describe('accumulateGradients: uneven micro-batches', () => {
  const w = () => tf.tidy(() => tf.variable(tf.scalar(0.75), true, 'part.w'));
  const u = () => tf.tidy(() => tf.variable(tf.scalar(-0.5), true, 'part.u'));

  function partModel(wv: tf.Variable, uv: tf.Variable): Trainable<PartBatch> {
    return {
      lossSum: (b) => ({
        sum: tf.tidy(() => {
          let pred = tf.mul(tf.tensor1d(b.x), wv);
          if (b.useU) pred = tf.add(pred, uv);
          return tf.sum(tf.square(tf.sub(pred, tf.tensor1d(b.y)))) as tf.Scalar;
        }),
        count: b.x.length,
      }),
      trainableVariables: () => [wv, uv],
    };
  }

  it('a variable used by only some micro-batches gets the one-big-batch gradient Σ ∂sum / Σ count', async () => {
    const batches: PartBatch[] = [
      { x: [1, 2], y: [0.5, 1], useU: false },
      { x: [0.5, -1, 3], y: [2, 0, -1], useU: true },
      { x: [4], y: [3], useU: false },
    ];
    const wv = w();
    const uv = u();
    const before = tf.memory().numTensors;
    const r = await accumulateGradients(partModel(wv, uv), batches);
    // d/dw Σ (w x + [u] − y)² = Σ 2 r x; d/du = Σ_{useU} 2 r; then / 6 tokens
    let gw = 0;
    let gu = 0;
    let loss = 0;
    for (const b of batches) {
      b.x.forEach((x, i) => {
        const res = 0.75 * x + (b.useU ? -0.5 : 0) - b.y[i]!;
        gw += 2 * res * x;
        if (b.useU) gu += 2 * res;
        loss += res * res;
      });
    }
    expect(r.tokens).toBe(6);
    expect(r.finite).toBe(true);
    expect(r.loss).toBeCloseTo(loss / 6, 6);
    expect(Object.keys(r.grads).sort()).toEqual(['part.u', 'part.w']);
    expect(r.grads['part.w']!.dataSync()[0]).toBeCloseTo(gw / 6, 6);
    expect(r.grads['part.u']!.dataSync()[0]).toBeCloseTo(gu / 6, 6);
    // u only in the first micro-batch, then not: kept, not dropped
    const r2 = await accumulateGradients(partModel(wv, uv), [batches[1]!, batches[0]!]);
    expect(r2.grads['part.u']!.dataSync()[0]).toBeCloseTo(
      batches[1]!.x.reduce((a, x, i) => a + 2 * (0.75 * x - 0.5 - batches[1]!.y[i]!), 0) / 5,
      6,
    );
    tf.dispose([...Object.values(r.grads), ...Object.values(r2.grads)]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([wv, uv]);
  });

  it('a window without tokens gives zero gradients and loss 0 (README), not NaN; an empty window gives none', async () => {
    const wv = w();
    const uv = u();
    const before = tf.memory().numTensors;
    const m = partModel(wv, uv);
    const empty: Trainable<PartBatch> = { ...m, lossSum: (b, t) => ({ ...m.lossSum(b, t), count: 0 }) };
    const r = await accumulateGradients(empty, [{ x: [1], y: [0], useU: true }]);
    expect([r.tokens, r.loss, r.finite]).toEqual([0, 0, true]);
    expect(Array.from(r.grads['part.w']!.dataSync())).toEqual([0]);
    expect(Array.from(r.grads['part.u']!.dataSync())).toEqual([0]);
    tf.dispose(Object.values(r.grads));
    const none = await accumulateGradients(m, []);
    expect(none).toEqual({ grads: {}, loss: 0, lossSum: 0, tokens: 0, finite: true });
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([wv, uv]);
  });

  it('when the first micro-batch throws, its error comes out unchanged and nothing leaks', async () => {
    const wv = w();
    const uv = u();
    const before = tf.memory().numTensors;
    const failing: Trainable<PartBatch> = { lossSum: () => { throw new Error('batch 1 is broken'); }, trainableVariables: () => [wv, uv] };
    await expect(accumulateGradients(failing, [{ x: [1], y: [0], useU: false }])).rejects.toThrow(/^batch 1 is broken$/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([wv, uv]);
  });
});

describe('checkpoints: failures and leftovers', () => {
  it('a resume into a model whose variables differ is one clear error (missing name, other size), and frees the optimizer', async () => {
    const dir = tmp();
    const m1 = new ToyModel(3, 'ck');
    (await train({ model: m1, data: toyData(20), maxSteps: 2, checkpointDir: dir, logger: false })).optimizer.dispose();
    m1.dispose();
    const before = tf.memory().numTensors;
    const wider = new ToyModel(4, 'ck'); // ck.w is [4, 1], the checkpoint's [3, 1]
    await expect(train({ model: wider, data: toyData(20), checkpointDir: dir, resume: true, logger: false })).rejects.toThrow(
      'checkpoint tensor "ck.w" has 3 values, the variable 4',
    );
    wider.dispose();
    const renamed = new ToyModel(3, 'other');
    await expect(train({ model: renamed, data: toyData(20), checkpointDir: dir, resume: true, logger: false })).rejects.toThrow(
      'checkpoint has no tensor for variable "other.w"',
    );
    renamed.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a manifest of another format, a missing folder, readCheckpoint of an incomplete one; resume from a missing folder starts afresh', async () => {
    const dir = tmp();
    expect(await listCheckpoints(join(dir, 'nope'))).toEqual([]);
    expect(await latestCheckpoint(join(dir, 'nope'))).toBeNull();
    const p = tf.tidy(() => tf.variable(tf.tensor1d([1, 2]), true, 'ck2.p'));
    const content = { variables: await snapshotVariables([p]), optimizer: { step: 0, m: {}, v: {} }, state: { x: 1 } };
    const folder = await writeCheckpoint(dir, 5, content);
    expect(await isCompleteCheckpoint(folder)).toBe(true);
    const manifest = JSON.parse(readFileSync(join(folder, MANIFEST_FILE), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(folder, MANIFEST_FILE), JSON.stringify({ ...manifest, format: 'something-else' })); // files and sizes still right

    expect(await isCompleteCheckpoint(folder)).toBe(false);
    expect(await latestCheckpoint(dir)).toBeNull();
    await expect(readCheckpoint(folder)).rejects.toThrow(`${folder} is damaged: its COMPLETE manifest is not a conifer trainer checkpoint's. Restore that folder, or delete it to resume from the start (no older checkpoint)`);
    p.dispose();

    const model = new ToyModel(3, 'fresh');
    const r = await train({ model, data: toyData(20), maxSteps: 1, checkpointDir: join(dir, 'new', 'run'), resume: true, logger: false });
    expect([r.resumedFrom, r.step]).toEqual([null, 1]);
    r.optimizer.dispose();
    model.dispose();
  });

  it('pruning removes torn folders older than the newest complete checkpoint and keeps a newer one (a write in progress)', async () => {
    const dir = tmp();
    const p = tf.tidy(() => tf.variable(tf.tensor1d([1, 2]), true, 'ck3.p'));
    const content = { variables: await snapshotVariables([p]), optimizer: { step: 0, m: {}, v: {} }, state: {} };
    for (const step of [2, 4, 6]) await writeCheckpoint(dir, step, content);
    for (const step of [3, 8]) mkdirSync(join(dir, `checkpoint-${step}`)); // no COMPLETE: a kill mid-write / a write under way
    await pruneCheckpoints(dir, 2);
    expect((await listCheckpoints(dir)).map((c) => [c.step, c.complete])).toEqual([
      [8, false],
      [6, true],
      [4, true],
    ]);
    expect(existsSync(join(dir, 'checkpoint-3'))).toBe(false);
    p.dispose();
  });

  it('loadBestModelAtEnd resumed from a checkpoint that records a best but lacks best.safetensors tracks the best afresh', async () => {
    const src = tmp();
    const model = new ToyModel(3, 'bestck');
    const evalData = [toBatch(toyExamples(5, 3, 9))];
    const opts = { data: toyData(40), lr: 0.05, evalData, evalEvery: 1, loadBestModelAtEnd: true, logger: false as const };
    (await train({ ...opts, model, maxSteps: 2, checkpointDir: src })).optimizer.dispose();
    const ck = await readCheckpoint<TrainerState>(join(src, 'checkpoint-2'));
    expect(ck.best).toBeDefined();
    // The same checkpoint without best.safetensors, and a best that no later evaluation could beat.
    const dir = tmp();
    await writeCheckpoint(dir, 2, { variables: ck.variables, optimizer: ck.optimizer, state: { ...ck.state, best: { step: 2, epoch: 0, loss: 0 } } });
    const log = recorder();
    const r = await train({ ...opts, model, maxSteps: 4, checkpointDir: dir, resume: true, logger: log });
    expect(log.messages).toContain(`${join(dir, 'checkpoint-2')} holds no best.safetensors: the best model is tracked from here on`);
    expect(r.best).not.toBeNull();
    expect(r.best!.step).toBeGreaterThan(2); // an evaluation of this run, not the unbacked step-2 record
    expect(r.best!.loss).toBeGreaterThan(0);
    r.optimizer.dispose();
    model.dispose();
  });
});

describe('evaluation data', () => {
  it('evalData as a function returning a fresh iterable (README) is evaluated like the array, every time', async () => {
    const batches = [toBatch(toyExamples(6, 3, 7)), toBatch(toyExamples(3, 3, 8))];
    const runs: Array<Array<{ step: number; loss: number }>> = [];
    for (const evalData of [batches, () => (function* () { yield* batches; })()]) {
      const model = new ToyModel(3, 'evalfn');
      const r = await train({ model, data: toyData(40), lr: 0.05, evalData, evalEvery: 2, maxSteps: 6, logger: false });
      runs.push(r.metrics.flatMap((m) => (m.type === 'eval' ? [{ step: m.step, loss: m.loss }] : [])));
      r.optimizer.dispose();
      model.dispose();
    }
    expect(runs[1]!.map((e) => e.step)).toEqual([2, 4, 6]); // a generator made afresh for each evaluation
    expect(runs[1]).toEqual(runs[0]);
  });
});

describe('interrupts', () => {
  it('a signal aborted before train() starts stops before the first step (README: abort acts as SIGINT)', async () => {
    const model = new ToyModel(3, 'preabort');
    const w0 = model.w.dataSync().slice();
    const before = tf.memory().numTensors;
    const ac = new AbortController();
    ac.abort();
    const log = recorder();
    const r = await train({ model, data: toyData(40), lr: 0.1, signal: ac.signal, handleSigint: false, logger: log });
    expect([r.stopReason, r.step]).toEqual(['interrupted', 0]);
    expect(log.steps).toEqual([]);
    expect(model.w.dataSync()).toEqual(w0);
    r.optimizer.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});

describe('data sources', () => {
  it('without batchesPerEpoch, maxSteps sets the schedule length (transformers: num_training_steps = max_steps)', async () => {
    const model = new ToyModel(3, 'nobpe');
    const inner = toyData(40);
    const data: DataSource<ToyBatch> = { batches: (c) => inner.batches(c) };
    const log = recorder();
    const r = await train({ model, data, lr: 0.1, schedule: 'linear', maxSteps: 4, logger: log });
    expect(r.stopReason).toBe('maxSteps');
    expect(log.steps.map((s) => s.totalSteps)).toEqual([4, 4, 4, 4]);
    // get_linear_schedule_with_warmup(0 warmup, 4 steps): (4 − k) / 4
    log.steps.forEach((s, k) => expect(s.lr).toBeCloseTo(0.1 * (4 - k) / 4, 12));
    r.optimizer.dispose();
    model.dispose();
  });

  it('an epoch ended by the iterator (no cursor into the next epoch) trains as the same data with the cursor moved, and resumes exactly', async () => {
    const evalData = [toBatch(toyExamples(5, 3, 9))];
    for (const n of [5, 4]) { // 5 batches, accumulation 2: windows 2, 2, 1; 4 batches: 2, 2 and an empty third
      const list = toyData(40).batchesList.slice(0, n);
      const opts = { epochs: 2, gradientAccumulationSteps: 2, lr: 0.05, evalData, logger: false as const, debug: true };
      // with a checkpointDir only: without one they are an error (they would write nothing)
      const checkpoints = (checkpointDir: string) => ({ checkpointDir, checkpointEvery: 1, keepLast: 100 });
      const dir = tmp();
      const b = new ToyModel(3, `ref${n}`);
      const rb = await train({ ...opts, model: b, data: new ToyData(list) }); // README-style: the last cursor moves on
      const a = new ToyModel(3, `done${n}`);
      const ra = await train({ ...opts, model: a, data: new ToyDataEndsByDone(list), ...checkpoints(dir) });
      expect(ra.stopReason).toBe('completed');
      expect(ra.step).toBe(2 * Math.ceil(n / 2)); // ceil(batches / accumulation) steps an epoch, no empty step
      expect(ra.cursor).toEqual({ epoch: 2, position: 0 });
      expect(ra.metrics).toEqual(rb.metrics);
      expect(a.w.dataSync()).toEqual(b.w.dataSync());
      expect(a.b.dataSync()).toEqual(b.b.dataSync());
      const final = a.w.dataSync().slice();
      ra.optimizer.dispose();
      rb.optimizer.dispose();
      a.dispose();
      b.dispose();
      // README: a resume from any checkpoint ends bit-identical to the uninterrupted run
      for (let k = 1; k < ra.step; k++) {
        const d = tmp();
        cpSync(dir, d, { recursive: true });
        for (let j = k + 1; j <= ra.step; j++) rmSync(join(d, `checkpoint-${j}`), { recursive: true, force: true });
        const c = new ToyModel(3, `done${n}`);
        const rc = await train({ ...opts, model: c, data: new ToyDataEndsByDone(list), ...checkpoints(d), resume: true });
        expect(rc.resumedFrom).toBe(join(d, `checkpoint-${k}`));
        expect(rc.metrics).toEqual(ra.metrics);
        expect(c.w.dataSync()).toEqual(final);
        rc.optimizer.dispose();
        c.dispose();
      }
    }
  });
});
