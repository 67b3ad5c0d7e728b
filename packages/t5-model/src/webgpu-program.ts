import type * as tf from '@tensorflow/tfjs-core';

/**
 * Structural copy of tfjs-backend-webgpu's `WebGPUProgram` (the fields this package's kernels use),
 * so the package does not depend on the backend: the kernels are registered for `webgpu` and only
 * run when the user has installed it.
 */
export interface WgslProgram {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  /** Output dimensions along x, y, z; a layout with only x makes tfjs call `main(index)`, else `main()`. */
  dispatchLayout: { x: number[]; y?: number[]; z?: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  size: boolean;
  uniforms: string;
  getUserCode(): string;
}

/** One program uniform as tfjs-backend-webgpu packs it (1–4 values: a scalar or a vector). */
export type Uniform = { type: 'int32' | 'uint32' | 'float32'; data: number[] };

/** The webgpu backend's entry point for a program (an internal of tfjs-backend-webgpu). */
export interface WebGPULike {
  runWebGPUProgram(program: WgslProgram, inputs: tf.TensorInfo[], dtype: 'float32', uniforms: Uniform[]): tf.TensorInfo;
}
