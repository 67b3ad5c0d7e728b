import type * as tf from '@tensorflow/tfjs-core';
import { WGSL_HASH } from './hash';
import { Dropout, type DropoutAttrs } from './kernel-names';

/** Structural copy of tfjs-backend-webgpu's `WebGPUProgram` (the fields used; the package does not depend on the backend). */
interface WgslProgram {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  size: boolean;
  uniforms: string;
  getUserCode(): string;
}
type Uniform = { type: 'uint32' | 'float32'; data: number[] };
interface WebGPULike {
  runWebGPUProgram(program: WgslProgram, inputs: tf.TensorInfo[], dtype: 'float32', uniforms: Uniform[]): tf.TensorInfo;
}

const WORKGROUP = 64;

/**
 * One invocation per element of `shape` with the mask bit `keep` of its flat index, writing
 * `output` (a WGSL expression of `index` and `keep` over the inputs `variableNames`); dispatches
 * over 65,535 workgroups are split over x and y. Uniforms: {@link maskUniforms}.
 */
export function maskedProgram(shape: number[], shaderKey: string, variableNames: string[], output: string): WgslProgram {
  const size = shape.reduce((a, d) => a * d, 1);
  const groups = Math.ceil(size / WORKGROUP);
  const x = groups <= 65535 ? groups : Math.ceil(Math.sqrt(groups));
  return {
    variableNames, outputShape: shape, shaderKey, size: true,
    dispatchLayout: { x: shape.map((_, i) => i) },
    dispatch: [x, Math.ceil(groups / x), 1], workgroupSize: [WORKGROUP, 1, 1],
    uniforms: 'key : u32, thr : u32, scale : f32,',
    getUserCode: () => `${WGSL_HASH}
      fn main(index : i32) {
        if (index < uniforms.size) {
          let keep = conifer_bits24(uniforms.key, u32(index)) >= uniforms.thr;
          setOutputAtIndex(index, ${output});
        }
      }`,
  };
}

/** The uniforms of a {@link maskedProgram}: the hash key, the keep threshold and the scale. */
export function maskUniforms(a: DropoutAttrs): Uniform[] {
  return [{ type: 'uint32', data: [a.key] }, { type: 'uint32', data: [a.thr] }, { type: 'float32', data: [a.scale] }];
}

/** Runs a {@link maskedProgram} on the webgpu backend. */
export function runMasked(backend: unknown, program: WgslProgram, inputs: tf.TensorInfo[], a: DropoutAttrs): tf.TensorInfo {
  return (backend as WebGPULike).runWebGPUProgram(program, inputs, 'float32', maskUniforms(a));
}

/** x · (0 or scale), as the host path multiplies: the same signed zeros and NaNs. */
export function dropoutProgram(shape: number[]): WgslProgram {
  return maskedProgram(shape, 'conifer_dropout', ['x'], 'x[index] * select(0.0, uniforms.scale, keep)');
}

/** The webgpu kernel: the mask is drawn in the shader, nothing comes from the host but three numbers. */
export const webgpuDropout: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x } = inputs as { x: tf.TensorInfo };
  return runMasked(backend, dropoutProgram([...x.shape]), [x], attrs as unknown as DropoutAttrs);
};

export const webgpuDropoutConfig: tf.KernelConfig = { kernelName: Dropout, backendName: 'webgpu', kernelFunc: webgpuDropout };
