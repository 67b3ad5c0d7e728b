import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { caught } from '../../../internal/caught.js';
import { downloadPretrained, savePretrained, T5EncoderModel, T5ForConditionalGeneration } from '../src/index.js';
import { modelDir, tempDirs, useBackend } from './helpers.js';

const tmpIn = tempDirs();

beforeAll(async () => {
  await useBackend('cpu');
});

const tiny = { vocab_size: 32, d_model: 8, d_kv: 2, num_heads: 2, d_ff: 16, num_layers: 1, num_decoder_layers: 1 };
/** A fetch that fails and counts its calls: options that are refused must fetch nothing. */
function countingFetch(): { fetch: typeof globalThis.fetch; fetched: () => number } {
  let calls = 0;
  const fetch = (async () => {
    calls++;
    throw new Error('no network');
  }) as unknown as typeof globalThis.fetch;
  return { fetch, fetched: () => calls };
}

/** Options with a typo and a snake_case key besides the valid ones (as a caller's plain object would come). */
const bad = (valid: object, typo: string, snake: string): never => ({ ...valid, [typo]: 1, [snake]: 2 }) as never;
const message = (where: string, typo: [string, string], snake: [string, string]): string =>
  `${where}: unknown options \`${typo[0]}\` (did you mean \`${typo[1]}\`?), \`${snake[0]}\` (did you mean \`${snake[1]}\`?)`;

/** The one error `f` throws (or rejects with): its type and the message naming both keys; no tensor left behind. */
async function expectUnknown(f: () => unknown, type: typeof Error, where: string, typo: [string, string], snake: [string, string]): Promise<void> {
  await expectOne(f, type, message(where, typo, snake));
}

/** The one error `f` throws (or rejects with): its type and exact message; no tensor left behind. */
async function expectOne(f: () => unknown, type: typeof Error, text: string): Promise<void> {
  const before = tf.memory().numTensors;
  const error = await caught(f);
  expect(error).toBeInstanceOf(type);
  expect((error as Error).message).toBe(text);
  expect(tf.memory().numTensors).toBe(before);
}

