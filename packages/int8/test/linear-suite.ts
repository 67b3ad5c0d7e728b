import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { dequantizeFloat32, Int8Linear, Int8MatMul, llmInt8MatMulJs, measureHeldBytes, quantizeFloat32 } from '../src/index';
import { matMulT, randn, relError } from './helpers';

/** The Int8Linear checks every backend must pass (tiny shapes: lavapipe is slow). */
export function int8LinearSuite(backend: string): void {
  const tol = backend === 'webgpu' ? 1e-5 : 1e-6; // float32 summation-order differences

  describe(`Int8Linear on ${backend}`, () => {
    it('runs on that backend', () => {
      expect(tf.getBackend()).toBe(backend);
    });

    const M = 5;
    const N = 7;
    for (const K of [13, 32]) {
      const w = randn(N * K, K, 0.2);
      const x = randn(M * K, 1000 + K);
      const deq = dequantizeFloat32(quantizeFloat32(w, N, K));

      it(`weight-only [${M}, ${K}] × [${N}, ${K}]ᵀ: ≤ 1 % from float32, exact vs the dequantized weight`, async () => {
        const layer = Int8Linear.fromFloat32(w, [N, K]);
        const y = await tf.tidy(() => layer.apply(tf.tensor2d(x, [M, K]))).data();
        expect(relError(y, matMulT(x, w, M, K, N))).toBeLessThan(0.01);
        expect(relError(y, matMulT(x, deq, M, K, N))).toBeLessThan(tol);
        layer.dispose();
      });

      it(`llm-int8 [${M}, ${K}]: within the stated bound and ≤ 2 % from float32`, async () => {
        const layer = Int8Linear.fromFloat32(w, [N, K], { mode: 'llm-int8' });
        const y = await tf.tidy(() => layer.apply(tf.tensor2d(x, [M, K]))).data();
        const ref = matMulT(x, deq, M, K, N);
        // Bound (no outliers here): y − x·Ŵᵀ = Σ_k (x̂ − x)·Ŵ with |x̂ − x| ≤ absmax_m/254
        for (let m = 0; m < M; m++) {
          const absmax = Math.max(...Array.from(x.subarray(m * K, (m + 1) * K), Math.abs));
          for (let n = 0; n < N; n++) {
            let l1 = 0;
            for (let k = 0; k < K; k++) l1 += Math.abs(deq[n * K + k] as number);
            expect(Math.abs((y[m * N + n] as number) - (ref[m * N + n] as number))).toBeLessThanOrEqual((absmax / 254) * l1 * (1 + 1e-4) + 1e-6);
          }
        }
        expect(relError(y, matMulT(x, w, M, K, N))).toBeLessThan(0.02);
        layer.dispose();
      });
    }

    it('llm-int8 keeps outlier columns in float32 (bitsandbytes decomposition) and equals the JS reference', async () => {
      const K = 24;
      const w = randn(N * K, 5, 0.2);
      const x = randn(M * K, 6);
      for (let m = 0; m < M; m++) x[m * K + 3] = 20 * (m % 2 ? 1 : -1); // column 3: |x| = 20 ≥ 6
      x[2 * K + 9] = 6; // column 9: one value exactly at the threshold
      const deq = dequantizeFloat32(quantizeFloat32(w, N, K));
      const ref = matMulT(x, deq, M, K, N);
      const run = async (threshold: number) => {
        const layer = Int8Linear.fromFloat32(w, [N, K], { mode: 'llm-int8', threshold });
        const y = await tf.tidy(() => layer.apply(tf.tensor2d(x, [M, K]))).data();
        layer.dispose();
        return y;
      };
      const y = await run(6);
      const js = new Float32Array(M * N);
      const q = quantizeFloat32(w, N, K);
      llmInt8MatMulJs(x, M, K, q.packed, q.scale, N, 6, js);
      expect(relError(y, js)).toBeLessThan(backend === 'webgpu' ? 1e-3 : 1e-7);
      // Bound with the outliers excluded from each row's absmax (columns 3 and 9 are exact)
      for (let m = 0; m < M; m++) {
        let absmax = 0;
        for (let k = 0; k < K; k++) if (k !== 3 && k !== 9) absmax = Math.max(absmax, Math.abs(x[m * K + k] as number));
        for (let n = 0; n < N; n++) {
          let l1 = 0;
          for (let k = 0; k < K; k++) if (k !== 3 && k !== 9) l1 += Math.abs(deq[n * K + k] as number);
          expect(Math.abs((y[m * N + n] as number) - (ref[m * N + n] as number))).toBeLessThanOrEqual((absmax / 254) * l1 * (1 + 1e-4) + 1e-5);
        }
      }
      // Without the decomposition the outliers set the scale and the error grows several-fold
      expect(relError(await run(1e9), ref)).toBeGreaterThan(3 * relError(y, ref));
      // threshold 0 is bitsandbytes' "no outlier columns": the same numbers as a threshold no value reaches
      expect(Array.from(await run(0))).toEqual(Array.from(await run(1e9)));
    });

    it('llm-int8 over several 1024-column chunks equals the JS reference (exact int8 products)', async () => {
      const [m, n, K] = [3, 4, 2100]; // chunks of 1024, 1024, 52 columns
      const w = randn(n * K, 21, 0.1);
      const x = randn(m * K, 22);
      x[K + 1500] = 7; // an outlier in the second chunk
      const layer = Int8Linear.fromFloat32(w, [n, K], { mode: 'llm-int8' });
      const y = await tf.tidy(() => layer.apply(tf.tensor2d(x, [m, K]))).data();
      const q = quantizeFloat32(w, n, K);
      const js = new Float32Array(m * n);
      llmInt8MatMulJs(x, m, K, q.packed, q.scale, n, 6, js);
      expect(relError(y, js)).toBeLessThan(backend === 'webgpu' ? 1e-3 : 1e-7);
      layer.dispose();
    });

    it('applies to [..., in] with a bias, and rejects a wrong last dimension', async () => {
      const K = 6;
      const w = randn(N * K, 8);
      const bias = randn(N, 9);
      const layer = Int8Linear.fromFloat32(tf.tensor2d(w, [N, K]), undefined, { bias });
      const x = randn(2 * 3 * K, 10);
      const y = tf.tidy(() => layer.apply(tf.tensor3d(x, [2, 3, K])));
      expect(y.shape).toEqual([2, 3, N]);
      const ref = matMulT(x, dequantizeFloat32(quantizeFloat32(w, N, K)), 6, K, N).map((v, i) => v + (bias[i % N] as number));
      expect(relError(await y.data(), ref)).toBeLessThan(tol);
      y.dispose();
      expect(() => layer.apply(tf.zeros([2, 5]))).toThrow(/x must end in 6, got \[2, 5\]/);
      layer.dispose();
    });

    for (const mode of ['weight-only', 'llm-int8'] as const) {
      it(`${mode}: gradient wrt x equals dY · Ŵ (≤ 1e-5 rel), no leaks`, async () => {
        const K = 10;
        const w = randn(N * K, 12, 0.3);
        const layer = Int8Linear.fromFloat32(w, [N, K], { mode });
        const x = tf.tensor3d(randn(2 * 2 * K, 13), [2, 2, K]);
        const r = randn(4 * N, 14);
        const dy = tf.tensor3d(r, [2, 2, N]);
        const before = tf.memory().numTensors;
        const g = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(layer.apply(xx), dy)))(x);
        expect(g.shape).toEqual([2, 2, K]);
        const deq = dequantizeFloat32(quantizeFloat32(w, N, K));
        const ref = new Float64Array(4 * K); // dX[m, k] = Σ_n dY[m, n] · Ŵ[n, k]
        for (let m = 0; m < 4; m++) for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) ref[m * K + k] = (ref[m * K + k] as number) + (r[m * N + n] as number) * (deq[n * K + k] as number);
        expect(relError(await g.data(), ref)).toBeLessThan(1e-5);
        g.dispose();
        expect(tf.memory().numTensors).toBe(before);
        layer.dispose();
        x.dispose();
        dy.dispose();
        expect(tf.memory().numTensors).toBe(before - 4); // the layer's packed + scale, x, dy
      });

      it(`${mode}: asking for the gradient of the packed weight is a clear error`, () => {
        const layer = Int8Linear.fromFloat32(randn(N * 8, 17), [N, 8], { mode });
        const x = tf.ones([2, 8]);
        const frozen = () => tf.grad((p: tf.Tensor) => tf.sum(tf.engine().runKernel(Int8MatMul, { x, packed: p, scale: layer.scale },
          { mode, threshold: 6, inFeatures: 8, transposeWeight: true }) as tf.Tensor))(layer.packed);
        expect(frozen).toThrow(/int8 weights are frozen/);
        layer.dispose();
        x.dispose();
      });
    }

    it('dequantize() returns q · scale; apply leaves no tensors behind', async () => {
      const K = 9;
      const w = randn(N * K, 15);
      const layer = Int8Linear.fromFloat32(w, [N, K]);
      const d = layer.dequantize();
      expect(d.shape).toEqual([N, K]);
      expect(Array.from(await d.data())).toEqual(Array.from(dequantizeFloat32(quantizeFloat32(w, N, K))));
      d.dispose();
      const x = tf.ones([3, K]);
      const before = tf.memory().numTensors;
      tf.dispose(layer.apply(x));
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
      layer.dispose();
    });

    it('stores ≤ 26 % of the float32 bytes, as the backend counts them', () => {
      const [out, inF] = [64, 256];
      const { result: layer, bytes } = measureHeldBytes(() => Int8Linear.fromFloat32(randn(out * inF, 16), [out, inF]));
      // packed: 64 × 64 int32 = 16384 B; scale: 64 float32 = 256 B; float32 weight: 65536 B → 25.39 %
      expect(bytes).toBe(16640);
      expect(layer.heldBytes()).toBe(bytes);
      expect(bytes / (out * inF * 4)).toBeLessThanOrEqual(0.26);
      const { bytes: freed } = measureHeldBytes(() => layer.dispose());
      expect(freed).toBe(-16640);
    });
  });
}
