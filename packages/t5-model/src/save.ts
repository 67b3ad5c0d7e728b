import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { float32ToBf16Bits, serializeSafetensors, writeFileAtomic, type TensorToWrite } from '@conifer/safetensors';
import { t5ConfigToJSON, type T5Config } from './config.js';
import type { T5Embedding, T5LMHead } from './head.js';
import type { Linear } from './interfaces.js';
import type { T5Stack } from './stack.js';
import { checkOptions, type KnownOptions } from './unknown-options.js';
import { expectedTensors } from './weights.js';

/** What {@link savePretrained} reads: a `T5ForConditionalGeneration`, or a `T5EncoderModel` (no `decoder`, no `lm_head`). */
export interface SavableT5Model {
  readonly config: T5Config;
  shared: T5Embedding;
  encoder: T5Stack;
  /** Absent for an encoder-only model: then only `shared.weight` and `encoder.*` are written. */
  decoder?: T5Stack;
  /** Written as `lm_head.weight` when present and untied. */
  lm_head?: T5LMHead;
  /** Written as `generation_config.json` when set (an encoder-only model has none: transformers' `can_generate()` is false). */
  generationConfig?: Record<string, unknown> | null;
  listLinears(): Array<[path: string, linear: Linear]>;
}

/** Options of {@link savePretrained}. */
export interface SavePretrainedOptions {
  /** Stored dtype: `F32` (default) or `BF16` (rounded to nearest even, as PyTorch's `.to(torch.bfloat16)`). */
  dtype?: 'F32' | 'BF16';
  /** Largest shard in bytes (transformers' `max_shard_size`, default 5 GB = 5·10⁹); larger models are sharded with an index. */
  maxShardBytes?: number;
  /**
   * Write 8-bit projections in 8 bit, as transformers saves a model loaded in 8 bit (bitsandbytes'
   * serialization): for each linear that offers `int8Weight()`, `<path>.weight` I8 `[out, in]`,
   * `<path>.SCB` F32 `[out]` (row absmax) and `<path>.weight_format` U8 `0`; config.json gets a
   * bitsandbytes `quantization_config` (`load_in_8bit`, the float projections in
   * `llm_int8_skip_modules`). T5's `wo` projections are written dequantized even when int8: transformers
   * keeps them float (`_keep_in_fp32_modules`) and would misread an 8-bit one. Default false: every
   * projection is written dequantized.
   */
  keepInt8?: boolean;
}

const SAVE_OPTIONS: KnownOptions<SavePretrainedOptions> = { dtype: true, maxShardBytes: true, keepInt8: true };
/** transformers' `save_pretrained` names of options named differently here. */
const SAVE_NAMES: Readonly<Record<string, string>> = { max_shard_size: 'maxShardBytes' };

/** T5's `_keep_in_fp32_modules` (transformers never loads these in 8 bit). */
const KEEP_FLOAT = /(^|\.)wo$/;

/**
 * transformers' `BitsAndBytesConfig(load_in_8bit=True)` as `to_dict()` writes it into config.json (`skip`:
 * llm_int8_skip_modules). `llm_int8_threshold` is bitsandbytes' default 6.0: it is how transformers
 * computes when it loads the file, not a record of our layers' modes (weight-only layers have no threshold).
 */
function bitsAndBytesConfig(skip: string[] | null): Record<string, unknown> {
  return {
    _load_in_4bit: false, _load_in_8bit: true, bnb_4bit_compute_dtype: 'float32', bnb_4bit_quant_storage: 'uint8', bnb_4bit_quant_type: 'fp4',
    bnb_4bit_use_double_quant: false, llm_int8_enable_fp32_cpu_offload: false, llm_int8_has_fp16_weight: false, llm_int8_skip_modules: skip,
    llm_int8_threshold: 6.0, load_in_4bit: false, load_in_8bit: true, quant_method: 'bitsandbytes',
  };
}

