import * as tf from '@tensorflow/tfjs-core';
import { isParsed, parseT5Config, type T5Config } from './config.js';
import { ForwardContext, SeedStream } from './dropout.js';
import { T5Embedding, T5LMHead } from './head.js';
import { checkDecodeTokens, checkEncoderInputs, checkForwardInputs } from './inputs.js';
import type { Linear, LinearFactory, LinearHost, Seq2Seq } from './interfaces.js';
import { float32LinearFactory } from './linear.js';
import { DOWNLOAD_OPTIONS, HUB_NAMES, pretrainedDir, type DownloadPretrainedOptions } from './hub.js';
import { checkOptions, nestedOptionProblems, notAnOptionsObject, optionsMessage, showValue, type KnownOptions } from './unknown-options.js';
import { disposeStackNonLinear, replaceLinearIn, stackLinears, stackNonLinearParameters } from './linear-host.js';
import { loadGenerationConfig, loadT5Config, streamCheckpoint } from './load.js';
import { checkLabelSmoothingFactor, IGNORE_INDEX, labelSmoothingFactorProblem, tokenLosses } from './loss.js';
import { checkNeftuneNoiseAlpha, NeftuneNoise, neftuneNoiseAlphaProblem } from './neftune.js';
import { savePretrained, type SavePretrainedOptions } from './save.js';
import type { KV, LayerCache, WeightSource } from './modules.js';
import { T5Stack, extendedMask, runEncoder } from './stack.js';
import { MapSource, RandomSource } from './weights.js';

/** Options shared by `fromConfig` and `fromPretrained`. */
export interface T5ModelOptions {
  /** Builds each projection (default: a frozen float32 linear, `float32LinearFactory`). */
  makeLinear?: LinearFactory;
  /** Recompute each block in the backward pass instead of keeping its activations. Default false. */
  gradientCheckpointing?: boolean;
  /** Seed of the dropout masks (training mode), and of NEFTune's noise. Default 0. */
  dropoutSeed?: number;
  /**
   * NEFTune (transformers' `neftune_noise_alpha`): in training, uniform noise in
   * [−α/√(L·d_model), α/√(L·d_model)] is added to the input embedding's output, L being that call's
   * sequence length (the encoder's source, the decoder's target). Finite, ≥ 0; default 0 (off).
   */
  neftuneNoiseAlpha?: number;
  /**
   * transformers' `label_smoothing_factor` ε (`T5ForConditionalGeneration` only; the encoder model has
   * no loss and refuses it): each target token's loss is (1 − ε)·(−log p[label]) + ε·mean over the
   * vocabulary of −log p, in training and evaluation alike. Finite, in [0, 1); default 0 (off).
   */
  labelSmoothingFactor?: number;
}

export interface FromPretrainedOptions extends T5ModelOptions {
  /**
   * How a hub id is fetched (`fromPretrained('google/flan-t5-small')`): cache folder, revision,
   * endpoint, token, fetch, progress. Defaults as Python's huggingface_hub ($HF_HUB_CACHE,
   * $HF_ENDPOINT, $HF_TOKEN).
   */
  hub?: DownloadPretrainedOptions;
  /** The dtype non-projection weights are held in: TensorFlow.js computes in float32, the only value accepted. */
  dtype?: 'float32';
}

export interface FromConfigOptions extends T5ModelOptions {
  /** Seed of the random initialisation. Default 0. */
  seed?: number;
}

const MODEL_OPTIONS: KnownOptions<T5ModelOptions> = {
  makeLinear: true, gradientCheckpointing: true, dropoutSeed: true, neftuneNoiseAlpha: true, labelSmoothingFactor: true,
};
const FROM_PRETRAINED_OPTIONS: KnownOptions<FromPretrainedOptions> = { ...MODEL_OPTIONS, hub: true, dtype: true };
const FROM_CONFIG_OPTIONS: KnownOptions<FromConfigOptions> = { ...MODEL_OPTIONS, seed: true };
/** transformers' `from_pretrained` names of options that are named differently here (or live in `hub`). */
const TRANSFORMERS_NAMES: Readonly<Record<string, string>> = {
  torch_dtype: 'dtype', cache_dir: 'hub.cacheDir', revision: 'hub.revision', token: 'hub.accessToken', progress: 'hub.progress',
  load_in_8bit: 'makeLinear: int8LinearFactory() of @conifer/int8', quantization_config: 'makeLinear: int8LinearFactory() of @conifer/int8',
};
const FORWARD_OPTIONS: KnownOptions<{ training?: boolean }> = { training: true };

