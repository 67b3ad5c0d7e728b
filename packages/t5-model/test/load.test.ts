import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { parseSafetensors, serializeSafetensors, type TensorToWrite } from '@conifer/safetensors';
import { beforeAll, describe, expect, it } from 'vitest';
import { Float32Linear, T5CheckpointError, T5ForConditionalGeneration, type LinearSpec } from '../src/index.js';
import { modelDir, tempDirs, useBackend } from './helpers.js';

const tmp = tempDirs();

beforeAll(async () => {
  await useBackend('cpu');
});

/** A copy of ul2-tiny whose tensors went through `edit`. */
function edited(edit: (t: Map<string, TensorToWrite>) => void): string {
  const dir = tmp('t5-load-');
  cpSync(join(modelDir('ul2-tiny'), 'config.json'), join(dir, 'config.json'));
  const { tensors } = parseSafetensors(readFileSync(join(modelDir('ul2-tiny'), 'model.safetensors')));
  const map = new Map<string, TensorToWrite>([...tensors].map(([k, v]) => [k, { dtype: v.dtype, shape: v.shape, data: v.data.slice() }]));
  edit(map);
  writeFileSync(join(dir, 'model.safetensors'), serializeSafetensors(map));
  return dir;
}

describe('fromPretrained', () => {
  it('streams each projection to makeLinear as raw bytes, as stored (BF16 stays BF16)', async () => {
    const specs: LinearSpec[] = [];
    const m = await T5ForConditionalGeneration.fromPretrained(modelDir('ul2-tiny-bf16'), {
      makeLinear: (spec) => {
        specs.push({ ...spec, weight: { ...spec.weight, data: spec.weight.data.slice(0, 4) } });
        return Float32Linear.fromSpec(spec);
      },
    });
    expect(specs).toHaveLength(2 * 7 + 3 * 11);
    expect(specs.every((s) => s.weight.dtype === 'BF16')).toBe(true);
    const wo = specs.find((s) => s.path === 'encoder.block.0.layer.1.DenseReluDense.wo')!;
    expect(wo).toMatchObject({ inFeatures: 128, outFeatures: 64, weight: { shape: [64, 128] } });
    // listLinears yields exactly the factory's paths, checkpoint names without ".weight".
    expect(m.listLinears().map(([p]) => p).sort()).toEqual(specs.map((s) => s.path).sort());
    m.dispose();
  });

  it('missing, extra and mis-shaped tensors are one error naming each', async () => {
    const dir = edited((t) => {
      t.delete('encoder.block.1.layer.0.SelfAttention.k.weight');
      t.delete('decoder.final_layer_norm.weight');
      t.set('encoder.block.0.layer.0.SelfAttention.extra.weight', { dtype: 'F32', shape: [2], data: new Float32Array(2) });
      t.set('decoder.block.2.layer.1.layer_norm.weight', { dtype: 'F32', shape: [63], data: new Float32Array(63) });
    });
    const err = (await T5ForConditionalGeneration.fromPretrained(dir).then(
      () => null,
      (e: unknown) => e,
    )) as T5CheckpointError;
    expect(err).toBeInstanceOf(T5CheckpointError);
    expect(err.missing).toEqual(['encoder.block.1.layer.0.SelfAttention.k.weight', 'decoder.final_layer_norm.weight']);
    expect(err.unexpected).toEqual(['encoder.block.0.layer.0.SelfAttention.extra.weight']);
    expect(err.misshaped).toEqual(['decoder.block.2.layer.1.layer_norm.weight (F32[63], expected F32/F16/BF16[64])']);
    expect(err.message).toMatch(/missing: .*unexpected: .*mis-shaped: /);
  });

  it('a non-float dtype for a weight is reported as mis-shaped', async () => {
    const dir = edited((t) => t.set('shared.weight', { dtype: 'I32', shape: [512, 64], data: new Int32Array(512 * 64) }));
    await expect(T5ForConditionalGeneration.fromPretrained(dir)).rejects.toThrow(/shared.weight \(I32\[512,64\]/);
  });

  it('a corrupt file, no tensors leaked', async () => {
    const dir = edited(() => undefined);
    const bytes = readFileSync(join(dir, 'model.safetensors'));
    writeFileSync(join(dir, 'model.safetensors'), bytes.subarray(0, bytes.length - 100));
    const before = tf.memory().numTensors;
    await expect(T5ForConditionalGeneration.fromPretrained(dir)).rejects.toThrow(/model.safetensors/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a bad config is rejected naming the key; dtype option other than float32 refused', async () => {
    const dir = edited(() => undefined);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), d_kv: -1 }));
    await expect(T5ForConditionalGeneration.fromPretrained(dir)).rejects.toThrow(/"d_kv"/);
    // @ts-expect-error only float32
    await expect(T5ForConditionalGeneration.fromPretrained(modelDir('ul2-tiny'), { dtype: 'float16' })).rejects.toThrow(/float32/);
  });

  it('a sharded index naming a tensor its shard lacks is reported', async () => {
    const dir = tmp('t5-shard-');
    cpSync(modelDir('ul2-tiny-sharded'), dir, { recursive: true });
    const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
    index.weight_map['shared.weight'] = 'model-00002-of-00012.safetensors';
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify(index));
    await expect(T5ForConditionalGeneration.fromPretrained(dir)).rejects.toThrow(/missing: shared.weight \(index names/);
  });
});

