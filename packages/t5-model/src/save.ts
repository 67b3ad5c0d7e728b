import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { serializeSafetensors, writeFileAtomic, type TensorToWrite } from '@conifer/safetensors';
import { t5ConfigToJSON } from './config.js';
import type { T5ForConditionalGeneration } from './model.js';
import { expectedTensors } from './weights.js';

/** Options of {@link savePretrained}. */
export interface SavePretrainedOptions {
  /** Stored dtype: `F32` (default) or `BF16` (rounded to nearest even, as PyTorch's `.to(torch.bfloat16)`). */
  dtype?: 'F32' | 'BF16';
  /** Largest shard in bytes (transformers' `max_shard_size`, default 5 GB = 5·10⁹); larger models are sharded with an index. */
  maxShardBytes?: number;
}

/** f32 → bf16, round to nearest even (NaN stays a quiet NaN). */
function toBf16(values: Float32Array): Uint16Array {
  const u = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < u.length; i++) {
    const x = u[i] as number;
    out[i] = (x & 0x7fffffff) > 0x7f800000 ? ((x >>> 16) | 0x40) : ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16);
  }
  return out;
}

/** The model's tensor for checkpoint key `name` (linears dequantized): a tensor, and whether the caller owns it. */
function tensorFor(model: T5ForConditionalGeneration, name: string, linears: Map<string, { dequantize?(): tf.Tensor2D }>): { t: tf.Tensor; owned: boolean } {
  if (name === 'shared.weight') return { t: model.shared.weight, owned: false };
  if (name === 'lm_head.weight') return { t: tf.transpose(model.lm_head.weightT), owned: true }; // [d_model, vocab] → [vocab, d_model]
  const linear = linears.get(name.replace(/\.weight$/, ''));
  if (linear) {
    if (!linear.dequantize) throw new Error(`savePretrained: ${name}: its linear has no dequantize()`);
    return { t: linear.dequantize(), owned: true };
  }
  const m = /^(encoder|decoder)\.(?:final_layer_norm\.weight|block\.(\d+)\.layer\.(\d+)\.(layer_norm\.weight|SelfAttention\.relative_attention_bias\.weight))$/.exec(name);
  if (m) {
    const stack = model[m[1] as 'encoder' | 'decoder'];
    if (m[2] === undefined) return { t: stack.final_layer_norm.weight, owned: false };
    const layer = stack.block[Number(m[2])]?.layer[Number(m[3])];
    const t = m[4] === 'layer_norm.weight' ? layer?.layer_norm.weight : stack.block[Number(m[2])]?.selfAttention.SelfAttention.relative_attention_bias;
    if (t) return { t, owned: false };
  }
  throw new Error(`savePretrained: the model holds no tensor for ${name}`);
}

/**
 * transformers' `save_pretrained` for a T5: `config.json`, `generation_config.json` (when the model has
 * one) and the weights as safetensors under the checkpoint's own names — `model.safetensors`, or
 * `model-0000k-of-0000N.safetensors` shards with `model.safetensors.index.json` past `maxShardBytes`.
 * Projections are written as their float weights (`dequantize()`: an int8 layer is written dequantized,
 * a merged LoRA layer with its adapter folded in), the head only when untied. Reads one shard's
 * tensors at a time (every backend); each file is written atomically. Returns the files written.
 */
export async function savePretrained(model: T5ForConditionalGeneration, dir: string, options: SavePretrainedOptions = {}): Promise<string[]> {
  const dtype = options.dtype ?? 'F32';
  if (dtype !== 'F32' && dtype !== 'BF16') throw new Error(`savePretrained: dtype ${JSON.stringify(dtype)} is not F32 or BF16`);
  const maxShard = options.maxShardBytes ?? 5e9;
  const per = dtype === 'F32' ? 4 : 2;
  const expected = expectedTensors(model.config);
  if (!model.lm_head.tied) expected.set('lm_head.weight', { shape: [model.config.vocab_size, model.config.d_model] });
  const names = [...expected.keys()];
  const linears = new Map(model.listLinears());
  // Shards in checkpoint order, each at most maxShard bytes (a larger tensor gets one of its own).
  const shards: string[][] = [[]];
  let bytes = 0;
  let total = 0;
  for (const n of names) {
    const size = per * expected.get(n)!.shape.reduce((a, d) => a * d, 1);
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
      const { t, owned } = tensorFor(model, n, linears);
      try {
        const shape = expected.get(n)!.shape;
        if (t.shape.join(',') !== shape.join(',')) throw new Error(`savePretrained: ${n} is [${t.shape.join(', ')}], the config says [${shape.join(', ')}]`);
        const values = (await t.data()) as Float32Array;
        tensors.set(n, { dtype, shape, data: dtype === 'F32' ? Float32Array.from(values) : toBf16(Float32Array.from(values)) });
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
  await writeFileAtomic(join(dir, 'config.json'), JSON.stringify({ ...t5ConfigToJSON(model.config), dtype: dtype === 'F32' ? 'float32' : 'bfloat16' }, null, 2));
  written.push('config.json');
  if (model.generationConfig) {
    await writeFileAtomic(join(dir, 'generation_config.json'), JSON.stringify(model.generationConfig, null, 2));
    written.push('generation_config.json');
  }
  return written;
}
