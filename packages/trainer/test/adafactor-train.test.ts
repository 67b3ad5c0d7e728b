// Adafactor through train() (`optim: 'adafactor'`, as transformers' Trainer builds it in
// get_optimizer_cls_and_kwargs: scale_parameter=False, relative_step=False, lr=learning_rate, the lr
// scheduler still applying), its checkpoints, resume, option errors and the building block's state.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { parseSafetensors, serializeSafetensors, toFloat32 } from '@conifer/safetensors';
import { Adafactor, AdamW, checkpointOptimizer, isAdafactorState, lrMultiplier, MANIFEST_FILE, OPTIMIZER_FILE, readCheckpoint, train, type AdafactorState, type TrainOptions, type TrainRecord } from '../src';
import { ToyModel, toBatch, toyData, toyExamples, type ToyBatch } from './toy';
import { tempDirs } from './temp-dirs';

const tmp = tempDirs('conifer-trainer-adafactor-');
const evalData = [toBatch(toyExamples(5, 3, 11))];

/** 3 epochs of 14 batches, accumulation 2 (7 steps an epoch), a linear schedule with warmup, clipping, eval every 4. */
const base = (model: ToyModel, dir?: string): TrainOptions<ToyBatch> => ({
  model, data: toyData(50), epochs: 3, gradientAccumulationSteps: 2, optim: 'adafactor', lr: 0.05, weightDecay: 0.01,
  adafactor: { beta1: 0.9, clipThreshold: 1 }, schedule: 'linear', warmupSteps: 2, maxGradNorm: 1, evalData, evalEvery: 4,
  ...(dir ? { checkpointDir: dir, checkpointEvery: 1, keepLast: 2 } : {}), seed: 3, logger: false, handleSigint: false,
});

const hex = async (v: tf.Variable) => Buffer.from(((await v.data()) as Float32Array).slice().buffer).toString('hex');
/** Every slot's bytes, keyed `<slot>.<variable name without its model prefix>`. */
const stateHex = (s: AdafactorState) =>
  Object.fromEntries(Object.entries(s.slots).flatMap(([n, slots]) => Object.entries(slots).map(([k, v]) => [`${k}.${n.split('.').pop()}`, Buffer.from(v!.buffer).toString('hex')])));

