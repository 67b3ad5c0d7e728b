// @conifer/lora's loadAdapter with a hub id (PEFT's PeftModel.from_pretrained(model, "owner/name")):
// the golden PEFT adapter served by a local stand-in for the hub (packages/t5-model/test/fake-hub.ts),
// downloaded into the Hugging Face cache, loaded onto @conifer/t5-model's ul2-tiny.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAdapter } from '@conifer/lora';
import { T5ForConditionalGeneration } from '@conifer/t5-model';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { repoFromFolder, startFakeHub, type FakeHub } from '../../../../packages/t5-model/test/fake-hub.js';
import { loraFixture, T5_FIXTURES } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'conifer-lora-hub-'));
let hub: FakeHub;
beforeAll(async () => {
  await tf.setBackend('cpu');
  // Besides the adapter, files PEFT never reads (a training checkpoint's optimizer state, a README, a .bin beside the .safetensors).
  hub = await startFakeHub({ 'test-org/ul2-tiny-lora': repoFromFolder(loraFixture('ul2-tiny-qv-r4'), { 'README.md': '# adapter', 'optimizer.pt': 'x'.repeat(1000), 'adapter_model.bin': 'a legacy copy PEFT does not read beside the safetensors' }) });
  vi.spyOn(console, 'debug').mockImplementation(() => {}); // @huggingface/hub logs each file it downloads
});
afterAll(async () => {
  await hub.close();
  vi.restoreAllMocks();
  rmSync(tmp, { recursive: true, force: true });
});

describe('loadAdapter(host, hub id)', () => {
  it('downloads the adapter into the Hugging Face cache and loads exactly what the folder holds; an unknown id is one clear error', async () => {
    const cacheDir = join(tmp, 'cache');
    const dir = join(T5_FIXTURES, 'models', 'ul2-tiny');
    const [a, b] = [await T5ForConditionalGeneration.fromPretrained(dir), await T5ForConditionalGeneration.fromPretrained(dir)];
    const viaHub = await loadAdapter(a, 'test-org/ul2-tiny-lora', { hub: { cacheDir, hubUrl: hub.url } });
    const local = await loadAdapter(b, loraFixture('ul2-tiny-qv-r4'));
    expect(existsSync(join(cacheDir, 'models--test-org--ul2-tiny-lora'))).toBe(true);
    // Only what PEFT reads was fetched, at one commit.
    const snapshot = join(cacheDir, 'models--test-org--ul2-tiny-lora', 'snapshots', hub.repos.get('test-org/ul2-tiny-lora')!.sha);
    expect(readdirSync(snapshot).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect(hub.downloads.get('test-org/ul2-tiny-lora/optimizer.pt')).toBeUndefined();
    expect(hub.downloads.get('test-org/ul2-tiny-lora/adapter_model.bin')).toBeUndefined(); // the .bin only without a .safetensors
    expect(viaHub.config).toEqual(local.config);
    const [sa, sb] = [await viaHub.readStateDict(), await local.readStateDict()];
    expect([...sa.keys()]).toEqual([...sb.keys()]);
    for (const [k, t] of sa) expect(Array.from(t.data), k).toEqual(Array.from(sb.get(k)!.data));
    viaHub.dispose();
    local.dispose();
    const before = tf.memory().numTensors;
    await expect(loadAdapter(a, 'test-org/missing', { hub: { cacheDir, hubUrl: hub.url } })).rejects.toThrow(/^test-org\/missing: not a local folder, and downloading it from the hub failed/);
    expect(tf.memory().numTensors).toBe(before);
    a.dispose();
    b.dispose();
  });
});
