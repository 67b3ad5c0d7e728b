/**
 * One class per Hugging Face class (transformers `modeling_t5.py`), with fields named like the
 * checkpoint so that walking the object yields the tensor names (`encoder.block.0.layer.0.SelfAttention.q`).
 * Projections are `Linear`s (replaceable); the other weights are frozen plain tensors.
 */
import * as tf from '@tensorflow/tfjs-core';
import { matMulBT, matMulPlain } from './attention-matmul.js';
import { fusedAttention, hasAttentionKernels } from './attention-webgpu.js';
import type { T5Activation, T5Config } from './config.js';
import type { ForwardContext } from './dropout.js';
import type { Linear } from './interfaces.js';
import { gatedActKernel, hasGatedActKernel } from './gated-act.js';
import { rmsNorm } from './rms-norm.js';
import { rowSoftmax } from './softmax-webgpu.js';

/** Where modules get their weights: a checkpoint being loaded, or a seeded random initialisation. */
export interface WeightSource {
  /** The projection at HF module path `path` (weight `${path}.weight`, [out, in]). */
  linear(path: string, inFeatures: number, outFeatures: number): Linear;
  /** A non-projection tensor by its HF name, e.g. `encoder.final_layer_norm.weight`. */
  tensor(name: string, shape: number[]): tf.Tensor;
}

/**
 * Additive mask value: `torch.finfo(torch.float32).min`, as transformers. Where a row keeps a key any
 * value whose exp underflows would do; where every key is masked (an all-zero attention mask) the
 * scores, position bias included, are absorbed into this one value, so the row's softmax is uniform
 * as in transformers (with e.g. −1e9 the scores would survive, rounded to multiples of 64).
 */
export const MASK_VALUE = -3.4028234663852886e38;

/** Applies a linear to [B, S, in] as a plain 2-D product. */
function project3d(linear: Linear, x: tf.Tensor3D): tf.Tensor3D {
  const [b, s, d] = x.shape;
  const y = linear.apply(tf.reshape(x, [b * s, d])); // (B*S, out)
  return tf.reshape(y, [b, s, linear.outFeatures]);
}

/** transformers `T5LayerNorm`: RMS norm, no mean subtraction, no bias. */
export class T5LayerNorm {
  constructor(
    public weight: tf.Tensor1D,
    readonly eps: number,
  ) {}

  /** x · rsqrt(mean(x², -1) + eps) · weight: one kernel on webgpu (rms-norm.ts), tensor ops elsewhere. */
  forward(x: tf.Tensor3D): tf.Tensor3D {
    return rmsNorm(x, this.weight, this.eps);
  }

  dispose(): void {
    this.weight.dispose();
  }
}

/**
 * transformers `_relative_position_bucket`, computed on the host. The log branch is evaluated in
 * float32 (Math.fround at each step) as PyTorch does, so bucket boundaries round the same way.
 */
export function relativePositionBucket(relativePosition: number, bidirectional: boolean, numBuckets: number, maxDistance: number): number {
  const f = Math.fround;
  let bucket = 0;
  let n = numBuckets;
  let rp = relativePosition;
  if (bidirectional) {
    n = Math.floor(n / 2);
    if (rp > 0) bucket += n;
    rp = Math.abs(rp);
  } else {
    rp = -Math.min(rp, 0);
  }
  const maxExact = Math.floor(n / 2);
  if (rp < maxExact) return bucket + rp;
  const large = maxExact + Math.trunc(f(f(f(Math.log(f(rp / maxExact))) / f(Math.log(maxDistance / maxExact))) * (n - maxExact)));
  return bucket + Math.min(large, n - 1);
}

/** transformers `T5Attention`: no score scaling; relative bias only when `relative_attention_bias` is set. */
export class T5Attention {
  q: Linear;
  k: Linear;
  v: Linear;
  o: Linear;
  /** [num_buckets, n_heads], only in layer 0 of each stack. */
  relative_attention_bias: tf.Tensor2D | null;
  readonly nHeads: number;
  readonly dKv: number;

