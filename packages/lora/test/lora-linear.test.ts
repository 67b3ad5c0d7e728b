import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FloatLinear, type Linear, LoraLinear, kaimingUniformA5, peftKey } from '../src/index.js';
import { FrozenVariableLinear, maxAbsDiff, randomValues } from './helpers.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const disposers: Array<() => void> = [];
afterEach(() => {
  while (disposers.length) disposers.pop()!();
});

function lora(base: Linear, opts: Partial<ConstructorParameters<typeof LoraLinear>[1]> = {}): LoraLinear {
  const l = new LoraLinear(base, { path: 'enc.q', r: 4, loraAlpha: 8, ...opts });
  disposers.push(() => l.dispose());
  return l;
}
const base = (out: number, inF: number, seed = 3) => FloatLinear.fromArray(randomValues(out * inF, seed), out, inF);
const input = (shape: number[], seed = 9) => tf.tensor(randomValues(shape.reduce((a, b) => a * b, 1), seed), shape);

describe('LoraLinear', () => {
  it('initialises like PEFT: A ~ U(±1/√in) (Kaiming-uniform a=√5), B = 0, so it starts as its base', () => {
    const l = lora(base(6, 16));
    const a = l.loraA.dataSync();
    // bound = sqrt(6 / ((1 + a²) · fan_in)) with a = √5 → sqrt(1 / fan_in) = 0.25 for fan_in 16
    expect(Math.max(...a.map(Math.abs))).toBeLessThanOrEqual(0.25);
    expect(Math.max(...a.map(Math.abs))).toBeGreaterThan(0.2);
    expect([...l.loraB.dataSync()].every((v) => v === 0)).toBe(true);
    expect(l.loraA.shape).toEqual([4, 16]);
    expect(l.loraB.shape).toEqual([6, 4]);
    expect(l.scaling).toBe(2);
    expect(l.loraA.name).toBe(peftKey('enc.q', 'A'));
    expect(l.loraA.name).toBe('base_model.model.enc.q.lora_A.weight');
    expect(l.loraA.trainable && l.loraB.trainable).toBe(true);
    const x = input([2, 3, 16]);
    const y = l.apply(x);
    const yb = l.base.apply(x);
    expect(y.shape).toEqual([2, 3, 6]);
    expect(maxAbsDiff(y.dataSync(), yb.dataSync())).toBe(0);
    tf.dispose([x, y, yb]);
  });

  it('is seeded: same seed and path → same A, other path or seed → other A', () => {
    const b = base(6, 16);
    const a1 = lora(b, { seed: 7 }).loraA.dataSync();
    const a2 = lora(b, { seed: 7 }).loraA.dataSync();
    const a3 = lora(b, { seed: 8 }).loraA.dataSync();
    const a4 = lora(b, { seed: 7, path: 'enc.v' }).loraA.dataSync();
    expect([...a1]).toEqual([...a2]);
    expect([...a1]).not.toEqual([...a3]);
    expect([...a1]).not.toEqual([...a4]);
    expect(kaimingUniformA5(2, 4, 's')).toEqual(kaimingUniformA5(2, 4, 's'));
  });

  it('second adapter on the same path gets a distinct variable name (tfjs names are global)', () => {
    const b = base(6, 16);
    const l1 = lora(b);
    const l2 = lora(b);
    expect(l1.loraA.name).toBe('base_model.model.enc.q.lora_A.weight');
    expect(l2.loraA.name).toBe('base_model.model.enc.q.lora_A.weight#2');
  });

  it('computes base(x) + (x·Aᵀ·Bᵀ)·scaling, with scaling alpha/r or alpha/√r (rslora)', () => {
    for (const useRslora of [false, true]) {
      const l = lora(base(5, 7), { r: 4, loraAlpha: 6, useRslora, initLoraWeights: false });
      expect(l.scaling).toBe(useRslora ? 3 : 1.5);
      const x = input([3, 7]);
      const y = l.apply(x);
      const want = tf.tidy(() => tf.add(l.base.apply(x), tf.mul(tf.matMul(tf.matMul(x, tf.transpose(l.loraA)), tf.transpose(l.loraB)), l.scaling)));
      expect(maxAbsDiff(y.dataSync(), want.dataSync())).toBeLessThan(1e-5);
      tf.dispose([x, y, want]);
    }
  });

  it('only A and B get gradients; the frozen base gets none; no tensor leaks across forward/backward', () => {
    const w = tf.variable(tf.tensor2d(randomValues(20, 1), [4, 5]), false);
    const l = lora(new FrozenVariableLinear(w as tf.Variable<tf.Rank.R2>), { initLoraWeights: false });
    const x = input([2, 3, 5]);
    const f = () => tf.sum(tf.square(l.apply(x))) as tf.Scalar;
    f().dispose(); // warm up (lazy backend state)
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(f);
    expect(Object.keys(grads).sort()).toEqual([l.loraA.name, l.loraB.name].sort());
    for (const g of Object.values(grads)) expect(maxAbsDiff(g.dataSync(), new Float32Array(g.size))).toBeGreaterThan(0);
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(x);
  });

  it('the hand-written adapter gradient equals autodiff of the plain formula (wrt x, A and B)', () => {
    const l = lora(base(5, 7), { r: 3, loraAlpha: 6, initLoraWeights: false });
    const x = input([2, 4, 7]);
    const w = tf.tensor(randomValues(40, 77), [2, 4, 5]); // a non-uniform upstream gradient
    const viaLayer = (xx: tf.Tensor, a: tf.Tensor, b: tf.Tensor) => {
      // run the layer with A, B replaced by the probe tensors (same values), through its customGrad path
      const saved = [l.loraA, l.loraB];
      Object.assign(l, { loraA: a, loraB: b });
      try {
        return tf.sum(tf.mul(l.apply(xx), w)) as tf.Scalar;
      } finally {
        Object.assign(l, { loraA: saved[0], loraB: saved[1] });
      }
    };
    const reference = (xx: tf.Tensor, a: tf.Tensor, b: tf.Tensor) => {
      const x2 = tf.reshape(xx, [-1, 7]);
      const y = tf.add(l.base.apply(x2), tf.mul(tf.matMul(tf.matMul(x2, tf.transpose(a)), tf.transpose(b)), l.scaling));
      return tf.sum(tf.mul(tf.reshape(y, [2, 4, 5]), w)) as tf.Scalar;
    };
    const args = [x, l.loraA, l.loraB] as [tf.Tensor, tf.Tensor, tf.Tensor];
    const got = tf.grads(viaLayer)(args);
    const want = tf.grads(reference)(args);
    for (let i = 0; i < 3; i++) {
      expect(got[i]!.shape).toEqual(args[i]!.shape);
      expect(maxAbsDiff(got[i]!.dataSync(), want[i]!.dataSync())).toBeLessThan(1e-5);
    }
    tf.dispose([x, w, ...got, ...want]);
  });

  it('dropout acts only in training mode, is seeded, and leaks nothing', () => {
    const mk = () => lora(base(6, 32), { loraDropout: 0.5, initLoraWeights: false, seed: 1 });
    const l = mk();
    const x = input([4, 32]);
    const e1 = l.apply(x);
    const e2 = l.apply(x);
    expect(maxAbsDiff(e1.dataSync(), e2.dataSync())).toBe(0);
    l.training = true;
    const before = tf.memory().numTensors;
    const t1 = l.apply(x);
    const t2 = l.apply(x);
    expect(tf.memory().numTensors).toBe(before + 2);
    expect(maxAbsDiff(t1.dataSync(), e1.dataSync())).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(t1.dataSync(), t2.dataSync())).toBeGreaterThan(1e-3); // a fresh mask per call
    const again = mk();
    again.training = true;
    const r1 = again.apply(x);
    expect(maxAbsDiff(r1.dataSync(), t1.dataSync())).toBe(0); // same seed → same masks
    tf.dispose([x, e1, e2, t1, t2, r1]);
  });

  it('disabled adapter = base; merge ≈ unmerged; unmerge restores bit-for-bit', () => {
    const l = lora(base(6, 10), { initLoraWeights: false });
    const x = input([3, 10]);
    const yBase = l.base.apply(x);
    const y0 = l.apply(x);
    l.adapterEnabled = false;
    const yOff = l.apply(x);
    expect(maxAbsDiff(yOff.dataSync(), yBase.dataSync())).toBe(0);
    l.adapterEnabled = true;
    l.merge();
    expect(l.isMerged).toBe(true);
    const yMerged = l.apply(x);
    expect(maxAbsDiff(yMerged.dataSync(), y0.dataSync())).toBeLessThan(1e-5);
    expect(maxAbsDiff(yMerged.dataSync(), y0.dataSync())).toBeGreaterThanOrEqual(0);
    l.unmerge();
    const y1 = l.apply(x);
    expect(y1.dataSync()).toEqual(y0.dataSync()); // bit-for-bit
    const w = l.base.dequantize!();
    expect(w.dataSync()).toEqual(randomValues(60, 3)); // base untouched
    tf.dispose([x, yBase, y0, yOff, yMerged, y1, w]);
  });

  it('merging keeps a base bias (read as base(0)) and turns a quantized base into a float linear', () => {
    // A stand-in for an int8 linear: weight = q · scale per row, apply through its own dequantized weight.
    const q = new Int8Array([12, -5, 127, 3, -128, 40]);
    const scale = [0.01, 0.02];
    const int8Like: Linear = {
      inFeatures: 3,
      outFeatures: 2,
      dequantize: () => tf.tensor2d(Float32Array.from(q, (v, i) => v * scale[Math.floor(i / 3)]!), [2, 3]),
      apply(x) {
        return tf.tidy(() => tf.add(tf.matMul(x, this.dequantize!(), false, true), tf.tensor1d([0.5, -1])));
      },
    };
    const l = lora(int8Like, { r: 2, initLoraWeights: false });
    const x = input([4, 3]);
    const y0 = l.apply(x);
    const merged = l.toLinear();
    expect(merged).toBeInstanceOf(FloatLinear);
    expect([...merged.bias!.dataSync()]).toEqual([0.5, -1]);
    const ym = merged.apply(x);
    expect(maxAbsDiff(ym.dataSync(), y0.dataSync())).toBeLessThan(1e-5);
    merged.dispose();
    tf.dispose([x, y0, ym]);
  });

  it('merge/unmerge leak nothing', () => {
    const l = lora(base(6, 10), { initLoraWeights: false });
    const before = tf.memory().numTensors;
    l.merge();
    l.unmerge();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('LoraLinear random state (gradient checkpointing replays the dropout masks)', () => {
  it('restoring the state replays the same dropout mask; without it the mask differs', () => {
    const l = lora(base(6, 16), { loraDropout: 0.5, seed: 5 });
    l.loraB.assign(tf.ones([6, 4]));
    l.training = true;
    const x = input([3, 16]);
    const state = l.getRandomState();
    const y1 = l.apply(x);
    const y2 = l.apply(x); // a new mask
    l.setRandomState(state);
    const y3 = l.apply(x); // the first mask again
    expect(maxAbsDiff(y1.dataSync(), y3.dataSync())).toBe(0);
    expect(maxAbsDiff(y1.dataSync(), y2.dataSync())).toBeGreaterThan(1e-3);
    tf.dispose([x, y1, y2, y3]);
  });
});
