import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Int8Dequantize, Int8Linear, Int8MatMul, int8KernelConfigs, registerInt8Kernels } from '../src/index';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('registerInt8Kernels', () => {
  it('has a kernel for every backend and both kernel names', () => {
    const keys = int8KernelConfigs().map((c) => `${c.kernelName}/${c.backendName}`).sort();
    expect(keys).toEqual(['cpu', 'tensorflow', 'wasm', 'webgpu'].flatMap((b) => [`${Int8Dequantize}/${b}`, `${Int8MatMul}/${b}`]).sort());
  });

  it('is idempotent and never replaces a kernel registered before it (a faster one)', async () => {
    let calls = 0;
    tf.registerKernel({
      kernelName: Int8MatMul, backendName: 'cpu',
      kernelFunc: ({ inputs, backend }) => {
        calls++;
        const x = inputs.x as tf.TensorInfo;
        return (backend as unknown as { makeTensorInfo(s: number[], d: string, v: Float32Array): tf.TensorInfo })
          .makeTensorInfo([x.shape[0] as number, 2], 'float32', new Float32Array(2 * (x.shape[0] as number)).fill(7));
      },
    });
    registerInt8Kernels();
    registerInt8Kernels();
    const layer = Int8Linear.fromFloat32(new Float32Array([1, 1, -3, 3]), [2, 2]);
    const y = layer.apply(tf.ones([1, 2]));
    expect(Array.from(await y.data())).toEqual([7, 7]);
    expect(calls).toBe(1);
    tf.unregisterKernel(Int8MatMul, 'cpu');
    registerInt8Kernels(); // back to the default
    const z = layer.apply(tf.ones([1, 2]));
    const [z0, z1] = Array.from(await z.data());
    expect(z0).toBeCloseTo(2, 6); // 1 + 1: each entry is its row's absmax, q = ±127
    expect(z1).toBeCloseTo(0, 6); // -3 + 3
    tf.dispose([y, z]);
    layer.dispose();
  });
});
