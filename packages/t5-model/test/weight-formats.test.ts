/**
 * A snapshot folder with only weights transformers reads but this loader does not (a PyTorch pickle
 * `pytorch_model.bin`, sharded or not; TensorFlow / Flax files) is one error naming those files and how
 * to convert them, instead of "neither model.safetensors nor model.safetensors.index.json found".
 */
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { SafetensorsError } from '@conifer/safetensors';
import { beforeAll, describe, expect, it } from 'vitest';
import { T5EncoderModel, T5ForConditionalGeneration } from '../src/index.js';
import { modelDir, tempDirs, useBackend } from './helpers.js';

const tmp = tempDirs();

beforeAll(async () => {
  await useBackend('cpu');
});

function snapshot(files: string[]): string {
  const dir = tmp('t5-formats-');
  cpSync(join(modelDir('ul2-tiny'), 'config.json'), join(dir, 'config.json'));
  for (const f of files) writeFileSync(join(dir, f), 'not read');
  return dir;
}

describe('weights in a format other than safetensors', () => {
  it('pytorch_model.bin alone: named, with the conversion, as a SafetensorsError; nothing allocated', async () => {
    const dir = snapshot(['pytorch_model.bin']);
    const before = tf.memory().numTensors;
    const err = await T5ForConditionalGeneration.fromPretrained(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SafetensorsError);
    expect((err as Error).message).toBe(
      `${dir}: no model.safetensors or model.safetensors.index.json, only pytorch_model.bin, which this loader does not read ` +
        '(safetensors only, no pickles); convert once in Python: `T5ForConditionalGeneration.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)`',
    );
    expect(tf.memory().numTensors).toBe(before);
  });

  it('sharded pickles, TensorFlow and Flax files are all listed; T5EncoderModel says the same', async () => {
    const dir = snapshot(['pytorch_model-00001-of-00002.bin', 'pytorch_model-00002-of-00002.bin', 'pytorch_model.bin.index.json', 'tf_model.h5', 'flax_model.msgpack', 'tokenizer.json']);
    const list = 'only flax_model.msgpack, pytorch_model-00001-of-00002.bin, pytorch_model-00002-of-00002.bin, pytorch_model.bin.index.json, tf_model.h5, which';
    await expect(T5ForConditionalGeneration.fromPretrained(dir)).rejects.toThrow(list);
    await expect(T5EncoderModel.fromPretrained(dir)).rejects.toThrow(list);
  });

  it('TensorFlow or Flax weights alone: the conversion through transformers 4 with from_tf / from_flax', async () => {
    const tfDir = snapshot(['tf_model.h5']);
    await expect(T5ForConditionalGeneration.fromPretrained(tfDir)).rejects.toThrow(
      'convert once in Python with transformers 4 (5 dropped TensorFlow and Flax weights): `T5ForConditionalGeneration.from_pretrained(dir, from_tf=True).save_pretrained(dir, safe_serialization=True)`',
    );
    const flaxDir = snapshot(['flax_model.msgpack']);
    await expect(T5ForConditionalGeneration.fromPretrained(flaxDir)).rejects.toThrow('from_pretrained(dir, from_flax=True)');
  });

  it('a broken safetensors index next to a pickle keeps its own error (the index is what is read)', async () => {
    const dir = snapshot(['pytorch_model.bin']);
    writeFileSync(join(dir, 'model.safetensors.index.json'), '{}');
    await expect(T5ForConditionalGeneration.fromPretrained(dir)).rejects.toThrow('model.safetensors.index.json: no "weight_map" object');
  });

  it('a folder with no weights at all keeps the plain message', async () => {
    const dir = snapshot(['tokenizer.json']);
    await expect(T5ForConditionalGeneration.fromPretrained(dir)).rejects.toThrow(`${dir}: neither model.safetensors nor model.safetensors.index.json found`);
  });
});
