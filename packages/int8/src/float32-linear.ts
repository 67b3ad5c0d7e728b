import * as tf from '@tensorflow/tfjs-core';
import { dequantizeBitsAndBytes } from './bitsandbytes';
import { bitsAndBytesOf, decodeInto, type WeightData } from './decode';

/**
 * A plain float32 projection, for the layers an int8 factory leaves unquantized (e.g. `lm_head`).
 * Holds Wᵀ `[in, out]` so the product needs no transposed matMul (slow on wasm).
 */
export class Float32Linear {
  /** No bias (declared, so LoRA's merge need not probe for one). */
  readonly bias = null;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** Wᵀ `[inFeatures, outFeatures]`. */
  readonly weightT: tf.Tensor2D;

  constructor(weight: WeightData) {
    if (weight.shape.length !== 2) throw new Error(`Float32Linear: weight must be [out, in], got [${weight.shape.join(', ')}]`);
    const [out, inF] = weight.shape as [number, number];
    let w: Float32Array;
    if (weight.dtype === 'I8') {
      w = dequantizeBitsAndBytes(bitsAndBytesOf(weight)); // an 8-bit checkpoint's weight, as bitsandbytes dequantizes it
    } else {
      w = new Float32Array(out * inF);
      decodeInto(weight, 0, out * inF, w);
    }
    this.inFeatures = inF;
    this.outFeatures = out;
    this.weightT = tf.tidy(() => tf.transpose(tf.tensor2d(w, [out, inF]))); // [in, out]
  }

  apply(x: tf.Tensor): tf.Tensor {
    const lead = x.shape.slice(0, -1);
    return tf.tidy(() => {
      const x2d = tf.reshape(x, [-1, this.inFeatures]) as tf.Tensor2D; // [N, in]
      return tf.reshape(tf.matMul(x2d, this.weightT), [...lead, this.outFeatures]); // [..., out]
    });
  }

  dequantize(): tf.Tensor2D {
    return tf.transpose(this.weightT); // [out, in]
  }

  dispose(): void {
    this.weightT.dispose();
  }
}