/** The model's tensor for checkpoint key `name` (linears dequantized): a tensor, and whether the caller owns it. */
function tensorFor(model: SavableT5Model, name: string, linears: Map<string, { dequantize?(): tf.Tensor2D }>): { t: tf.Tensor; owned: boolean } {
  if (name === 'shared.weight') return { t: model.shared.weight, owned: false };
  if (name === 'lm_head.weight' && model.lm_head) return { t: tf.transpose(model.lm_head.weightT), owned: true }; // [d_model, vocab] → [vocab, d_model]
  const linear = linears.get(name.replace(/\.weight$/, ''));
  if (linear) {
    if (!linear.dequantize) throw new Error(`savePretrained: ${name}: its linear has no dequantize()`);
    return { t: linear.dequantize(), owned: true };
  }
  const m = /^(encoder|decoder)\.(?:final_layer_norm\.weight|block\.(\d+)\.layer\.(\d+)\.(layer_norm\.weight|SelfAttention\.relative_attention_bias\.weight))$/.exec(name);
  if (m) {
    const stack = m[1] === 'encoder' ? model.encoder : model.decoder;
    if (stack && m[2] === undefined) return { t: stack.final_layer_norm.weight, owned: false };
    const layer = stack?.block[Number(m[2])]?.layer[Number(m[3])];
    const t = m[4] === 'layer_norm.weight' ? layer?.layer_norm.weight : stack?.block[Number(m[2])]?.selfAttention.SelfAttention.relative_attention_bias;
    if (t) return { t, owned: false };
  }
  throw new Error(`savePretrained: the model holds no tensor for ${name}`);
}

/**
 * transformers' `save_pretrained` for a T5: `config.json`, `generation_config.json` (when the model has
 * one) and the weights as safetensors under the checkpoint's own names — `model.safetensors`, or
 * `model-0000k-of-0000N.safetensors` shards with `model.safetensors.index.json` past `maxShardBytes`.
 * Projections are written as their float weights (`dequantize()`: an int8 layer is written dequantized,
 * a merged LoRA layer with its adapter folded in), the head only when untied. An encoder-only model
 * writes `shared.weight` and `encoder.*` (its tied `encoder.embed_tokens.weight` is dropped, as
 * transformers drops `T5EncoderModel._tied_weights_keys`). config.json's `architectures` names the
 * class (`T5ForConditionalGeneration`, or `T5EncoderModel` without a decoder), as transformers sets it.
 * Reads one shard's tensors at a time (every backend); each file is written atomically. Returns the files written.
 */
