/**
 * Options arguments of every exported function and method that takes one (the LoRA config aside: see
 * config-fields.test.ts): unknown keys are one Error naming each with the option probably meant (PEFT's snake_case
 * keywords too), nested `hub` keys and bad values in the same error; options that are not an object (a string, `true`,
 * null, an array) are that error too, not read as no options. Nothing is read, fetched, written or allocated first.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { caught } from '../../../internal/caught.js';
import {
  FloatLinear,
  injectLora,
  loadAdapter,
  LoraAdapter,
  LoraLinear,
  mergeAdapterIntoCheckpoint,
  parseAdapterConfig,
  readAdapter,
  resolveAdapterDir,
  setWebGPULoraKernels,
} from '../src/index.js';
import { TwoLayerHost } from './helpers.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** The one Error `f` throws (or rejects with), its exact message; no tensor left behind. */
async function expectOne(f: () => unknown, message: string): Promise<void> {
  const before = tf.memory().numTensors;
  const error = await caught(f);
  expect(error).toBeInstanceOf(Error);
  expect((error as Error).message).toBe(message);
  expect(tf.memory().numTensors).toBe(before);
}

/** A fetch that counts its calls and fails: a hub id must not be fetched when the options are wrong. */
function countingFetch(): { fetch: typeof fetch; calls: () => number } {
  let n = 0;
  const fetch = (async () => {
    n++;
    throw new Error('no network');
  }) as unknown as typeof globalThis.fetch;
  return { fetch, calls: () => n };
}

const missing = '/no/such/adapter/folder';

describe('options that are not an object: one Error naming the function', () => {
  it('every function and method taking options', async () => {
    const host = new TwoLayerHost();
    await expectOne(() => injectLora(host, {}, 'default' as never), 'injectLora: options must be an object, got a string "default"');
    expect(host.linears.get('layers.0.q')).not.toBeInstanceOf(LoraLinear);
    await expectOne(() => loadAdapter(host, missing, true as never), 'loadAdapter: options must be an object, got boolean true');
    await expectOne(() => readAdapter(missing, null as never), 'readAdapter: options must be an object, got null');
    await expectOne(() => parseAdapterConfig('{}', 'adapter_config.json', [] as never), 'parseAdapterConfig: options must be an object, got an array');
    await expectOne(() => resolveAdapterDir('owner/name', 'main' as never), 'resolveAdapterDir: options must be an object, got a string "main"');
    await expectOne(() => mergeAdapterIntoCheckpoint(missing, missing, missing, 'F16' as never), 'mergeAdapterIntoCheckpoint: options must be an object, got a string "F16"');
    await expectOne(() => setWebGPULoraKernels('per-output' as never), 'setWebGPULoraKernels: options must be an object, got a string "per-output"');
    const lora = injectLora(host);
    const dir = mkdtempSync(join(tmpdir(), 'lora-options-'));
    await expectOne(() => lora.saveAdapter(dir, 'default' as never), 'LoraModel.saveAdapter: options must be an object, got a string "default"');
    expect(existsSync(join(dir, 'adapter_config.json'))).toBe(false);
    await expectOne(() => lora.addAdapter('two', {}, 7 as never), 'LoraModel.addAdapter: options must be an object, got number 7');
    await expectOne(() => lora.loadAdapter(missing, 'two', true as never), 'LoraModel.loadAdapter: options must be an object, got boolean true');
    await expectOne(() => lora.setAdapter('default', true as never), 'LoraModel.setAdapter: options must be an object, got boolean true');
    await expectOne(() => lora.loadStateDict(new Map(), 'default', false as never), 'loadStateDict: options must be an object, got boolean false');
    await expectOne(() => lora.addWeightedAdapter(['default'], [1], 'w', 'svd' as never), 'LoraModel.addWeightedAdapter: options must be an object, got a string "svd"');
    expect((host.linears.get('layers.0.q') as LoraLinear).adapters.has('two')).toBe(false);
    lora.unload();
    host.dispose();
  });
});

