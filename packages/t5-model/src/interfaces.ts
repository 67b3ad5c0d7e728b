/**
 * The narrow interfaces of docs/interfaces.md, declared here structurally (no package imports
 * another's classes). Copied verbatim: do not change one side only.
 */
import type * as tf from '@tensorflow/tfjs-core';

/** A projection x: [..., inFeatures] → [..., outFeatures]. */
export interface Linear {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** y = x·Wᵀ (+ b). Must be differentiable wrt x (and wrt any trainable variables it owns). */
  apply(x: tf.Tensor): tf.Tensor;
  /** The float32 weight [outFeatures, inFeatures] (a new tensor the caller disposes); lets LoRA merge, and DoRA (`use_dora`) needs it for its weight norm. */
  dequantize?(): tf.Tensor2D;
  /** Optional: the weight in bitsandbytes' 8-bit form (int8 `[out, in]` row-major, `SCB` = row absmax), for an 8-bit save. */
  int8Weight?(): Promise<{ weight: Int8Array; SCB: Float32Array }>;
  /** Frees what the layer holds. */
  dispose?(): void;
}

/** Raw little-endian bytes of one checkpoint tensor, as stored (safetensors dtype names). */
export interface WeightData {
  dtype: 'F32' | 'F16' | 'BF16' | 'I8';
  shape: number[];
  /** May be a view at any byte offset: decode with DataView or copy first. */
  data: Uint8Array;
  /** dtype `I8` only (a checkpoint saved in 8 bit): bitsandbytes' per-row absmax `SCB` `[out]`; W ≈ data · SCB / 127. */
  SCB?: Float32Array;
}

/** What @conifer/t5-model passes to a linear factory for each projection while loading. */
export interface LinearSpec {
  /** Hugging Face module path, e.g. "encoder.block.0.layer.0.SelfAttention.q". */
  path: string;
  inFeatures: number;
  outFeatures: number;
  /** The weight [outFeatures, inFeatures] (PyTorch nn.Linear layout). */
  weight: WeightData;
}
export type LinearFactory = (spec: LinearSpec) => Linear;

/** What LoRA needs from a model: its linears by HF path, and a way to swap one. */
export interface LinearHost {
  listLinears(): Array<[path: string, linear: Linear]>;
  replaceLinear(path: string, linear: Linear): void;
  /** Optional: parameters of the whole model (PEFT's "all params"; `@conifer/lora` reads it). */
  numParameters?(): number;
}

/** What generation needs from an encoder-decoder. */
export interface Seq2Seq<Enc = unknown, Cache = unknown> {
  encode(inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D): Enc;
  decodeStep(tokens: tf.Tensor2D, encoder: Enc, cache: Cache | null): { logits: tf.Tensor3D; cache: Cache };
  reorderCache(cache: Cache, indices: tf.Tensor1D): Cache;
  reorderEncoder(encoder: Enc, indices: tf.Tensor1D): Enc;
  /** Optional: keeps the first `length` decoder positions of the cache (transformers' `DynamicCache.crop`);
   *  consumes the old cache. Assisted decoding needs it to drop rejected candidate tokens. */
  cropCache?(cache: Cache, length: number): Cache;
  disposeCache(cache: Cache): void;
  disposeEncoder(encoder: Enc): void;
  /** Optional generation defaults: a parsed generation_config.json (transformers' keys). */
  readonly generationConfig?: Readonly<Record<string, unknown>> | null;
  /** Optional model config (config.json's keys): token ids when there is no generationConfig. */
  readonly config?: object;
}
