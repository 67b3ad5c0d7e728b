import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { dropout } from '@conifer/dropout';
import { describe, expect, it } from 'vitest';
import { skipWebGPU, useWebGPUBackend } from '../../../vitest.webgpu';
import { activation } from '../src/modules.js';
import { GATED_ACT, gatedActKernel, hasGatedActKernel } from '../src/gated-act.js';
import { relErr } from './helpers.js';

const skip = await skipWebGPU();

function values(n: number, seed: number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.618 + seed) * scale * (i % 97 === 0 ? 10 : 1));
}

describe.skipIf(skip)('gated activation + dropout as one webgpu kernel (lavapipe in CI)', () => {
  useWebGPUBackend(tf, () => import('@tensorflow/tfjs-backend-webgpu'));

  // a up to ±30 (sigmoid and tanh saturate); 4.5 M elements: a 2-D dispatch.
  const cases = [
    { act: 'silu', shape: [2, 5, 300], rate: 0 },
    { act: 'silu', shape: [2, 5, 300], rate: 0.1 },
    { act: 'gelu_new', shape: [2, 5, 300], rate: 0.3 },
    { act: 'gelu_new', shape: [1, 300, 15000], rate: 0.1 },
  ] as const;
  for (const c of cases) {
    it(`${c.act} [${c.shape}], dropout ${c.rate}: value, da and dg equal the tensor ops + dropout() on cpu; one kernel forward; no leaks`, async () => {
      const n = c.shape.reduce((x: number, d: number) => x * d, 1);
      const [av, gv, dyv] = [values(n, 1, 3), values(n, 2, 1), values(n, 3, 1)];
      const run = async (backend: 'webgpu' | 'cpu') => {
        await tf.setBackend(backend);
        const [a, g, dy] = [tf.tensor(av, [...c.shape]), tf.tensor(gv, [...c.shape]), tf.tensor(dyv, [...c.shape])];
        const draw = c.rate > 0 ? { rate: c.rate, seed: 1234 } : null;
        const f = (x: tf.Tensor, y: tf.Tensor) => tf.tidy(() => hasGatedActKernel(c.act, x)
          ? gatedActKernel(c.act, x, y, draw)
          : (draw ? dropout(tf.mul(activation(c.act, x), y), draw.rate, draw.seed) : tf.mul(activation(c.act, x), y)));
        const before = tf.memory().numTensors;
        const prof = await tf.profile(() => f(a, g));
        const [da, dg] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(f(x, y), dy)))([a, g]);
        const out = { y: await (prof.result as tf.Tensor).data(), da: await da!.data(), dg: await dg!.data(), kernels: prof.kernels.map((k) => k.name) };
        tf.dispose([prof.result as tf.Tensor, da!, dg!]);
        expect(tf.memory().numTensors).toBe(before);
        tf.dispose([a, g, dy]);
        return out;
      };
      const gpu = await run('webgpu');
      const cpu = await run('cpu');
      await tf.setBackend('webgpu');
      expect(gpu.kernels).toEqual([GATED_ACT]);
      expect(cpu.kernels).not.toContain(GATED_ACT);
      for (const k of ['y', 'da', 'dg'] as const) expect(relErr(gpu[k], cpu[k]), k).toBeLessThan(1e-5);
      if (c.rate > 0) {
        const zeros = Array.from(gpu.y).filter((v) => v === 0).length / n; // the same masks: equality above
        expect(Math.abs(zeros - c.rate)).toBeLessThan(0.05);
      }
    });
  }
});
