// T5EncoderModel (transformers `modeling_t5.py`, class `T5EncoderModel`): numbers against the golden
// `encoder_last_hidden_state` (transformers 5.17, fixtures/PROVENANCE.md); key sets against that
// class's source: `_keys_to_ignore_on_load_unexpected = [r"decoder"]` (a full checkpoint's decoder is
// ignored), `_tied_weights_keys = ["encoder.embed_tokens.weight"]` (PreTrainedModel.save_pretrained
// drops that tied copy and keeps `shared.weight`, and sets `config.architectures = [class name]`; no
// generation_config.json, since the class cannot generate).
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { parseSafetensors, serializeSafetensors, type TensorToWrite } from '@conifer/safetensors';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { Float32Linear, T5CheckpointError, T5EncoderModel, T5ForConditionalGeneration, type LinearSpec } from '../src/index.js';
import { repoFromFolder, startFakeHub } from './fake-hub.js';
import { int2d, loadCase, modelDir, relErr, tempDirs, useBackend } from './helpers.js';
import { AdapterLinear, addAdapters } from './lora-like.js';

const tmp = tempDirs();
beforeAll(async () => {
  await useBackend('cpu');
});

const goldenTensors = (model: string) => parseSafetensors(readFileSync(join(modelDir(model), 'model.safetensors'))).tensors;