  constructor(
    config: T5Config,
    path: string,
    src: WeightSource,
    readonly isDecoder: boolean,
    hasRelativeAttentionBias: boolean,
  ) {
    this.nHeads = config.num_heads;
    this.dKv = config.d_kv;
    const inner = config.num_heads * config.d_kv;
    this.q = src.linear(`${path}.q`, config.d_model, inner);
    this.k = src.linear(`${path}.k`, config.d_model, inner);
    this.v = src.linear(`${path}.v`, config.d_model, inner);
    this.o = src.linear(`${path}.o`, inner, config.d_model);
    this.relative_attention_bias = hasRelativeAttentionBias
      ? (src.tensor(`${path}.relative_attention_bias.weight`, [config.relative_attention_num_buckets, config.num_heads]) as tf.Tensor2D)
      : null;
    this.numBuckets = config.relative_attention_num_buckets;
    this.maxDistance = config.relative_attention_max_distance;
  }
  private readonly numBuckets: number;
  private readonly maxDistance: number;

  /**
   * transformers `compute_bias`: [1, H, qLen, kLen] for queries at positions offset..offset+qLen-1
   * against keys 0..kLen-1 (bidirectional buckets in the encoder, causal in the decoder).
   */
  computeBias(qLen: number, kLen: number, offset = 0): tf.Tensor4D {
    if (!this.relative_attention_bias) throw new Error('computeBias on a layer without relative_attention_bias');
    const buckets = new Int32Array(qLen * kLen);
    for (let i = 0; i < qLen; i++) {
      for (let j = 0; j < kLen; j++) {
        // relative_position = memory_position - context_position
        buckets[i * kLen + j] = relativePositionBucket(j - (i + offset), !this.isDecoder, this.numBuckets, this.maxDistance);
      }
    }
    const weight = this.relative_attention_bias;
    return tf.tidy(() => {
      const values = tf.gather(weight, tf.tensor1d(buckets, 'int32')); // (q*k, H)
      const bias = tf.transpose(tf.reshape(values, [qLen, kLen, this.nHeads]), [2, 0, 1]); // (H, q, k)
      return tf.expandDims(bias, 0) as tf.Tensor4D; // (1, H, q, k)
    });
  }

  /** [B, S, d_model] → [B, H, S, d_kv] through one of q/k/v. */
  heads(linear: Linear, x: tf.Tensor3D): tf.Tensor4D {
    const [b, s] = x.shape;
    const y = tf.reshape(project3d(linear, x), [b, s, this.nHeads, this.dKv]); // (B, S, H, dk)
    return tf.transpose(y, [0, 2, 1, 3]) as tf.Tensor4D; // (B, H, S, dk)
  }

  /** softmax(q·kᵀ + bias)·v, then `o`. q [B,H,Sq,dk], k/v [B,H,Sk,dk], bias broadcasts to [B,H,Sq,Sk]. */
  attend(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, bias: tf.Tensor4D, ctx: ForwardContext): tf.Tensor3D {
    const [b, h, sq, dk] = q.shape;
    const sk = k.shape[2];
    // scores = torch.matmul(query_states, key_states.transpose(3, 2))  (no 1/sqrt(d) in T5)
    const q3 = tf.reshape(q, [b * h, sq, dk]) as tf.Tensor3D;
    const k3 = tf.reshape(k, [b * h, sk, dk]) as tf.Tensor3D;
    const scores = tf.add(tf.reshape(matMulBT(q3, k3), [b, h, sq, sk]), bias); // (B, H, Sq, Sk)
    // on webgpu the model's row softmax: tfjs-webgpu's starts its max above MASK_VALUE, so a fully masked row is 0/0
    const weights = ctx.dropout(hasAttentionKernels(scores) ? rowSoftmax(scores) : tf.softmax(scores, -1));
    const out = matMulPlain(tf.reshape(weights, [b * h, sq, sk]) as tf.Tensor3D, tf.reshape(v, [b * h, sk, dk]) as tf.Tensor3D); // (B*H, Sq, dk)
    const merged = tf.reshape(tf.transpose(tf.reshape(out, [b, h, sq, dk]), [0, 2, 1, 3]), [b, sq, h * dk]); // (B, Sq, H*dk)
    return project3d(this.o, merged as tf.Tensor3D);
  }