describe("unknown keys: one Error naming each, with the option meant (PEFT's names too), nested and bad values in it", () => {
  it('injectLora and LoraModel.addAdapter: nothing injected', async () => {
    const host = new TwoLayerHost();
    await expectOne(() => injectLora(host, {}, { adapter_name: 'a', is_trainable: false, sed: 1 } as never),
      'injectLora: unknown options `adapter_name` (did you mean `adapterName`?), `is_trainable` (did you mean `trainable`?), `sed` (did you mean `seed`?)');
    expect(host.linears.get('layers.0.q')).not.toBeInstanceOf(LoraLinear);
    const lora = injectLora(host, {}, { seed: 1, adapterName: undefined });
    await expectOne(() => lora.addAdapter('two', {}, { trainable: false, allow_unmatched_targets: true } as never),
      'LoraModel.addAdapter: unknown options `trainable`, `allow_unmatched_targets` (did you mean `allowUnmatchedTargets`?)');
    expect((host.linears.get('layers.0.q') as LoraLinear).adapters.has('two')).toBe(false);
    lora.unload();
    host.dispose();
  });

  it('loadAdapter and LoraModel.loadAdapter: the hub keys in the same pass, nothing fetched', async () => {
    const host = new TwoLayerHost();
    const { fetch, calls } = countingFetch();
    await expectOne(() => loadAdapter(host, 'owner/adapter', { adapter_name: 'x', revision: 'main', token: 'hf_x', hub: { fetch, cache_dir: '/c', endpoint: 'https://hf.example' } } as never),
      'loadAdapter: unknown options `adapter_name` (did you mean `adapterName`?), `revision` (did you mean `hub.revision`?), `token` (did you mean `hub.accessToken`?), '
      + '`hub.cache_dir` (did you mean `hub.cacheDir`?), `hub.endpoint` (did you mean `hub.hubUrl`?)');
    await expectOne(() => loadAdapter(host, 'owner/adapter', { is_trainable: true, hub: 'main', onWarning: 'warn' } as never),
      'loadAdapter: unknown option `is_trainable` (did you mean `isTrainable`?); hub must be an object of download options (cacheDir, revision, accessToken, hubUrl, fetch), got a string "main"; onWarning must be a function, not "warn"');
    const lora = injectLora(host);
    await expectOne(() => lora.loadAdapter('owner/adapter', 'two', { adapterName: 'two', hub: { fetch, acessToken: 'x' } } as never),
      'LoraModel.loadAdapter: unknown options `adapterName`, `hub.acessToken` (did you mean `hub.accessToken`?)');
    expect(calls()).toBe(0);
    lora.unload();
    host.dispose();
  });

  it('LoraModel.saveAdapter, setAdapter, loadStateDict, addWeightedAdapter: nothing written or changed', async () => {
    const host = new TwoLayerHost();
    const lora = injectLora(host);
    const dir = mkdtempSync(join(tmpdir(), 'lora-options-'));
    await expectOne(() => lora.saveAdapter(dir, { safe_serialization: true, selected_adapters: ['default'] } as never),
      'LoraModel.saveAdapter: unknown options `safe_serialization`, `selected_adapters` (did you mean `selectedAdapters`?)');
    expect(existsSync(join(dir, 'adapter_config.json'))).toBe(false);
    const q = host.linears.get('layers.0.q') as LoraLinear;
    lora.addAdapter('two', {});
    await expectOne(() => lora.setAdapter('two', { inference_mode: true, inferenceMode: 1 } as never),
      'LoraModel.setAdapter: unknown option `inference_mode` (did you mean `inferenceMode`?); inferenceMode must be true or false, not 1');
    expect(q.activeAdapters).toEqual(['default']);
    await expectOne(() => lora.loadStateDict(new Map(), 'default', { strict: 'no', on_warning: () => {} } as never),
      'loadStateDict: unknown option `on_warning` (did you mean `onWarning`?); strict must be true or false, not "no"');
    await expectOne(() => lora.addWeightedAdapter(['default', 'two'], [1, 1], 'w', { combination_type: 'linear', svd_rank: 2 } as never),
      'LoraModel.addWeightedAdapter: unknown options `combination_type` (did you mean `combinationType`?), `svd_rank` (did you mean `svdRank`?)');
    expect(q.adapters.has('w')).toBe(false);
    lora.setAdapter('two', { inferenceMode: true });
    await lora.saveAdapter(dir, { selectedAdapters: ['default'] });
    expect(existsSync(join(dir, 'adapter_config.json'))).toBe(true);
    lora.unload();
    host.dispose();
  });

  it('readAdapter, parseAdapterConfig, resolveAdapterDir', async () => {
    await expectOne(() => readAdapter(missing, { sub_folder: 'a', onWarning: 1 } as never),
      'readAdapter: unknown option `sub_folder` (did you mean `subfolder`?); onWarning must be a function, not 1');
    await expectOne(() => parseAdapterConfig('{}', 'adapter_config.json', { on_warning: console.warn } as never),
      'parseAdapterConfig: unknown option `on_warning` (did you mean `onWarning`?)');
    const { fetch, calls } = countingFetch();
    await expectOne(() => resolveAdapterDir('owner/adapter', { fetch, token: 'x', revison: 'main' } as never),
      'resolveAdapterDir: unknown options `token` (did you mean `accessToken`?), `revison` (did you mean `revision`?)');
    expect(calls()).toBe(0);
  });

  it('mergeAdapterIntoCheckpoint: its options, hub and the adapter locations, before anything is read', async () => {
    const { fetch, calls } = countingFetch();
    await expectOne(() => mergeAdapterIntoCheckpoint(missing, [{ dirOrId: 'owner/a', subFolder: 'x' }, { dirOrId: 'owner/b', dir: 'y' }] as never, missing,
      { torch_dtype: 'F16', safe_merge: true, hub: { fetch, use_auth_token: 'x' }, dtype: 'F8', overwrite: 'yes' } as never),
    'mergeAdapterIntoCheckpoint: unknown options `torch_dtype` (did you mean `dtype`?), `safe_merge`, `hub.use_auth_token` (did you mean `hub.accessToken`?), '
      + '`adapter[0].subFolder` (did you mean `adapter[0].subfolder`?), `adapter[1].dir` (did you mean `adapter[1].dirOrId`?); dtype "F8" is not same, F32, BF16 or F16; overwrite must be true or false, not "yes"');
    await expectOne(() => mergeAdapterIntoCheckpoint(missing, { dirOrId: 'owner/a', sub_folder: 'x' } as never, missing, { hub: null, onFile: 'log' } as never),
      'mergeAdapterIntoCheckpoint: unknown option `adapter.sub_folder` (did you mean `adapter.subfolder`?); hub must be an object of download options (cacheDir, revision, accessToken, hubUrl, fetch), got null; onFile must be a function');
    expect(calls()).toBe(0);
  });

  it('setWebGPULoraKernels: unknown keys and a layout it does not have (it was stored as given)', () => {
    expect(() => setWebGPULoraKernels({ layuot: 'tiled' } as never)).toThrow(/^setWebGPULoraKernels: unknown option `layuot` \(did you mean `layout`\?\)$/);
    expect(() => setWebGPULoraKernels({ layout: 'tiles' } as never)).toThrow(/^setWebGPULoraKernels: layout must be "tiled" or "per-output", not "tiles"$/);
    expect(setWebGPULoraKernels({})).toEqual({ layout: 'tiled' });
    // no options: the defaults (it was a TypeError reading `layout` of undefined)
    expect(setWebGPULoraKernels({ layout: 'per-output' })).toEqual({ layout: 'tiled' });
    expect(setWebGPULoraKernels()).toEqual({ layout: 'per-output' });
    expect(setWebGPULoraKernels()).toEqual({ layout: 'tiled' });
  });

  it('LoraLinear (constructor, addAdapter, setAdapter) and LoraAdapter: before A and B are allocated', async () => {
    const base = new FloatLinear(tf.zeros([4, 3]) as tf.Tensor2D);
    await expectOne(() => new LoraLinear(base, { path: 'q', r: 2, loraAlpha: 4, lora_dropout: 0.1 } as never),
      'LoraLinear: unknown option `lora_dropout` (did you mean `loraDropout`?)');
    await expectOne(() => new LoraAdapter('q', 3, 4, { r: 2, loraAlpha: 4, path: 'q', use_dora: false } as never),
      'LoraAdapter: unknown options `path`, `use_dora` (did you mean `useDora`?)');
    const layer = new LoraLinear(base, { path: 'q', r: 2, loraAlpha: 4 });
    await expectOne(() => layer.addAdapter({ adapterName: 'b', r: 2, lora_alpha: 4 } as never), 'LoraLinear.addAdapter: unknown option `lora_alpha` (did you mean `loraAlpha`?)');
    expect(layer.adapters.has('b')).toBe(false);
    await expectOne(() => layer.setAdapter('default', 'frozen' as never), 'LoraLinear.setAdapter: options must be an object, got a string "frozen"');
    // options that must be given: said so (a TypeError reading `path` / `r` of undefined before)
    await expectOne(() => new LoraLinear(base, undefined as never), 'LoraLinear: options { path, r, loraAlpha, … } are required, got undefined');
    await expectOne(() => new LoraAdapter('q', 3, 4, undefined as never), 'LoraAdapter: options { r, loraAlpha, … } are required, got undefined');
    await expectOne(() => layer.addAdapter(undefined as never), 'LoraLinear.addAdapter: options { r, loraAlpha, … } are required, got undefined');
    layer.dispose();
  });
});
