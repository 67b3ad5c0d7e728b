/**
 * The original T5 family (t5-small…t5-11b): relu feed-forward (`wi`, `wo`) and a scaled head
 * (`scale_decoder_outputs`, or `tie_word_embeddings` in 4.x configs). No golden file covers it, so a
 * naive reference written from transformers' modeling_t5.py (plain JS loops) checks the model on a
 * random tiny checkpoint, together with the config toggles.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { serializeSafetensors } from '@conifer/safetensors';
import seedrandom from 'seedrandom';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectedTensors, parseT5Config, relativePositionBucket, T5ForConditionalGeneration, type T5Config } from '../src/index.js';
import { int2d, relErr, tempDirs, useBackend } from './helpers.js';

const tmp = tempDirs();

beforeAll(async () => {
  await useBackend('cpu');
});

const base = {
  model_type: 't5', vocab_size: 20, d_model: 8, d_kv: 4, num_heads: 2, d_ff: 16, num_layers: 2, num_decoder_layers: 1,
  relative_attention_num_buckets: 8, relative_attention_max_distance: 16, dropout_rate: 0.1, feed_forward_proj: 'relu',
};

/** transformers' additive mask value, `torch.finfo(torch.float32).min`. */
const FINFO_MIN = -3.4028234663852886e38;

type W = Map<string, { shape: number[]; data: Float32Array }>;

function randomCheckpoint(config: T5Config, withHead: boolean, seed = 1): W {
  const rng = seedrandom(String(seed));
  const w: W = new Map();
  const names = [...expectedTensors(config)].map(([n, e]) => [n, e.shape] as const);
  if (withHead) names.push(['lm_head.weight', [config.vocab_size, config.d_model]]);
  for (const [name, shape] of names) {
    const n = shape.reduce((a, b) => a * b, 1);
    w.set(name, { shape: [...shape], data: Float32Array.from({ length: n }, () => (rng() - 0.5) * (name.includes('norm') ? 1 : 1.2) + (name.includes('norm') ? 1 : 0)) });
  }
  return w;
}

function writeSnapshot(configJson: Record<string, unknown>, w: W, extra: Record<string, { shape: number[]; data: Float32Array }> = {}): string {
  const dir = tmp('t5-family-');
  writeFileSync(join(dir, 'config.json'), JSON.stringify(configJson));
  const tensors = Object.fromEntries([...w, ...Object.entries(extra)].map(([k, v]) => [k, { dtype: 'F32' as const, shape: v.shape, data: v.data }]));
  writeFileSync(join(dir, 'model.safetensors'), serializeSafetensors(tensors));
  return dir;
}

