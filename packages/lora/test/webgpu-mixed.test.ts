// Mixed-adapter batches (PEFT's adapter_names, lora/layer.py `_mixed_batch_forward`) on webgpu: each
// adapter's rows are gathered and run through the fused kernel pair (lora-webgpu.ts), the base rows
// are left alone. Must equal the cpu path and, row by row, the single-adapter forward.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { skipWebGPU, useWebGPUBackend } from '../../../vitest.webgpu';
import { BASE_ADAPTER_NAME, FloatLinear, type Linear, type LinearHost, injectLora } from '../src/index.js';
import { LORA_DOWN, LORA_UP } from '../src/lora-webgpu.js';
import { randomValues, relL2 } from './helpers.js';

const skip = await skipWebGPU();

class OneLinear implements LinearHost {
  layers = new Map<string, Linear>([['one.q', FloatLinear.fromArray(randomValues(20 * 24, 1), 20, 24)]]);
  listLinears(): Array<[string, Linear]> {
    return [...this.layers];
  }
  replaceLinear(path: string, linear: Linear): void {
    this.layers.set(path, linear);
  }
}

describe.skipIf(skip)('mixed-adapter batch on webgpu (lavapipe in CI)', () => {
  useWebGPUBackend(tf, () => import('@tensorflow/tfjs-backend-webgpu'));

  it('one kernel pair per adapter on its rows; equals cpu and, row by row, the single-adapter forward; no leaks', async () => {
    const names = ['b', BASE_ADAPTER_NAME, 'default', 'b'];
    const [S, inF, out] = [5, 24, 20];
    const per = S * out;
    const run = async (backend: 'webgpu' | 'cpu') => {
      await tf.setBackend(backend);
      const host = new OneLinear();
      const lora = injectLora(host, { target_modules: ['q'], r: 4, lora_alpha: 16 }, { seed: 5 });
      lora.addAdapter('b', { target_modules: ['q'], r: 6, lora_alpha: 3, init_lora_weights: false }, { seed: 6 });
      const layer = lora.layers.get('one.q')!;
      layer.loraB.assign(tf.tensor2d(randomValues(out * 4, 3), [out, 4])); // B ≠ 0, so "default" contributes
      const x = tf.tensor(randomValues(names.length * S * inF, 2), [names.length, S, inF]);
      const single = new Map<string, Float32Array>();
      for (const n of ['default', 'b']) {
        lora.setAdapter(n);
        const y = layer.apply(x);
        single.set(n, (await y.data()) as Float32Array);
        y.dispose();
      }
      const yb = lora.withAdapterDisabled(() => layer.apply(x));
      single.set(BASE_ADAPTER_NAME, (await yb.data()) as Float32Array);
      yb.dispose();
      const before = tf.memory().numTensors;
      const prof = await lora.withAdapterNames(names, () => tf.profile(() => layer.apply(x)));
      const y = prof.result as tf.Tensor;
      const res = { y: (await y.data()) as Float32Array, single, kernels: prof.kernels.map((k) => k.name).filter((k) => k.startsWith('Conifer')) };
      y.dispose();
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
      lora.unload();
      host.layers.get('one.q')!.dispose?.();
      return res;
    };
    const gpu = await run('webgpu');
    const cpu = await run('cpu');
    await tf.setBackend('webgpu');
    expect(gpu.kernels).toEqual([LORA_DOWN, LORA_UP, LORA_DOWN, LORA_UP]); // "b" then "default"; no kernel for the base rows
    expect(relL2(gpu.y, cpu.y)).toBeLessThan(1e-5);
    names.forEach((n, i) => {
      const rows = (y: Float32Array) => y.slice(i * per, (i + 1) * per);
      expect(relL2(rows(gpu.y), rows(gpu.single.get(n)!)), `example ${i} (${n})`).toBeLessThan(1e-6);
    });
    expect(gpu.single.get('b')).not.toEqual(gpu.single.get('default'));
  });
});
