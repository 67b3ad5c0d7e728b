import * as tf from '@tensorflow/tfjs-core';
import type { Linear } from './types.js';

/**
 * A plain float32 linear y = x·Wᵀ (+ b), built from W [outFeatures, inFeatures] (PyTorch layout).
 * What {@link LoraLinear.merge} and `mergeAndUnload()` produce; also handy to build a host from raw
 * checkpoint weights. Frozen (no variables). W is held transposed, `weightT` [in, out], so the
 * forward is a plain matMul: on tfjs-backend-wasm a `transposeB` matMul of [256, 4096]·[4096, 4096]ᵀ
 * took 6.4 s of CPU against 0.49 s untransposed (measured 28 Nov 2026).
 */
export class FloatLinear implements Linear {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** Wᵀ [inFeatures, outFeatures]. */
  readonly weightT: tf.Tensor2D;

  /** Takes ownership of `weight` (disposed here once transposed) and of `bias`. */
  constructor(
    /** [outFeatures, inFeatures] */ weight: tf.Tensor2D,
    /** [outFeatures] or null */ readonly bias: tf.Tensor1D | null = null,
  ) {
    const [out, inF] = weight.shape;
    if (bias && bias.shape[0] !== out) throw new Error(`FloatLinear: bias [${bias.shape}] does not fit weight [${weight.shape}]`);
    this.outFeatures = out;
    this.inFeatures = inF;
    this.weightT = tf.keep(tf.transpose(weight));
    weight.dispose();
  }

  /** From a row-major Float32Array W [outFeatures·inFeatures]. */
  static fromArray(data: Float32Array, outFeatures: number, inFeatures: number, bias?: Float32Array): FloatLinear {
    return new FloatLinear(tf.tensor2d(data, [outFeatures, inFeatures]), bias ? tf.tensor1d(bias) : null);
  }

  apply(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      const x2 = tf.reshape(x, [-1, this.inFeatures]); // (N, in)
      let y = tf.matMul(x2, this.weightT); // (N, out)
      if (this.bias) y = tf.add(y, this.bias);
      return tf.reshape(y, [...lead, this.outFeatures]); // (..., out)
    });
  }

  /** W [out, in] as a new tensor. */
  dequantize(): tf.Tensor2D {
    return tf.transpose(this.weightT);
  }

  dispose(): void {
    this.weightT.dispose();
    this.bias?.dispose();
  }
}
