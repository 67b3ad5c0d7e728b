/**
 * First, correct WGSL programs for the webgpu backend (one invocation per output element; no
 * tiling). Kept as the reference (and for LLM.int8's outlier/absmax passes); the default matmul
 * kernels are the tiled ones of webgpu-tiled.ts. They follow tfjs-backend-webgpu's `WebGPUProgram` shape: the backend declares the
 * inputs as `array<f32>` / `array<i32>` storage buffers named by `variableNames`, the uniforms,
 * `setOutputAtIndex` and `main(index)`'s header.
 */

/** Structural copy of tfjs-backend-webgpu's `WebGPUProgram` (the fields these programs use). */
export interface WgslProgram {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[]; y?: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  size: boolean;
  uniforms?: string;
  getUserCode(): string;
}

const WORKGROUP = 64;
const MAX_DISPATCH = 65535;

/** A flat dispatch over `size` outputs, split over x and y when it exceeds the per-dimension limit. */
function flatDispatch(size: number): [number, number, number] {
  const groups = Math.ceil(size / WORKGROUP);
  if (groups <= MAX_DISPATCH) return [groups, 1, 1];
  const x = Math.ceil(Math.sqrt(groups));
  return [x, Math.ceil(groups / x), 1];
}

function program(key: string, variableNames: string[], outputShape: number[], uniforms: string, body: string): WgslProgram {
  const size = outputShape.reduce((a, d) => a * d, 1);
  return {
    variableNames, outputShape, shaderKey: key, uniforms, size: true,
    dispatchLayout: { x: outputShape.map((_, i) => i) },
    dispatch: flatDispatch(size), workgroupSize: [WORKGROUP, 1, 1],
    getUserCode: () => `
      fn int8At(word : i32, b : i32) -> f32 {
        return f32((word << u32(24 - 8 * b)) >> 24u);
      }
      ${'fn main(index : i32)'} {
        if (index >= uniforms.size) { return; }
        ${body}
      }`,
  };
}

/** y[m, n] = Σ_k x[m, k] · q[n, k] · scale[n]; x `[M, K]`, packed `[N, KW]`. Uniforms: N, K, KW. */
export function weightOnlyProgram(M: number, N: number): WgslProgram {
  return program('conifer_int8_wo_t', ['x', 'packed', 'scale'], [M, N], 'N : i32, K : i32, KW : i32,', `
        let m = index / uniforms.N;
        let n = index - m * uniforms.N;
        let xBase = m * uniforms.K;
        let wBase = n * uniforms.KW;
        var acc = 0.0;
        for (var k = 0; k < uniforms.K; k++) {
          acc += x[xBase + k] * int8At(packed[wBase + k / 4], k % 4);
        }
        setOutputAtIndex(index, acc * scale[n]);`);
}

/** y[m, k] = Σ_n x[m, n] · q[n, k] · scale[n] (the input gradient); x `[M, N]`. Uniforms: N, K, KW. */
export function weightOnlyBackwardProgram(M: number, K: number): WgslProgram {
  return program('conifer_int8_wo_n', ['x', 'packed', 'scale'], [M, K], 'N : i32, K : i32, KW : i32,', `
        let m = index / uniforms.K;
        let k = index - m * uniforms.K;
        let xBase = m * uniforms.N;
        let word = k / 4;
        let b = k % 4;
        var acc = 0.0;
        for (var n = 0; n < uniforms.N; n++) {
          acc += x[xBase + n] * int8At(packed[n * uniforms.KW + word], b) * scale[n];
        }
        setOutputAtIndex(index, acc);`);
}

/** W[n, k] = q[n, k] · scale[n] → `[N, K]`. Uniforms: K, KW. */
export function dequantizeProgram(N: number, K: number): WgslProgram {
  return program('conifer_int8_deq', ['packed', 'scale'], [N, K], 'K : i32, KW : i32,', `
        let n = index / uniforms.K;
        let k = index - n * uniforms.K;
        setOutputAtIndex(index, int8At(packed[n * uniforms.KW + k / 4], k % 4) * scale[n]);`);
}

/** LLM.int8 step 1: outlier[k] = 1 when any |x[m, k]| ≥ threshold, else 0 → `[K]`. Uniforms: M, K, threshold. */
export function outlierColumnsProgram(K: number): WgslProgram {
  return program('conifer_int8_outl', ['x'], [K], 'M : i32, K : i32, threshold : f32,', `
        var flag = 0.0;
        for (var m = 0; m < uniforms.M; m++) {
          if (abs(x[m * uniforms.K + index]) >= uniforms.threshold) { flag = 1.0; }
        }
        setOutputAtIndex(index, flag);`);
}

/** LLM.int8 step 2: absmax of each row of x over the regular columns → `[M]`. Uniforms: K. */
export function rowAbsmaxProgram(M: number): WgslProgram {
  return program('conifer_int8_rowmax', ['x', 'outlier'], [M], 'K : i32,', `
        var absmax = 0.0;
        for (var k = 0; k < uniforms.K; k++) {
          if (outlier[k] == 0.0) { absmax = max(absmax, abs(x[index * uniforms.K + k])); }
        }
        setOutputAtIndex(index, absmax);`);
}

/**
 * LLM.int8 step 3: y[m, n] = (acc · absmax_m/127 + Σ_{outlier k} x · q) · scale[n] with
 * acc = Σ_{regular k} round(x · 127/absmax_m) · q in i32. Uniforms: N, K, KW.
 */
export function llmInt8Program(M: number, N: number): WgslProgram {
  return program('conifer_int8_llm', ['x', 'packed', 'scale', 'outlier', 'rowAbsmax'], [M, N], 'N : i32, K : i32, KW : i32,', `
        let m = index / uniforms.N;
        let n = index - m * uniforms.N;
        let xBase = m * uniforms.K;
        let wBase = n * uniforms.KW;
        let absmax = rowAbsmax[m];
        var f = 0.0;
        if (absmax > 0.0) { f = 127.0 / absmax; }
        var acc = 0;
        var accF = 0.0;
        for (var k = 0; k < uniforms.K; k++) {
          let q = int8At(packed[wBase + k / 4], k % 4);
          let v = x[xBase + k];
          if (outlier[k] != 0.0) {
            accF += v * q;
          } else {
            let s = v * f;
            let xq = sign(s) * floor(abs(s) + 0.5);
            acc += i32(xq) * i32(q);
          }
        }
        setOutputAtIndex(index, (f32(acc) * (absmax / 127.0) + accF) * scale[n]);`);
}