/**
 * Everything wrong with `fromPretrained` / `fromConfig` options in one RangeError, before anything is loaded or
 * allocated (`T5EncoderModel` too): unknown keys, of `hub` too (as `hub.key`), with the option meant; a `hub` that
 * is not an object; `labelSmoothingFactor` and `neftuneNoiseAlpha` out of range (the encoder model: any factor but 0); a `gradientCheckpointing` that is
 * not a boolean (`'no'` would have turned it on); a `makeLinear` that is not a function.
 */
export function checkModelOptionKeys(where: string, options: FromPretrainedOptions | FromConfigOptions, from: 'pretrained' | 'config', model: 'seq2seq' | 'encoder' = 'seq2seq'): void {
  const message = optionsMessage(where, options, {
    known: from === 'pretrained' ? FROM_PRETRAINED_OPTIONS : FROM_CONFIG_OPTIONS,
    aliases: TRANSFORMERS_NAMES,
    more: (o, p) => {
      const hub = from === 'pretrained' ? o['hub'] : undefined;
      const wrongHub = notAnOptionsObject(hub);
      if (wrongHub !== undefined) p.values.push(`hub must be an object of download options (cacheDir, revision, accessToken, …), got ${wrongHub}`);
      else if (hub !== undefined) p.unknown.push(...nestedOptionProblems('hub', hub as object, DOWNLOAD_OPTIONS, HUB_NAMES));
      const { labelSmoothingFactor: eps, neftuneNoiseAlpha: alpha, gradientCheckpointing: gc, makeLinear: ml } = o as Record<keyof T5ModelOptions, unknown>;
      const values = [
        eps === undefined
          ? undefined
          : model === 'encoder' // no loss to smooth: only 0 is accepted
            ? eps === 0 ? undefined : `labelSmoothingFactor: T5EncoderModel computes no loss, got ${showValue(eps)} (use it with T5ForConditionalGeneration)`
            : labelSmoothingFactorProblem(eps),
        alpha === undefined ? undefined : neftuneNoiseAlphaProblem(alpha),
        gc === undefined || typeof gc === 'boolean' ? undefined : `gradientCheckpointing must be true or false, got ${showValue(gc)}`,
        ml === undefined || typeof ml === 'function' ? undefined : `makeLinear must be a LinearFactory function (e.g. int8LinearFactory() of @conifer/int8), got ${showValue(ml)}`,
      ];
      for (const v of values) if (v !== undefined) p.values.push(v);
    },
  });
  if (message !== undefined) throw new RangeError(message);
}

/** Unknown keys of `forward`'s options (`{ training }`): an Error naming them. */
export function checkForwardOptionKeys(where: string, options: { training?: boolean }): void {
  checkOptions(where, options, FORWARD_OPTIONS, {}, (m) => new Error(m));
}

/** Inputs of `forward`: int32 tensors [B, S] and [B, T]. */
export interface T5ForwardInputs {
  inputIds: tf.Tensor2D;
  attentionMask: tf.Tensor2D;
  /** Default: `labels` shifted right (decoder start id first, -100 → pad id). */
  decoderInputIds?: tf.Tensor2D;
  /** Targets; -100 = ignored. */
  labels?: tf.Tensor2D;
}

export interface T5ForwardOutput {
  /** [B, T, vocab] float32. */
  logits: tf.Tensor3D;
  /** [B, S, d_model]: the encoder's output (after its final norm). */
  encoderLastHiddenState: tf.Tensor3D;
  /** Mean cross-entropy over the non-ignored labels (with `labels`). */
  loss?: tf.Scalar;
  /** Sum of the per-token losses (with `labels`). */
  lossSum?: tf.Scalar;
  /** Per-token losses [B, T], 0 where ignored (with `labels`). */
  tokenLoss?: tf.Tensor2D;
  /** Number of non-ignored labels (with `labels`), int32, computed on the device (no read-back). */
  tokenCount?: tf.Scalar;
}