describe('generation_config.json', () => {
  it('fromPretrained keeps it as generationConfig (null without one); a broken one is an error naming the file', async () => {
    const m = await T5ForConditionalGeneration.fromPretrained(modelDir('ul2-tiny'));
    expect(m.generationConfig).toEqual(JSON.parse(readFileSync(join(modelDir('ul2-tiny'), 'generation_config.json'), 'utf8')));
    expect(m.generationConfig).toMatchObject({ decoder_start_token_id: 0, eos_token_id: 1, pad_token_id: 0 });
    m.dispose();
    const bare = edited(() => {}); // config.json + model.safetensors only
    const b = await T5ForConditionalGeneration.fromPretrained(bare);
    expect(b.generationConfig).toBeNull();
    b.dispose();
    const before = tf.memory().numTensors;
    writeFileSync(join(bare, 'generation_config.json'), '{"eos_token_id": 1,');
    await expect(T5ForConditionalGeneration.fromPretrained(bare)).rejects.toThrow(`${join(bare, 'generation_config.json')}: not valid JSON`);
    writeFileSync(join(bare, 'generation_config.json'), '[1]');
    await expect(T5ForConditionalGeneration.fromPretrained(bare)).rejects.toThrow('generation_config.json: expected a JSON object');
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('LinearHost', () => {
  it('replaceLinear swaps by path and checks features; unknown paths throw', async () => {
    const m = await T5ForConditionalGeneration.fromPretrained(modelDir('ul2-tiny'));
    const [path, old] = m.listLinears().find(([p]) => p === 'decoder.block.1.layer.1.EncDecAttention.v')!;
    const replacement = new Float32Linear(tf.zeros([64, 64]));
    m.replaceLinear(path, replacement);
    expect(m.decoder.block[1]!.layer[1]).toHaveProperty('EncDecAttention.v', replacement);
    expect(m.listLinears().find(([p]) => p === path)![1]).toBe(replacement);
    expect(() => m.replaceLinear('decoder.block.1.layer.1.EncDecAttention.q', new Float32Linear(tf.zeros([64, 32])))).toThrow(/does not match/);
    expect(() => m.replaceLinear('decoder.block.9.layer.1.EncDecAttention.q', replacement)).toThrow(/no linear/);
    expect(() => m.replaceLinear('shared', replacement)).toThrow(/no linear/);
    old.dispose?.();
    m.dispose();
  });

  it('numParameters counts as PyTorch does: every checkpoint tensor once (tied head not twice), untied head added', async () => {
    const { tensors } = parseSafetensors(readFileSync(join(modelDir('ul2-tiny'), 'model.safetensors')));
    const inFile = [...tensors.values()].reduce((a, t) => a + t.shape.reduce((x, d) => x * d, 1), 0);
    expect(inFile).toBe(287_936);
    const m = await T5ForConditionalGeneration.fromPretrained(modelDir('ul2-tiny'));
    expect(m.numParameters()).toBe(inFile);
    m.dispose();
    const config = JSON.parse(readFileSync(join(modelDir('ul2-tiny'), 'config.json'), 'utf8')) as Record<string, unknown>;
    const untied = T5ForConditionalGeneration.fromConfig({ ...config, tie_word_embeddings: false });
    expect(untied.numParameters()).toBe(inFile + 512 * 64);
    untied.dispose();
  });
});