/** transformers' T5 forward, one number at a time. Returns logits [B][T][V]. */
function reference(config: T5Config, w: W, ids: number[][], mask: number[][], dec: number[][]): number[][][] {
  const get = (n: string) => w.get(n)!.data;
  const linear = (x: number[], name: string) => {
    const W = w.get(`${name}.weight`)!;
    const [o, i] = W.shape as [number, number];
    return Array.from({ length: o }, (_, r) => x.reduce((s, xv, c) => s + xv * W.data[r * i + c]!, 0));
  };
  const norm = (x: number[], name: string) => {
    const g = get(name);
    const rms = 1 / Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length + config.layer_norm_epsilon);
    return x.map((v, k) => v * rms * g[k]!);
  };
  const act = (v: number) => Math.max(v, 0); // relu
  const H = config.num_heads;
  const dk = config.d_kv;
  const attention = (xs: number[][], kvs: number[][], name: string, bias: (h: number, i: number, j: number) => number) => {
    const q = xs.map((x) => linear(x, `${name}.q`));
    const k = kvs.map((x) => linear(x, `${name}.k`));
    const v = kvs.map((x) => linear(x, `${name}.v`));
    return xs.map((_, i) => {
      const ctx = new Array<number>(H * dk).fill(0);
      for (let h = 0; h < H; h++) {
        const s = k.map((kj, j) => q[i]!.slice(h * dk, h * dk + dk).reduce((a, qv, d) => a + qv * kj[h * dk + d]!, 0) + bias(h, i, j)); // no scaling
        const m = Math.max(...s);
        const e = s.map((x) => Math.exp(x - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let j = 0; j < k.length; j++) for (let d = 0; d < dk; d++) ctx[h * dk + d]! += (e[j]! / z) * v[j]![h * dk + d]!;
      }
      return linear(ctx, `${name}.o`);
    });
  };
  const relBias = (stack: string, bidirectional: boolean) => {
    const table = get(`${stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight`);
    return (h: number, i: number, j: number) =>
      table[relativePositionBucket(j - i, bidirectional, config.relative_attention_num_buckets, config.relative_attention_max_distance) * H + h]!;
  };
  const emb = (t: number) => Array.from(get('shared.weight').slice(t * config.d_model, (t + 1) * config.d_model));
  const add = (a: number[][], b: number[][]) => a.map((r, i) => r.map((v, k) => v + b[i]![k]!));
  return ids.map((row, b) => {
    // encoder
    const encBias = relBias('encoder', true);
    let h = row.map(emb);
    for (let l = 0; l < config.num_layers; l++) {
      const p = `encoder.block.${l}.layer`;
      h = add(h, attention(h.map((x) => norm(x, `${p}.0.layer_norm.weight`)), h.map((x) => norm(x, `${p}.0.layer_norm.weight`)), `${p}.0.SelfAttention`, (hh, i, j) => encBias(hh, i, j) + (mask[b]![j] ? 0 : FINFO_MIN)));
      h = add(h, h.map((x) => linear(linear(norm(x, `${p}.1.layer_norm.weight`), `${p}.1.DenseReluDense.wi`).map(act), `${p}.1.DenseReluDense.wo`)));
    }
    const enc = h.map((x) => norm(x, 'encoder.final_layer_norm.weight'));
    // decoder
    const decBias = relBias('decoder', false);
    let g = dec[b]!.map(emb);
    for (let l = 0; l < config.num_decoder_layers; l++) {
      const p = `decoder.block.${l}.layer`;
      const n0 = g.map((x) => norm(x, `${p}.0.layer_norm.weight`));
      g = add(g, attention(n0, n0, `${p}.0.SelfAttention`, (hh, i, j) => decBias(hh, i, j) + (j > i ? FINFO_MIN : 0)));
      g = add(g, attention(g.map((x) => norm(x, `${p}.1.layer_norm.weight`)), enc, `${p}.1.EncDecAttention`, (_h, _i, j) => (mask[b]![j] ? 0 : FINFO_MIN)));
      g = add(g, g.map((x) => linear(linear(norm(x, `${p}.2.layer_norm.weight`), `${p}.2.DenseReluDense.wi`).map(act), `${p}.2.DenseReluDense.wo`)));
    }
    const scale = config.scale_decoder_outputs ? config.d_model ** -0.5 : 1;
    const head = w.has('lm_head.weight') ? 'lm_head' : 'shared';
    return g.map((x) => linear(norm(x, 'decoder.final_layer_norm.weight').map((v) => v * scale), head));
  });
}

const ids = [[3, 7, 9, 12, 1], [4, 5, 1, 0, 0]];
const mask = [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]];
const dec = [[0, 6, 2], [0, 8, 8]];

async function logitsOf(dir: string, m: number[][] = mask): Promise<{ logits: number[][][]; model: T5ForConditionalGeneration }> {
  const model = await T5ForConditionalGeneration.fromPretrained(dir);
  const [a, b, c] = [int2d(ids), int2d(m), int2d(dec)];
  const out = model.forward({ inputIds: a, attentionMask: b, decoderInputIds: c });
  const logits = out.logits.arraySync();
  tf.dispose([a, b, c, out.logits, out.encoderLastHiddenState]);
  return { logits, model };
}

