import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { skipWebGPU, useWebGPUBackend } from '../../../vitest.webgpu';
import { FloatLinear, LoraLinear } from '../src/index.js';
import { LORA_DOWN, LORA_UP } from '../src/lora-webgpu.js';
import { randomValues, relL2 } from './helpers.js';

const skip = await skipWebGPU();

describe.skipIf(skip)('two active adapters in one layer on webgpu (lavapipe in CI)', () => {
  useWebGPUBackend(tf, () => import('@tensorflow/tfjs-backend-webgpu'));

  it('one kernel pair per adapter, their deltas summed: output and gradients (x, both A and B) equal cpu; no leaks', async () => {
    const [inF, out, shape] = [24, 20, [2, 5, 24]];
    const n = shape.reduce((a, b) => a * b, 1);
    const run = async (backend: 'webgpu' | 'cpu') => {
      await tf.setBackend(backend);
      const l = new LoraLinear(FloatLinear.fromArray(randomValues(out * inF, 1), out, inF), { path: 'two.q', r: 4, loraAlpha: 16, loraDropout: 0.3, seed: 5 });
      const b = l.addAdapter({ adapterName: 'b', r: 6, loraAlpha: 3, loraDropout: 0.2, initLoraWeights: false, seed: 6 });
      l.loraB.assign(tf.tensor2d(randomValues(out * 4, 3), [out, 4])); // B ≠ 0, so the default adapter contributes
      l.setAdapter(['default', 'b']);
      l.training = true;
      const vars = [l.loraA, l.loraB, b.loraA, b.loraB];
      const x = tf.tensor(randomValues(n, 2), shape);
      const dy = tf.tensor(randomValues((n / inF) * out, 4), [2, 5, out]);
      const state = l.getRandomState();
      const before = tf.memory().numTensors;
      const prof = await tf.profile(() => l.apply(x));
      const y = prof.result as tf.Tensor;
      const f = (xx: tf.Tensor) => tf.sum(tf.mul(l.apply(xx), dy)) as tf.Scalar;
      l.setRandomState(state); // the same dropout draws for the gradients
      const { value, grads } = tf.variableGrads(() => f(x), vars);
      value.dispose();
      l.setRandomState(state);
      const gx = tf.grad(f)(x);
      const res = {
        y: await y.data(), gx: await gx.data(),
        g: await Promise.all(vars.map((v) => grads[v.name]!.data())),
        kernels: prof.kernels.map((k) => k.name).filter((k) => k.startsWith('Conifer')),
      };
      tf.dispose([y, gx, ...Object.values(grads)]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, dy]);
      l.dispose();
      return res;
    };
    const gpu = await run('webgpu');
    const cpu = await run('cpu');
    await tf.setBackend('webgpu');
    expect(gpu.kernels).toEqual([LORA_DOWN, LORA_UP, LORA_DOWN, LORA_UP]);
    expect(relL2(gpu.y, cpu.y)).toBeLessThan(1e-5);
    expect(relL2(gpu.gx, cpu.gx)).toBeLessThan(1e-5);
    for (let i = 0; i < 4; i++) expect(relL2(gpu.g[i]!, cpu.g[i]!), `grad ${i}`).toBeLessThan(1e-5);
  });
});