/**
 * A batch for `lossSum`: `@conifer/dolly-data`'s `Batch` (Int32Arrays, row-major, with
 * `batchSize`/`sourceLength`/`targetLength`) or int32 tensors.
 */
export interface T5Batch {
  inputIds: Int32Array | tf.Tensor2D;
  attentionMask: Int32Array | tf.Tensor2D;
  labels: Int32Array | tf.Tensor2D;
  decoderInputIds?: Int32Array | tf.Tensor2D;
  batchSize?: number;
  sourceLength?: number;
  targetLength?: number;
}

/** What `encode` returns: the encoder output and the mask of its positions. */
export type T5EncoderState = {
  /** [B, S, d_model]. */
  lastHiddenState: tf.Tensor3D;
  /** [B, S] (1 = token, 0 = pad). */
  attentionMask: tf.Tensor2D;
};

/** What `decodeStep` carries between steps. */
export interface T5DecoderCache {
  /** Positions decoded so far. */
  length: number;
  /** One per decoder block: self-attention keys/values [B, H, length, d_kv] and the encoder's [B, H, S, d_kv]. */
  layers: LayerCache[];
}

/**
 * transformers `T5ForConditionalGeneration`: `shared`, `encoder`, `decoder`, `lm_head`, fields named
 * as in the checkpoint. Implements `LinearHost` (for LoRA) and `Seq2Seq` (for generation).
 */
export class T5ForConditionalGeneration implements LinearHost, Seq2Seq<T5EncoderState, T5DecoderCache> {
  readonly config: T5Config;
  shared: T5Embedding;
  encoder: T5Stack;
  decoder: T5Stack;
  lm_head: T5LMHead;
  /** Recompute each block in the backward pass (bounded activation memory); gradients are unchanged. */
  gradientCheckpointing: boolean;
  /**
   * The checkpoint's `generation_config.json` as parsed (transformers' keys), or null (`fromConfig`, or
   * a folder without one). `@conifer/generate` takes its defaults from here, else from `config`'s
   * `decoder_start_token_id`, `eos_token_id` and `pad_token_id`, as transformers' `generate` does.
   */
  generationConfig: Record<string, unknown> | null = null;
  private seeds: SeedStream;
  private readonly neftune: NeftuneNoise;
  private smoothing = 0;

  private constructor(config: T5Config, src: WeightSource, headWeight: tf.Tensor2D | null, options: T5ModelOptions) {
    this.config = config;
    this.shared = new T5Embedding(src.tensor('shared.weight', [config.vocab_size, config.d_model]) as tf.Tensor2D);
    this.encoder = new T5Stack(config, 'encoder', src, false);
    this.decoder = new T5Stack(config, 'decoder', src, true);
    // The head: lm_head.weight when the checkpoint has it, else shared.weight.
    this.lm_head = headWeight
      ? new T5LMHead(tf.tidy(() => tf.transpose(headWeight)), null)
      : new T5LMHead(tf.tidy(() => tf.transpose(this.shared.weight)), this.shared.weight);
    headWeight?.dispose();
    this.gradientCheckpointing = options.gradientCheckpointing ?? false;
    this.seeds = new SeedStream(options.dropoutSeed ?? 0);
    this.neftune = new NeftuneNoise(options.dropoutSeed ?? 0);
    this.neftuneNoiseAlpha = options.neftuneNoiseAlpha ?? 0;
    this.labelSmoothingFactor = options.labelSmoothingFactor ?? 0;
  }

  /**
   * transformers' `label_smoothing_factor` ε in [0, 1) (0 = off, the default): `forward`'s losses and
   * `lossSum` give each target token (1 − ε)·(−log p[label]) + ε·mean over the vocabulary of −log p,
   * -100 excluded, in training and evaluation (the Trainer's `compute_loss` smooths both).
   */
  get labelSmoothingFactor(): number {
    return this.smoothing;
  }

  set labelSmoothingFactor(epsilon: number) {
    this.smoothing = checkLabelSmoothingFactor(epsilon);
  }