  /**
   * Full attention of x over `kv` (x itself for self-attention). On webgpu the products read the
   * projections in their [B, S, H·d_kv] layout (attention-webgpu.ts: no head transposes, bias and
   * dropout inside the kernels, the same dropout mask as below); elsewhere the tensor ops of {@link attend}.
   */
  forward(x: tf.Tensor3D, kv: tf.Tensor3D | null, bias: tf.Tensor4D, ctx: ForwardContext): tf.Tensor3D {
    const src = kv ?? x;
    if (hasAttentionKernels(x)) {
      const context = fusedAttention(project3d(this.q, x), project3d(this.k, src), project3d(this.v, src), bias, this.nHeads, ctx.nextDraw());
      return project3d(this.o, context);
    }
    return this.attend(this.heads(this.q, x), this.heads(this.k, src), this.heads(this.v, src), bias, ctx);
  }

  dispose(): void {
    for (const l of [this.q, this.k, this.v, this.o]) l.dispose?.();
    this.relative_attention_bias?.dispose();
  }
}

/** Keys and values of one attention layer, [B, H, S, d_kv] each. */
export type KV = {
  k: tf.Tensor4D;
  v: tf.Tensor4D;
};

/** transformers `T5LayerSelfAttention`: pre-norm, attention, dropout, residual. */
export class T5LayerSelfAttention {
  SelfAttention: T5Attention;
  layer_norm: T5LayerNorm;
  constructor(config: T5Config, path: string, src: WeightSource, isDecoder: boolean, hasRelativeAttentionBias: boolean) {
    this.SelfAttention = new T5Attention(config, `${path}.SelfAttention`, src, isDecoder, hasRelativeAttentionBias);
    this.layer_norm = new T5LayerNorm(src.tensor(`${path}.layer_norm.weight`, [config.d_model]) as tf.Tensor1D, config.layer_norm_epsilon);
  }

  forward(h: tf.Tensor3D, bias: tf.Tensor4D, ctx: ForwardContext): tf.Tensor3D {
    const normed = this.layer_norm.forward(h);
    return ctx.addDropout(h, this.SelfAttention.forward(normed, null, bias, ctx));
  }

  /** One decoding step: attends over `past` plus the new positions; returns the grown keys/values. */
  step(h: tf.Tensor3D, bias: tf.Tensor4D, past: KV | null, ctx: ForwardContext): { h: tf.Tensor3D; kv: KV } {
    const att = this.SelfAttention;
    const normed = this.layer_norm.forward(h);
    const kNew = att.heads(att.k, normed);
    const vNew = att.heads(att.v, normed);
    const k = past ? tf.concat([past.k, kNew], 2) : kNew; // (B, H, L+T, dk)
    const v = past ? tf.concat([past.v, vNew], 2) : vNew;
    const out = att.attend(att.heads(att.q, normed), k, v, bias, ctx);
    return { h: ctx.addDropout(h, out), kv: { k, v } };
  }

  dispose(): void {
    this.SelfAttention.dispose();
    this.layer_norm.dispose();
  }
}

/** transformers `T5LayerCrossAttention` (decoder only; never has a relative bias). */
export class T5LayerCrossAttention {
  EncDecAttention: T5Attention;
  layer_norm: T5LayerNorm;
  constructor(config: T5Config, path: string, src: WeightSource) {
    this.EncDecAttention = new T5Attention(config, `${path}.EncDecAttention`, src, true, false);
    this.layer_norm = new T5LayerNorm(src.tensor(`${path}.layer_norm.weight`, [config.d_model]) as tf.Tensor1D, config.layer_norm_epsilon);
  }

