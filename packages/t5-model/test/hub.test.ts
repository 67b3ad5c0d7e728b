// fromPretrained with a hub id: downloaded through @huggingface/hub from a local stand-in for the hub
// (test/fake-hub.ts) into the Hugging Face cache layout, then loaded like a folder.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isHubId, T5ForConditionalGeneration } from '../src/index.js';
import { repoFromFiles, repoFromFolder, startFakeHub, type FakeHub } from './fake-hub.js';
import { modelDir, useBackend } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 't5-hub-'));
let hub: FakeHub;
beforeAll(async () => {
  await useBackend('cpu');
  hub = await startFakeHub({
    'test-org/flan-t5-tiny': repoFromFolder(modelDir('flan-t5-tiny'), { 'pytorch_model.bin': 'not a checkpoint' }),
    'test-org/no-safetensors': repoFromFiles({ 'config.json': '{}', 'pytorch_model.bin': new Uint8Array(8) }),
  });
  vi.spyOn(console, 'debug').mockImplementation(() => {}); // @huggingface/hub logs each file it downloads
});
afterAll(async () => {
  await hub.close();
  vi.restoreAllMocks();
  rmSync(tmp, { recursive: true, force: true });
});

describe('fromPretrained(hub id)', () => {
  it('downloads the snapshot into the cache once and loads it: the same model as from the folder, generationConfig included', async () => {
    const cacheDir = join(tmp, 'cache');
    const viaHub = await T5ForConditionalGeneration.fromPretrained('test-org/flan-t5-tiny', { hub: { cacheDir, hubUrl: hub.url } });
    const local = await T5ForConditionalGeneration.fromPretrained(modelDir('flan-t5-tiny'));
    expect(viaHub.config).toEqual(local.config);
    expect(viaHub.generationConfig).toEqual(local.generationConfig);
    const ids = tf.tensor2d([[37, 8, 1]], undefined, 'int32');
    const mask = tf.onesLike(ids) as tf.Tensor2D;
    const dec = tf.tensor2d([[0, 5]], undefined, 'int32');
    const a = viaHub.forward({ inputIds: ids, attentionMask: mask, decoderInputIds: dec }).logits;
    const b = local.forward({ inputIds: ids, attentionMask: mask, decoderInputIds: dec }).logits;
    expect(Array.from(await a.data())).toEqual(Array.from(await b.data()));
    tf.dispose([ids, mask, dec, a, b]);
    viaHub.dispose();
    local.dispose();
    const fetched = [...hub.downloads.values()].reduce((x, y) => x + y, 0);
    expect(hub.downloads.get('test-org/flan-t5-tiny/pytorch_model.bin')).toBeUndefined();
    (await T5ForConditionalGeneration.fromPretrained('test-org/flan-t5-tiny', { hub: { cacheDir, hubUrl: hub.url } })).dispose();
    expect([...hub.downloads.values()].reduce((x, y) => x + y, 0)).toBe(fetched); // all from the cache
  });

  it('a repository without safetensors, or a missing one, is one clear error naming the id; nothing leaked', async () => {
    const before = tf.memory().numTensors;
    const hubOptions = { hub: { cacheDir: join(tmp, 'cache2'), hubUrl: hub.url } };
    await expect(T5ForConditionalGeneration.fromPretrained('test-org/no-safetensors', hubOptions)).rejects.toThrow('test-org/no-safetensors: the hub repository has no config.json with safetensors weights');
    await expect(T5ForConditionalGeneration.fromPretrained('test-org/missing', hubOptions)).rejects.toThrow(/^test-org\/missing: cannot read the hub repository/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('isHubId tells ids from paths as transformers does (an existing folder always wins)', () => {
    for (const id of ['google/flan-ul2', 't5-small', 'org/model.v2']) expect(isHubId(id), id).toBe(true);
    for (const p of ['./model', '/abs/model', 'a/b/c', '../up', 'org/config.json', '']) expect(isHubId(p), p).toBe(false);
  });
});