  /**
   * NEFTune's α ≥ 0 (0 = off, the default): in training only, uniform noise in ±α/√(L·d_model) on
   * `shared`'s output in the encoder and in the decoder, each with its own length L; seeded from the
   * dropout seed (`setDropoutSeed`) on a stream of its own.
   */
  get neftuneNoiseAlpha(): number {
    return this.neftune.alpha;
  }

  set neftuneNoiseAlpha(alpha: number) {
    this.neftune.alpha = checkNeftuneNoiseAlpha(alpha);
  }

  /** A randomly initialised model (transformers' init scales, seeded: see `RandomSource`). */
  static fromConfig(config: T5Config | Record<string, unknown>, options: FromConfigOptions = {}): T5ForConditionalGeneration {
    checkModelOptionKeys('T5ForConditionalGeneration.fromConfig', options, 'config');
    const cfg = isParsed(config) ? config : parseT5Config(config);
    const src = new RandomSource(cfg, options.seed ?? 0, options.makeLinear ?? float32LinearFactory);
    const head = cfg.tie_word_embeddings ? null : (src.tensor('lm_head.weight', [cfg.vocab_size, cfg.d_model]) as tf.Tensor2D);
    return new T5ForConditionalGeneration(cfg, src, head, options);
  }

  /**
   * Loads a Hugging Face snapshot folder: `config.json` and `model.safetensors` or
   * `model.safetensors.index.json` + shards (F32/F16/BF16), and `generation_config.json` when present
   * (`generationConfig`). Streamed tensor by tensor; each
   * projection goes to `makeLinear` as raw bytes when it is read. A hub id (`google/flan-t5-small`)
   * that is not a local folder is downloaded first into the Hugging Face cache
   * ({@link downloadPretrained}, `options.hub`); Node only.
   */
  static async fromPretrained(dirOrId: string, options: FromPretrainedOptions = {}): Promise<T5ForConditionalGeneration> {
    checkModelOptionKeys('T5ForConditionalGeneration.fromPretrained', options, 'pretrained');
    const dir = await pretrainedDir(dirOrId, options);
    const config = await loadT5Config(dir);
    const generationConfig = await loadGenerationConfig(dir);
    const { linears, tensors } = await streamCheckpoint(dir, config, options.makeLinear ?? float32LinearFactory);
    const head = (tensors.get('lm_head.weight') as tf.Tensor2D | undefined) ?? null;
    const model = new T5ForConditionalGeneration(config, new MapSource(linears, tensors), head, options);
    model.generationConfig = generationConfig;
    return model;
  }

  /**
   * transformers' `save_pretrained`: `config.json`, `generation_config.json` and the weights as
   * safetensors (F32 or BF16, sharded past `maxShardBytes`) under the checkpoint's names; see
   * {@link savePretrained}. Node only.
   */
  savePretrained(dir: string, options: SavePretrainedOptions = {}): Promise<string[]> {
    return savePretrained(this, dir, options);
  }

  /** Restarts the dropout seed stream (and NEFTune's, derived from the same seed). */
  setDropoutSeed(seed: number): void {
    this.seeds = new SeedStream(seed);
    this.neftune.reseed(seed);
  }

  private context(training: boolean): ForwardContext {
    return training ? new ForwardContext(true, this.config.dropout_rate, this.seeds, this.neftune) : ForwardContext.inference();
  }

  // ---- training / scoring ------------------------------------------------------------------

