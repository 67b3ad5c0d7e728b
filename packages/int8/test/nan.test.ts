// A NaN in the input must reach the output on every CPU backend, as in llmInt8MatMulJs and bitsandbytes
// (the blas kernel's Int32Array accumulation used to turn the row's int8 part into 0, leaving it finite);
// an Int8Linear does not keep the caller's arrays.
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { Int8Linear, llmInt8MatMulJs, quantizeFloat32 } from '../src/index';
import { randn } from './helpers';

describe.each(['cpu', 'wasm'])('NaN input on %s', (backend) => {
  it('llm-int8 and weight-only give a NaN row for a NaN in a regular column (an outlier column elsewhere), the other rows as the reference', async () => {
    await tf.setBackend(backend);
    const [M, K, N] = [2, 8, 3];
    const w = randn(N * K, 5, 0.3);
    const x = randn(M * K, 6);
    x[1] = Number.NaN; // row 0, column 1
    x[K + 3] = 10; // row 1: column 3 is an outlier column
    const q = quantizeFloat32(w, N, K);
    const want = new Float32Array(M * N);
    llmInt8MatMulJs(x, M, K, q.packed, q.scale, N, 6, want);
    expect(Array.from(want.slice(0, N)).every(Number.isNaN)).toBe(true);
    for (const mode of ['llm-int8', 'weight-only'] as const) {
      const layer = Int8Linear.fromQuantized(q, { mode });
      const xt = tf.tensor2d(x, [M, K]);
      const y = layer.apply(xt);
      xt.dispose();
      const v = await y.data();
      expect(Array.from(v.slice(0, N)).every(Number.isNaN), `${mode} row 0`).toBe(true);
      expect(Array.from(v.slice(N)).every(Number.isFinite), `${mode} row 1`).toBe(true);
      if (mode === 'llm-int8') for (let i = N; i < M * N; i++) expect(v[i]).toBeCloseTo(want[i]!, 4);
      tf.dispose(y);
      layer.dispose();
    }
  });

  it('fromQuantized and the bias take copies: changing the caller\'s arrays later changes nothing', async () => {
    await tf.setBackend(backend);
    const q = quantizeFloat32(randn(2 * 4, 7), 2, 4);
    const bias = new Float32Array([1, 2]);
    const layer = Int8Linear.fromQuantized(q, { bias });
    const x = tf.tensor2d([[1, 2, 3, 4]]);
    const before = Array.from(await layer.apply(x).data());
    bias[0] = 1000;
    q.scale[0] = 0;
    q.packed[1] = 0;
    expect(Array.from(await layer.apply(x).data())).toEqual(before);
    layer.dispose();
    x.dispose();
  });
});
