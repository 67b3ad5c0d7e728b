import * as tf from '@tensorflow/tfjs-core';
import { dropout, dropoutAttrs, registerDropoutKernels } from './dropout';
import { Dropout, type DropoutAttrs } from './kernel-names';
import { maskedProgram, runMasked } from './webgpu';

/** `y = h + x · mask` (a residual connection after dropout); its gradients are dy and the Dropout kernel on dy. */
export const DropoutAdd = 'ConiferDropoutAdd';

/** h + x · (0 or scale), in the order of `tf.add(h, dropout(x))`. */
const webgpuDropoutAdd: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { h, x } = inputs as { h: tf.TensorInfo; x: tf.TensorInfo };
  const prog = maskedProgram([...x.shape], 'conifer_dropout_add', ['h', 'x'], 'h[index] + x[index] * select(0.0, uniforms.scale, keep)');
  return runMasked(backend, prog, [h, x], attrs as unknown as DropoutAttrs);
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
