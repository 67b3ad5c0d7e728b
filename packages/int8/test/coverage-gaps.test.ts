// Paths a coverage run showed no test reached (cpu and wasm): int8MatMul's and the layers' input
// checks, requantize with a bias (PEFT's merge into an 8-bit layer keeps the bias), LLM.int8 rows
// whose regular columns are all zero, and planT5Memory's default bucket count.
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dequantizeFloat32, Float32Linear, int8Dequantize, Int8Linear, int8MatMul, llmInt8MatMulJs, packedWidth, planT5Memory, quantizeFloat32,
  quantizeWeightData, toBitsAndBytes,
} from '../src/index';
import { matMulT, randn } from './helpers';

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(async () => {
  await tf.setBackend('cpu');
});

/** y = layer(x) read back, the tensor freed. */
async function applied(layer: Int8Linear, x: Float32Array, shape: [number, number]): Promise<Float32Array> {
  const t = tf.tidy(() => layer.apply(tf.tensor2d(x, shape)));
  const y = (await t.data()) as Float32Array;
  t.dispose();
  return y;
}

describe('input checks: one clear error each', () => {
  it('int8MatMul and int8Dequantize refuse inputs of the wrong shape, dtype, mode or threshold', () => {
    const before = tf.memory().numTensors;
    const [N, K] = [3, 6];
    const q = quantizeFloat32(randn(N * K, 1, 0.2), N, K);
    const packed = tf.tensor2d(q.packed, [N, packedWidth(K)], 'int32');
    const scale = tf.tensor1d(q.scale);
    const x = tf.tensor2d(randn(2 * K, 2), [2, K]);
    expect(() => tf.tidy(() => int8MatMul(tf.tensor2d(new Float32Array(2 * 5), [2, 5]), packed, scale, { inFeatures: K }))).toThrow('int8MatMul: x must be [M, 6], got [2, 5]');
    expect(() => tf.tidy(() => int8MatMul(tf.zeros([2, 3, K]) as unknown as tf.Tensor2D, packed, scale, { inFeatures: K }))).toThrow('int8MatMul: x must be [M, 6], got [2, 3, 6]');
    // without inFeatures, x's width decides the packed width the weight must have
    expect(() => tf.tidy(() => int8MatMul(tf.zeros([2, 9]) as tf.Tensor2D, packed, scale))).toThrow('int8: packed must be int32 [out, 3] for inFeatures 9, got int32 [3, 2]');
    expect(() => tf.tidy(() => int8MatMul(tf.tensor2d(new Int32Array(2 * K), [2, K], 'int32'), packed, scale))).toThrow('int8MatMul: x must be float32, got int32');
    // @ts-expect-error not a mode
    expect(() => int8MatMul(x, packed, scale, { mode: 'int4' })).toThrow('int8MatMul: mode must be "weight-only" or "llm-int8", got "int4"');
    // 0 is bitsandbytes' "no outlier columns" (Linear8bitLt's default), so only a negative or NaN threshold is an error
    expect(() => int8MatMul(x, packed, scale, { mode: 'llm-int8', threshold: -1 })).toThrow('int8MatMul: threshold must be >= 0 (0: no outlier columns), got -1');
    expect(() => int8MatMul(x, packed, scale, { mode: 'llm-int8', threshold: Number.NaN })).toThrow('threshold must be >= 0 (0: no outlier columns), got NaN');
    const packedF = tf.tensor2d(new Float32Array(N * 2), [N, 2]);
    expect(() => int8MatMul(x, packedF as tf.Tensor2D, scale)).toThrow('int8: packed must be int32 [out, 2] for inFeatures 6, got float32 [3, 2]');
    const wide = tf.tensor2d(new Int32Array(N * 3), [N, 3], 'int32');
    expect(() => int8Dequantize(wide, scale, K)).toThrow('int8: packed must be int32 [out, 2] for inFeatures 6, got int32 [3, 3]');
    const short = tf.tensor1d(new Float32Array(N - 1));
    expect(() => int8MatMul(x, packed, short)).toThrow('int8: scale must be float32 [3], got float32 [2]');
    const intScale = tf.tensor1d(new Int32Array(N), 'int32');
    expect(() => int8Dequantize(packed, intScale, K)).toThrow('int8: scale must be float32 [3], got int32 [3]');
    tf.dispose([packed, scale, x, packedF, wide, short, intScale]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('Int8Linear / Float32Linear / bitsandbytes conversion refuse mismatched shapes and sizes', () => {
    const before = tf.memory().numTensors;
    const w3 = tf.zeros([2, 3, 4]);
    expect(() => Int8Linear.fromFloat32(w3 as unknown as tf.Tensor2D)).toThrow('Int8Linear.fromFloat32: weight must be 2-D, got [2, 3, 4]');
    const w2 = tf.ones([3, 4]) as tf.Tensor2D;
    expect(() => Int8Linear.fromFloat32(w2, [4, 3])).toThrow("Int8Linear.fromFloat32: shape [4, 3] differs from the tensor's [3, 4]");
    const q = quantizeFloat32(new Float32Array(12).fill(0.5), 3, 4);
    expect(() => Int8Linear.fromQuantized({ ...q, inFeatures: 5 })).toThrow('Int8Linear.fromQuantized: packed/scale sizes do not match [3, 5]');
    expect(() => Int8Linear.fromQuantized({ ...q, scale: new Float32Array(2) })).toThrow('packed/scale sizes do not match [3, 4]');
    expect(() => toBitsAndBytes({ ...q, outFeatures: 4 })).toThrow('toBitsAndBytes: packed/scale sizes do not match [4, 4]');
    expect(() => quantizeFloat32(new Float32Array(0), 0, 4)).toThrow('weight: invalid shape [0, 4]');
    expect(() => quantizeWeightData({ dtype: 'F32', shape: [2, 0], data: new Uint8Array(0) }, 'enc.q')).toThrow('enc.q: invalid shape [2, 0]');
    expect(() => new Float32Linear({ dtype: 'F32', shape: [12], data: new Uint8Array(48) })).toThrow('Float32Linear: weight must be [out, in], got [12]');
    expect(() => new Float32Linear({ dtype: 'I8', shape: [12], data: new Uint8Array(12), SCB: new Float32Array(1) })).toThrow(/weight must be \[out, in\], got \[12\]/);
    tf.dispose([w3, w2]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('requantize keeps the layer kind (PEFT merges into an 8-bit layer keeping its bias)', () => {
  it('the new layer has the bias, mode and threshold; heldBytes counts the bias', async () => {
    const [M, N, K] = [3, 5, 8];
    const w = randn(N * K, 11, 0.3);
    const bias = Float32Array.from({ length: N }, (_, i) => 0.25 * (i + 1));
    const layer = Int8Linear.fromFloat32(w, [N, K], { bias, mode: 'weight-only' });
    expect(layer.heldBytes()).toBe(4 * (N * packedWidth(K) + N + N));
    const w2 = randn(N * K, 12, 0.3);
    const merged = layer.requantize(w2);
    expect([merged.mode, merged.threshold]).toEqual([layer.mode, layer.threshold]);
    expect(merged.bias).not.toBeNull();
    expect(merged.heldBytes()).toBe(layer.heldBytes());
    const x = randn(M * K, 13);
    const deq = dequantizeFloat32(quantizeFloat32(w2, N, K));
    const ref = matMulT(x, deq, M, K, N);
    const y = await applied(merged, x, [M, K]);
    for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) expect(y[m * N + n]).toBeCloseTo(ref[m * N + n]! + bias[n]!, 5);
    // the original keeps its own bias tensor
    layer.dispose();
    expect(Array.from(await merged.bias!.data())).toEqual(Array.from(bias));
    merged.dispose();

    const llm = Int8Linear.fromFloat32(w, [N, K], { mode: 'llm-int8', threshold: 3 });
    const again = llm.requantize(w2);
    expect([again.mode, again.threshold, again.bias, again.heldBytes()]).toEqual(['llm-int8', 3, null, 4 * (N * packedWidth(K) + N)]);
    llm.dispose();
    again.dispose();
  });
});

describe('LLM.int8: a row whose regular columns are all zero', () => {
  // bitsandbytes' decomposition: outlier columns (any |x| ≥ threshold) in float, the rest quantized per
  // row by its absmax; a row with absmax 0 quantizes to 0, so its output is its outlier part alone.
  const [M, N, K] = [4, 6, 12];
  const w = randn(N * K, 21, 0.2);
  const q = quantizeFloat32(w, N, K);
  const deq = dequantizeFloat32(q);
  const x = randn(M * K, 22);
  x[0 * K + 2] = 9; // column 2 is an outlier column
  for (let k = 0; k < K; k++) x[1 * K + k] = k === 2 ? -7.5 : 0; // row 1: only its outlier value
  for (let k = 0; k < K; k++) x[3 * K + k] = 0; // row 3: all zero
  const expectRows = (y: Float32Array | Int32Array | Uint8Array) => {
    for (let n = 0; n < N; n++) {
      expect(y[1 * N + n]).toBeCloseTo(-7.5 * deq[n * K + 2]!, 5);
      expect(y[3 * N + n]).toBe(0);
    }
    expect(Array.from(y).every(Number.isFinite)).toBe(true);
    const js = new Float32Array(M * N);
    llmInt8MatMulJs(x, M, K, q.packed, q.scale, N, 6, js);
    for (let i = 0; i < M * N; i++) expect(y[i]).toBeCloseTo(js[i]!, 5);
  };

  it('the JS reference gives the outlier part, 0 for a zero row', () => {
    const js = new Float32Array(M * N);
    llmInt8MatMulJs(x, M, K, q.packed, q.scale, N, 6, js);
    for (let n = 0; n < N; n++) {
      expect(js[1 * N + n]).toBeCloseTo(-7.5 * deq[n * K + 2]!, 5);
      expect(js[3 * N + n]).toBe(0);
    }
  });

  for (const backend of ['cpu', 'wasm']) {
    it(`${backend}: the Int8Linear gives the outlier part, 0 for a zero row, the JS reference elsewhere; no leaks`, async () => {
      expect(await tf.setBackend(backend)).toBe(true);
      expect(tf.getBackend()).toBe(backend);
      const before = tf.memory().numTensors;
      const layer = Int8Linear.fromFloat32(w, [N, K], { mode: 'llm-int8' });
      const y = await applied(layer, x, [M, K]);
      layer.dispose();
      expectRows(y);
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});

describe('planT5Memory', () => {
  it('a config without relative_attention_num_buckets counts transformers\' default 32', () => {
    const config = { d_model: 8, d_kv: 2, num_heads: 4, d_ff: 16, num_layers: 1, vocab_size: 10 };
    // shared 10·8 + layer norms (encoder 2 + final 1, decoder 3 + final 1)·8 + relative bias 2 stacks · buckets · 4 heads
    expect(planT5Memory(config).float32Parameters).toBe(80 + 7 * 8 + 2 * 32 * 4);
    expect(planT5Memory({ ...config, relative_attention_num_buckets: 8 }).float32Parameters).toBe(80 + 7 * 8 + 2 * 8 * 4);
  });
});
