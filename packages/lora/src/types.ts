import type * as tf from '@tensorflow/tfjs-core';

/**
 * A projection x: [..., inFeatures] → [..., outFeatures] (structural copy of the conifer
 * `Linear` contract; t5-model's float linear, `@conifer/int8`'s `Int8Linear` and
 * {@link LoraLinear} all satisfy it).
 */
export interface Linear {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** y = x·Wᵀ (+ b). Must be differentiable wrt x. */
  apply(x: tf.Tensor): tf.Tensor;
  /** The float32 weight [outFeatures, inFeatures] (a new tensor the caller disposes); lets LoRA merge, and DoRA (`use_dora`) needs it for its weight norm. */
  dequantize?(): tf.Tensor2D;
  /**
   * Optional: a new linear of the same kind (e.g. int8) holding `weight` [outFeatures, inFeatures]
   * (row-major float32) and this one's bias; lets {@link LoraModel.mergeAndUnloadAsync} keep the format.
   */
  requantize?(weight: Float32Array): Linear;
  /** Optional: the weight in bitsandbytes' 8-bit form (not read by this package; part of the shared contract). */
  int8Weight?(): Promise<{ weight: Int8Array; SCB: Float32Array }>;
  /** Frees what the layer holds. */
  dispose?(): void;
}

/** What LoRA needs from a model: its linears by Hugging Face path, and a way to swap one. */
export interface LinearHost {
  listLinears(): Array<[path: string, linear: Linear]>;
  replaceLinear(path: string, linear: Linear): void;
  /**
   * Optional: the number of parameters of the whole model (embeddings, norms, linears), used by
   * {@link LoraModel.trainableParameterCounts} for PEFT's "all params". Without it only the
   * listed linears are counted.
   */
  numParameters?(): number;
}
