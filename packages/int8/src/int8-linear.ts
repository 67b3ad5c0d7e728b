import * as tf from '@tensorflow/tfjs-core';
import { toBitsAndBytes } from './bitsandbytes';
import type { WeightData } from './decode';
import { BITSANDBYTES_NAMES, int8Dequantize, int8MatMul, modeThresholdProblems } from './int8-matmul';
import type { Int8Mode } from './kernel-names';
import { packedWidth } from './pack';
import { quantizeFloat32, quantizeWeightData, type QuantizedWeight } from './quantize';
import { optionsMessage, type KnownOptions } from './unknown-options';

/** Options of an {@link Int8Linear}. */
export interface Int8LinearOptions {
  /** `'weight-only'` (default): float32 activations × dequantized weight. `'llm-int8'`: bitsandbytes' LLM.int8. */
  mode?: Int8Mode;
  /**
   * LLM.int8 outlier threshold on |x| (bitsandbytes' `llm_int8_threshold`). Default 6.0; 0 = no outlier
   * columns, every column int8 (bitsandbytes' `threshold=0.0`, `Linear8bitLt`'s own default).
   */
  threshold?: number;
  /** Optional float32 bias `[outFeatures]` (copied). */
  bias?: Float32Array | tf.Tensor1D;
}

const LINEAR_OPTIONS: KnownOptions<Int8LinearOptions> = { mode: true, threshold: true, bias: true };

/** One Error naming every unknown key and bad mode / threshold of `options`, before anything is quantized. */
function checkLinearOptions(where: string, options: Int8LinearOptions): void {
  const message = optionsMessage(where, options, { known: LINEAR_OPTIONS, aliases: BITSANDBYTES_NAMES, more: (o, p) => p.values.push(...modeThresholdProblems(o)) });
  if (message !== undefined) throw new Error(message);
}

/** A projection `[..., in] → [..., out]` whose frozen weight is stored as int8 with a per-row scale. */
export class Int8Linear {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly mode: Int8Mode;
  readonly threshold: number;
  /** int32 `[outFeatures, ceil(inFeatures/4)]`: four int8 per element. */
  readonly packed: tf.Tensor2D;
  /** float32 `[outFeatures]`: `absmax_row / 127`. */
  readonly scale: tf.Tensor1D;
  readonly bias: tf.Tensor1D | null;
  /** bitsandbytes' SCB as an 8-bit checkpoint stored it (host copy, 4 bytes a row), so `int8Weight()` gives it back unchanged; else null. */
  private readonly loadedSCB: Float32Array | null;

  private constructor(q: QuantizedWeight, options: Int8LinearOptions) {
    this.inFeatures = q.inFeatures;
    this.outFeatures = q.outFeatures;
    this.mode = options.mode ?? 'weight-only';
    this.threshold = options.threshold ?? 6.0;
    const b = options.bias;
    if (b !== undefined && (b instanceof Float32Array ? b.length : b.size) !== q.outFeatures) {
      throw new Error(`Int8Linear: bias must have ${q.outFeatures} values`);
    }
    // Copies: the cpu backend would otherwise keep the caller's arrays (later changes would change the layer).
    this.packed = tf.tensor2d(Int32Array.from(q.packed), [q.outFeatures, packedWidth(q.inFeatures)], 'int32');
    this.scale = tf.tensor1d(Float32Array.from(q.scale), 'float32');
    this.loadedSCB = q.SCB?.length === q.outFeatures ? Float32Array.from(q.SCB) : null;
    this.bias = b === undefined ? null : b instanceof Float32Array ? tf.tensor1d(Float32Array.from(b), 'float32') : tf.clone(b);
  }

  /** Quantizes a float32 weight `[out, in]` (a row-major array with its `shape`, or a 2-D tensor). */
  static fromFloat32(weight: Float32Array | tf.Tensor2D, shape?: [outFeatures: number, inFeatures: number], options: Int8LinearOptions = {}): Int8Linear {
    checkLinearOptions('Int8Linear.fromFloat32', options);
    let values: Float32Array;
    let dims: [number, number];
    if (weight instanceof Float32Array) {
      if (!shape) throw new Error('Int8Linear.fromFloat32: a Float32Array weight needs its shape [out, in]');
      values = weight;
      dims = shape;
    } else {
      if (weight.rank !== 2) throw new Error(`Int8Linear.fromFloat32: weight must be 2-D, got [${weight.shape.join(', ')}]`);
      dims = weight.shape as [number, number];
      if (shape && (shape[0] !== dims[0] || shape[1] !== dims[1])) throw new Error(`Int8Linear.fromFloat32: shape [${shape.join(', ')}] differs from the tensor's [${dims.join(', ')}]`);
      values = weight.dataSync() as Float32Array;
    }
    return new Int8Linear(quantizeFloat32(values, dims[0], dims[1]), options);
  }

