import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipWebGPU, useWebGPUBackend } from '../../../vitest.webgpu';
import { FloatLinear, LoraLinear } from '../src/index.js';
import { LORA_DOWN, LORA_UP, setWebGPULoraKernels } from '../src/lora-webgpu.js';
import { randomValues, relL2 } from './helpers.js';

const skip = await skipWebGPU();

describe.skipIf(skip).each(['tiled', 'per-output'] as const)('LoraLinear on webgpu, %s layout: 2 kernels forward, 4 backward (lavapipe in CI)', (layout) => {
  useWebGPUBackend(tf, () => import('@tensorflow/tfjs-backend-webgpu'));
  beforeAll(() => void setWebGPULoraKernels({ layout }));
  afterAll(() => void setWebGPULoraKernels({}));

  // [B, S, in] → out; B·S·out > 65,535·64 in the last case (a 2-D dispatch of the up kernel).
  const cases = [
    { shape: [2, 5, 24], out: 20, r: 4, p: 0 },
    { shape: [2, 5, 24], out: 20, r: 4, p: 0.3 },
    { shape: [4, 128, 64], out: 8200, r: 8, p: 0.1 },
    // Off the tiles: 7 token rows (4 per row-reduction workgroup), 100 and 70 columns (32 per
    // column-reduction workgroup); r 16 is the tiled layout's largest, r 17 takes the per-output one.
    { shape: [1, 7, 100], out: 70, r: 16, p: 0.2 },
    { shape: [1, 6, 40], out: 33, r: 17, p: 0.1 },
  ];
  for (const c of cases) {
    it(`x [${c.shape}] → ${c.out}, r ${c.r}, dropout ${c.p}: output and gradients (x, A, B) equal cpu; masks the same; no leaks`, async () => {
      const inF = c.shape[2]!;
      const n = c.shape.reduce((a, b) => a * b, 1);
      const w = randomValues(c.out * inF, 1);
      const xv = randomValues(n, 2);
      const bv = randomValues(c.out * c.r, 3); // B ≠ 0, so the adapter contributes
      const dyv = randomValues((n / inF) * c.out, 4);
      const run = async (backend: 'webgpu' | 'cpu') => {
        await tf.setBackend(backend);
        const l = new LoraLinear(FloatLinear.fromArray(w, c.out, inF), { path: `t.${c.p}.${c.out}`, r: c.r, loraAlpha: 16, loraDropout: c.p, seed: 5 });
        l.training = c.p > 0;
        l.loraB.assign(tf.tensor2d(bv, [c.out, c.r]));
        const x = tf.tensor(xv, c.shape);
        const dy = tf.tensor(dyv, [...c.shape.slice(0, 2), c.out]);
        const state = l.getRandomState();
        const before = tf.memory().numTensors;
        const prof = await tf.profile(() => l.apply(x));
        const y = prof.result as tf.Tensor;
        l.setRandomState(state); // the same dropout draw for the gradient
        const f = (xx: tf.Tensor, a: tf.Tensor, b: tf.Tensor) => {
          void a; void b;
          return tf.sum(tf.mul(l.apply(xx), dy));
        };
        const { value, grads } = tf.variableGrads(() => f(x, l.loraA, l.loraB) as tf.Scalar, [l.loraA, l.loraB]);
        value.dispose();
        l.setRandomState(state);
        const gx = tf.grad((xx: tf.Tensor) => f(xx, l.loraA, l.loraB))(x);
        const out = {
          y: await y.data(), gx: await gx.data(), ga: await grads[l.loraA.name]!.data(), gb: await grads[l.loraB.name]!.data(),
          kernels: prof.kernels.map((k) => k.name).filter((k) => k.startsWith('Conifer')),
        };
        tf.dispose([y, gx, ...Object.values(grads)]);
        expect(tf.memory().numTensors).toBe(before);
        tf.dispose([x, dy]);
        l.dispose();
        return out;
      };
      const gpu = await run('webgpu');
      const cpu = await run('cpu');
      await tf.setBackend('webgpu');
      expect(gpu.kernels).toEqual([LORA_DOWN, LORA_UP]);
      expect(cpu.kernels).not.toContain(LORA_DOWN);
      // cpu draws its mask with @conifer/dropout's dropout(): equal values mean the same masks.
      for (const k of ['y', 'gx', 'ga', 'gb'] as const) expect(relL2(gpu[k], cpu[k]), k).toBeLessThan(1e-5);
    });
  }
});
