// Adafactor on the webgpu backend (lavapipe in CI): the same PyTorch reference as test/adafactor.test.ts.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { skipWebGPU, useWebGPUBackend } from '../../../vitest.webgpu';
import { Adafactor } from '../src';
import { fx, runCase } from './adafactor-fixture';

const skip = await skipWebGPU();

describe.skipIf(skip)('Adafactor on webgpu (tensor ops) vs transformers (PyTorch 1.13, float32)', () => {
  useWebGPUBackend(tf, () => import('@tensorflow/tfjs-backend-webgpu'));

  it('every configuration (tensor ops, fused \'auto\'): parameters after each of 6 steps within 1e-6 of their tensor\'s largest value, slots within 1e-5, no leaks', async () => {
    expect(tf.getBackend()).toBe('webgpu');
    const before = tf.memory().numTensors;
    for (const [name, c] of Object.entries(fx.cases)) {
      const r = await runCase(c);
      console.log(`${name} (webgpu): worst ${r.worst.toExponential(2)} of its tensor's largest value, slots ${r.slotRel.toExponential(2)}`);
      expect(r.worst).toBeLessThan(1e-6);
      expect(r.slotRel).toBeLessThan(1e-5);
    }
    expect(tf.memory().numTensors).toBe(before);
    // the JavaScript loop reads synchronously: cpu only
    const p = tf.variable(tf.zeros([2, 2]), true, 'fusedOnGpu');
    const g = tf.ones([2, 2]);
    expect(() => new Adafactor({ fused: true }).applyGradients([p], { fusedOnGpu: g })).toThrow(/^Adafactor: fused: true needs the cpu backend, the active one is webgpu$/);
    tf.dispose([p, g]);
  });
});
