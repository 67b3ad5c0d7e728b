import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { train, type StepInfo, type TrainLogger } from '../src';
import { lrMultiplier } from '../src/schedule';
import { ToyModel, toyData } from './toy';

describe('lrMultiplier', () => {
  it('constant (with and without warmup)', () => {
    expect(lrMultiplier(0)).toBe(1);
    expect(lrMultiplier(1000)).toBe(1);
    // get_constant_schedule_with_warmup(warmup=4): 0, 0.25, 0.5, 0.75, 1, 1
    expect([0, 1, 2, 3, 4, 9].map((s) => lrMultiplier(s, { kind: 'constant', warmupSteps: 4 }))).toEqual([0, 0.25, 0.5, 0.75, 1, 1]);
  });

  it("linear = transformers' get_linear_schedule_with_warmup", () => {
    const o = { kind: 'linear' as const, warmupSteps: 10, totalSteps: 110 };
    // step 0 → 0/10 = 0; 5 → 0.5; 10 → (110−10)/100 = 1; 35 → 75/100 = 0.75; 109 → 0.01; 110 → 0; 200 → max(0, −0.9) = 0
    const got = [0, 5, 10, 35, 109, 110, 200].map((s) => lrMultiplier(s, o));
    const want = [0, 0.5, 1, 0.75, 0.01, 0, 0];
    got.forEach((g, i) => expect(g).toBeCloseTo(want[i]!, 12));
    // no warmup: step 0 → 1 (max(1, 0) guards the division)
    expect(lrMultiplier(0, { kind: 'linear', totalSteps: 4 })).toBe(1);
    expect(lrMultiplier(3, { kind: 'linear', totalSteps: 4 })).toBe(0.25);
  });

  it("cosine = transformers' get_cosine_schedule_with_warmup (num_cycles 0.5)", () => {
    const o = { kind: 'cosine' as const, warmupSteps: 10, totalSteps: 110 };
    // 3 → 0.3 (warmup); 10 → progress 0 → 1; 35 → progress 0.25 → 0.5·(1+cos(π/4)) = 0.8535533905932737;
    // 60 → progress 0.5 → 0.5; 85 → 0.5·(1+cos(3π/4)) = 0.14644660940672627; 110 → 0; 120 → progress 1.1 → cos(1.1π) > −1 … 0.5·(1+cos(1.1π)) = 0.024471741852423234
    const got = [3, 10, 35, 60, 85, 110, 120].map((s) => lrMultiplier(s, o));
    const want = [0.3, 1, 0.8535533905932737, 0.5, 0.14644660940672627, 0, 0.024471741852423234];
    got.forEach((g, i) => expect(g).toBeCloseTo(want[i]!, 12));
  });

  it('linear and cosine need totalSteps', () => {
    expect(() => lrMultiplier(0, { kind: 'linear' })).toThrow(/totalSteps/);
    expect(() => lrMultiplier(0, { kind: 'cosine' })).toThrow(/totalSteps/);
  });
});

describe("'cosine_warmup_with_min_lr' through train()", () => {
  const steps = (into: StepInfo[]): TrainLogger => ({ onStep: (s) => void into.push(s), onEval: () => {}, onEpoch: () => {}, log: () => {} });

  it('each step runs at lr × the lambda of its index; a bad keyword is a RangeError before any tensor exists', async () => {
    const model = new ToyModel(3, 'cwml');
    const log: StepInfo[] = [];
    // warmup 2 from warmup_lr_rate 0.5, total 6, min_lr 0.01 of lr 0.1 (min_lr_rate 0.1):
    // steps 0, 1 → 0.5, 0.5 + 0.5·1/max(1, 1) = 1; then progress (k − 2 + 1)/4 = 0.25, 0.5, 0.75, 1 →
    // 0.5·(1 + cos(π·p))·0.9 + 0.1 = 0.868198…, 0.55, 0.231801…, 0.1
    const c = (p: number) => 0.5 * (1 + Math.cos(Math.PI * p)) * 0.9 + 0.1;
    const r = await train({ model, data: toyData(60), lr: 0.1, schedule: 'cosine_warmup_with_min_lr', warmupSteps: 2, lrSchedulerKwargs: { min_lr: 0.01, warmup_lr_rate: 0.5 }, maxSteps: 6, logger: steps(log), handleSigint: false });
    expect(log.map((s) => s.step)).toEqual([1, 2, 3, 4, 5, 6]);
    const want = [0.5, 1, c(0.25), c(0.5), c(0.75), c(1)];
    log.forEach((s, i) => expect(s.lr).toBeCloseTo(0.1 * want[i]!, 12));
    expect(log[5]!.lr).toBeCloseTo(0.01, 12); // the last step is at min_lr
    r.optimizer.dispose();
    const before = tf.memory().numTensors;
    await expect(train({ model, data: toyData(20), logger: false, schedule: 'cosine_warmup_with_min_lr', lrSchedulerKwargs: { min_lr_rate: 0.1, warmup_lr_rate: -1 } })).rejects.toThrow(
      /^lrSchedulerKwargs\.warmup_lr_rate must be a finite number >= 0, got -1$/,
    );
    await expect(train({ model, data: toyData(20), logger: false, schedule: 'cosine_warmup_with_min_lr' })).rejects.toThrow(/^One of min_lr or min_lr_rate should be set/);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
