import * as tf from '@tensorflow/tfjs-core';
import { toFloat32 } from '@conifer/safetensors';
import type { Linear, LinearSpec } from './interfaces.js';

/**
 * A frozen float32 projection. Holds W pre-transposed as `weightT` [in, out] so the forward is a
 * plain 2-D matMul `x[N, in] · W[in, out]` (wasm's transposed and batched matMuls are ~10× slower).
 * The backward gives the gradient wrt x only (W is frozen) as `dy[N, out] · W[out, in]`, again a
 * plain matMul, with W[out, in] transposed once on the first backward and kept (`dispose()` frees it).
 */
export class Float32Linear implements Linear {
  /** T5's projections have no bias (declared, so LoRA's merge need not probe for one). */
  readonly bias = null;
  /** W as [inFeatures, outFeatures]. */
  weightT: tf.Tensor2D;
  private weightForGrad: tf.Tensor2D | null = null;
  private readonly applyFn: (x: tf.Tensor2D) => tf.Tensor2D;

  constructor(weightT: tf.Tensor2D) {
    this.weightT = weightT;
    this.applyFn = tf.customGrad(((x: tf.Tensor2D, save: tf.GradSaveFunc) => {
      save([]);
      return {
        value: tf.matMul(x, this.weightT), // (N, out)
        gradFunc: (dy: tf.Tensor2D) => tf.matMul(dy, this.gradWeight()), // (N, in)
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor2D) => tf.Tensor2D;
  }

  get inFeatures(): number {
    return this.weightT.shape[0];
  }
  get outFeatures(): number {
    return this.weightT.shape[1];
  }

  /**
   * From a checkpoint weight [out, in] (F32/F16/BF16 bytes, or an 8-bit checkpoint's I8 + SCB, dequantized
   * as bitsandbytes does): decoded and transposed once on the host.
   */
  static fromSpec(spec: LinearSpec): Float32Linear {
    const { inFeatures: nin, outFeatures: nout } = spec;
    const w = spec.weight.dtype === 'I8' ? dequantizeInt8(spec) : toFloat32(spec.weight.dtype, spec.weight.data); // (out, in)
    if (w.length !== nin * nout) throw new Error(`${spec.path}: weight has ${w.length} values, expected ${nout}×${nin}`);
    const t = new Float32Array(nin * nout); // (in, out)
    for (let o = 0; o < nout; o++) {
      const row = o * nin;
      for (let i = 0; i < nin; i++) t[i * nout + o] = w[row + i]!;
    }
    return new Float32Linear(tf.tensor2d(t, [nin, nout], 'float32'));
  }

  apply(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      const y = this.applyFn(tf.reshape(x, [-1, this.inFeatures]) as tf.Tensor2D); // (N, out)
      return tf.reshape(y, [...lead, this.outFeatures]);
    });
  }

  dequantize(): tf.Tensor2D {
    return tf.transpose(this.weightT); // (out, in)
  }

  private gradWeight(): tf.Tensor2D {
    if (this.weightForGrad === null || this.weightForGrad.isDisposed) this.weightForGrad = tf.keep(tf.transpose(this.weightT));
    return this.weightForGrad;
  }

  dispose(): void {
    this.weightT.dispose();
    this.weightForGrad?.dispose();
    this.weightForGrad = null;
  }
}

/** bitsandbytes' `int8_vectorwise_dequant` in float32: `(CB · SCB) · (1/127)` per row. */
function dequantizeInt8(spec: LinearSpec): Float32Array {
  const { data, SCB } = spec.weight;
  if (!SCB || SCB.length !== spec.outFeatures || data.byteLength !== spec.outFeatures * spec.inFeatures) {
    throw new Error(`${spec.path}: an 8-bit weight needs ${spec.outFeatures}×${spec.inFeatures} int8 values and ${spec.outFeatures} SCB values`);
  }
  const q = new Int8Array(data.buffer, data.byteOffset, data.byteLength);
  const inv127 = Math.fround(7.874015718698502e-3);
  const out = new Float32Array(q.length);
  for (let i = 0; i < q.length; i++) out[i] = Math.fround(Math.fround(q[i]! * SCB[Math.floor(i / spec.inFeatures)]!) * inv127);
  return out;
}

/** The default `LinearFactory`: a frozen float32 linear (see `Float32Linear`). */
export function float32LinearFactory(spec: LinearSpec): Linear {
  return Float32Linear.fromSpec(spec);
}