describe("train() with optim: 'adafactor'", () => {
  it('trains (the loss falls), schedules the lr as with AdamW, leaves no tensors (debug), and checkpoints its own state', async () => {
    const dir = tmp();
    const model = new ToyModel(3, 'af');
    const before = tf.memory().numTensors;
    const r = await train({ ...base(model, dir), debug: true });
    expect(r.optimizer).toBeInstanceOf(Adafactor);
    expect(r.step).toBe(21);
    const train_ = r.metrics.filter((m): m is TrainRecord => m.type === 'train');
    // the lr scheduler applies (LambdaLR over Adafactor's group lr): step k+1 gets lr · lambda(k)
    expect(train_.map((m) => m.lr)).toEqual(train_.map((_, k) => 0.05 * lrMultiplier(k, { kind: 'linear', warmupSteps: 2, totalSteps: 21 })));
    const evals = r.metrics.filter((m) => m.type === 'eval').map((m) => m.loss);
    console.log(`eval losses ${evals.map((x) => x.toFixed(4)).join(' ')}`);
    expect(evals.at(-1)!).toBeLessThan(evals[0]!);
    // optimizer.safetensors: Adafactor's slots by transformers' state names; w [3, 1] is factored, b (a scalar) is not
    const bytes = readFileSync(join(r.checkpoint!, OPTIMIZER_FILE));
    const parsed = parseSafetensors(new Uint8Array(bytes));
    expect(parsed.metadata).toEqual({ step: '21', optimizer: 'adafactor' });
    expect(Object.fromEntries([...parsed.tensors].map(([k, t]) => [k, t.shape]))).toEqual({
      'exp_avg.af.w': [3, 1], 'exp_avg_sq_row.af.w': [3], 'exp_avg_sq_col.af.w': [1], 'exp_avg.af.b': [], 'exp_avg_sq.af.b': [],
    });
    const ck = await readCheckpoint(r.checkpoint!);
    expect(ck.optimizer).toEqual(await r.optimizer.getState());
    r.optimizer.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
    // the schedule reaches Adafactor: warmup's first step has lr 0, so (weight decay scaled by lr too) nothing moves
    const still = new ToyModel(3, 'af0');
    const w0 = await hex(still.w);
    const b0 = await hex(still.b);
    (await train({ ...base(still), maxSteps: 1 })).optimizer.dispose();
    expect([await hex(still.w), await hex(still.b)]).toEqual([w0, b0]);
    still.dispose();
  });

  it('interrupted after step 9 and resumed: bit-identical weights, Adafactor slots and metrics to an uninterrupted run', async () => {
    const straight = new ToyModel(3, 'straight');
    const a = await train(base(straight, tmp()));
    const dir = tmp();
    const first = new ToyModel(3, 'resumed');
    // aborted (as SIGINT) after step 9: it writes checkpoint-9 and returns; maxSteps would shorten the schedule
    const ac = new AbortController();
    const stopAt9 = { onStep: (s: { step: number }) => (s.step === 9 ? ac.abort() : undefined), onEval() {}, onEpoch() {}, log() {} };
    const r1 = await train({ ...base(first, dir), signal: ac.signal, logger: stopAt9 });
    expect([r1.stopReason, r1.step]).toEqual(['interrupted', 9]);
    r1.optimizer.dispose();
    first.dispose();
    const second = new ToyModel(3, 'resumed'); // fresh weights: everything comes from checkpoint-9
    const b = await train({ ...base(second, dir), resume: true });
    expect(b.resumedFrom).toMatch(/checkpoint-9$/);
    expect(await hex(second.w)).toBe(await hex(straight.w));
    expect(await hex(second.b)).toBe(await hex(straight.b));
    expect(stateHex((await b.optimizer.getState()) as AdafactorState)).toEqual(stateHex((await a.optimizer.getState()) as AdafactorState));
    expect(b.optimizer.step).toBe(21);
    expect(b.metrics).toEqual(a.metrics);
    expect(second.dropoutSeeds).toEqual(straight.dropoutSeeds.slice(9));
    for (const x of [a, b]) x.optimizer.dispose();
    straight.dispose();
    second.dispose();
  });

  it("a checkpoint of one optimizer resumed with the other is one clear error (and frees what it made)", async () => {
    const dirAdam = tmp();
    const dirAf = tmp();
    const m = new ToyModel(3, 'mix');
    const opts = { model: m, data: toyData(20), maxSteps: 2, logger: false, handleSigint: false } as const;
    (await train({ ...opts, checkpointDir: dirAdam })).optimizer.dispose();
    (await train({ ...opts, optim: 'adafactor', checkpointDir: dirAf })).optimizer.dispose();
    // who wrote each, from the optimizer file's header (what a caller checks before loading a model)
    expect([await checkpointOptimizer(join(dirAdam, 'checkpoint-2')), await checkpointOptimizer(join(dirAf, 'checkpoint-2'))]).toEqual(['adamw', 'adafactor']);
    const before = tf.memory().numTensors;
    await expect(train({ ...opts, maxSteps: 4, optim: 'adafactor', checkpointDir: dirAdam, resume: true })).rejects.toThrow(
      /^train: .*checkpoint-2 holds AdamW's optimizer state, but optim is 'adafactor': resume with optim: 'adamw', or use a fresh checkpointDir$/,
    );
    await expect(train({ ...opts, maxSteps: 4, checkpointDir: dirAf, resume: true })).rejects.toThrow(/checkpoint-2 holds Adafactor's optimizer state, but optim is 'adamw'/);
    // a first moment the checkpoint lacks (beta1 given only now): Adafactor.setState names it
    await expect(train({ ...opts, maxSteps: 4, optim: 'adafactor', adafactor: { beta1: 0.9 }, checkpointDir: dirAf, resume: true })).rejects.toThrow(
      /^Adafactor\.setState: "mix\.b" has the slots \[exp_avg_sq\], these options \(beta1 0\.9\) and its shape \[\] need \[exp_avg, exp_avg_sq\]$/,
    );
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });

  it('a checkpoint from before the `optimizer` metadata (AdamW only then) reads and resumes as AdamW, bit for bit', async () => {
    const dir = tmp();
    const m = new ToyModel(3, 'old');
    const opts = { model: m, data: toyData(20), logger: false, handleSigint: false } as const;
    (await train({ ...opts, maxSteps: 2, checkpointDir: dir })).optimizer.dispose();
    m.dispose(); // the resumed models take the same variable names
    const folder = join(dir, 'checkpoint-2');
    const legacy = join(tmp(), 'checkpoint-2');
    cpSync(folder, legacy, { recursive: true });
    // optimizer.safetensors as it was written before: the same tensors, metadata `step` only (the manifest's size follows)
    const parsed = parseSafetensors(new Uint8Array(readFileSync(join(legacy, OPTIMIZER_FILE))));
    expect(parsed.metadata).toEqual({ step: '2', optimizer: 'adamw' });
    const old = serializeSafetensors(new Map([...parsed.tensors].map(([k, t]) => [k, { dtype: 'F32' as const, shape: t.shape, data: toFloat32(t.dtype, t.data) }])), { step: '2' });
    writeFileSync(join(legacy, OPTIMIZER_FILE), old);
    const manifest = JSON.parse(readFileSync(join(legacy, MANIFEST_FILE), 'utf8')) as { files: Array<{ name: string; size: number }> };
    for (const f of manifest.files) if (f.name === OPTIMIZER_FILE) f.size = old.byteLength;
    writeFileSync(join(legacy, MANIFEST_FILE), JSON.stringify(manifest));
    const ck = await readCheckpoint(legacy);
    expect(isAdafactorState(ck.optimizer)).toBe(false);
    expect(await checkpointOptimizer(legacy)).toBe('adamw');
    expect(ck.optimizer).toEqual((await readCheckpoint(folder)).optimizer);
    // resumed (AdamW) from it and from the new-format one: the same weights
    const w: string[][] = [];
    for (const from of [folder, legacy]) {
      const resumed = new ToyModel(3, 'old');
      const r = await train({ ...opts, model: resumed, maxSteps: 4, checkpointDir: join(from, '..'), resume: true });
      expect([r.resumedFrom, r.optimizer instanceof AdamW]).toEqual([from, true]);
      w.push([await hex(resumed.w), await hex(resumed.b)]);
      r.optimizer.dispose();
      resumed.dispose();
    }
    expect(w[1]).toEqual(w[0]);
  });

  it('a checkpoint whose optimizer metadata names another optimizer is one error from checkpointOptimizer, readCheckpoint and resume', async () => {
    const dir = tmp();
    const m = new ToyModel(3, 'sgd');
    const opts = { model: m, data: toyData(20), logger: false, handleSigint: false } as const;
    (await train({ ...opts, maxSteps: 2, checkpointDir: dir })).optimizer.dispose();
    const folder = join(dir, 'checkpoint-2');
    // optimizer.safetensors rewritten with `optimizer: "sgd"` (the manifest's size follows, so the checkpoint stays complete)
    const parsed = parseSafetensors(new Uint8Array(readFileSync(join(folder, OPTIMIZER_FILE))));
    const other = serializeSafetensors(new Map([...parsed.tensors].map(([k, t]) => [k, { dtype: 'F32' as const, shape: t.shape, data: toFloat32(t.dtype, t.data) }])), { step: '2', optimizer: 'sgd' });
    writeFileSync(join(folder, OPTIMIZER_FILE), other);
    const manifest = JSON.parse(readFileSync(join(folder, MANIFEST_FILE), 'utf8')) as { files: Array<{ name: string; size: number }> };
    for (const f of manifest.files) if (f.name === OPTIMIZER_FILE) f.size = other.byteLength;
    writeFileSync(join(folder, MANIFEST_FILE), JSON.stringify(manifest));
    const unknown = /optimizer\.safetensors: unknown optimizer "sgd" \(adamw or adafactor\)/;
    await expect(checkpointOptimizer(folder)).rejects.toThrow(unknown);
    await expect(readCheckpoint(folder)).rejects.toThrow(unknown);
    const before = tf.memory().numTensors;
    const w = await hex(m.w);
    for (const optim of ['adamw', 'adafactor'] as const) {
      await expect(train({ ...opts, maxSteps: 4, optim, checkpointDir: dir, resume: true })).rejects.toThrow(unknown);
    }
    expect(await hex(m.w)).toBe(w); // nothing loaded into the model
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });

  it("defaults: the Trainer's Adafactor (scale_parameter=False, relative_step=False, lr = learning_rate, weight_decay 0), the rest Adafactor's", async () => {
    const m = new ToyModel(3, 'defaults');
    const r = await train({ model: m, data: toyData(20), maxSteps: 1, optim: 'adafactor', logger: false, handleSigint: false });
    expect((r.optimizer as Adafactor).options).toEqual({
      lr: 1e-3, eps: [1e-30, 1e-3], clipThreshold: 1, decayRate: -0.8, beta1: null, weightDecay: 0, scaleParameter: false, relativeStep: false, warmupInit: false, fused: 'auto',
    });
    r.optimizer.dispose();
    m.dispose();
  });

  it('relativeStep: Adafactor computes its step size (logged as min(1e-2, 1/sqrt(step))); lr and schedules are refused with it', async () => {
    const m = new ToyModel(3, 'rel');
    const r = await train({ model: m, data: toyData(20), maxSteps: 3, optim: 'adafactor', adafactor: { relativeStep: true, scaleParameter: true }, logger: false, handleSigint: false });
    expect(r.metrics.map((x) => x.type === 'train' && x.lr)).toEqual([0.01, 0.01, 0.01]);
    expect((r.optimizer as Adafactor).options).toMatchObject({ lr: undefined, relativeStep: true, scaleParameter: true, weightDecay: 0 });
    r.optimizer.dispose();
    // warmupInit: min(1e-6·t, 1/sqrt(t)) grows with the step, so the logged step size is that of the step taken (t = 1, 2, 3)
    const w = await train({ model: m, data: toyData(20), maxSteps: 3, optim: 'adafactor', adafactor: { relativeStep: true, warmupInit: true }, logger: false, handleSigint: false });
    expect(w.metrics.map((x) => x.type === 'train' && x.lr)).toEqual([1, 2, 3].map((t) => 1e-6 * t));
    w.optimizer.dispose();
    m.dispose();
  });

  it('every bad option is one error naming it, before anything is allocated or trained', async () => {
    const m = new ToyModel(3, 'bad');
    const w0 = await hex(m.w);
    const before = tf.memory().numTensors;
    const o = { model: m, data: toyData(20), logger: false, handleSigint: false } as const;
    const cases: Array<[Partial<TrainOptions<ToyBatch>>, RegExp]> = [
      [{ optim: 'sgd' as 'adamw' }, /^train: optim must be 'adamw' or 'adafactor', got "sgd"$/],
      [{ adafactor: { beta1: 0.9 } }, /^train: adafactor options need optim: 'adafactor'$/],
      [{ optim: 'adafactor', betas: [0.9, 0.99] }, /^train: betas is AdamW's; with optim: 'adafactor' give Adafactor's in adafactor: \{ \.\.\. \} \(adafactor\.beta1\)$/],
      [{ optim: 'adafactor', eps: 1e-8 }, /^train: eps is AdamW's; .*adafactor\.eps: \[eps1, eps2\]/],
      [{ optim: 'adafactor', adafactor: { lr: 0.1 } as object }, /^train: adafactor\.lr: give lr/],
      [{ optim: 'adafactor', adafactor: { weightDecay: 0.1 } as object }, /^train: adafactor\.weightDecay: give weightDecay/],
      [{ optim: 'adafactor', adafactor: { clip_threshold: 1 } as object }, /^train: adafactor\.clip_threshold: unknown Adafactor option \(known: lr, eps, clipThreshold,/],
      [{ optim: 'adafactor', adafactor: 'big' as unknown as object }, /^train: adafactor must be an object of Adafactor options, got "big"$/],
      [{ optim: 'adafactor', adafactor: { clipThreshold: 0 } }, /^train: adafactor\.clipThreshold must be a finite number > 0, got 0$/],
      [{ optim: 'adafactor', adafactor: { decayRate: 0.8 } }, /^train: adafactor\.decayRate must be a finite number <= 0, got 0\.8$/],
      [{ optim: 'adafactor', adafactor: { beta1: 1 } }, /^train: adafactor\.beta1 must be null or a number in \[0, 1\), got 1$/],
      [{ optim: 'adafactor', adafactor: { eps: [1e-30] as unknown as [number, number] } }, /^train: adafactor\.eps must be two finite numbers >= 0 \(\[eps1, eps2\]\), got \[1e-30\]$/],
      [{ optim: 'adafactor', adafactor: { scaleParameter: 1 as unknown as boolean } }, /^train: adafactor\.scaleParameter must be a boolean, got 1$/],
      [{ optim: 'adafactor', adafactor: { warmupInit: true } }, /^train: adafactor\.warmupInit: true requires relativeStep: true$/],
      [{ optim: 'adafactor', weightDecay: -1 }, /^train: weightDecay must be a finite number >= 0, got -1$/],
      [{ optim: 'adafactor', lr: Number.NaN }, /^train: lr must be a finite number >= 0, got NaN$/],
      [{ optim: 'adafactor', lr: 0.1, adafactor: { relativeStep: true } }, /^train: lr cannot be given with adafactor\.relativeStep: true/],
      [{ optim: 'adafactor', schedule: 'cosine', adafactor: { relativeStep: true } }, /^train: schedule cannot be given with adafactor\.relativeStep: true/],
      [{ optim: 'adafactor', warmupSteps: 2, adafactor: { relativeStep: true } }, /^train: warmupSteps cannot be given with adafactor\.relativeStep: true/],
    ];
    for (const [opts, message] of cases) await expect(train({ ...o, ...opts })).rejects.toThrow(message);
    expect(tf.memory().numTensors).toBe(before);
    expect(await hex(m.w)).toBe(w0);
    m.dispose();
  });
});

describe('Adafactor (building block)', () => {
  it("transformers' __init__ checks, and the options' defaults", () => {
    expect(() => new Adafactor({ lr: 1e-3 })).toThrow(/^Adafactor: lr \(0\.001\) cannot be combined with relativeStep: true/);
    expect(() => new Adafactor({ relativeStep: false })).toThrow(/^Adafactor: lr is needed with relativeStep: false$/);
    expect(() => new Adafactor({ lr: 1e-3, relativeStep: false, warmupInit: true })).toThrow(/^Adafactor: warmupInit: true requires relativeStep: true$/);
    expect(() => new Adafactor({ lr: -1, relativeStep: false })).toThrow(/^Adafactor: lr must be a finite number >= 0, got -1$/);
    expect(() => new Adafactor({ fused: 'yes' as never })).toThrow(/^Adafactor: fused must be true, false or 'auto', got "yes"$/);
    expect(() => new Adafactor('fast' as never)).toThrow(/^Adafactor: options must be an object, got "fast"$/);
    expect(() => new Adafactor({ decay_rate: -0.8 } as never)).toThrow(/^Adafactor: decay_rate: unknown Adafactor option \(known: lr, eps, clipThreshold, decayRate, beta1, weightDecay, scaleParameter, relativeStep, warmupInit, fused\)$/);
    expect(new Adafactor().options).toEqual({
      lr: undefined, eps: [1e-30, 1e-3], clipThreshold: 1, decayRate: -0.8, beta1: null, weightDecay: 0, scaleParameter: true, relativeStep: true, warmupInit: false, fused: 'auto',
    });
    // _get_lr: relative step min(1e-2, 1/sqrt(t)) (1e-2 until t = 10^4), warmup min(1e-6·t, ·), × max(eps2, RMS)
    const d = new Adafactor();
    expect([d.lrAt(1, undefined, 0.5), d.lrAt(40000, undefined, 0), d.relativeStepSize(1)]).toEqual([0.005, 1e-3 * (1 / 200), 0.01]);
    expect(new Adafactor({ warmupInit: true, scaleParameter: false }).lrAt(3)).toBeCloseTo(3e-6, 18);
    expect(new Adafactor({ lr: 0.1, relativeStep: false, scaleParameter: false }).lrAt(7, 0.02)).toBe(0.02);
  });

  it('state round trip: a fresh optimizer given the state continues identically; getState/setState/dispose leave no tensors', async () => {
    const make = (p: string) => tf.tidy(() => [tf.variable(tf.tensor2d([[0.5, -0.2, 0.1], [0.3, 0.7, -0.4]]), true, `${p}x`), tf.variable(tf.tensor1d([0.1, -0.3]), true, `${p}y`)]);
    const grads = (s: number) => ({ x: tf.tensor2d([[0.1 * s, -0.2, 0.05], [0.3, -0.1 * s, 0.2]]), y: tf.tensor1d([0.02 * s, -0.4]) });
    const named = (p: string, g: Record<string, tf.Tensor>) => ({ [`${p}x`]: g.x!, [`${p}y`]: g.y! });
    const o = { lr: 0.01, relativeStep: false, beta1: 0.8, weightDecay: 0.1 } as const;
    const before = tf.memory().numTensors;
    const va = make('a');
    const vb = make('b');
    const oa = new Adafactor(o);
    const ob = new Adafactor(o);
    for (let s = 1; s <= 2; s++) {
      const g = grads(s);
      oa.applyGradients(va, named('a', g));
      ob.applyGradients(vb, named('b', g));
      tf.dispose(Object.values(g));
    }
    // ob's state moved into a third optimizer, for b's variables
    const state = await ob.getState();
    ob.dispose();
    const oc = new Adafactor(o);
    oc.setState(state, vb);
    expect(oc.step).toBe(2);
    for (let s = 3; s <= 4; s++) {
      const g = grads(s);
      oa.applyGradients(va, named('a', g));
      oc.applyGradients(vb, named('b', g));
      tf.dispose(Object.values(g));
    }
    for (let i = 0; i < 2; i++) expect(await hex(vb[i]!)).toBe(await hex(va[i]!));
    const sa = await oa.getState();
    const sc = await oc.getState();
    expect(Object.values(sc.slots).map(Object.keys)).toEqual([['exp_avg', 'exp_avg_sq_row', 'exp_avg_sq_col'], ['exp_avg', 'exp_avg_sq']]);
    expect(Object.values(sc.slots)).toEqual(Object.values(sa.slots));
    // setState checks sizes and names before it frees anything
    expect(() => oc.setState({ ...sc, slots: { nope: {} } }, vb)).toThrow(/^Adafactor\.setState: no variable named "nope"$/);
    expect(() => oc.setState({ ...sc, slots: { bx: { ...sc.slots.bx, exp_avg_sq_row: new Float32Array(3) } } }, vb)).toThrow(/^Adafactor\.setState: exp_avg_sq_row of "bx" has 3 values, expected 2$/);
    // @ts-expect-error AdamW's state
    expect(() => oc.setState({ step: 1, m: {}, v: {} }, vb)).toThrow(/^Adafactor\.setState: the state is undefined's, not Adafactor's$/);
    expect(oc.step).toBe(4);
    // AdamW refuses nothing of Adafactor's silently: it is another class with its own state
    expect(new AdamW()).not.toBeInstanceOf(Adafactor);
    oa.dispose();
    oc.dispose();
    tf.dispose([...va, ...vb]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('applyGradients: a missing gradient counts as zero; a wrong dtype or shape, or a variable not float32, is an error before any update', () => {
    const p = tf.variable(tf.tensor2d([[1, 2], [3, 4]]), true, 'gp');
    const opt = new Adafactor({ lr: 0.1, relativeStep: false, scaleParameter: false });
    const before = tf.memory().numTensors;
    const i32 = tf.tensor2d([[1, 2], [3, 4]], undefined, 'int32');
    const small = tf.tensor1d([1, 2]);
    expect(() => opt.applyGradients([p], { gp: i32 })).toThrow(/^Adafactor: gradient of "gp" is int32, expected float32$/);
    expect(() => opt.applyGradients([p], { gp: small })).toThrow(/^Adafactor: gradient of "gp" has shape \[2\], the variable \[2,2\]$/);
    expect(() => opt.applyGradients([p], {}, Number.NaN)).toThrow(/^Adafactor: lr must be a finite number >= 0, got NaN$/);
    // the same size in another shape (the factored moments need the variable's rows and columns), on both
    // paths; and a variable that is not float32, even after one that is fine: nothing updated, no step counted
    const flat = tf.tensor1d([1, 2, 3, 4]);
    const ones = tf.onesLike(p);
    const iv = tf.tidy(() => tf.variable(tf.tensor1d([1, 2], 'int32'), true, 'gi'));
    for (const fused of [true, false]) {
      const o3 = new Adafactor({ lr: 0.1, relativeStep: false, scaleParameter: false, fused });
      expect(() => o3.applyGradients([p], { gp: flat })).toThrow(/^Adafactor: gradient of "gp" has shape \[4\], the variable \[2,2\]$/);
      expect(() => o3.applyGradients([p, iv], { gp: ones })).toThrow(/^Adafactor: variable "gi" is int32, expected float32$/);
      expect([o3.step, [...p.dataSync()]]).toEqual([0, [1, 2, 3, 4]]);
      o3.dispose();
    }
    iv.dispose();
    expect(opt.step).toBe(0);
    tf.dispose([i32, small, flat, ones]);
    expect(tf.memory().numTensors).toBe(before);
    // zero gradient: u = rsqrt(eps1 terms) · 0 = 0 (without eps1, rsqrt(0) · 0 = NaN), the parameter
    // stays (no weight decay); on both paths, 1-D and factored
    const q = tf.variable(tf.tensor1d([5, 6]), true, 'gq');
    for (const fused of [true, false]) {
      const o2 = new Adafactor({ lr: 0.1, relativeStep: false, scaleParameter: false, fused });
      o2.applyGradients([p, q], {});
      expect([...p.dataSync(), ...q.dataSync()]).toEqual([1, 2, 3, 4, 5, 6]);
      o2.dispose();
    }
    opt.dispose();
    tf.dispose([p, q]);
  });
});
