import * as tf from '@tensorflow/tfjs-core';
import { isParsed, parseT5Config, type T5Config } from './config.js';
import { ForwardContext, SeedStream } from './dropout.js';
import { T5Embedding } from './head.js';
import { pretrainedDir } from './hub.js';
import type { Linear, LinearHost } from './interfaces.js';
import { float32LinearFactory } from './linear.js';
import { disposeStackNonLinear, replaceLinearIn, stackLinears, stackNonLinearParameters } from './linear-host.js';
import { loadT5Config, streamCheckpoint } from './load.js';
import { checkForwardOptionKeys, checkModelOptionKeys, type FromConfigOptions, type FromPretrainedOptions, type T5ModelOptions } from './model.js';
import { checkNeftuneNoiseAlpha, NeftuneNoise } from './neftune.js';
import type { WeightSource } from './modules.js';
import { savePretrained, type SavePretrainedOptions } from './save.js';
import { T5Stack, runEncoder } from './stack.js';
import { MapSource, RandomSource } from './weights.js';

/** Inputs of `T5EncoderModel.forward`: int32 tensors [B, S]. */
export interface T5EncoderForwardInputs {
  inputIds: tf.Tensor2D;
  /** 1 = token, 0 = padding. Default: all ones (transformers' default `attention_mask`). */
  attentionMask?: tf.Tensor2D;
}

/** What `T5EncoderModel.forward` returns (transformers' `BaseModelOutput`). */
export interface T5EncoderOutput {
  /** [B, S, d_model] float32: the encoder's output after its final layer norm (and dropout, training only). */
  lastHiddenState: tf.Tensor3D;
}

/**
 * transformers `T5EncoderModel`: `shared` and `encoder` only, fields named as in the checkpoint —
 * text embeddings, or the T5 text encoder of Stable Diffusion 3 / Flux / DeepFloyd IF. Loads an
 * encoder-only checkpoint or a full seq2seq one (its `decoder.*` and `lm_head.weight` are ignored, never
 * read). Implements `LinearHost` with the same paths as `T5ForConditionalGeneration`'s encoder
 * (`encoder.block.0.layer.0.SelfAttention.q`), so `@conifer/lora` and `@conifer/int8` plug in alike.
 */
export class T5EncoderModel implements LinearHost {
  readonly config: T5Config;
  shared: T5Embedding;
  encoder: T5Stack;
  /** Recompute each block in the backward pass (bounded activation memory); gradients are unchanged. */
  gradientCheckpointing: boolean;
  private seeds: SeedStream;
  private readonly neftune: NeftuneNoise;

  private constructor(config: T5Config, src: WeightSource, options: T5ModelOptions) {
    this.config = config;
    this.shared = new T5Embedding(src.tensor('shared.weight', [config.vocab_size, config.d_model]) as tf.Tensor2D);
    this.encoder = new T5Stack(config, 'encoder', src, false);
    this.gradientCheckpointing = options.gradientCheckpointing ?? false;
    this.seeds = new SeedStream(options.dropoutSeed ?? 0);
    this.neftune = new NeftuneNoise(options.dropoutSeed ?? 0);
    this.neftune.alpha = options.neftuneNoiseAlpha ?? 0;
  }

  /** NEFTune's α ≥ 0 (0 = off): in training, uniform noise in ±α/√(S·d_model) on `shared`'s output, as for the seq2seq model. */
  get neftuneNoiseAlpha(): number {
    return this.neftune.alpha;
  }

  set neftuneNoiseAlpha(alpha: number) {
    this.neftune.alpha = checkNeftuneNoiseAlpha(alpha);
  }

  /**
   * A randomly initialised encoder (transformers' init scales, seeded), drawn in
   * `T5ForConditionalGeneration.fromConfig`'s order — an untied config's `lm_head` first (skipped
   * here), then `shared` and the encoder —, so the same seed gives the same `shared` and encoder.
   */
  static fromConfig(config: T5Config | Record<string, unknown>, options: FromConfigOptions = {}): T5EncoderModel {
    checkModelOptionKeys('T5EncoderModel.fromConfig', options, 'config', 'encoder');
    const cfg = isParsed(config) ? config : parseT5Config(config);
    const src = new RandomSource(cfg, options.seed ?? 0, options.makeLinear ?? float32LinearFactory);
    if (!cfg.tie_word_embeddings) src.skip([cfg.vocab_size, cfg.d_model]); // the seq2seq model's lm_head.weight
    return new T5EncoderModel(cfg, src, options);
  }