  /** Encoder + decoder + head (and the loss when `labels` are given). */
  forward(inputs: T5ForwardInputs, options: { training?: boolean } = {}): T5ForwardOutput {
    checkForwardOptionKeys('forward', options);
    const { inputIds, attentionMask, labels } = inputs;
    if (!inputs.decoderInputIds && !labels) throw new Error('forward: give decoderInputIds or labels');
    checkForwardInputs('forward', inputs);
    const ctx = this.context(options.training ?? false);
    // Nothing is read back to the host: webgpu in Node has no synchronous read.
    return tf.tidy(() => {
      const encoderLastHiddenState = this.runEncoder(inputIds, attentionMask, ctx);
      const decoderInputIds = inputs.decoderInputIds ?? this.shiftRight(labels!);
      const logits = this.runDecoder(decoderInputIds, encoderLastHiddenState, attentionMask, ctx);
      if (!labels) return { logits, encoderLastHiddenState };
      const tokenLoss = tokenLosses(logits, labels, this.smoothing);
      const lossSum = tf.sum(tokenLoss) as tf.Scalar;
      const tokenCount = tf.sum(tf.cast(tf.notEqual(tf.cast(labels, 'int32'), tf.scalar(IGNORE_INDEX, 'int32')), 'int32')) as tf.Scalar;
      const loss = tf.div(lossSum, tf.maximum(tf.cast(tokenCount, 'float32'), tf.scalar(1))) as tf.Scalar; // mean over non-ignored (NaN-free when none)
      return { logits, encoderLastHiddenState, tokenLoss, lossSum, loss, tokenCount };
    });
  }

  /**
   * The `Trainable` loss: the sum of per-token cross-entropies over the batch's non-ignored labels
   * and their count (the trainer divides by the whole accumulation window's count).
   */
  lossSum(batch: T5Batch, training: boolean): { sum: tf.Scalar; count: number } {
    const labelsHost = batch.labels instanceof Int32Array ? batch.labels : readLabelsSync(batch.labels);
    const count = countTargets(labelsHost, this.config.vocab_size);
    const ctx = this.context(training);
    const sum = tf.tidy(() => {
      const [b, s, t] = batchDims(batch);
      const ids = asTensor(batch.inputIds, b, s);
      const mask = asTensor(batch.attentionMask, b, s);
      const labels = asTensor(batch.labels, b, t);
      const decoderInputIds = batch.decoderInputIds ? asTensor(batch.decoderInputIds, b, t) : undefined;
      checkForwardInputs('lossSum', { inputIds: ids, attentionMask: mask, labels, decoderInputIds });
      const dec = decoderInputIds ?? this.shiftRight(labels);
      const enc = this.runEncoder(ids, mask, ctx);
      const logits = this.runDecoder(dec, enc, mask, ctx);
      return tf.sum(tokenLosses(logits, labels, this.smoothing)) as tf.Scalar;
    });
    return { sum, count };
  }