describe('original T5 family (relu, scaled head)', () => {
  it('a 4.x-style config (no scale_decoder_outputs, tied) scales the head and matches the reference', async () => {
    const config = parseT5Config(base);
    expect(config.scale_decoder_outputs).toBe(true);
    const w = randomCheckpoint(config, false);
    const { logits, model } = await logitsOf(writeSnapshot(base, w));
    expect(model.listLinears().map(([p]) => p)).toContain('encoder.block.0.layer.1.DenseReluDense.wi');
    expect(relErr(logits.flat(2), reference(config, w, ids, mask, dec).flat(2))).toBeLessThan(1e-5);
    model.dispose();
  });

  it('an all-zero attention mask row matches transformers (finfo.min: uniform attention over every key, bias absorbed)', async () => {
    // transformers adds torch.finfo(float32).min for masked keys: a row with every key masked has all its
    // scores equal (the position bias and q·k are absorbed), so its softmax is uniform; -1e9 would keep them.
    const config = parseT5Config(base);
    const w = randomCheckpoint(config, false, 5);
    // A position bias spanning hundreds: below -1e9 (float32 steps of 64 there) it would still pick keys.
    const table = w.get('encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight')!;
    table.data = table.data.map((v) => v * 500);
    const zeroRow = [[1, 1, 1, 1, 1], [0, 0, 0, 0, 0]];
    const before = tf.memory().numTensors;
    const { logits, model } = await logitsOf(writeSnapshot(base, w), zeroRow);
    const ref = reference(config, w, ids, zeroRow, dec);
    expect(relErr(logits[1]!.flat(), ref[1]!.flat())).toBeLessThan(1e-5);
    expect(relErr(logits.flat(2), ref.flat(2))).toBeLessThan(1e-5);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('scale_decoder_outputs toggles the d_model^-0.5 factor exactly', async () => {
    const w = randomCheckpoint(parseT5Config(base), false);
    const scaled = await logitsOf(writeSnapshot({ ...base, scale_decoder_outputs: true }, w));
    const plain = await logitsOf(writeSnapshot({ ...base, scale_decoder_outputs: false }, w));
    const ratio = plain.logits.flat(2).map((v) => v * 8 ** -0.5);
    expect(relErr(scaled.logits.flat(2), ratio)).toBeLessThan(1e-6);
    scaled.model.dispose();
    plain.model.dispose();
  });

  it('an untied lm_head.weight is used; 4.x embed_tokens copies are accepted and ignored', async () => {
    const json = { ...base, tie_word_embeddings: false };
    const config = parseT5Config(json);
    expect(config.scale_decoder_outputs).toBe(false);
    const w = randomCheckpoint(config, true);
    const shared = w.get('shared.weight')!;
    const dir = writeSnapshot(json, w, { 'encoder.embed_tokens.weight': shared, 'decoder.embed_tokens.weight': shared });
    const { logits, model } = await logitsOf(dir);
    expect(model.lm_head.tied).toBe(false);
    expect(relErr(logits.flat(2), reference(config, w, ids, mask, dec).flat(2))).toBeLessThan(1e-5);
    model.dispose();
  });

  it('an untied config whose checkpoint has no lm_head.weight is refused, naming it (not silently tied)', async () => {
    const json = { ...base, tie_word_embeddings: false };
    const dir = writeSnapshot(json, randomCheckpoint(parseT5Config(json), false));
    const before = tf.memory().numTensors;
    await expect(T5ForConditionalGeneration.fromPretrained(dir)).rejects.toThrow(/missing: lm_head\.weight \(tie_word_embeddings is false: the head is not the embedding\)/);
    expect(tf.memory().numTensors).toBe(before);
    // tied (the default): no lm_head.weight needed
    const tied = await T5ForConditionalGeneration.fromPretrained(writeSnapshot(base, randomCheckpoint(parseT5Config(base), false)));
    expect(tied.lm_head.tied).toBe(true);
    tied.dispose();
  });

  it('fromConfig: seeded (same seed → same weights), relu tree, untied head when asked', () => {
    const a = T5ForConditionalGeneration.fromConfig(base, { seed: 3 });
    const b = T5ForConditionalGeneration.fromConfig(base, { seed: 3 });
    const c = T5ForConditionalGeneration.fromConfig({ ...base, tie_word_embeddings: false }, { seed: 4 });
    const wa = a.listLinears()[0]![1].dequantize!();
    const wb = b.listLinears()[0]![1].dequantize!();
    expect(Array.from(wa.dataSync())).toEqual(Array.from(wb.dataSync()));
    expect(a.lm_head.tied).toBe(true);
    expect(c.lm_head.tied).toBe(false);
    tf.dispose([wa, wb]);
    for (const m of [a, b, c]) m.dispose();
  });
});
