import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { skipWebGPU, useWebGPUBackend } from '../../../vitest.webgpu';
import { Dropout, dropout, DropoutAdd, dropoutAdd } from '../src/index';
import { maskRef, randn } from './helpers';

const skip = await skipWebGPU();

describe.skipIf(skip)('dropout on webgpu (lavapipe in CI): the mask drawn in the shader', () => {
  useWebGPUBackend(tf, () => import('@tensorflow/tfjs-backend-webgpu'));

  it('equals the reference bit for bit over 5 M elements (a 2-D dispatch), runs as one ConiferDropout kernel, leaks nothing', async () => {
    const shape = [2, 625, 4000]; // 5,000,000 elements: 78,125 workgroups of 64, more than 65,535 in x
    const n = 5_000_000;
    const xv = randn(n, 5);
    const x = tf.tensor3d(xv, shape as [number, number, number]);
    const before = tf.memory().numTensors;
    const prof = await tf.profile(() => dropout(x, 0.1, 1234));
    expect(prof.kernels.map((k) => k.name)).toEqual([Dropout]);
    const y = prof.result as tf.Tensor;
    const v = await y.data();
    const ref = maskRef(n, 0.1, 1234);
    let bad = 0;
    for (let i = 0; i < n; i++) if (v[i] !== Math.fround((xv[i] as number) * (ref[i] as number))) bad++;
    expect(bad).toBe(0);
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('the gradient (the same kernel on dy) equals cpu', async () => {
    const [a, b] = [17, 300];
    const xv = randn(a * b, 6);
    const wv = randn(a * b, 7);
    const grad = async () => {
      const [x, w] = [tf.tensor2d(xv, [a, b]), tf.tensor2d(wv, [a, b])];
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(dropout(t, 0.5, 77), w)))(x);
      const v = await g.data();
      tf.dispose([x, w, g]);
      return Array.from(v);
    };
    const gpu = await grad();
    await tf.setBackend('cpu');
    const cpu = await grad();
    await tf.setBackend('webgpu');
    expect(gpu).toEqual(cpu);
    expect(gpu.filter((g) => g === 0).length / gpu.length).toBeCloseTo(0.5, 1);
  });

  it('dropoutAdd (a residual after dropout) is one kernel; value and both gradients equal the cpu path (h + dropout(x))', async () => {
    const shape = [3, 40, 70];
    const n = 3 * 40 * 70;
    const [hv, xv, dyv] = [randn(n, 11), randn(n, 12), randn(n, 13)];
    const run = async (backend: 'webgpu' | 'cpu') => {
      await tf.setBackend(backend);
      const [h, x, dy] = [tf.tensor(hv, shape), tf.tensor(xv, shape), tf.tensor(dyv, shape)];
      const before = tf.memory().numTensors;
      const prof = await tf.profile(() => dropoutAdd(h, x, 0.2, 99));
      const [gh, gx] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(dropoutAdd(a, b, 0.2, 99), dy)))([h, x]);
      const out = { y: Array.from(await (prof.result as tf.Tensor).data()), gh: Array.from(await gh!.data()), gx: Array.from(await gx!.data()), kernels: prof.kernels.map((k) => k.name) };
      tf.dispose([prof.result as tf.Tensor, gh!, gx!]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([h, x, dy]);
      return out;
    };
    const gpu = await run('webgpu');
    const cpu = await run('cpu');
    await tf.setBackend('webgpu');
    expect(gpu.kernels).toEqual([DropoutAdd]);
    expect(cpu.kernels).toEqual([Dropout, 'Add']);
    const rel = (a: number[], b: number[]) => Math.sqrt(a.reduce((s2, v, i) => s2 + (v - b[i]!) ** 2, 0) / b.reduce((s2, v) => s2 + v * v, 0));
    expect(rel(gpu.y, cpu.y)).toBeLessThan(1e-6); // a GPU compiler may fuse x·m + h into one fma
    expect(gpu.gh).toEqual(cpu.gh);
    expect(gpu.gx).toEqual(cpu.gx);
  });
});