/** An encoder-only checkpoint derived from a golden full one: config.json and only `shared.weight` + `encoder.*`, then `edit`. */
function encoderOnlyDir(model: string, edit: (t: Map<string, TensorToWrite>) => void = () => {}, config: Record<string, unknown> = {}): string {
  const dir = tmp('t5-enc-');
  const json = JSON.parse(readFileSync(join(modelDir(model), 'config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...json, ...config }));
  const keep = [...goldenTensors(model)].filter(([k]) => k === 'shared.weight' || k.startsWith('encoder.'));
  const map = new Map<string, TensorToWrite>(keep.map(([k, v]) => [k, { dtype: v.dtype, shape: v.shape, data: v.data.slice() }]));
  edit(map);
  writeFileSync(join(dir, 'model.safetensors'), serializeSafetensors(map, { format: 'pt' }));
  return dir;
}

/** The model's last_hidden_state for the golden case's inputs, against the golden encoder_last_hidden_state; no tensor left behind. */
async function againstGolden(m: T5EncoderModel, caseName: string): Promise<number> {
  const c = loadCase(caseName);
  const before = tf.memory().numTensors;
  const [ids, mask] = [int2d(c.input_ids), int2d(c.attention_mask)];
  const { lastHiddenState } = m.forward({ inputIds: ids, attentionMask: mask });
  expect(lastHiddenState.shape).toEqual(c.encoder_last_hidden_state.shape);
  const err = relErr(await lastHiddenState.data(), c.encoder_last_hidden_state.data);
  tf.dispose([ids, mask, lastHiddenState]);
  expect(tf.memory().numTensors).toBe(before);
  return err;
}

describe('T5EncoderModel (cpu)', () => {
  it('from full checkpoints (ul2-tiny, flan-t5-tiny, 12 shards, bf16): last_hidden_state equals the golden encoder_last_hidden_state; dispose frees everything', async () => {
    for (const [model, caseName, tol] of [
      ['ul2-tiny', 'ul2-tiny', 1e-4],
      ['flan-t5-tiny', 'flan-t5-tiny', 1e-4],
      ['ul2-tiny-sharded', 'ul2-tiny', 1e-4],
      ['ul2-tiny-bf16', 'ul2-tiny', 5e-3], // the rounded weights (golden.test.ts: same bound on the encoder state)
    ] as const) {
      const before = tf.memory().numTensors;
      const m = await T5EncoderModel.fromPretrained(modelDir(model));
      expect(await againstGolden(m, caseName), model).toBeLessThan(tol);
      m.dispose();
      expect(tf.memory().numTensors, model).toBe(before);
    }
  });

  it('from an encoder-only checkpoint (shared.weight + encoder.*): loads and equals the golden; with encoder.embed_tokens.weight in place of shared.weight too', async () => {
    // Untied, as T5 v1.1 / Flan-T5 (and SD3's text_encoder_3) configs say: an encoder needs no lm_head.weight.
    const m = await T5EncoderModel.fromPretrained(encoderOnlyDir('flan-t5-tiny', () => {}, { tie_word_embeddings: false }));
    expect(m.config.tie_word_embeddings).toBe(false);
    expect(await againstGolden(m, 'flan-t5-tiny')).toBeLessThan(1e-4);
    m.dispose();
    // transformers 4.x-style: the embedding stored only under its tied name.
    const renamed = encoderOnlyDir('ul2-tiny', (t) => {
      t.set('encoder.embed_tokens.weight', t.get('shared.weight')!);
      t.delete('shared.weight');
    });
    const m2 = await T5EncoderModel.fromPretrained(renamed);
    expect(await againstGolden(m2, 'ul2-tiny')).toBeLessThan(1e-4);
    m2.dispose();
  });

  it("never reads a full checkpoint's decoder.* or lm_head.weight (broken ones load; decoder-only shards are not even opened)", async () => {
    const dir = tmp('t5-enc-full-');
    cpSync(join(modelDir('ul2-tiny'), 'config.json'), join(dir, 'config.json'));
    const map = new Map<string, TensorToWrite>([...goldenTensors('ul2-tiny')].map(([k, v]) => [k, { dtype: v.dtype, shape: v.shape, data: v.data }]));
    map.delete('decoder.final_layer_norm.weight');
    map.set('decoder.block.0.layer.0.SelfAttention.q.weight', { dtype: 'F32', shape: [3], data: new Float32Array(3) });
    map.set('decoder.embed_tokens.weight', { dtype: 'F32', shape: [2, 2], data: new Float32Array(4) }); // a mis-shaped 4.x tied copy
    map.set('lm_head.weight', { dtype: 'F32', shape: [7], data: new Float32Array(7) });
    writeFileSync(join(dir, 'model.safetensors'), serializeSafetensors(map));
    await expect(T5ForConditionalGeneration.fromPretrained(dir)).rejects.toThrow(T5CheckpointError); // the edits are real
    const m = await T5EncoderModel.fromPretrained(dir);
    expect(await againstGolden(m, 'ul2-tiny')).toBeLessThan(1e-4);
    m.dispose();
    // ul2-tiny-sharded: shards 6–12 hold decoder tensors only; garbage there is never seen.
    const sharded = tmp('t5-enc-sharded-');
    cpSync(modelDir('ul2-tiny-sharded'), sharded, { recursive: true });
    writeFileSync(join(sharded, 'model-00012-of-00012.safetensors'), 'not a safetensors file');
    const m2 = await T5EncoderModel.fromPretrained(sharded);
    expect(await againstGolden(m2, 'ul2-tiny')).toBeLessThan(1e-4);
    m2.dispose();
  });

  it('missing, extra and mis-shaped encoder tensors are one T5CheckpointError naming each; nothing leaked', async () => {
    const dir = encoderOnlyDir('ul2-tiny', (t) => {
      t.delete('shared.weight');
      t.delete('encoder.block.1.layer.1.DenseReluDense.wo.weight');
      t.set('encoder.block.0.layer.0.SelfAttention.extra.weight', { dtype: 'F32', shape: [2], data: new Float32Array(2) });
      t.set('encoder.final_layer_norm.weight', { dtype: 'F32', shape: [63], data: new Float32Array(63) });
    });
    const before = tf.memory().numTensors;
    const err = await T5EncoderModel.fromPretrained(dir).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(T5CheckpointError);
    const e = err as T5CheckpointError;
    expect(e.missing).toEqual(['shared.weight', 'encoder.block.1.layer.1.DenseReluDense.wo.weight']);
    expect(e.unexpected).toEqual(['encoder.block.0.layer.0.SelfAttention.extra.weight']);
    expect(e.misshaped).toEqual(['encoder.final_layer_norm.weight (F32[63], expected F32/F16/BF16[64])']);
    expect(e.message).toContain('missing: shared.weight, encoder.block.1.layer.1.DenseReluDense.wo.weight');
    expect(tf.memory().numTensors).toBe(before);
  });

  it('an encoder-only checkpoint given to T5ForConditionalGeneration: one error that says so (not every decoder name), missing still lists them all', async () => {
    const dir = encoderOnlyDir('ul2-tiny', (t) => t.delete('encoder.final_layer_norm.weight'));
    const before = tf.memory().numTensors;
    const err = await T5ForConditionalGeneration.fromPretrained(dir).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(T5CheckpointError);
    const e = err as T5CheckpointError;
    const decoderKeys = [...goldenTensors('ul2-tiny').keys()].filter((k) => k.startsWith('decoder.'));
    expect([...e.missing].sort()).toEqual([...decoderKeys, 'encoder.final_layer_norm.weight'].sort());
    expect(e.message).toBe(`${dir}: checkpoint does not match config.json — missing: every decoder.* tensor (${decoderKeys.length}: an encoder-only checkpoint, which T5EncoderModel loads), encoder.final_layer_norm.weight`);
    expect(tf.memory().numTensors).toBe(before);
    // one decoder tensor present: the names are listed as before
    const partial = encoderOnlyDir('ul2-tiny', (t) => t.set('decoder.final_layer_norm.weight', { dtype: 'F32', shape: [64], data: new Float32Array(64) }));
    const err2 = (await T5ForConditionalGeneration.fromPretrained(partial).then(() => null, (x: unknown) => x)) as T5CheckpointError;
    expect(err2.message).toContain('missing: decoder.block.0.layer.0.SelfAttention.q.weight, ');
    expect(err2.message).not.toContain('every decoder');
  });

  it('LinearHost: makeLinear gets the encoder projections under the seq2seq model’s paths; replaceLinear swaps one; numParameters counts the checkpoint', async () => {
    const specs: string[] = [];
    const m = await T5EncoderModel.fromPretrained(modelDir('ul2-tiny'), {
      makeLinear: (spec: LinearSpec) => {
        specs.push(spec.path);
        return Float32Linear.fromSpec(spec);
      },
    });
    const full = await T5ForConditionalGeneration.fromPretrained(modelDir('ul2-tiny'));
    const encoderPaths = full.listLinears().map(([p]) => p).filter((p) => p.startsWith('encoder.'));
    full.dispose();
    expect(encoderPaths).toHaveLength(2 * 7); // 2 blocks × (q, k, v, o, wi_0, wi_1, wo)
    expect([...specs].sort()).toEqual([...encoderPaths].sort()); // streamed in the file's data order
    expect(m.listLinears().map(([p]) => p)).toEqual(encoderPaths); // checkpoint order, as the seq2seq model lists them
    expect(encoderPaths[0]).toBe('encoder.block.0.layer.0.SelfAttention.q');
    // PyTorch's sum(p.numel()): the encoder-only checkpoint's tensors (shared counted once).
    const sizes = [...goldenTensors('ul2-tiny')].filter(([k]) => k === 'shared.weight' || k.startsWith('encoder.')).map(([, t]) => t.shape.reduce((a, b) => a * b, 1));
    expect(m.numParameters()).toBe(sizes.reduce((a, b) => a + b, 0));
    expect(() => m.replaceLinear('decoder.block.0.layer.0.SelfAttention.q', m.listLinears()[0]![1])).toThrow('replaceLinear: no linear at "decoder.block.0.layer.0.SelfAttention.q"');

    // An adapter on every q and v (what @conifer/lora does through this interface) changes the output,
    // takes gradients, and checkpointing gives the same ones.
    const vars = addAdapters(m, /\.(q|v)$/, 2, 1);
    expect(m.listLinears().filter(([, l]) => l instanceof AdapterLinear)).toHaveLength(4);
    expect(await againstGolden(m, 'ul2-tiny')).toBeGreaterThan(1e-2);
    const c = loadCase('ul2-tiny');
    const [ids, mask] = [int2d(c.input_ids), int2d(c.attention_mask)];
    const grads = async (ckpt: boolean) => {
      m.gradientCheckpointing = ckpt;
      const { value, grads: g } = tf.variableGrads(() => tf.sum(tf.square(m.forward({ inputIds: ids, attentionMask: mask }, { training: true }).lastHiddenState)) as tf.Scalar, vars);
      const out = await Promise.all(vars.map(async (v) => Array.from(await g[v.name]!.data())));
      tf.dispose([value, ...Object.values(g)]);
      return out;
    };
    const off = await grads(false);
    const on = await grads(true);
    // After that warm-up (a Float32Linear keeps its transposed weight from its first backward) a step leaks nothing.
    const before = tf.memory().numTensors;
    await grads(true);
    await grads(false);
    expect(tf.memory().numTensors).toBe(before);
    off.forEach((g, i) => {
      expect(g.some((x) => x !== 0) && g.every(Number.isFinite)).toBe(true);
      expect(relErr(on[i]!, g)).toBeLessThan(1e-5);
    });
    tf.dispose([ids, mask]);
    m.dispose(); // the adapters' variables too (AdapterLinear.dispose)
  });

  it("savePretrained writes transformers' T5EncoderModel key set (shared.weight + encoder.*), the golden bytes, architectures [\"T5EncoderModel\"], no generation config; it loads back", async () => {
    const m = await T5EncoderModel.fromPretrained(modelDir('ul2-tiny'));
    const out = join(tmp('t5-enc-save-'), 'saved');
    const before = tf.memory().numTensors;
    expect(await m.savePretrained(out)).toEqual(['model.safetensors', 'config.json']);
    expect(tf.memory().numTensors).toBe(before);
    expect(readdirSync(out).sort()).toEqual(['config.json', 'model.safetensors']);
    const saved = parseSafetensors(readFileSync(join(out, 'model.safetensors'))).tensors;
    const golden = goldenTensors('ul2-tiny');
    const want = [...golden.keys()].filter((k) => k === 'shared.weight' || k.startsWith('encoder.'));
    expect([...saved.keys()].sort()).toEqual(want.sort());
    for (const [k, t] of saved) expect(Buffer.from(t.data).equals(Buffer.from(golden.get(k)!.data)), k).toBe(true);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    const goldenConfig = JSON.parse(readFileSync(join(modelDir('ul2-tiny'), 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toEqual({ ...goldenConfig, architectures: ['T5EncoderModel'] });
    const again = await T5EncoderModel.fromPretrained(out);
    expect(again.config).toEqual({ ...m.config, extra: { ...m.config.extra, architectures: ['T5EncoderModel'] } });
    expect(await againstGolden(again, 'ul2-tiny')).toBeLessThan(1e-4);
    again.dispose();
    m.dispose();
  });

  it('fromConfig draws the same encoder as T5ForConditionalGeneration.fromConfig for a seed; default mask = ones; dropout only when training; a mismatched mask is one error', () => {
    const cfg = { vocab_size: 40, d_model: 16, d_kv: 4, num_heads: 2, d_ff: 24, num_layers: 2, num_decoder_layers: 1, dropout_rate: 0.2, feed_forward_proj: 'gated-gelu' };
    const before = tf.memory().numTensors;
    const enc = T5EncoderModel.fromConfig(cfg, { seed: 3 });
    const full = T5ForConditionalGeneration.fromConfig(cfg, { seed: 3 });
    const ids = tf.tensor2d([[5, 9, 33, 1]], undefined, 'int32');
    const ones = tf.onesLike(ids) as tf.Tensor2D;
    const dec = tf.tensor2d([[0]], undefined, 'int32');
    const bad = tf.ones([1, 3], 'int32') as tf.Tensor2D;
    const f = full.forward({ inputIds: ids, attentionMask: ones, decoderInputIds: dec });
    const a = enc.forward({ inputIds: ids }).lastHiddenState;
    const b = enc.forward({ inputIds: ids, attentionMask: ones }).lastHiddenState;
    expect(Array.from(a.dataSync())).toEqual(Array.from(f.encoderLastHiddenState.dataSync()));
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    const t = enc.forward({ inputIds: ids }, { training: true }).lastHiddenState;
    expect(relErr(t.dataSync(), a.dataSync())).toBeGreaterThan(1e-2);
    expect(() => enc.forward({ inputIds: ids, attentionMask: bad })).toThrow('T5EncoderModel.forward: attentionMask [1, 3] does not match inputIds [1, 4]');
    tf.dispose([ids, ones, dec, bad, a, b, t, f.logits, f.encoderLastHiddenState]);
    enc.dispose();
    full.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('fromConfig with an untied config (T5 v1.1, Flan-T5, SD3 text encoders): still the seq2seq model’s shared and encoder for the seed', () => {
    // T5ForConditionalGeneration.fromConfig draws an untied lm_head.weight before shared and the encoder.
    const cfg = { vocab_size: 40, d_model: 16, d_kv: 4, num_heads: 2, d_ff: 24, num_layers: 2, num_decoder_layers: 1, feed_forward_proj: 'gated-gelu', tie_word_embeddings: false };
    const before = tf.memory().numTensors;
    const enc = T5EncoderModel.fromConfig(cfg, { seed: 3 });
    const full = T5ForConditionalGeneration.fromConfig(cfg, { seed: 3 });
    expect(Array.from(enc.shared.weight.dataSync())).toEqual(Array.from(full.shared.weight.dataSync()));
    const ids = tf.tensor2d([[5, 9, 33, 1]], undefined, 'int32');
    const ones = tf.onesLike(ids) as tf.Tensor2D;
    const dec = tf.tensor2d([[0]], undefined, 'int32');
    const f = full.forward({ inputIds: ids, attentionMask: ones, decoderInputIds: dec });
    const a = enc.forward({ inputIds: ids }).lastHiddenState;
    expect(Array.from(a.dataSync())).toEqual(Array.from(f.encoderLastHiddenState.dataSync()));
    tf.dispose([ids, ones, dec, a, f.logits, f.encoderLastHiddenState]);
    enc.dispose();
    full.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a hub id is downloaded and loaded like a folder', async () => {
    vi.spyOn(console, 'debug').mockImplementation(() => {}); // @huggingface/hub logs each file it downloads
    const hub = await startFakeHub({ 'test-org/flan-t5-tiny': repoFromFolder(modelDir('flan-t5-tiny')) });
    try {
      const m = await T5EncoderModel.fromPretrained('test-org/flan-t5-tiny', { hub: { cacheDir: tmp('t5-enc-hub-'), hubUrl: hub.url } });
      expect(await againstGolden(m, 'flan-t5-tiny')).toBeLessThan(1e-4);
      m.dispose();
    } finally {
      await hub.close();
      vi.restoreAllMocks();
    }
  });
});
