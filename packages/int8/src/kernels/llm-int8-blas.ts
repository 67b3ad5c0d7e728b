import type * as tf from '@tensorflow/tfjs-core';
import { packedBytes, packedWidth } from '../pack';
import { dequantizeInto, roundHalfAway } from '../quantize';
import type { JsBackendAccess } from './js-kernels';

/**
 * Columns per float32 product: every partial sum of ≤ 1024 products of int8 values is an integer
 * of magnitude ≤ 127² · 1024 = 16,516,096 < 2²⁴, hence exact in float32 whatever the summation
 * order. So the backend's float32 matMul computes the int8 × int8 products of a chunk exactly,
 * and the chunks are summed in an Int32Array: the same numbers as an int32 accumulator.
 */
export const EXACT_CHUNK = 1024;

type MatMul = (a: tf.TensorInfo, b: tf.TensorInfo) => tf.TensorInfo;

/**
 * LLM.int8 x `[M, K]` · Wᵀ on a CPU-side backend, through its float32 matMul (same result as
 * {@link llmInt8MatMulJs}): outlier columns (any |x| ≥ threshold) in float32 against the
 * dequantized weight columns, the rest as int8 with a per-row absmax scale.
 */
export function llmInt8MatMulBlas(
  backend: unknown, access: JsBackendAccess, matMul: MatMul,
  x: tf.TensorInfo, packed: tf.TensorInfo, scale: tf.TensorInfo, threshold: number,
): tf.TensorInfo {
  const [M, K] = x.shape as [number, number];
  const N = packed.shape[0] as number;
  const stride = 4 * packedWidth(K);
  // 1. outlier columns and per-row scales (x is read again after each allocation: wasm views move)
  let xv = access.read(backend, x) as Float32Array;
  const outlier = new Uint8Array(K);
  for (let i = 0; i < M * K; i++) if (Math.abs(xv[i] as number) >= threshold) outlier[i % K] = 1;
  const outliers: number[] = [];
  for (let k = 0; k < K; k++) if (outlier[k]) outliers.push(k);
  const factor = new Float64Array(M); // 127 / absmax
  const rowScale = new Float64Array(M); // absmax / 127
  for (let m = 0; m < M; m++) {
    let absmax = 0;
    for (let k = 0; k < K; k++) if (!outlier[k]) absmax = Math.max(absmax, Math.abs(xv[m * K + k] as number));
    if (absmax > 0) {
      factor[m] = 127 / absmax;
      rowScale[m] = absmax / 127;
    } else if (Number.isNaN(absmax)) {
      rowScale[m] = Number.NaN; // a NaN input gives a NaN row, as the reference and bitsandbytes (the Int32Array sum would drop it)
    }
  }
  // 2. float32 part: Σ_{k outlier} x · q
  const accF = new Float64Array(outliers.length ? M * N : 0);
  if (outliers.length) {
    const wq = packedBytes(access.read(backend, packed) as Int32Array);
    for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
      let s = 0;
      for (const k of outliers) s += (xv[m * K + k] as number) * (wq[n * stride + k] as number);
      accF[m * N + n] = s;
    }
  }
  // 3. int8 part, chunk by chunk: exact integers
  const acc = new Int32Array(M * N);
  for (let c0 = 0; c0 < K; c0 += EXACT_CHUNK) {
    const kc = Math.min(EXACT_CHUNK, K - c0);
    const a = access.alloc(backend, [M, kc]); // xq [M, kc]
    const b = access.alloc(backend, [kc, N]); // qᵀ [kc, N]
    xv = access.read(backend, x) as Float32Array;
    const av = a.values();
    for (let m = 0; m < M; m++) {
      const f = factor[m] as number;
      for (let j = 0; j < kc; j++) av[m * kc + j] = outlier[c0 + j] ? 0 : roundHalfAway((xv[m * K + c0 + j] as number) * f);
    }
    dequantizeInto(access.read(backend, packed) as Int32Array, null, N, K, b.values(), true, c0, kc);
    const r = matMul(a.info, b.info); // [M, N]
    access.dispose(backend, a.info);
    access.dispose(backend, b.info);
    const rv = access.read(backend, r);
    for (let i = 0; i < M * N; i++) acc[i] = (acc[i] as number) + (rv[i] as number);
    access.dispose(backend, r);
  }
  // 4. rescale: y = (acc · absmax/127 + Σ_outlier x·q) · scale[n]
  const out = access.alloc(backend, [M, N]);
  const ov = out.values();
  const sv = access.read(backend, scale) as Float32Array;
  for (let m = 0; m < M; m++) {
    const rs = rowScale[m] as number;
    for (let n = 0; n < N; n++) {
      const i = m * N + n;
      ov[i] = ((acc[i] as number) * rs + (outliers.length ? (accF[i] as number) : 0)) * (sv[n] as number);
    }
  }
  return out.info;
}
