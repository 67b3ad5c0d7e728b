import * as tf from '@tensorflow/tfjs-core';
import { keyOf, threshold } from './hash';
import { hostDropoutConfigs, hostMask } from './host';
import { Dropout, type DropoutAttrs } from './kernel-names';
import { webgpuDropoutConfig } from './webgpu';

const gradConfig: tf.GradConfig = {
  kernelName: Dropout,
  // The mask is a function of (key, index): the gradient draws it again instead of keeping it.
  gradFunc: (dy, _saved, attrs) => ({
    x: () => tf.engine().runKernel(Dropout, { x: dy as tf.Tensor }, attrs as tf.NamedAttrMap) as tf.Tensor,
  }),
};

/**
 * Registers the kernels (webgpu: the mask drawn in the shader; cpu and wasm: on the host) and the
 * gradient where none is registered. Idempotent; {@link dropout} calls it itself.
 */
export function registerDropoutKernels(): void {
  for (const config of [webgpuDropoutConfig, ...hostDropoutConfigs]) {
    if (!tf.getKernel(config.kernelName, config.backendName)) tf.registerKernel(config);
  }
  if (!tf.getGradient(Dropout)) tf.registerGradient(gradConfig);
}

/** The attributes of one draw: `rate` in [0, 1), any integer `seed` (mod 2³²). */
export function dropoutAttrs(rate: number, seed: number): DropoutAttrs {
  if (!(rate >= 0 && rate < 1)) throw new RangeError(`dropout: rate must be in [0, 1), got ${rate}`);
  if (!Number.isInteger(seed)) throw new TypeError(`dropout: seed must be an integer, got ${seed}`);
  return { key: keyOf(seed >>> 0), thr: threshold(rate), scale: Math.fround(1 / (1 - rate)) };
}

/**
 * torch.nn.Dropout with a seed: each element is zeroed with probability `rate` (to 2⁻²⁴) and the
 * rest scaled by 1 / (1 − rate). The mask depends only on `seed`, `rate` and the element's flat
 * index, so the same call gives the same mask on every backend and again when a checkpointed
 * block is recomputed. On webgpu the mask is drawn in the shader (one pass, no host random
 * numbers, no upload, nothing kept for the backward: the gradient draws it again); on cpu and
 * wasm a kernel computes the same mask on the host; on other backends (e.g. tfjs-node's
 * `tensorflow`) the host mask is multiplied in with `tf.mul`. `rate` 0 returns `x` itself.
 */
export function dropout<T extends tf.Tensor>(x: T, rate: number, seed: number): T {
  const attrs = dropoutAttrs(rate, seed);
  if (rate === 0) return x;
  if (x.dtype !== 'float32') throw new TypeError(`dropout: x must be float32, got ${x.dtype}`);
  registerDropoutKernels();
  if (tf.getKernel(Dropout, tf.getBackend())) {
    return tf.engine().runKernel(Dropout, { x }, attrs as unknown as tf.NamedAttrMap) as T;
  }
  return dropoutByHostMask(x, attrs);
}

/** What {@link dropout} does on a backend without the kernel: the host mask multiplied in (`tf.mul`, so autodiff gives its gradient). */
export function dropoutByHostMask<T extends tf.Tensor>(x: T, attrs: DropoutAttrs): T {
  return tf.tidy(() => tf.mul(x, tf.tensor(hostMask(x.size, attrs), x.shape, 'float32'))) as T;
}