  forward(h: tf.Tensor3D, encoderHidden: tf.Tensor3D, crossBias: tf.Tensor4D, ctx: ForwardContext): tf.Tensor3D {
    const normed = this.layer_norm.forward(h);
    return ctx.addDropout(h, this.EncDecAttention.forward(normed, encoderHidden, crossBias, ctx));
  }

  /** The encoder's keys/values for this layer (computed once per generation). */
  encoderKV(encoderHidden: tf.Tensor3D): KV {
    const att = this.EncDecAttention;
    return { k: att.heads(att.k, encoderHidden), v: att.heads(att.v, encoderHidden) };
  }

  step(h: tf.Tensor3D, kv: KV, crossBias: tf.Tensor4D, ctx: ForwardContext): tf.Tensor3D {
    const att = this.EncDecAttention;
    const normed = this.layer_norm.forward(h);
    return ctx.addDropout(h, att.attend(att.heads(att.q, normed), kv.k, kv.v, crossBias, ctx));
  }

  dispose(): void {
    this.EncDecAttention.dispose();
    this.layer_norm.dispose();
  }
}

/** transformers `ACT2FN` for the names T5 configs use. */
export function activation(name: T5Activation, x: tf.Tensor): tf.Tensor {
  switch (name) {
    case 'relu':
      return tf.relu(x);
    case 'gelu': // exact (erf) form
      return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
    case 'gelu_fast': {
      // 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))
      const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
      return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(inner)));
    }
    case 'silu':
    case 'swish':
      return tf.mul(x, tf.sigmoid(x));
    case 'tanh':
      return tf.tanh(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'quick_gelu':
      return tf.mul(x, tf.sigmoid(tf.mul(1.702, x)));
  }
}

/** transformers `T5DenseActDense`: wo(dropout(act(wi(x)))). */
export class T5DenseActDense {
  wi: Linear;
  wo: Linear;
  constructor(
    config: T5Config,
    path: string,
    src: WeightSource,
  ) {
    this.wi = src.linear(`${path}.wi`, config.d_model, config.d_ff);
    this.wo = src.linear(`${path}.wo`, config.d_ff, config.d_model);
    this.act = config.dense_act_fn;
  }
  private readonly act: T5Activation;

  forward(x: tf.Tensor3D, ctx: ForwardContext): tf.Tensor3D {
    const h = ctx.dropout(activation(this.act, project3d(this.wi, x)) as tf.Tensor3D); // (B, S, d_ff)
    return project3d(this.wo, h);
  }

  dispose(): void {
    this.wi.dispose?.();
    this.wo.dispose?.();
  }
}

/** transformers `T5DenseGatedActDense`: wo(dropout(act(wi_0(x)) * wi_1(x))). */
export class T5DenseGatedActDense {
  wi_0: Linear;
  wi_1: Linear;
  wo: Linear;
  constructor(config: T5Config, path: string, src: WeightSource) {
    this.wi_0 = src.linear(`${path}.wi_0`, config.d_model, config.d_ff);
    this.wi_1 = src.linear(`${path}.wi_1`, config.d_model, config.d_ff);
    this.wo = src.linear(`${path}.wo`, config.d_ff, config.d_model);
    this.act = config.dense_act_fn;
  }
  private readonly act: T5Activation;

  forward(x: tf.Tensor3D, ctx: ForwardContext): tf.Tensor3D {
    const a = project3d(this.wi_0, x); // (B, S, d_ff)
    const g = project3d(this.wi_1, x); // (B, S, d_ff)
    // webgpu, silu / tanh GELU: activation, gate and dropout in one kernel (gated-act.ts), same mask
    const h = hasGatedActKernel(this.act, a)
      ? gatedActKernel(this.act, a, g, ctx.nextDraw())
      : ctx.dropout(tf.mul(activation(this.act, a), g) as tf.Tensor3D);
    return project3d(this.wo, h);
  }

