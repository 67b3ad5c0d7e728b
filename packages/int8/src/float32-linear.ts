import * as tf from '@tensorflow/tfjs-core';
import { dequantizeBitsAndBytes } from './bitsandbytes';
import { bitsAndBytesOf, checkWeightBytes, decodeInto, type WeightData } from './decode';

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

  /** What errors name: the module path the factory passes (default `Float32Linear`). */
  private readonly name: string;

  /** `name`: the module path, for error messages (`int8LinearFactory` passes the spec's path). */
  constructor(weight: WeightData, name = 'Float32Linear') {
    this.name = name;
    if (weight.shape.length !== 2) throw new Error(`${name}: weight must be [out, in], got [${weight.shape.join(', ')}]`);
    const [out, inF] = weight.shape as [number, number];
    let w: Float32Array;
    if (weight.dtype === 'I8') {
      w = dequantizeBitsAndBytes(bitsAndBytesOf(weight, name), name); // an 8-bit checkpoint's weight, as bitsandbytes dequantizes it
    } else {
      checkWeightBytes(weight, name); // the same check as quantizeWeightData: neither extra nor missing bytes
      w = new Float32Array(out * inF);
      decodeInto(weight, 0, out * inF, w);
    }
    this.inFeatures = inF;
    this.outFeatures = out;
    this.weightT = tf.tidy(() => tf.transpose(tf.tensor2d(w, [out, inF]))); // [in, out]
  }

  apply(x: tf.Tensor): tf.Tensor {
    if (x.shape[x.rank - 1] !== this.inFeatures) throw new Error(`${this.name}: x must end in ${this.inFeatures}, got [${x.shape.join(', ')}]`);
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
