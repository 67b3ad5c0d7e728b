import * as tf from '@tensorflow/tfjs-core';
import { dropout, dropoutAttrs, registerDropoutKernels } from './dropout';
import { WGSL_HASH } from './hash';
import { Dropout, type DropoutAttrs } from './kernel-names';

/** `y = h + x · mask` (a residual connection after dropout); its gradients are dy and the Dropout kernel on dy. */
export const DropoutAdd = 'ConiferDropoutAdd';

/** Structural copy of tfjs-backend-webgpu's `WebGPUProgram` (the fields used). */
interface WgslProgram {
  variableNames: string[]; outputShape: number[]; shaderKey: string; dispatchLayout: { x: number[] };
  dispatch: [number, number, number]; workgroupSize: [number, number, number]; size: boolean; uniforms: string; getUserCode(): string;
}
type Uniform = { type: 'uint32' | 'float32'; data: number[] };

const webgpuDropoutAdd: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { h, x } = inputs as { h: tf.TensorInfo; x: tf.TensorInfo };
  const a = attrs as unknown as DropoutAttrs;
  const shape = [...x.shape];
  const size = shape.reduce((p, d) => p * d, 1);
  const groups = Math.ceil(size / 64);
  const gx = groups <= 65535 ? groups : Math.ceil(Math.sqrt(groups));
  const prog: WgslProgram = {
    variableNames: ['h', 'x'], outputShape: shape, shaderKey: 'conifer_dropout_add', size: true,
    dispatchLayout: { x: shape.map((_, i) => i) }, dispatch: [gx, Math.ceil(groups / gx), 1], workgroupSize: [64, 1, 1],
    uniforms: 'key : u32, thr : u32, scale : f32,',
    getUserCode: () => `${WGSL_HASH}
      fn main(index : i32) {
        if (index < uniforms.size) {
          let keep = conifer_bits24(uniforms.key, u32(index)) >= uniforms.thr;
          let d = x[index] * select(0.0, uniforms.scale, keep);
          setOutputAtIndex(index, h[index] + d);
        }
      }`,
  };
  const u: Uniform[] = [{ type: 'uint32', data: [a.key] }, { type: 'uint32', data: [a.thr] }, { type: 'float32', data: [a.scale] }];
  return (backend as unknown as { runWebGPUProgram(p: WgslProgram, i: tf.TensorInfo[], d: 'float32', u: Uniform[]): tf.TensorInfo }).runWebGPUProgram(prog, [h, x], 'float32', u);
};

const gradConfig: tf.GradConfig = {
  kernelName: DropoutAdd,
  gradFunc: (dy, _saved, attrs) => {
    const g = dy as tf.Tensor;
    return { h: () => tf.reshape(g, g.shape), x: () => tf.engine().runKernel(Dropout, { x: g }, attrs as tf.NamedAttrMap) as tf.Tensor };
  },
};

/** Registers the webgpu kernel and the gradient where none is registered (idempotent). */
export function registerDropoutAddKernels(): void {
  registerDropoutKernels();
  if (!tf.getKernel(DropoutAdd, 'webgpu')) tf.registerKernel({ kernelName: DropoutAdd, backendName: 'webgpu', kernelFunc: webgpuDropoutAdd });
  if (!tf.getGradient(DropoutAdd)) tf.registerGradient(gradConfig);
}

/**
 * `h + dropout(x, rate, seed)` — a residual connection after dropout — as one kernel on webgpu
 * (the same mask as {@link dropout}); elsewhere, or when the shapes differ, `tf.add(h, dropout(…))`.
 */
export function dropoutAdd<T extends tf.Tensor>(h: T, x: T, rate: number, seed: number): T {
  const attrs = dropoutAttrs(rate, seed);
  if (rate === 0) return tf.add(h, x) as T;
  registerDropoutAddKernels();
  const same = h.dtype === 'float32' && x.dtype === 'float32' && tf.util.arraysEqual(h.shape, x.shape);
  if (same && tf.getKernel(DropoutAdd, tf.getBackend())) {
    return tf.engine().runKernel(DropoutAdd, { h, x }, attrs as unknown as tf.NamedAttrMap) as T;
  }
  return tf.tidy(() => tf.add(h, dropout(x, rate, seed))) as T;
}
