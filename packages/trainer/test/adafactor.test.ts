// Adafactor against transformers' Adafactor.step run by PyTorch (test/fixtures/adafactor/generate.py
// transcribes huggingface/transformers src/transformers/optimization.py, class Adafactor, at 005edacb):
// a 1-D parameter, a LoRA-like 8×12 matrix, two matrices with a dimension of 1 and one starting at
// zeros, six steps with given gradients, for the Trainer's configuration and others (cpu backend;
// test/adafactor-webgpu.test.ts runs the same on webgpu).
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { Adafactor } from '../src';
import { fx, runCase } from './adafactor-fixture';

describe('Adafactor vs transformers (PyTorch 1.13, float32)', () => {
  for (const [caseName, c] of Object.entries(fx.cases)) {
    it(`${caseName}: parameters after each of 6 steps within 1e-6 of their tensor's largest value, slots after the last within 1e-5; the JavaScript loop bit-identical to the tensor ops`, async () => {
      const results: Array<Awaited<ReturnType<typeof runCase>>> = [];
      for (const fused of [true, false]) {
        const r = await runCase(c, fused);
        console.log(`${caseName} (${fused ? 'fused loop' : 'tensor ops'}): worst error of a parameter ${r.worst.toExponential(2)} of its tensor's largest value (${r.same}/${r.values} values bit-identical over the 6 steps), of a slot ${r.slotRel.toExponential(2)} (of its largest)`);
        expect(r.worst).toBeLessThan(1e-6);
        expect(r.slotRel).toBeLessThan(1e-5);
        results.push(r);
      }
      // the loop rounds as tfjs-backend-cpu's kernels do: bit for bit the tensor ops' parameters and slots
      const [loop, ops] = results as [(typeof results)[0], (typeof results)[0]];
      expect(loop.params).toEqual(ops.params);
      expect(loop.slots).toEqual(ops.slots);
    });
  }
});

describe('Adafactor fused option (cpu)', () => {
  it("fused: true (and 'auto' on cpu) runs the JavaScript loop, no tensor kernel; false the tensor ops — so the bit-identity above compares two paths", async () => {
    const kernels = async (fused: boolean | 'auto') => {
      const p = tf.tidy(() => tf.variable(tf.tensor2d([[0.5, -0.2, 0.1], [0.3, 0.7, -0.4]]), true, 'k'));
      const g = tf.tensor2d([[0.1, -0.2, 0.05], [0.3, -0.1, 0.2]]);
      const opt = new Adafactor({ lr: 0.01, relativeStep: false, fused });
      opt.initSlots([p]);
      const info = await tf.profile(() => opt.applyGradients([p], { k: g }));
      opt.dispose();
      tf.dispose([p, g]);
      return info.kernels.length;
    };
    const before = tf.memory().numTensors;
    expect(await kernels(true)).toBe(0);
    expect(await kernels('auto')).toBe(0);
    expect(await kernels(false)).toBeGreaterThan(10);
    expect(tf.memory().numTensors).toBe(before);
  });
});
