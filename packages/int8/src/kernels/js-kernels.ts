import * as tf from '@tensorflow/tfjs-core';
import { Int8Dequantize, Int8MatMul, type Int8DequantizeAttrs, type Int8MatMulAttrs } from '../kernel-names';
import { dequantizeInto } from '../quantize';
import { llmInt8MatMulBlas } from './llm-int8-blas';

type TensorInfo = tf.TensorInfo;
type TypedArray = Float32Array | Int32Array;

/** How a JS kernel reaches a backend's memory (cpu: JS arrays; wasm: views of the wasm heap). */
export interface JsBackendAccess {
  /** The values of a tensor (a view where the backend allows; valid until the next allocation). */
  read(backend: unknown, t: TensorInfo): TypedArray;
  /** A new float32 tensor of `shape`; `values()` gives its writable storage (re-fetch after any allocation). */
  alloc(backend: unknown, shape: number[]): { info: TensorInfo; values: () => Float32Array };
  dispose(backend: unknown, t: TensorInfo): void;
}

interface CpuLike { readSync(id: object): unknown; makeTensorInfo(shape: number[], dtype: 'float32', values?: Float32Array): TensorInfo; disposeData(id: object): void }
interface WasmLike { typedArrayFromHeap(t: TensorInfo): TypedArray; makeOutput(shape: number[], dtype: 'float32'): TensorInfo; disposeData(id: object): void }

export const cpuAccess: JsBackendAccess = {
  read: (b, t) => (b as CpuLike).readSync(t.dataId) as TypedArray,
  alloc: (b, shape) => {
    const values = new Float32Array(shape.reduce((a, d) => a * d, 1));
    return { info: (b as CpuLike).makeTensorInfo(shape, 'float32', values), values: () => values };
  },
  dispose: (b, t) => void (b as CpuLike).disposeData(t.dataId),
};

export const wasmAccess: JsBackendAccess = {
  read: (b, t) => (b as WasmLike).typedArrayFromHeap(t),
  alloc: (b, shape) => {
    const info = (b as WasmLike).makeOutput(shape, 'float32');
    return { info, values: () => (b as WasmLike).typedArrayFromHeap(info) as Float32Array };
  },
  dispose: (b, t) => void (b as WasmLike).disposeData(t.dataId),
};

/**
 * The Int8MatMul kernel function for a CPU-side backend. weight-only: dequantizes W once per
 * call into a backend tensor laid out for an untransposed product (`[in, out]` forward,
 * `[out, in]` backward) and runs the backend's own BatchMatMul kernel on it. llm-int8:
 * llm-int8-blas.ts (exact int8 products through the same float32 matMul).
 */
export function makeJsInt8MatMul(backendName: string, access: JsBackendAccess): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x, packed, scale } = inputs as { x: TensorInfo; packed: TensorInfo; scale: TensorInfo };
    const { mode, threshold, inFeatures, transposeWeight } = attrs as unknown as Int8MatMulAttrs;
    const N = packed.shape[0] as number;
    const matMulKernel = tf.getKernel('BatchMatMul', backendName);
    if (!matMulKernel) throw new Error(`${Int8MatMul}: backend "${backendName}" has no BatchMatMul kernel`);
    const matMul = (a: TensorInfo, b: TensorInfo) =>
      matMulKernel.kernelFunc({ inputs: { a, b }, backend, attrs: { transposeA: false, transposeB: false } }) as TensorInfo;
    if (mode === 'llm-int8') {
      if (!transposeWeight) throw new Error(`${Int8MatMul}: llm-int8 computes x · Wᵀ only (the input gradient uses weight-only)`);
      return llmInt8MatMulBlas(backend, access, matMul, x, packed, scale, threshold);
    }
    // weight-only: W as b of an untransposed a · b
    const w = access.alloc(backend, transposeWeight ? [inFeatures, N] : [N, inFeatures]);
    dequantizeInto(access.read(backend, packed) as Int32Array, access.read(backend, scale) as Float32Array, N, inFeatures, w.values(), transposeWeight);
    try {
      return matMul(x, w.info);
    } finally {
      access.dispose(backend, w.info);
    }
  };
}

/** The Int8Dequantize kernel function for a CPU-side backend. */
export function makeJsInt8Dequantize(access: JsBackendAccess): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { packed, scale } = inputs as { packed: TensorInfo; scale: TensorInfo };
    const { inFeatures } = attrs as unknown as Int8DequantizeAttrs;
    const N = packed.shape[0] as number;
    const out = access.alloc(backend, [N, inFeatures]);
    dequantizeInto(access.read(backend, packed) as Int32Array, access.read(backend, scale) as Float32Array, N, inFeatures, out.values(), false);
    return out.info;
  };
}

/** cpu and wasm kernel configs. */
export function jsKernelConfigs(): tf.KernelConfig[] {
  return [
    { kernelName: Int8MatMul, backendName: 'cpu', kernelFunc: makeJsInt8MatMul('cpu', cpuAccess) },
    { kernelName: Int8Dequantize, backendName: 'cpu', kernelFunc: makeJsInt8Dequantize(cpuAccess) },
    { kernelName: Int8MatMul, backendName: 'wasm', kernelFunc: makeJsInt8MatMul('wasm', wasmAccess) },
    { kernelName: Int8Dequantize, backendName: 'wasm', kernelFunc: makeJsInt8Dequantize(wasmAccess) },
  ];
}