  /** labels shifted right: decoder_start_token_id first, -100 → pad_token_id (transformers `_shift_right`). */
  shiftRight(labels: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const [b, t] = labels.shape;
      const l = tf.cast(labels, 'int32');
      const start = tf.fill([b, 1], this.config.decoder_start_token_id, 'int32');
      const shifted = tf.concat([start, tf.slice(l, [0, 0], [b, t - 1])], 1);
      return tf.where(tf.equal(shifted, tf.scalar(IGNORE_INDEX, 'int32')), tf.fill([b, t], this.config.pad_token_id, 'int32'), shifted) as tf.Tensor2D;
    });
  }

  private runEncoder(inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D, ctx: ForwardContext): tf.Tensor3D {
    return runEncoder(this.shared, this.encoder, inputIds, attentionMask, ctx, this.gradientCheckpointing);
  }

  /** Decoder over the whole target sequence, then the head: logits [B, T, V]. */
  private runDecoder(decoderInputIds: tf.Tensor2D, encoderHidden: tf.Tensor3D, attentionMask: tf.Tensor2D, ctx: ForwardContext): tf.Tensor3D {
    return tf.tidy(() => {
      const t = decoderInputIds.shape[1];
      const embeds = ctx.embedded(this.shared.forward(decoderInputIds)); // (B, T, d), NEFTune's noise in training
      const bias = this.decoder.selfBias(t, t, 0, null); // (1, H, T, T)
      const crossBias = extendedMask(attentionMask); // (B, 1, 1, S)
      const h = this.decoder.forward(embeds, bias, encoderHidden, crossBias, ctx, this.gradientCheckpointing);
      return this.head(h);
    });
  }

  /** sequence_output * d_model ** -0.5 when scale_decoder_outputs, then lm_head. */
  private head(h: tf.Tensor3D): tf.Tensor3D {
    const scaled = this.config.scale_decoder_outputs ? tf.mul(h, this.config.d_model ** -0.5) : h;
    return this.lm_head.forward(scaled as tf.Tensor3D);
  }

  // ---- Seq2Seq -------------------------------------------------------------------------------

  encode(inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D): T5EncoderState {
    checkEncoderInputs('encode', inputIds, attentionMask);
    return tf.tidy(() => ({
      lastHiddenState: this.runEncoder(inputIds, attentionMask, ForwardContext.inference()),
      attentionMask: tf.cast(attentionMask, 'int32'),
    }));
  }

  decodeStep(tokens: tf.Tensor2D, encoder: T5EncoderState, cache: T5DecoderCache | null): { logits: tf.Tensor3D; cache: T5DecoderCache } {
    checkDecodeTokens('decodeStep', tokens, encoder.lastHiddenState);
    const past = cache?.length ?? 0;
    const ctx = ForwardContext.inference();
    const out = tf.tidy(() => {
      const t = tokens.shape[1];
      let h = this.shared.forward(tokens); // (B, T, d)
      const bias = this.decoder.selfBias(t, past + t, past, null); // (1, H, T, past+T)
      const crossBias = extendedMask(encoder.attentionMask); // (B, 1, 1, S)
      const layers: LayerCache[] = [];
      this.decoder.block.forEach((block, i) => {
        const prev = cache?.layers[i];
        const cross: KV = prev?.cross ?? block.crossAttention!.encoderKV(encoder.lastHiddenState);
        const r = block.step(h, bias, prev?.self ?? null, cross, crossBias, ctx);
        h = r.h;
        layers.push({ self: r.self, cross });
      });
      const logits = this.head(this.decoder.final_layer_norm.forward(h));
      return { logits, layers };
    });
    if (cache) for (const l of cache.layers) disposeKV(l.self); // the cross keys/values move to the new cache
    return { logits: out.logits, cache: { length: past + tokens.shape[1], layers: out.layers } };
  }

  reorderCache(cache: T5DecoderCache, indices: tf.Tensor1D): T5DecoderCache {
    const layers = tf.tidy(() => cache.layers.map((l) => ({ self: gatherKV(l.self, indices), cross: gatherKV(l.cross, indices) })));
    this.disposeCache(cache);
    return { length: cache.length, layers };
  }

  /**
   * Keeps the first `length` positions of every decoder self-attention cache (keys/values
   * `[B, H, cache.length, d_kv]` → `[B, H, length, d_kv]`); the cross-attention keys/values are
   * untouched. transformers' `DynamicCache.crop(max_length)` (`self.keys = self.keys[..., :max_length, :]`
   * per layer), which assisted decoding calls to drop the positions of rejected candidate tokens.
   * Consumes `cache` (the dropped self-attention tensors are freed; the cross ones move to the result).
   * `length` must be an integer in [0, cache.length]; otherwise it throws before changing anything.
   */
  cropCache(cache: T5DecoderCache, length: number): T5DecoderCache {
    if (!Number.isInteger(length) || length < 0 || length > cache.length) {
      throw new Error(`cropCache: \`length\` must be an integer in [0, ${cache.length}] (the cached positions), got ${String(length)}`);
    }
    if (length === cache.length) return cache;
    const layers = tf.tidy(() =>
      cache.layers.map((l) => ({ self: sliceKV(l.self, length), cross: l.cross })),
    );
    for (const l of cache.layers) disposeKV(l.self); // the cross keys/values move to the cropped cache
    return { length, layers };
  }

  reorderEncoder(encoder: T5EncoderState, indices: tf.Tensor1D): T5EncoderState {
    return tf.tidy(() => ({
      lastHiddenState: tf.gather(encoder.lastHiddenState, indices),
      attentionMask: tf.gather(encoder.attentionMask, indices),
    }));
  }

  disposeCache(cache: T5DecoderCache): void {
    for (const l of cache.layers) {
      disposeKV(l.self);
      disposeKV(l.cross);
    }
  }

  disposeEncoder(encoder: T5EncoderState): void {
    encoder.lastHiddenState.dispose();
    encoder.attentionMask.dispose();
  }

  /**
   * Parameters as PyTorch counts them (`sum(p.numel() for p in model.parameters())`): the shared
   * embedding once (a tied head is the same tensor), an untied `lm_head`, every projection at
   * in × out whatever its storage (int8 or float32; a LoRA wrapper counts its base only), the
   * layer norms and the relative attention biases. LoRA reads this for PEFT's "all params".
   */
  numParameters(): number {
    let n = this.shared.weight.size + (this.lm_head.tied ? 0 : this.lm_head.weightT.size);
    for (const [, l] of this.listLinears()) n += l.inFeatures * l.outFeatures;
    return n + stackNonLinearParameters(this.encoder) + stackNonLinearParameters(this.decoder);
  }

  // ---- LinearHost ----------------------------------------------------------------------------

  /** Every projection by Hugging Face module path, in checkpoint order. */
  listLinears(): Array<[path: string, linear: Linear]> {
    return stackLinears([['encoder', this.encoder], ['decoder', this.decoder]]);
  }

  /** Replaces the projection at `path` (same in/out features). The old one is not disposed. */
  replaceLinear(path: string, linear: Linear): void {
    replaceLinearIn(this, this.listLinears(), path, linear);
  }

  /** Frees every weight (linears included). */
  dispose(): void {
    for (const [, l] of this.listLinears()) l.dispose?.();
    disposeStackNonLinear(this.encoder);
    disposeStackNonLinear(this.decoder);
    this.lm_head.dispose();
    this.shared.dispose();
  }
}

