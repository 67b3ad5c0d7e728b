import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { skipWebGPU, useWebGPUBackend } from '../../../vitest.webgpu';
import { UniformNoise, uniformNoise } from '../src/index';
import { noiseRef } from './helpers';

const skip = await skipWebGPU();

describe.skipIf(skip)('uniformNoise on webgpu (lavapipe in CI): drawn in the shader', () => {
  useWebGPUBackend(tf, () => import('@tensorflow/tfjs-backend-webgpu'));

  it('equals the reference bit for bit over 5 M elements (a 2-D dispatch), as one kernel with no inputs, and equals cpu; no leaks', async () => {
    const shape = [2, 625, 4000]; // 78,125 workgroups of 64: more than 65,535 in x
    const n = 5_000_000;
    const before = tf.memory().numTensors;
    const prof = await tf.profile(() => uniformNoise(shape, 0.0031, 1234));
    expect(prof.kernels.map((k) => k.name)).toEqual([UniformNoise]);
    const y = prof.result as tf.Tensor;
    const v = await y.data();
    const ref = noiseRef(n, 0.0031, 1234);
    let bad = 0;
    for (let i = 0; i < n; i++) if (v[i] !== ref[i]) bad++;
    expect(bad).toBe(0);
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
    // Magnitudes that are not powers of two, a negative seed, and a small shape: the same bits as the cpu kernel.
    for (const [m, seed] of [[1.7, -3], [3.3e-5, 99], [12345.678, 0]] as const) {
      const g = uniformNoise([7, 13], m, seed);
      const gv = Array.from(await g.data());
      g.dispose();
      await tf.setBackend('cpu');
      const c = uniformNoise([7, 13], m, seed);
      const cv = Array.from(await c.data());
      c.dispose();
      await tf.setBackend('webgpu');
      expect(gv).toEqual(cv);
    }
  });
});
