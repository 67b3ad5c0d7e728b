/**
 * Kernel names and attributes shared by every backend's implementation. A faster kernel (e.g. a
 * tensor-core WGSL one) replaces a default with `tf.unregisterKernel(Int8MatMul, 'webgpu')`
 * followed by `tf.registerKernel({ kernelName: Int8MatMul, backendName: 'webgpu', kernelFunc })`,
 * or by registering before `registerInt8Kernels()` runs (it never overwrites a registered kernel).
 */

/**
 * `y = x · Wᵀ` (`transposeWeight: true`, x `[M, inFeatures]` → y `[M, outFeatures]`) or
 * `y = x · W` (`transposeWeight: false`, x `[M, outFeatures]` → y `[M, inFeatures]`, the input
 * gradient), with `W = q · scale` given as
 * inputs `{ x: float32 [M, *], packed: int32 [outFeatures, ceil(inFeatures/4)], scale: float32 [outFeatures] }`.
 */
export const Int8MatMul = 'ConiferInt8MatMul';

/** `W = q · scale`: inputs `{ packed, scale }`, attrs `{ inFeatures }` → float32 `[outFeatures, inFeatures]`. */
export const Int8Dequantize = 'ConiferInt8Dequantize';

/** How an int8 linear multiplies. */
export type Int8Mode = 'weight-only' | 'llm-int8';

/** Attributes of {@link Int8MatMul}. */
export interface Int8MatMulAttrs {
  /** `weight-only`: float32 activations times the dequantized weight. `llm-int8`: int8 activations (per-row absmax), int32 accumulation, outlier columns in float32. */
  mode: Int8Mode;
  /** LLM.int8 outlier threshold: activation columns with any |x| ≥ threshold are computed in float32. */
  threshold: number;
  /** The weight's `inFeatures` (a packed row has `ceil(inFeatures/4)` words). */
  inFeatures: number;
  /** true: `x · Wᵀ` (forward); false: `x · W` (the input gradient; weight-only only). */
  transposeWeight: boolean;
}

/** Attributes of {@link Int8Dequantize}. */
export interface Int8DequantizeAttrs {
  inFeatures: number;
}