/** Non-ignored labels; one that is neither -100 nor a token id is an error (PyTorch's cross-entropy: "Target N is out of bounds"), not a silent zero loss. */
function countTargets(labels: Int32Array, vocab: number): number {
  let n = 0;
  for (const l of labels) {
    if (l === IGNORE_INDEX) continue;
    if (!(l >= 0 && l < vocab)) throw new RangeError(`label ${l} is out of bounds: labels are token ids in [0, ${vocab}) or ${IGNORE_INDEX} (ignored)`);
    n++;
  }
  return n;
}

/** `count` is a number, so tensor labels are read back synchronously — which webgpu in Node cannot do. */
function readLabelsSync(labels: tf.Tensor2D): Int32Array {
  try {
    return Int32Array.from(labels.dataSync());
  } catch (e) {
    throw new Error(`lossSum: labels are a tensor on the '${tf.getBackend()}' backend, which cannot read them back synchronously (${(e as Error).message}); pass labels as an Int32Array with batchSize and targetLength`);
  }
}

function batchDims(batch: T5Batch): [number, number, number] {
  const dims = (x: Int32Array | tf.Tensor2D, rows?: number, cols?: number): [number, number] =>
    x instanceof Int32Array ? [rows ?? 0, cols ?? 0] : [x.shape[0], x.shape[1]];
  const [b, s] = dims(batch.inputIds, batch.batchSize, batch.sourceLength);
  const [, t] = dims(batch.labels, batch.batchSize, batch.targetLength);
  if (!b || !s || !t) throw new Error('lossSum: Int32Array batches need batchSize, sourceLength and targetLength');
  return [b, s, t];
}

function asTensor(x: Int32Array | tf.Tensor2D, rows: number, cols: number): tf.Tensor2D {
  if (!(x instanceof Int32Array)) return x;
  if (x.length !== rows * cols) throw new Error(`lossSum: array of ${x.length} values, expected ${rows}×${cols}`);
  return tf.tensor2d(x, [rows, cols], 'int32');
}

function gatherKV(kv: KV, indices: tf.Tensor1D): KV {
  return { k: tf.gather(kv.k, indices), v: tf.gather(kv.v, indices) };
}

/** The first `length` positions of a self-attention cache: (B, H, L, dk) → (B, H, length, dk). */
function sliceKV(kv: KV, length: number): KV {
  const [b, h, , dk] = kv.k.shape;
  return { k: tf.slice(kv.k, [0, 0, 0, 0], [b, h, length, dk]), v: tf.slice(kv.v, [0, 0, 0, 0], [b, h, length, dk]) };
}

function disposeKV(kv: KV): void {
  kv.k.dispose();
  kv.v.dispose();
}