  /**
   * Loads a snapshot folder or hub id as `T5ForConditionalGeneration.fromPretrained` does (single
   * file or sharded index; F32/F16/BF16, or bitsandbytes 8-bit; streamed, each projection to
   * `makeLinear`), reading `shared.weight` (else `encoder.embed_tokens.weight`) and `encoder.*` only.
   * Missing, extra or mis-shaped encoder tensors are one `T5CheckpointError` naming them.
   */
  static async fromPretrained(dirOrId: string, options: FromPretrainedOptions = {}): Promise<T5EncoderModel> {
    checkModelOptionKeys('T5EncoderModel.fromPretrained', options, 'pretrained', 'encoder');
    const dir = await pretrainedDir(dirOrId, options);
    const config = await loadT5Config(dir);
    const { linears, tensors } = await streamCheckpoint(dir, config, options.makeLinear ?? float32LinearFactory, { encoderOnly: true });
    return new T5EncoderModel(config, new MapSource(linears, tensors), options);
  }

  /**
   * transformers' `save_pretrained` of a `T5EncoderModel`: `config.json` (`architectures:
   * ["T5EncoderModel"]`) and `shared.weight` + `encoder.*` as safetensors; no generation config.
   * Same options as `T5ForConditionalGeneration.savePretrained`. Node only.
   */
  savePretrained(dir: string, options: SavePretrainedOptions = {}): Promise<string[]> {
    return savePretrained(this, dir, options);
  }

  /** Restarts the dropout seed stream (and NEFTune's, derived from the same seed). */
  setDropoutSeed(seed: number): void {
    this.seeds = new SeedStream(seed);
    this.neftune.reseed(seed);
  }

  /**
   * `last_hidden_state` [B, S, d_model] for `inputIds` [B, S] (padding positions masked out of
   * attention by `attentionMask`). Dropout (`dropout_rate`) only with `training: true`.
   */
  forward(inputs: T5EncoderForwardInputs, options: { training?: boolean } = {}): T5EncoderOutput {
    checkForwardOptionKeys('T5EncoderModel.forward', options);
    const { inputIds, attentionMask } = inputs;
    if (inputIds.rank !== 2) throw new Error(`T5EncoderModel.forward: inputIds must be [batch, seq], got [${inputIds.shape.join(', ')}]`);
    if (attentionMask && (attentionMask.rank !== 2 || attentionMask.shape.some((d, i) => d !== inputIds.shape[i]))) {
      throw new Error(`T5EncoderModel.forward: attentionMask [${attentionMask.shape.join(', ')}] does not match inputIds [${inputIds.shape.join(', ')}]`);
    }
    const ctx = options.training ? new ForwardContext(true, this.config.dropout_rate, this.seeds, this.neftune) : ForwardContext.inference();
    const lastHiddenState = tf.tidy(() => {
      const mask = attentionMask ?? (tf.onesLike(inputIds) as tf.Tensor2D);
      return runEncoder(this.shared, this.encoder, inputIds, mask, ctx, this.gradientCheckpointing);
    });
    return { lastHiddenState };
  }

  /** Parameters as PyTorch counts them: `shared`, every projection at in × out, the norms and the relative bias. */
  numParameters(): number {
    let n = this.shared.weight.size;
    for (const [, l] of this.listLinears()) n += l.inFeatures * l.outFeatures;
    return n + stackNonLinearParameters(this.encoder);
  }

  /** Every projection by Hugging Face module path (`encoder.block.0.layer.0.SelfAttention.q`, …), in checkpoint order. */
  listLinears(): Array<[path: string, linear: Linear]> {
    return stackLinears([['encoder', this.encoder]]);
  }

  /** Replaces the projection at `path` (same in/out features). The old one is not disposed. */
  replaceLinear(path: string, linear: Linear): void {
    replaceLinearIn(this, this.listLinears(), path, linear);
  }

  /** Frees every weight (linears included). */
  dispose(): void {
    for (const [, l] of this.listLinears()) l.dispose?.();
    disposeStackNonLinear(this.encoder);
    this.shared.dispose();
  }
}