  /** Quantizes a checkpoint tensor straight from its F32/F16/BF16 bytes, one row at a time. */
  static fromWeightData(weight: WeightData, options: Int8LinearOptions = {}, name?: string): Int8Linear {
    checkLinearOptions('Int8Linear.fromWeightData', options);
    return new Int8Linear(quantizeWeightData(weight, name), options);
  }

  /** Wraps an already quantized weight. */
  static fromQuantized(q: QuantizedWeight, options: Int8LinearOptions = {}): Int8Linear {
    checkLinearOptions('Int8Linear.fromQuantized', options);
    if (!(Number.isInteger(q.outFeatures) && q.outFeatures > 0 && Number.isInteger(q.inFeatures) && q.inFeatures > 0)) {
      throw new Error(`Int8Linear.fromQuantized: invalid shape [${q.outFeatures}, ${q.inFeatures}]`);
    }
    if (q.packed.length !== q.outFeatures * packedWidth(q.inFeatures) || q.scale.length !== q.outFeatures) {
      throw new Error(`Int8Linear.fromQuantized: packed/scale sizes do not match [${q.outFeatures}, ${q.inFeatures}]`);
    }
    // As quantizeFloat32 makes it and fromBitsAndBytes checks SCB: a NaN or negative scale would only show as NaN or flipped outputs.
    for (let r = 0; r < q.outFeatures; r++) {
      const s = q.scale[r] as number;
      if (!(Number.isFinite(s) && s >= 0)) throw new Error(`Int8Linear.fromQuantized: scale[${r}] = ${s} is not a finite absmax / 127 ≥ 0`);
    }
    return new Int8Linear(q, options);
  }

  /** y = x·Wᵀ (+ b) for x `[..., inFeatures]`; differentiable wrt x. */
  apply(x: tf.Tensor): tf.Tensor {
    const lead = x.shape.slice(0, -1);
    if (x.shape[x.rank - 1] !== this.inFeatures) throw new Error(`Int8Linear: x must end in ${this.inFeatures}, got [${x.shape.join(', ')}]`);
    return tf.tidy(() => {
      const x2d = tf.reshape(x, [-1, this.inFeatures]) as tf.Tensor2D; // [N, in]
      let y: tf.Tensor = int8MatMul(x2d, this.packed, this.scale, { inFeatures: this.inFeatures, mode: this.mode, threshold: this.threshold }); // [N, out]
      if (this.bias) y = tf.add(y, this.bias);
      return tf.reshape(y, [...lead, this.outFeatures]); // [..., out]
    });
  }

  /** The float32 weight `[outFeatures, inFeatures]` (`q · scale`), a new tensor the caller disposes. */
  dequantize(): tf.Tensor2D {
    return int8Dequantize(this.packed, this.scale, this.inFeatures);
  }

  /**
   * A new layer of this kind (mode, threshold, bias) holding `weight` `[outFeatures, inFeatures]`
   * (row-major float32) quantized per row — how `@conifer/lora`'s `mergeAndUnloadAsync` keeps a merged
   * int8 base int8, as PEFT re-quantizes when it merges into an 8-bit layer. This layer is unchanged.
   */
  requantize(weight: Float32Array): Int8Linear {
    return new Int8Linear(quantizeFloat32(weight, this.outFeatures, this.inFeatures), {
      mode: this.mode, threshold: this.threshold, ...(this.bias ? { bias: this.bias } : {}),
    });
  }

  /**
   * The weight in bitsandbytes' 8-bit layout (what `Linear8bitLt` saves): the int8 values `[out, in]`
   * row-major and `SCB` — as loaded for a weight that came from an 8-bit checkpoint (so it saves back
   * bit for bit), else `scale · 127` (each row's absmax). Read back from the backend (async: every
   * backend, webgpu in Node included).
   */
  async int8Weight(): Promise<{ weight: Int8Array; SCB: Float32Array }> {
    const [packed, scale] = await Promise.all([this.packed.data(), this.scale.data()]);
    const b = toBitsAndBytes({
      packed: packed as Int32Array, scale: scale as Float32Array, outFeatures: this.outFeatures, inFeatures: this.inFeatures,
      ...(this.loadedSCB ? { SCB: this.loadedSCB } : {}),
    });
    return { weight: b.weight, SCB: b.SCB };
  }

  /** Bytes of the tensors this layer holds, as the backend counts them (4 per int32/float32 element). */
  heldBytes(): number {
    return 4 * (this.packed.size + this.scale.size + (this.bias?.size ?? 0));
  }

  dispose(): void {
    this.packed.dispose();
    this.scale.dispose();
    this.bias?.dispose();
  }
}
