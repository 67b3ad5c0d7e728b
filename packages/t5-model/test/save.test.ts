// savePretrained: what fromPretrained reads, written back as transformers writes it.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { parseSafetensors, toFloat32 } from '@conifer/safetensors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { T5ForConditionalGeneration } from '../src/index.js';
import { modelDir, useBackend } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 't5-save-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
beforeAll(async () => {
  await useBackend('cpu');
});

const logitsOf = async (m: T5ForConditionalGeneration) => {
  const ids = tf.tensor2d([[37, 8, 99, 1]], undefined, 'int32');
  const mask = tf.onesLike(ids) as tf.Tensor2D;
  const dec = tf.tensor2d([[0, 5, 6]], undefined, 'int32');
  const y = m.forward({ inputIds: ids, attentionMask: mask, decoderInputIds: dec }).logits;
  const v = Array.from(await y.data());
  tf.dispose([ids, mask, dec, y]);
  return v;
};

describe('savePretrained', () => {
  it("ul2-tiny loaded and saved is the golden checkpoint byte for byte (transformers' safetensors), config and generation config kept; no leaks", async () => {
    const m = await T5ForConditionalGeneration.fromPretrained(modelDir('ul2-tiny'));
    const out = join(tmp, 'same');
    const before = tf.memory().numTensors;
    expect(await m.savePretrained(out)).toEqual(['model.safetensors', 'config.json', 'generation_config.json']);
    expect(tf.memory().numTensors).toBe(before);
    expect(readFileSync(join(out, 'model.safetensors')).equals(readFileSync(join(modelDir('ul2-tiny'), 'model.safetensors')))).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'generation_config.json'), 'utf8'))).toEqual(m.generationConfig);
    const again = await T5ForConditionalGeneration.fromPretrained(out);
    expect(again.config).toEqual(m.config);
    expect(await logitsOf(again)).toEqual(await logitsOf(m));
    again.dispose();
    m.dispose();
  });

  it('shards past maxShardBytes with an index fromPretrained reads; BF16 stores each weight rounded to nearest even', async () => {
    const m = await T5ForConditionalGeneration.fromPretrained(modelDir('ul2-tiny'));
    const sharded = join(tmp, 'sharded');
    const files = await m.savePretrained(sharded, { maxShardBytes: 64 * 1024 });
    const shards = files.filter((f) => f.endsWith('.safetensors'));
    expect(shards.length).toBeGreaterThan(2);
    expect(shards[0]).toBe(`model-00001-of-${String(shards.length).padStart(5, '0')}.safetensors`);
    const index = JSON.parse(readFileSync(join(sharded, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string>; metadata: { total_size: number } };
    expect(new Set(Object.values(index.weight_map))).toEqual(new Set(shards));
    const reloaded = await T5ForConditionalGeneration.fromPretrained(sharded);
    expect(await logitsOf(reloaded)).toEqual(await logitsOf(m));
    reloaded.dispose();
    const bf = join(tmp, 'bf16');
    await m.savePretrained(bf, { dtype: 'BF16' });
    const { tensors } = parseSafetensors(readFileSync(join(bf, 'model.safetensors')));
    const golden = parseSafetensors(readFileSync(join(modelDir('ul2-tiny'), 'model.safetensors'))).tensors;
    for (const [name, t] of tensors) {
      expect(t.dtype, name).toBe('BF16');
      const want = toFloat32('F32', golden.get(name)!.data);
      const got = toFloat32('BF16', t.data);
      for (let i = 0; i < want.length; i += 97) {
        // nearest bf16: the error is at most half a bf16 ulp (2^-8 relative)
        expect(Math.abs(got[i]! - want[i]!), name).toBeLessThanOrEqual(Math.abs(want[i]!) * 2 ** -8 + 1e-30);
      }
    }
    expect(JSON.parse(readFileSync(join(bf, 'config.json'), 'utf8')).dtype).toBe('bfloat16');
    expect(readdirSync(bf).some((f) => f.includes('.tmp'))).toBe(false); // no temporary file left behind
    m.dispose();
  });

  it("config.json's architectures names the saving class, as transformers' save_pretrained (`config.architectures = [model_to_save.__class__.__name__]`)", async () => {
    // fromConfig keeps no architectures of its own; a config that names another class is overwritten too.
    const cfg = { vocab_size: 32, d_model: 8, d_kv: 2, num_heads: 2, d_ff: 16, num_layers: 1, num_decoder_layers: 1, architectures: ['T5Model'] };
    const m = T5ForConditionalGeneration.fromConfig(cfg, { seed: 1 });
    const out = join(tmp, 'architectures');
    await m.savePretrained(out);
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).architectures).toEqual(['T5ForConditionalGeneration']);
    m.dispose();
  });
});
