// DoRA on webgpu (lavapipe in CI): the DoRA term runs as tensor ops; a plain LoRA adapter active in the
// same layer still uses the fused kernel pair. Output and gradients (x, A, B, m) equal cpu, the eval
// forward equals PEFT (fixtures/dora), no leaks.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { skipWebGPU, useWebGPUBackend } from '../../../vitest.webgpu';
import { LoraLinear } from '../src/index.js';
import { LORA_DOWN, LORA_UP } from '../src/lora-webgpu.js';
import { PATH, arr, dora, floatBase, relErr } from './dora-helpers.js';
import { relL2 } from './helpers.js';

const skip = await skipWebGPU();

describe.skipIf(skip)('DoRA on webgpu', () => {
  useWebGPUBackend(tf, () => import('@tensorflow/tfjs-backend-webgpu'));

  it('DoRA + LoRA active, dropout 0.25 in training: output and gradients wrt x, A, B, m equal cpu; LoRA keeps its kernels; eval equals PEFT', async () => {
    const run = async (backend: 'webgpu' | 'cpu') => {
      await tf.setBackend(backend);
      const l = new LoraLinear(floatBase(), { path: PATH, r: dora.r, loraAlpha: dora.lora_alpha, loraDropout: dora.dropout, useDora: true, seed: 3 });
      l.setWeights(arr('A'), arr('B'), 'default', arr('m'));
      l.addAdapter({ adapterName: 'lora2', r: dora.lora2_r, loraAlpha: dora.lora2_alpha, loraDropout: 0.1, seed: 3 });
      l.setWeights(arr('A2'), arr('B2'), 'lora2');
      const x = tf.tensor2d(arr('x'), [dora.n, dora.in]);
      const yEval = await l.apply(x).data(); // the eval forward with both adapters
      l.setAdapter(['default']);
      const yDora = l.apply(x);
      const yPeft = await yDora.data();
      yDora.dispose();
      l.setAdapter(['lora2', 'default']);
      l.training = true;
      const dy = tf.tensor2d(arr('gy'), [dora.n, dora.out]);
      const a = l.adapter('default');
      const state = l.getRandomState();
      const before = tf.memory().numTensors;
      const prof = await tf.profile(() => l.apply(x));
      const y = prof.result as tf.Tensor;
      const f = (xx: tf.Tensor) => tf.sum(tf.mul(l.apply(xx), dy)) as tf.Scalar;
      l.setRandomState(state);
      const { value, grads } = tf.variableGrads(() => f(x), [a.loraA, a.loraB, a.magnitude!]);
      value.dispose();
      l.setRandomState(state);
      const gx = tf.grad(f)(x);
      const out = {
        y: await y.data(),
        gx: await gx.data(),
        gA: await grads[a.loraA.name]!.data(),
        gB: await grads[a.loraB.name]!.data(),
        gm: await grads[a.magnitude!.name]!.data(),
        yEval,
        yPeft,
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
    expect(gpu.kernels.filter((k) => k === LORA_DOWN || k === LORA_UP)).toEqual([LORA_DOWN, LORA_UP]); // lora2's pair only
    expect(relErr(gpu.yPeft, arr('y_eval'))).toBeLessThan(1e-5);
    for (const k of ['y', 'gx', 'gA', 'gB', 'gm', 'yEval'] as const) expect(relL2(gpu[k], cpu[k]), k).toBeLessThan(1e-5);
  });
});