export async function savePretrained(model: SavableT5Model, dir: string, options: SavePretrainedOptions = {}): Promise<string[]> {
  checkOptions('savePretrained', options, SAVE_OPTIONS, SAVE_NAMES, (m) => new Error(m));
  const dtype = options.dtype ?? 'F32';
  if (dtype !== 'F32' && dtype !== 'BF16') throw new Error(`savePretrained: dtype ${JSON.stringify(dtype)} is not F32 or BF16`);
  const maxShard = options.maxShardBytes ?? 5e9;
  const per = dtype === 'F32' ? 4 : 2;
  const expected = expectedTensors(model.config, model.decoder ? ['encoder', 'decoder'] : ['encoder']);
  if (model.lm_head && !model.lm_head.tied) expected.set('lm_head.weight', { shape: [model.config.vocab_size, model.config.d_model] });
  const names = [...expected.keys()];
  const linears = new Map(model.listLinears());
  // Projections written in 8 bit (keepInt8): their weight keys. Not T5's `wo`: transformers keeps it in
  // float whatever the checkpoint says (`T5PreTrainedModel._keep_in_fp32_modules = ["wo"]`), so an I8
  // `wo` would load there as raw integers; it is written dequantized and listed as skipped.
  const int8 = new Set(options.keepInt8 ? names.filter((n) => {
    const path = expected.get(n)!.linear?.path;
    return path !== undefined && !KEEP_FLOAT.test(path) && linears.get(path)?.int8Weight !== undefined;
  }) : []);
  // Shards in checkpoint order, each at most maxShard bytes (a larger tensor gets one of its own).
  const shards: string[][] = [[]];
  let bytes = 0;
  let total = 0;
  for (const n of names) {
    const [out = 1, inF = 1] = expected.get(n)!.shape;
    const size = int8.has(n) ? out * inF + 4 * out + 1 : per * expected.get(n)!.shape.reduce((a, d) => a * d, 1);
    if (bytes > 0 && bytes + size > maxShard) {
      shards.push([]);
      bytes = 0;
    }
    shards[shards.length - 1]!.push(n);
    bytes += size;
    total += size;
  }
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  const file = (k: number) => (shards.length === 1 ? 'model.safetensors' : `model-${String(k + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`);
  const weightMap: Record<string, string> = {};
  for (const [k, shard] of shards.entries()) {
    const tensors = new Map<string, TensorToWrite>();
    for (const n of shard) {
      if (int8.has(n)) {
        const path = expected.get(n)!.linear!.path;
        const q = await linears.get(path)!.int8Weight!();
        const [out, inF] = expected.get(n)!.shape as [number, number];
        if (q.weight.length !== out * inF || q.SCB.length !== out) throw new Error(`savePretrained: ${path}.int8Weight() gave ${q.weight.length} values and ${q.SCB.length} SCB, expected [${out}, ${inF}]`);
        tensors.set(n, { dtype: 'I8', shape: [out, inF], data: new Uint8Array(q.weight.buffer, q.weight.byteOffset, q.weight.byteLength) });
        tensors.set(`${path}.SCB`, { dtype: 'F32', shape: [out], data: q.SCB });
        tensors.set(`${path}.weight_format`, { dtype: 'U8', shape: [], data: new Uint8Array([0]) });
        for (const key of [n, `${path}.SCB`, `${path}.weight_format`]) weightMap[key] = file(k);
        continue;
      }
      const { t, owned } = tensorFor(model, n, linears);
      try {
        const shape = expected.get(n)!.shape;
        if (t.shape.join(',') !== shape.join(',')) throw new Error(`savePretrained: ${n} is [${t.shape.join(', ')}], the config says [${shape.join(', ')}]`);
        const values = (await t.data()) as Float32Array;
        tensors.set(n, { dtype, shape, data: dtype === 'F32' ? Float32Array.from(values) : float32ToBf16Bits(Float32Array.from(values)) });
      } finally {
        if (owned) t.dispose();
      }
      weightMap[n] = file(k);
    }
    await writeFileAtomic(join(dir, file(k)), serializeSafetensors(tensors, { format: 'pt' }));
    written.push(file(k));
  }
  if (shards.length > 1) {
    const index = { metadata: { total_size: total }, weight_map: Object.fromEntries(Object.entries(weightMap).sort(([a], [b]) => (a < b ? -1 : 1))) };
    await writeFileAtomic(join(dir, 'model.safetensors.index.json'), JSON.stringify(index, null, 2));
    written.push('model.safetensors.index.json');
  }
  const config: Record<string, unknown> = { ...t5ConfigToJSON(model.config), dtype: dtype === 'F32' ? 'float32' : 'bfloat16' };
  // transformers' save_pretrained: `config.architectures = [model_to_save.__class__.__name__]`.
  config.architectures = [model.decoder ? 'T5ForConditionalGeneration' : 'T5EncoderModel'];
  delete config.quantization_config; // a loaded 8-bit checkpoint's: true again only when saved in 8 bit
  if (int8.size) {
    const float = names.filter((n) => expected.get(n)!.linear && !int8.has(n)).map((n) => expected.get(n)!.linear!.path);
    config.quantization_config = bitsAndBytesConfig(float.length ? [...float, ...(model.lm_head ? ['lm_head'] : [])] : null);
  }
  await writeFileAtomic(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  written.push('config.json');
  if (model.generationConfig) {
    await writeFileAtomic(join(dir, 'generation_config.json'), JSON.stringify(model.generationConfig, null, 2));
    written.push('generation_config.json');
  }
  return written;
}
