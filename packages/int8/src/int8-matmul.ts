import * as tf from '@tensorflow/tfjs-core';
import { Int8Dequantize, Int8MatMul, type Int8Mode } from './kernel-names';
import { packedWidth } from './pack';
import { registerInt8Kernels } from './register';

/** Options of {@link int8MatMul}. */
export interface Int8MatMulOptions {
  /** The weight's inFeatures (needed when it is not a multiple of 4). Default: `x.shape[1]`. */
  inFeatures?: number;
  /** Compute mode. Default `'weight-only'`. */
  mode?: Int8Mode;
  /** LLM.int8 outlier threshold on |x|. Default 6.0. */
  threshold?: number;
}

/**
 * `y = x · Wᵀ` with `W = q · scale` stored packed: x float32 `[M, in]`, packed int32
 * `[out, ceil(in/4)]`, scale float32 `[out]` → `[M, out]`. Differentiable wrt x.
 */
export function int8MatMul(x: tf.Tensor2D, packed: tf.Tensor2D, scale: tf.Tensor1D, options: Int8MatMulOptions = {}): tf.Tensor2D {
  registerInt8Kernels();
  const inFeatures = options.inFeatures ?? (x.shape[1] as number);
  const mode = options.mode ?? 'weight-only';
  const threshold = options.threshold ?? 6.0;
  checkPacked(packed, scale, inFeatures);
  if (x.rank !== 2 || x.shape[1] !== inFeatures) throw new Error(`int8MatMul: x must be [M, ${inFeatures}], got [${x.shape.join(', ')}]`);
  if (x.dtype !== 'float32') throw new Error(`int8MatMul: x must be float32, got ${x.dtype}`);
  if (mode !== 'weight-only' && mode !== 'llm-int8') throw new Error(`int8MatMul: mode must be "weight-only" or "llm-int8", got "${String(mode)}"`);
  if (!(threshold > 0)) throw new Error(`int8MatMul: threshold must be > 0, got ${threshold}`);
  return tf.engine().runKernel(Int8MatMul, { x, packed, scale },
    { mode, threshold, inFeatures, transposeWeight: true } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}

/** The float32 weight `[out, inFeatures]` of a packed int8 weight. */
export function int8Dequantize(packed: tf.Tensor2D, scale: tf.Tensor1D, inFeatures: number): tf.Tensor2D {
  registerInt8Kernels();
  checkPacked(packed, scale, inFeatures);
  return tf.engine().runKernel(Int8Dequantize, { packed, scale }, { inFeatures } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}

function checkPacked(packed: tf.Tensor, scale: tf.Tensor, inFeatures: number): void {
  if (packed.dtype !== 'int32' || packed.rank !== 2 || packed.shape[1] !== packedWidth(inFeatures)) {
    throw new Error(`int8: packed must be int32 [out, ${packedWidth(inFeatures)}] for inFeatures ${inFeatures}, got ${packed.dtype} [${packed.shape.join(', ')}]`);
  }
  if (scale.dtype !== 'float32' || scale.rank !== 1 || scale.shape[0] !== packed.shape[0]) {
    throw new Error(`int8: scale must be float32 [${packed.shape[0]}], got ${scale.dtype} [${scale.shape.join(', ')}]`);
  }
}
