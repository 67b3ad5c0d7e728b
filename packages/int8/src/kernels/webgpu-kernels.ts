import type * as tf from '@tensorflow/tfjs-core';
import { Int8Dequantize, Int8MatMul, type Int8DequantizeAttrs, type Int8MatMulAttrs } from '../kernel-names';
import { packedWidth } from '../pack';
import {
  dequantizeProgram, llmInt8Program, outlierColumnsProgram, rowAbsmaxProgram,
  weightOnlyBackwardProgram, weightOnlyProgram, type WgslProgram,
} from './webgpu-programs';

type Uniform = { type: 'int32' | 'float32'; data: number[] };
/** The part of tfjs-backend-webgpu's `WebGPUBackend` these kernels use. */
interface WebGPULike {
  runWebGPUProgram(program: WgslProgram, inputs: tf.TensorInfo[], dtype: 'float32', uniforms?: Uniform[]): tf.TensorInfo;
  disposeData(dataId: object): void;
}

const int = (v: number): Uniform => ({ type: 'int32', data: [v] });

/** Int8MatMul on webgpu: the programs of webgpu-programs.ts (LLM.int8 as three passes). */
export const webgpuInt8MatMul: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const gpu = backend as unknown as WebGPULike;
  const { x, packed, scale } = inputs as { x: tf.TensorInfo; packed: tf.TensorInfo; scale: tf.TensorInfo };
  const { mode, threshold, inFeatures: K, transposeWeight } = attrs as unknown as Int8MatMulAttrs;
  const M = x.shape[0] as number;
  const N = packed.shape[0] as number;
  const KW = packedWidth(K);
  const dims = [int(N), int(K), int(KW)];
  if (mode === 'weight-only') {
    const prog = transposeWeight ? weightOnlyProgram(M, N) : weightOnlyBackwardProgram(M, K);
    return gpu.runWebGPUProgram(prog, [x, packed, scale], 'float32', dims);
  }
  if (!transposeWeight) throw new Error(`${Int8MatMul}: llm-int8 computes x · Wᵀ only (the input gradient uses weight-only)`);
  const outlier = gpu.runWebGPUProgram(outlierColumnsProgram(K), [x], 'float32', [int(M), int(K), { type: 'float32', data: [threshold] }]);
  const rowAbsmax = gpu.runWebGPUProgram(rowAbsmaxProgram(M), [x, outlier], 'float32', [int(K)]);
  const y = gpu.runWebGPUProgram(llmInt8Program(M, N), [x, packed, scale, outlier, rowAbsmax], 'float32', dims);
  gpu.disposeData(outlier.dataId);
  gpu.disposeData(rowAbsmax.dataId);
  return y;
};

/** Int8Dequantize on webgpu. */
export const webgpuInt8Dequantize: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { packed, scale } = inputs as { packed: tf.TensorInfo; scale: tf.TensorInfo };
  const { inFeatures: K } = attrs as unknown as Int8DequantizeAttrs;
  const N = packed.shape[0] as number;
  return (backend as unknown as WebGPULike).runWebGPUProgram(dequantizeProgram(N, K), [packed, scale], 'float32', [int(K), int(packedWidth(K))]);
};

export function webgpuKernelConfigs(): tf.KernelConfig[] {
  return [
    { kernelName: Int8MatMul, backendName: 'webgpu', kernelFunc: webgpuInt8MatMul },
    { kernelName: Int8Dequantize, backendName: 'webgpu', kernelFunc: webgpuInt8Dequantize },
  ];
}
