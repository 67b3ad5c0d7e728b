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

/** One invocation per element; dispatches over 65,535 workgroups are split over x and y. */
export function dropoutProgram(shape: number[]): WgslProgram {
  const size = shape.reduce((a, d) => a * d, 1);
  const groups = Math.ceil(size / WORKGROUP);
  const x = groups <= 65535 ? groups : Math.ceil(Math.sqrt(groups));
  return {
    variableNames: ['x'], outputShape: shape, shaderKey: 'conifer_dropout', size: true,
    dispatchLayout: { x: shape.map((_, i) => i) },
    dispatch: [x, Math.ceil(groups / x), 1], workgroupSize: [WORKGROUP, 1, 1],
    uniforms: 'key : u32, thr : u32, scale : f32,',
    getUserCode: () => `${WGSL_HASH}
      fn main(index : i32) {
        if (index < uniforms.size) {
          let keep = conifer_bits24(uniforms.key, u32(index)) >= uniforms.thr;
          // x · (0 or scale), as the host path multiplies: the same signed zeros and NaNs.
          setOutputAtIndex(index, x[index] * select(0.0, uniforms.scale, keep));
        }
      }`,
  };
}

/** The webgpu kernel: the mask is drawn in the shader, nothing comes from the host but three numbers. */
export const webgpuDropout: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x } = inputs as { x: tf.TensorInfo };
  const a = attrs as unknown as DropoutAttrs;
  const uniforms: Uniform[] = [{ type: 'uint32', data: [a.key] }, { type: 'uint32', data: [a.thr] }, { type: 'float32', data: [a.scale] }];
  return (backend as unknown as WebGPULike).runWebGPUProgram(dropoutProgram([...x.shape]), [x], 'float32', uniforms);
};

export const webgpuDropoutConfig: tf.KernelConfig = { kernelName: Dropout, backendName: 'webgpu', kernelFunc: webgpuDropout };
