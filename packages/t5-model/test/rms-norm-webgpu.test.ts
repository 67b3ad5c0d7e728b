import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { skipWebGPU, useWebGPUBackend } from '../../../vitest.webgpu';
import { RMS_NORM, RMS_NORM_GRAD, rmsNorm } from '../src/index.js';
import { relErr } from './helpers.js';

const skip = await skipWebGPU();

function values(n: number, seed: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.731 + seed) * scale + 0.05 * Math.cos(i * 0.17 * seed));
}

describe.skipIf(skip)('T5 RMS norm on webgpu: one kernel forward, one for the input gradient (lavapipe in CI)', () => {
  useWebGPUBackend(tf, () => import('@tensorflow/tfjs-backend-webgpu'));

  // D not a multiple of the 128-wide workgroup, D smaller than it, rows of very different scale;
  // rank 1 (one row); 70,000 rows (a 2-D dispatch: more than 65,535 workgroups).
  for (const shape of [[2, 7, 300], [3, 5, 64], [1, 3, 4096], [300], [70_000, 8]]) {
    it(`[${shape}]: forward, dx and dweight equal the tensor ops on cpu; one dispatch each way; no leaks`, async () => {
      const D = shape[shape.length - 1]!;
      const n = shape.reduce((a, b) => a * b, 1);
      const xv = values(n, 1).map((v, i) => v * (Math.floor(i / D) % 3 === 0 ? 1e3 : 1));
      const wv = values(D, 2, 0.5).map((v) => v + 1);
      const dyv = values(n, 3);
      const run = async (backend: 'webgpu' | 'cpu') => {
        await tf.setBackend(backend);
        const [x, w, dy] = [tf.tensor(xv, shape), tf.tensor1d(wv), tf.tensor(dyv, shape)];
        const before = tf.memory().numTensors;
        const prof = await tf.profile(() => rmsNorm(x, w, 1e-6));
        const y = prof.result as tf.Tensor;
        const names = prof.kernels.map((k) => k.name);
        const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(rmsNorm(a, b as tf.Tensor1D, 1e-6), dy)))([x, w]);
        const gx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(rmsNorm(a, w, 1e-6), dy)));
        const profX = await tf.profile(() => gx(x));
        const xOnly = profX.kernels.map((k) => k.name).filter((k) => k.startsWith('Conifer'));
        const out = { y: await y.data(), dx: await g[0]!.data(), dw: await g[1]!.data(), names, xOnly };
        tf.dispose([y, ...g, profX.result as tf.Tensor]);
        expect(tf.memory().numTensors).toBe(before);
        tf.dispose([x, w, dy]);
        return out;
      };
      const gpu = await run('webgpu');
      const cpu = await run('cpu');
      await tf.setBackend('webgpu');
      expect(gpu.names.filter((k) => k.startsWith('Conifer'))).toEqual([RMS_NORM]);
      expect(gpu.xOnly).toEqual([RMS_NORM, RMS_NORM_GRAD]); // forward + input gradient; the weight's gradient is not computed
      expect(cpu.names).not.toContain(RMS_NORM);
      expect(relErr(gpu.y, cpu.y)).toBeLessThan(1e-6);
      expect(relErr(gpu.dx, cpu.dx)).toBeLessThan(1e-5);
      expect(relErr(gpu.dw, cpu.dw)).toBeLessThan(1e-5);
    });
  }
});
