import { packedBytes, packedWidth } from '../pack';
import { roundHalfAway } from '../quantize';

/**
 * LLM.int8 (bitsandbytes' mixed-precision decomposition) in plain JavaScript:
 * 1. outlier columns: k with any |x[m, k]| ≥ threshold;
 * 2. per row of x, absmax over the other columns; xq = round(x · 127 / absmax);
 * 3. acc = Σ_k xq · q over the regular columns, exact integer (int32) accumulation;
 * 4. y = (acc · absmax/127 + Σ_{k outlier} x · q) · scale[n].
 * x: `[M, K]`, packed: `[N, ceil(K/4)]`, scale: `[N]` → `out` `[M, N]`.
 */
export function llmInt8MatMulJs(
  x: Float32Array, M: number, K: number,
  packed: Int32Array, scale: Float32Array, N: number,
  threshold: number, out: Float32Array,
): void {
  const stride = 4 * packedWidth(K);
  const wq = packedBytes(packed);
  const outlier = new Uint8Array(K);
  for (let m = 0; m < M; m++) {
    for (let k = 0; k < K; k++) if (Math.abs(x[m * K + k] as number) >= threshold) outlier[k] = 1;
  }
  const outliers: number[] = [];
  for (let k = 0; k < K; k++) if (outlier[k]) outliers.push(k);
  const xq = new Int8Array(M * K); // outlier columns stay 0
  const rowScale = new Float64Array(M);
  for (let m = 0; m < M; m++) {
    let absmax = 0;
    for (let k = 0; k < K; k++) if (!outlier[k]) absmax = Math.max(absmax, Math.abs(x[m * K + k] as number));
    if (absmax === 0) continue;
    const f = 127 / absmax;
    rowScale[m] = absmax / 127;
    for (let k = 0; k < K; k++) if (!outlier[k]) xq[m * K + k] = roundHalfAway((x[m * K + k] as number) * f);
  }
  for (let m = 0; m < M; m++) {
    const xo = m * K;
    const rs = rowScale[m] as number;
    for (let n = 0; n < N; n++) {
      const wo = n * stride;
      let acc = 0; // |acc| ≤ 127² · K: exact
      for (let k = 0; k < K; k++) acc += (xq[xo + k] as number) * (wq[wo + k] as number);
      let accF = 0;
      for (const k of outliers) accF += (x[xo + k] as number) * (wq[wo + k] as number);
      out[m * N + n] = (acc * rs + accF) * (scale[n] as number);
    }
  }
}
