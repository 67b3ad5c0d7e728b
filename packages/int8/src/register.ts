import * as tf from '@tensorflow/tfjs-core';
import { Int8MatMul, type Int8MatMulAttrs } from './kernel-names';
import { jsKernelConfigs } from './kernels/js-kernels';
import { tensorflowKernelConfigs } from './kernels/tensorflow-kernels';
import { webgpuKernelConfigs } from './kernels/webgpu-kernels';

/** Every default kernel config of this package (cpu, wasm, webgpu, tensorflow). */
export function int8KernelConfigs(): tf.KernelConfig[] {
  return [...jsKernelConfigs(), ...webgpuKernelConfigs(), ...tensorflowKernelConfigs()];
}

/**
 * dX = dY · W for `transposeWeight: true` (and dY · Wᵀ for `false`), with W the dequantized
 * weight; also for llm-int8 (straight-through, as bitsandbytes does). The packed weight and its
 * scale are frozen: asking for their gradient is an error.
 */
export const int8MatMulGradConfig: tf.GradConfig = {
  kernelName: Int8MatMul,
  inputsToSave: ['packed', 'scale'],
  gradFunc: (dy, saved, attrs) => {
    const [packed, scale] = saved as [tf.Tensor, tf.Tensor];
    const a = attrs as unknown as Int8MatMulAttrs;
    const frozen = () => {
      throw new Error(`${Int8MatMul}: int8 weights are frozen (no gradient for "packed" or "scale"); train a LoRA adapter instead`);
    };
    return {
      x: () => tf.engine().runKernel(Int8MatMul, { x: dy as tf.Tensor, packed, scale },
        { mode: 'weight-only', threshold: a.threshold, inFeatures: a.inFeatures, transposeWeight: !a.transposeWeight } as unknown as tf.NamedAttrMap) as tf.Tensor,
      packed: frozen,
      scale: frozen,
    };
  },
};

let defaults: tf.KernelConfig[] | null = null;

/**
 * Registers this package's default kernels and gradient where none is registered. Idempotent; never replaces a kernel that
 * is already registered for a (name, backend) pair, so a faster kernel registered earlier wins.
 * The ops call it themselves.
 */
export function registerInt8Kernels(): void {
  defaults ??= int8KernelConfigs();
  for (const config of defaults) {
    if (!tf.getKernel(config.kernelName, config.backendName)) tf.registerKernel(config);
  }
  if (!tf.getGradient(Int8MatMul)) tf.registerGradient(int8MatMulGradConfig);
}
