// WebGPU paths a coverage run showed no test reached: the simple (reference) LLM.int8 and input-gradient
// programs, LLM.int8 rows whose regular columns are all zero on the default (tiled) kernels, and the
// two-dimensional dispatch a program gets past 65535 workgroups (a Flan-UL2 weight dequantized).
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installDawnNavigator, skipWebGPU } from '../../../vitest.webgpu';
import {
  dequantizeFloat32, int8Dequantize, Int8MatMul, llmInt8MatMulJs, packedWidth, quantizeFloat32, registerInt8Kernels, setWebGPUInt8Kernels,
  type WebGPUInt8KernelOptions,
} from '../src/index';
import { matMulN, randn, relError } from './helpers';

const skip = await skipWebGPU();

describe.skipIf(skip)('webgpu int8 programs not reached elsewhere (lavapipe in CI)', () => {
  let prev: WebGPUInt8KernelOptions;
  beforeAll(async () => {
    await installDawnNavigator();
    await import('@tensorflow/tfjs-backend-webgpu');
    await tf.setBackend('webgpu');
    registerInt8Kernels();
    prev = setWebGPUInt8Kernels({});
  }, 120_000);
  afterAll(() => { setWebGPUInt8Kernels(prev); });

  const run = async (x: Float32Array, M: number, q: { packed: Int32Array; scale: Float32Array }, N: number, K: number, mode: 'weight-only' | 'llm-int8', transposeWeight: boolean) => {
    const inner = transposeWeight ? K : N;
    const y = tf.tidy(() => tf.engine().runKernel(Int8MatMul, {
      x: tf.tensor2d(x, [M, inner]), packed: tf.tensor2d(q.packed, [N, packedWidth(K)], 'int32'), scale: tf.tensor1d(q.scale),
    }, { mode, threshold: 6, inFeatures: K, transposeWeight } as unknown as tf.NamedAttrMap) as tf.Tensor);
    const out = (await y.data()) as Float32Array;
    y.dispose();
    return out;
  };

  it('runs on webgpu', () => {
    expect(tf.getBackend()).toBe('webgpu');
  });

  it("the simple programs: LLM.int8 equals bitsandbytes' decomposition (JS reference), the input gradient dY · Ŵ", async () => {
    setWebGPUInt8Kernels({ path: 'simple' });
    const before = tf.memory().numTensors;
    const [M, K, N] = [7, 21, 9];
    const q = quantizeFloat32(randn(N * K, 31, 0.2), N, K);
    const x = randn(M * K, 32);
    x[2 * K + 5] = 11; // column 5: an outlier column
    x[4 * K + 17] = -6; // column 17: at the threshold
    const js = new Float32Array(M * N);
    llmInt8MatMulJs(x, M, K, q.packed, q.scale, N, 6, js);
    expect(relError(await run(x, M, q, N, K, 'llm-int8', true), js)).toBeLessThan(1e-6);
    const dy = randn(M * N, 33);
    const ref = matMulN(dy, dequantizeFloat32(q), M, N, K);
    expect(relError(await run(dy, M, q, N, K, 'weight-only', false), ref)).toBeLessThan(1e-6);
    expect(tf.memory().numTensors).toBe(before);
  });

  for (const path of ['simple', 'tiled'] as const) {
    it(`${path}: an LLM.int8 row of zeros outside the outlier columns gives the outlier part alone, a zero row 0`, async () => {
      setWebGPUInt8Kernels({ path });
      const [M, K, N] = [5, 12, 6];
      const q = quantizeFloat32(randn(N * K, 41, 0.2), N, K);
      const deq = dequantizeFloat32(q);
      const x = randn(M * K, 42);
      x[0 * K + 2] = 9;
      for (let k = 0; k < K; k++) x[1 * K + k] = k === 2 ? -7.5 : 0;
      for (let k = 0; k < K; k++) x[3 * K + k] = 0;
      const y = await run(x, M, q, N, K, 'llm-int8', true);
      expect(Array.from(y).every(Number.isFinite)).toBe(true);
      for (let n = 0; n < N; n++) {
        expect(y[1 * N + n]).toBeCloseTo(-7.5 * deq[n * K + 2]!, 5);
        expect(y[3 * N + n]).toBe(0);
      }
      const js = new Float32Array(M * N);
      llmInt8MatMulJs(x, M, K, q.packed, q.scale, N, 6, js);
      expect(relError(y, js)).toBeLessThan(1e-6);
    });
  }

  it('a dequantized weight of more than 65535 workgroups of outputs (2-D dispatch) is complete and exact', async () => {
    const [N, K] = [1031, 4096]; // 4,222,976 outputs > 65535 · 64
    expect(N * K).toBeGreaterThan(65535 * 64);
    const w = new Float32Array(N * K);
    for (let i = 0; i < w.length; i++) w[i] = ((i * 2654435761) % 1000) / 1000 - 0.5 + (i % K === 0 ? 1 : 0);
    const q = quantizeFloat32(w, N, K);
    const before = tf.memory().numTensors;
    const t = tf.tidy(() => int8Dequantize(tf.tensor2d(q.packed, [N, packedWidth(K)], 'int32'), tf.tensor1d(q.scale), K));
    const got = (await t.data()) as Float32Array;
    t.dispose();
    const ref = dequantizeFloat32(q);
    let wrong = 0;
    for (let i = 0; i < ref.length; i++) if (got[i] !== ref[i]) wrong++;
    expect(got.length).toBe(ref.length);
    expect(wrong).toBe(0);
    expect(got[ref.length - 1]).toBe(ref[ref.length - 1]); // the last workgroup's outputs written
    expect(tf.memory().numTensors).toBe(before);
  }, 120_000);
});
