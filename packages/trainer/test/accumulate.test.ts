import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { accumulateGradients } from '../src/accumulate';
import { AdamW } from '../src/adamw';
import { clipByGlobalNorm } from '../src/clip';
import { optimizerStep } from '../src/step';
import { ToyModel, toBatch, toyExamples } from './toy';

describe('gradient accumulation', () => {
  it('4 unequal micro-batches give the same gradients and update as one batch holding all of them', async () => {
    const ex = toyExamples(14);
    const micro = [ex.slice(0, 1), ex.slice(1, 6), ex.slice(6, 8), ex.slice(8, 14)].map(toBatch); // sizes 1, 5, 2, 6
    const whole = toBatch(ex);
    const a = new ToyModel(3, 'a');
    const b = new ToyModel(3, 'a2');
    const before = tf.memory().numTensors;

    const acc = await accumulateGradients(a, micro);
    const one = await accumulateGradients(b, [whole]);
    expect(acc.tokens).toBe(one.tokens);
    expect(acc.tokens).toBe(ex.reduce((s, e) => s + e.count, 0));
    expect(acc.loss).toBeCloseTo(one.loss, 6);
    const ga = acc.grads['a.w']!.dataSync();
    const gb = one.grads['a2.w']!.dataSync();
    for (let i = 0; i < ga.length; i++) expect(ga[i]).toBeCloseTo(gb[i]!, 6);
    expect(acc.grads['a.b']!.dataSync()[0]).toBeCloseTo(one.grads['a2.b']!.dataSync()[0]!, 6);
    // … whereas a mean of per-batch means would differ
    const meanOfMeans: number[] = [];
    for (const m of micro) {
      const r = await accumulateGradients(a, [m]);
      meanOfMeans.push(r.grads['a.b']!.dataSync()[0]!);
      tf.dispose(Object.values(r.grads));
    }
    expect(Math.abs(meanOfMeans.reduce((s, v) => s + v, 0) / 4 - one.grads['a2.b']!.dataSync()[0]!)).toBeGreaterThan(1e-3);
    tf.dispose([...Object.values(acc.grads), ...Object.values(one.grads)]);

    // the same through a full optimizer step
    const oa = new AdamW({ lr: 0.05 });
    const ob = new AdamW({ lr: 0.05 });
    for (let i = 0; i < 3; i++) {
      await optimizerStep(a, oa, micro, { lr: 0.05 });
      await optimizerStep(b, ob, [whole], { lr: 0.05 });
    }
    const wa = a.w.dataSync();
    const wb = b.w.dataSync();
    for (let i = 0; i < wa.length; i++) expect(wa[i]).toBeCloseTo(wb[i]!, 6);
    oa.dispose();
    ob.dispose();
    expect(tf.memory().numTensors).toBe(before);
    a.dispose();
    b.dispose();
  });

  it('flags non-finite losses', async () => {
    const m = new ToyModel(3, 'nan');
    m.poison = 1;
    const r = await accumulateGradients(m, [toBatch(toyExamples(4))]);
    expect(r.finite).toBe(false);
    expect(r.loss).toBeNaN();
    tf.dispose(Object.values(r.grads));
    m.dispose();
  });
});

describe('clipByGlobalNorm', () => {
  it('matches torch.nn.utils.clip_grad_norm_', async () => {
    // grads [3, 4] and [12]: total = sqrt(9 + 16 + 144) = 13; max_norm 6.5 → coef = 6.5 / (13 + 1e-6) ≈ 0.49999996
    const g = { a: tf.tensor1d([3, 4]), b: tf.tensor1d([12]) };
    const r = await clipByGlobalNorm(g, 6.5);
    expect(r.totalNorm).toBeCloseTo(13, 5);
    expect(r.clipped).toBe(true);
    const a = r.grads.a!.dataSync();
    expect(a[0]).toBeCloseTo(1.5, 5);
    expect(a[1]).toBeCloseTo(2, 5);
    expect(r.grads.b!.dataSync()[0]).toBeCloseTo(6, 5);
    tf.dispose(Object.values(r.grads));
    // below the limit: untouched (coef clamped at 1)
    const h = { a: tf.tensor1d([0.3, 0.4]) };
    const s = await clipByGlobalNorm(h, 1);
    expect(s.clipped).toBe(false);
    expect(s.totalNorm).toBeCloseTo(0.5, 6);
    expect(s.grads.a).toBe(h.a);
    tf.dispose(Object.values(s.grads));
  });
});