  dispose(): void {
    this.wi_0.dispose?.();
    this.wi_1.dispose?.();
    this.wo.dispose?.();
  }
}

/** transformers `T5LayerFF`. */
export class T5LayerFF {
  DenseReluDense: T5DenseActDense | T5DenseGatedActDense;
  layer_norm: T5LayerNorm;
  constructor(config: T5Config, path: string, src: WeightSource) {
    this.DenseReluDense = config.is_gated_act
      ? new T5DenseGatedActDense(config, `${path}.DenseReluDense`, src)
      : new T5DenseActDense(config, `${path}.DenseReluDense`, src);
    this.layer_norm = new T5LayerNorm(src.tensor(`${path}.layer_norm.weight`, [config.d_model]) as tf.Tensor1D, config.layer_norm_epsilon);
  }

  forward(h: tf.Tensor3D, ctx: ForwardContext): tf.Tensor3D {
    return ctx.addDropout(h, this.DenseReluDense.forward(this.layer_norm.forward(h), ctx));
  }

  dispose(): void {
    this.DenseReluDense.dispose();
    this.layer_norm.dispose();
  }
}

/** Per-layer decoder cache: self-attention keys/values (growing) and the encoder's (computed once). */
export type LayerCache = {
  self: KV;
  cross: KV;
};

/** transformers `T5Block`: `layer` = [self-attention, (cross-attention,) feed-forward]. */
export class T5Block {
  layer: [T5LayerSelfAttention, T5LayerFF] | [T5LayerSelfAttention, T5LayerCrossAttention, T5LayerFF];
  constructor(config: T5Config, path: string, src: WeightSource, readonly isDecoder: boolean, hasRelativeAttentionBias: boolean) {
    const self = new T5LayerSelfAttention(config, `${path}.layer.0`, src, isDecoder, hasRelativeAttentionBias);
    this.layer = isDecoder
      ? [self, new T5LayerCrossAttention(config, `${path}.layer.1`, src), new T5LayerFF(config, `${path}.layer.2`, src)]
      : [self, new T5LayerFF(config, `${path}.layer.1`, src)];
  }

  get selfAttention(): T5LayerSelfAttention {
    return this.layer[0];
  }
  get crossAttention(): T5LayerCrossAttention | null {
    return this.layer.length === 3 ? this.layer[1] : null;
  }
  get feedForward(): T5LayerFF {
    return this.layer.length === 3 ? this.layer[2] : this.layer[1];
  }

  /** h [B, S, d] → [B, S, d]. `bias` holds the relative bias plus the mask (shared by every block of a stack). */
  forward(h: tf.Tensor3D, bias: tf.Tensor4D, encoderHidden: tf.Tensor3D | null, crossBias: tf.Tensor4D | null, ctx: ForwardContext): tf.Tensor3D {
    let x = this.selfAttention.forward(h, bias, ctx);
    const cross = this.crossAttention;
    if (cross) x = cross.forward(x, encoderHidden!, crossBias!, ctx);
    return this.feedForward.forward(x, ctx);
  }

  /** One decoding step with the layer's cache (self keys/values grow; cross keys/values are reused). */
  step(h: tf.Tensor3D, bias: tf.Tensor4D, past: KV | null, cross: KV, crossBias: tf.Tensor4D, ctx: ForwardContext): { h: tf.Tensor3D; self: KV } {
    const { h: x, kv } = this.selfAttention.step(h, bias, past, ctx);
    const y = this.crossAttention!.step(x, cross, crossBias, ctx);
    return { h: this.feedForward.forward(y, ctx), self: kv };
  }

  dispose(): void {
    for (const l of this.layer) l.dispose();
  }
}
