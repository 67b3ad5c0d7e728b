import * as tf from '@tensorflow/tfjs-core';
import { Int8Dequantize, Int8MatMul, type Int8Mode } from './kernel-names';
import { packedWidth } from './pack';
import { registerInt8Kernels } from './register';
import { optionsMessage, showValue as shown, type KnownOptions } from './unknown-options';

/** The largest finite float32: the kernel threshold that stands for "no outlier columns". */
const FLOAT32_MAX = 3.4028234663852886e38;

/** Options of {@link int8MatMul}. */
export interface Int8MatMulOptions {
  /** The weight's inFeatures (needed when it is not a multiple of 4). Default: `x.shape[1]`. */
  inFeatures?: number;
  /** Compute mode. Default `'weight-only'`. */
  mode?: Int8Mode;
  /** LLM.int8 outlier threshold on |x|. Default 6.0; 0 = no outlier columns (a plain int8 × int8 product, as bitsandbytes' `threshold=0.0`). */
  threshold?: number;
}

/** bitsandbytes' names of options here that are named differently (a suggestion of the unknown-option error). */
export const BITSANDBYTES_NAMES: Readonly<Record<string, string>> = { llm_int8_threshold: 'threshold' };
const MATMUL_OPTIONS: KnownOptions<Int8MatMulOptions> = { inFeatures: true, mode: true, threshold: true };

/** What is wrong with a `mode` and `threshold` of {@link Int8LinearOptions} (also `Int8Linear`'s and `int8LinearFactory`'s). */
export function modeThresholdProblems({ mode, threshold }: { mode?: unknown; threshold?: unknown }): string[] {
  const problems: string[] = [];
  if (mode !== undefined && mode !== 'weight-only' && mode !== 'llm-int8') problems.push(`mode must be "weight-only" or "llm-int8", got ${shown(mode)}`);
  if (threshold !== undefined && !(typeof threshold === 'number' && threshold >= 0)) {
    problems.push(`threshold must be >= 0 (0: no outlier columns), got ${shown(threshold)}`);
  }
  return problems;
}

/**
 * `y = x · Wᵀ` with `W = q · scale` stored packed: x float32 `[M, in]`, packed int32
 * `[out, ceil(in/4)]`, scale float32 `[out]` → `[M, out]`. Differentiable wrt x.
 */
export function int8MatMul(x: tf.Tensor2D, packed: tf.Tensor2D, scale: tf.Tensor1D, options: Int8MatMulOptions = {}): tf.Tensor2D {
  // unknown keys and a bad mode / threshold: one error
  const message = optionsMessage('int8MatMul', options, { known: MATMUL_OPTIONS, aliases: BITSANDBYTES_NAMES, more: (o, p) => p.values.push(...modeThresholdProblems(o)) });
  if (message !== undefined) throw new Error(message);
  registerInt8Kernels();
  const inFeatures = options.inFeatures ?? (x.shape[1] as number);
  const mode = options.mode ?? 'weight-only';
  const threshold = options.threshold ?? 6.0;
  checkPacked(packed, scale, inFeatures);
  if (x.rank !== 2 || x.shape[1] !== inFeatures) throw new Error(`int8MatMul: x must be [M, ${inFeatures}], got [${x.shape.join(', ')}]`);
  if (x.dtype !== 'float32') throw new Error(`int8MatMul: x must be float32, got ${x.dtype}`);
  // bitsandbytes decomposes only `if state.threshold > 0.0` (MatMul8bitLt.forward; Linear8bitLt's default is 0.0):
  // threshold 0 means no outlier column, which the kernels' `|x| ≥ threshold` test gives with the largest
  // float32 (finite, so no ∞ reaches a WGSL uniform; only an x of magnitude ≥ 3.4e38, i.e. ±∞, still counts).
  const kernelThreshold = threshold === 0 ? FLOAT32_MAX : threshold;
  return tf.engine().runKernel(Int8MatMul, { x, packed, scale },
    { mode, threshold: kernelThreshold, inFeatures, transposeWeight: true } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
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
