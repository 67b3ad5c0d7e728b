import * as tf from '@tensorflow/tfjs-core';

/**
 * t₀ + t₁ + … added one at a time, in order (the same float32 result as the cpu backend's `addN`).
 * Not `tf.addN`: on webgpu it binds every input to one shader, and more inputs than the device's
 * storage buffers per stage (e.g. 48 LoRA gradients) make an invalid pipeline and a wrong sum.
 */
export function sumInOrder(tensors: readonly tf.Tensor[]): tf.Tensor {
  if (tensors.length === 0) throw new Error('sumInOrder: nothing to add');
  return tf.tidy(() => tensors.slice(1).reduce<tf.Tensor>((acc, t) => tf.add(acc, t), tensors[0]!));
}