describe('unknown option keys: one error naming each, with the option meant, before anything is loaded', () => {
  it('fromConfig (both models): RangeError, as for a bad value', async () => {
    await expectUnknown(() => T5ForConditionalGeneration.fromConfig(tiny, bad({ seed: 1 }, 'dropoutSed', 'gradient_checkpointing')), RangeError,
      'T5ForConditionalGeneration.fromConfig', ['dropoutSed', 'dropoutSeed'], ['gradient_checkpointing', 'gradientCheckpointing']);
    await expectUnknown(() => T5EncoderModel.fromConfig(tiny, bad({}, 'sed', 'neftune_noise_alpha')), RangeError,
      'T5EncoderModel.fromConfig', ['sed', 'seed'], ['neftune_noise_alpha', 'neftuneNoiseAlpha']);
    // fromConfig has no hub or dtype; a key set to undefined counts as absent
    expect(() => T5ForConditionalGeneration.fromConfig(tiny, { dtype: 'float32' } as never)).toThrow(/^T5ForConditionalGeneration\.fromConfig: unknown option `dtype`$/);
    const before = tf.memory().numTensors;
    const m = T5ForConditionalGeneration.fromConfig(tiny, { seed: 2, dropoutSeed: 1, gradientCheckpointing: false, neftuneNoiseAlpha: 0, labelSmoothingFactor: 0, makeLinear: undefined, label_smoothing_factor: undefined } as never);
    m.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('fromPretrained (both models) and its hub options, before any file is read or fetched', async () => {
    const missing = '/no/such/model/folder';
    await expectUnknown(() => T5ForConditionalGeneration.fromPretrained(missing, bad({}, 'dtyp', 'label_smoothing_factor')), RangeError,
      'T5ForConditionalGeneration.fromPretrained', ['dtyp', 'dtype'], ['label_smoothing_factor', 'labelSmoothingFactor']);
    await expectUnknown(() => T5EncoderModel.fromPretrained(missing, bad({}, 'hbu', 'make_linear')), RangeError,
      'T5EncoderModel.fromPretrained', ['hbu', 'hub'], ['make_linear', 'makeLinear']);
    // transformers' from_pretrained names point to ours
    await expect(T5ForConditionalGeneration.fromPretrained(missing, { torch_dtype: 'float32', cache_dir: '/c', load_in_8bit: true } as never)).rejects.toThrow(
      'T5ForConditionalGeneration.fromPretrained: unknown options `torch_dtype` (did you mean `dtype`?), `cache_dir` (did you mean `hub.cacheDir`?), `load_in_8bit` (did you mean `makeLinear: int8LinearFactory() of @conifer/int8`?)');
    await expectUnknown(() => T5ForConditionalGeneration.fromPretrained('google/flan-t5-small', { hub: bad({ fetch: () => Promise.reject(new Error('fetched')) }, 'revison', 'access_token') }), RangeError,
      'T5ForConditionalGeneration.fromPretrained', ['hub.revison', 'hub.revision'], ['hub.access_token', 'hub.accessToken']);
    const m = await T5ForConditionalGeneration.fromPretrained(modelDir('flan-t5-tiny'), { dtype: 'float32', hub: { revision: 'main' }, dropoutSeed: 3 });
    m.dispose();
  });

  it('fromPretrained (both models): unknown keys outside and inside hub are one RangeError naming all of them, nothing fetched', async () => {
    const { fetch, fetched } = countingFetch();
    const id = 'google/flan-t5-small';
    await expectOne(() => T5ForConditionalGeneration.fromPretrained(id, { torch_dtype: 'float32', dropoutSed: 1, hub: { fetch, revison: 'main', token: 'x', cache_dir: '/c' } } as never), RangeError,
      'T5ForConditionalGeneration.fromPretrained: unknown options `torch_dtype` (did you mean `dtype`?), `dropoutSed` (did you mean `dropoutSeed`?), '
      + '`hub.revison` (did you mean `hub.revision`?), `hub.token` (did you mean `hub.accessToken`?), `hub.cache_dir` (did you mean `hub.cacheDir`?)');
    await expectOne(() => T5EncoderModel.fromPretrained(id, { hbu: {}, hub: { fetch, configonly: true, nothing: 1 } } as never), RangeError,
      'T5EncoderModel.fromPretrained: unknown options `hbu` (did you mean `hub`?), `hub.configonly` (did you mean `hub.configOnly`?), `hub.nothing`');
    // only hub's keys wrong: still named by their path
    await expectOne(() => T5ForConditionalGeneration.fromPretrained(id, { hub: { fetch, endpoint: 'https://hf.example' } } as never), RangeError,
      'T5ForConditionalGeneration.fromPretrained: unknown option `hub.endpoint` (did you mean `hub.hubUrl`?)');
    // a hub that is not an object is refused with the outer keys (it was read as no hub options: main, the default cache)
    await expectOne(() => T5ForConditionalGeneration.fromPretrained(id, { hub: 'main', dropout_seed: 1 } as never), RangeError,
      'T5ForConditionalGeneration.fromPretrained: unknown option `dropout_seed` (did you mean `dropoutSeed`?); hub must be an object of download options (cacheDir, revision, accessToken, …), got a string "main"');
    await expectOne(() => T5EncoderModel.fromPretrained(id, { hub: null } as never), RangeError,
      'T5EncoderModel.fromPretrained: hub must be an object of download options (cacheDir, revision, accessToken, …), got null');
    expect(fetched()).toBe(0);
  });

  it('options that are not an object are one error, not read as no options', async () => {
    await expectOne(() => T5ForConditionalGeneration.fromConfig(tiny, 7 as never), RangeError, 'T5ForConditionalGeneration.fromConfig: options must be an object, got number 7');
    await expectOne(() => T5EncoderModel.fromPretrained('/no/such/model/folder', [] as never), RangeError, 'T5EncoderModel.fromPretrained: options must be an object, got an array');
    await expectOne(() => downloadPretrained('google/flan-t5-small', 'main' as never), Error, 'downloadPretrained: options must be an object, got a string "main"');
    const m = T5ForConditionalGeneration.fromConfig(tiny);
    const dir = tmpIn('t5-options-object-');
    await expectOne(() => m.savePretrained(dir, 'BF16' as never), Error, 'savePretrained: options must be an object, got a string "BF16"');
    expect(existsSync(join(dir, 'config.json'))).toBe(false);
    const ids = tf.tensor2d([[1, 2]], [1, 2], 'int32');
    await expectOne(() => m.forward({ inputIds: ids, attentionMask: ids, labels: ids }, null as never), Error, 'forward: options must be an object, got null');
    ids.dispose();
    m.dispose();
  });

  it('bad values are named with the unknown keys in the same RangeError, before anything is read (both models)', async () => {
    await expectOne(
      () => T5ForConditionalGeneration.fromPretrained('/no/such/model/folder', { torch_dtype: 'int8', labelSmoothingFactor: 1, neftuneNoiseAlpha: -1, gradientCheckpointing: 'no', makeLinear: 'int8' } as never),
      RangeError,
      'T5ForConditionalGeneration.fromPretrained: unknown option `torch_dtype` (did you mean `dtype`?); labelSmoothingFactor must be a finite number in [0, 1), got 1; '
        + 'neftuneNoiseAlpha must be a finite number ≥ 0 (0 = off), got -1; gradientCheckpointing must be true or false, got "no"; '
        + 'makeLinear must be a LinearFactory function (e.g. int8LinearFactory() of @conifer/int8), got "int8"',
    );
    // the encoder model: a factor other than 0 is refused in the same error (it has no loss)
    await expectOne(() => T5EncoderModel.fromConfig(tiny, { labelSmoothingFactor: 0.1, gradient_checkpointing: true } as never), RangeError,
      'T5EncoderModel.fromConfig: unknown option `gradient_checkpointing` (did you mean `gradientCheckpointing`?); labelSmoothingFactor: T5EncoderModel computes no loss, got 0.1 (use it with T5ForConditionalGeneration)');
    // gradientCheckpointing: 'no' was truthy: checkpointing on, silently
    await expectOne(() => T5EncoderModel.fromConfig(tiny, { gradientCheckpointing: 0 } as never), RangeError, 'T5EncoderModel.fromConfig: gradientCheckpointing must be true or false, got 0');
    // values as every package shows them (internal/unknown-options.ts showValue): a function by name, NaN as NaN
    await expectOne(() => T5EncoderModel.fromConfig(tiny, { gradientCheckpointing: () => true, neftuneNoiseAlpha: [Number.NaN] } as never), RangeError,
      'T5EncoderModel.fromConfig: neftuneNoiseAlpha must be a finite number ≥ 0 (0 = off), got [NaN]; gradientCheckpointing must be true or false, got a function');
    await expectOne(() => T5ForConditionalGeneration.fromConfig(tiny, { labelSmoothingFactor: '0.1' } as never), RangeError, 'T5ForConditionalGeneration.fromConfig: labelSmoothingFactor must be a finite number in [0, 1), got "0.1"');
    const ok = T5ForConditionalGeneration.fromConfig(tiny, { gradientCheckpointing: false, labelSmoothingFactor: 0.1, neftuneNoiseAlpha: 5, makeLinear: undefined });
    expect([ok.gradientCheckpointing, ok.labelSmoothingFactor, ok.neftuneNoiseAlpha]).toEqual([false, 0.1, 5]);
    ok.dispose();
  });

  it('downloadPretrained and savePretrained: Error, as for a bad value; nothing written', async () => {
    const { fetch, fetched } = countingFetch();
    await expectUnknown(() => downloadPretrained('google/flan-t5-small', bad({ fetch }, 'configonly', 'cache_dir')), Error,
      'downloadPretrained', ['configonly', 'configOnly'], ['cache_dir', 'cacheDir']);
    await expect(downloadPretrained('google/flan-t5-small', { fetch, token: 'x' } as never)).rejects.toThrow('downloadPretrained: unknown option `token` (did you mean `accessToken`?)');
    expect(fetched()).toBe(0);
    const m = T5ForConditionalGeneration.fromConfig(tiny);
    const dir = tmpIn('t5-unknown-options-');
    await expectUnknown(() => m.savePretrained(dir, bad({ dtype: 'BF16' }, 'keepint8', 'max_shard_size')), Error, 'savePretrained', ['keepint8', 'keepInt8'], ['max_shard_size', 'maxShardBytes']);
    await expectUnknown(() => savePretrained(m, dir, bad({}, 'dtpye', 'keep_int8')), Error, 'savePretrained', ['dtpye', 'dtype'], ['keep_int8', 'keepInt8']);
    expect(existsSync(join(dir, 'config.json'))).toBe(false);
    expect(await m.savePretrained(dir, { dtype: 'F32', maxShardBytes: 1e9, keepInt8: false })).toContain('model.safetensors');
    m.dispose();
  });

  it('forward (both models): Error for a key other than training', () => {
    const m = T5ForConditionalGeneration.fromConfig(tiny);
    const enc = T5EncoderModel.fromConfig(tiny);
    const inputIds = tf.tensor2d([[1, 2]], [1, 2], 'int32');
    const attentionMask = tf.tensor2d([[1, 1]], [1, 2], 'int32');
    const before = tf.memory().numTensors;
    expect(() => m.forward({ inputIds, attentionMask, decoderInputIds: inputIds }, { trainig: true } as never)).toThrow(/^forward: unknown option `trainig` \(did you mean `training`\?\)$/);
    expect(() => enc.forward({ inputIds, attentionMask }, { is_training: true } as never)).toThrow(/^T5EncoderModel\.forward: unknown option `is_training`$/);
    expect(tf.memory().numTensors).toBe(before);
    const out = enc.forward({ inputIds, attentionMask }, { training: false });
    out.lastHiddenState.dispose();
    tf.dispose([inputIds, attentionMask]);
    m.dispose();
    enc.dispose();
  });
});
