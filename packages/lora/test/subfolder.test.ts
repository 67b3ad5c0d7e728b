// PEFT's `subfolder` keyword (PeftModel.from_pretrained / load_adapter, PeftConfig.from_pretrained,
// load_peft_weights): the adapter's files in <dirOrId>/<subfolder>/, from a folder and from the hub
// (an injected fetch: test/fake-hub-fetch.ts), and the refusal of subfolders that leave the folder.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { injectLora, loadAdapter, mergeAdapterIntoCheckpoint, readAdapter, resolveAdapterDir } from '../src/index.js';
import { fakeHubFetch } from './fake-hub-fetch.js';
import { CheckpointLinears, TwoLayerHost, fixture } from './helpers.js';

const QV_R4 = fixture('ul2-tiny-qv-r4');
const UL2 = fixture('ul2-tiny/model.safetensors');
let tmp: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  tmp = await mkdtemp(join(tmpdir(), 'conifer-lora-subfolder-'));
  vi.spyOn(console, 'debug').mockImplementation(() => {}); // @huggingface/hub logs each file it downloads
});
afterAll(async () => {
  vi.restoreAllMocks();
  await rm(tmp, { recursive: true, force: true });
});

const arrays = async (m: Map<string, { data: Float32Array }>) => new Map([...m].map(([k, t]) => [k, Array.from(t.data)]));
const BAD: Array<[string, RegExp]> = [
  ['../outside', /goes up with "\.\."/],
  ['a/../../outside', /goes up with "\.\."/],
  ['..', /goes up with "\.\."/],
  ['/etc', /is absolute/],
  ['C:/Users', /is absolute/],
  ['a\\..\\b', /contains a backslash/],
  ['a//b', /has an empty or "\." segment/],
  ['./a', /has an empty or "\." segment/],
];

describe('subfolder (PEFT\'s subfolder keyword)', () => {
  it('a local folder: loadAdapter, LoraModel.loadAdapter, readAdapter and resolveAdapterDir read <dir>/<subfolder>/ (PEFT\'s save layout: dir/<name>/)', async () => {
    const root = join(tmp, 'local');
    const host = new TwoLayerHost();
    const lora = injectLora(host, { r: 2, lora_alpha: 4, target_modules: ['q', 'v'], init_lora_weights: false }, { seed: 3 });
    lora.addAdapter('sum', { r: 3, lora_alpha: 3, target_modules: ['v'], init_lora_weights: false }, { seed: 4 });
    await lora.saveAdapter(root); // default in root, "sum" in root/sum, as PEFT's save_pretrained
    await mkdir(join(root, 'nested', 'deep'), { recursive: true });
    for (const f of ['adapter_config.json', 'adapter_model.safetensors']) await copyFile(join(root, 'sum', f), join(root, 'nested', 'deep', f));
    const want = { default: await arrays(lora.stateDict('default')), sum: await arrays(lora.stateDict('sum')) };
    lora.unload();

    expect(await resolveAdapterDir(root, {}, 'sum')).toBe(join(root, 'sum'));
    expect(await resolveAdapterDir(root, {}, 'nested/deep/')).toBe(join(root, 'nested', 'deep'));
    expect((await readAdapter(root, { subfolder: 'sum' })).config.r).toBe(3);
    expect((await readAdapter(root)).config.r).toBe(2);
    // "" is the top level, as huggingface_hub's hf_hub_download (`if subfolder == "": subfolder = None`) and os.path.join(dir, "").
    expect(await resolveAdapterDir(root, {}, '')).toBe(root);
    expect((await readAdapter(root, { subfolder: '' })).config.r).toBe(2);

    const before = tf.memory().numTensors;
    const sum = await loadAdapter(host, root, { subfolder: 'nested/deep' });
    expect(sum.config.r).toBe(3);
    expect([...sum.layers.keys()]).toEqual(['layers.1.v']);
    expect(await arrays(sum.stateDict())).toEqual(want.sum);
    sum.unload();
    const both = await loadAdapter(host, root);
    await both.loadAdapter(root, 'sum', { subfolder: 'sum' }); // PEFT: model.load_adapter(root, "sum", subfolder="sum")
    expect(await arrays(both.stateDict('default'))).toEqual(want.default);
    expect(await arrays(both.stateDict('sum'))).toEqual(want.sum);
    both.unload();
    expect(tf.memory().numTensors).toBe(before);
    // A subfolder that is not there: the missing file is named.
    await expect(loadAdapter(host, root, { subfolder: 'nope' })).rejects.toThrow(join(root, 'nope', 'adapter_config.json'));
    host.dispose();
  });

  it('a subfolder that leaves the folder (.., absolute, backslash, empty or "." segment) is one error naming it, before anything is read, fetched or allocated', async () => {
    const host = new TwoLayerHost();
    const linears = new Map(host.linears);
    const hub = fakeHubFetch({ 'org/adapter': { 'adapter_config.json': '{}' } });
    const before = tf.memory().numTensors;
    const lora = injectLora(host, { r: 2, target_modules: ['q'] });
    const afterInject = tf.memory().numTensors;
    for (const [sub, why] of BAD) {
      const msg = new RegExp(`^LoRA: subfolder ${JSON.stringify(sub).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} ${why.source}`);
      await expect(resolveAdapterDir(tmp, {}, sub), sub).rejects.toThrow(msg);
      await expect(resolveAdapterDir('org/adapter', { fetch: hub.fetch, cacheDir: join(tmp, 'cache-bad') }, sub), sub).rejects.toThrow(msg);
      await expect(readAdapter(tmp, { subfolder: sub }), sub).rejects.toThrow(msg);
      await expect(lora.loadAdapter(tmp, 'x', { subfolder: sub }), sub).rejects.toThrow(msg);
      await expect(mergeAdapterIntoCheckpoint(fixture('ul2-tiny'), { dirOrId: QV_R4, subfolder: sub }, join(tmp, 'never')), sub).rejects.toThrow(msg);
    }
    expect(hub.requests).toEqual([]);
    expect(tf.memory().numTensors).toBe(afterInject);
    expect([...lora.peftConfig.keys()]).toEqual(['default']);
    lora.unload();
    expect(tf.memory().numTensors).toBe(before);
    for (const [sub, why] of BAD) await expect(loadAdapter(host, tmp, { subfolder: sub }), sub).rejects.toThrow(why);
    for (const [path, l] of linears) expect(host.linears.get(path)).toBe(l);
    expect(tf.memory().numTensors).toBe(before);
    expect((await readdir(tmp)).includes('never')).toBe(false);
    host.dispose();
  });

  it('a hub id: only <subfolder>/adapter_config.json and <subfolder>/adapter_model.safetensors are fetched (.bin only without them); without subfolder the top level, as before', async () => {
    const file = (p: string) => readFile(p);
    const step3 = await file(fixture('adamw_after_step3.safetensors'));
    const hub = fakeHubFetch({
      'org/multi': {
        'adapter_config.json': await file(join(QV_R4, 'adapter_config.json')),
        'adapter_model.safetensors': await file(join(QV_R4, 'adapter_model.safetensors')),
        'README.md': '# several adapters',
        'step3/adapter_config.json': await file(join(QV_R4, 'adapter_config.json')),
        'step3/adapter_model.safetensors': step3,
        'step3/adapter_model.bin': 'a legacy copy PEFT does not read beside the safetensors',
        'step3/optimizer.pt': 'x'.repeat(100),
        'legacy/adapter_config.json': await file(fixture('torch-format/adapter_config.json')),
        'legacy/adapter_model.bin': await file(fixture('torch-format/adapter_model.bin')),
      },
    });
    const cacheDir = join(tmp, 'cache');
    const opts = { hub: { cacheDir, fetch: hub.fetch, hubUrl: 'https://hub.invalid' } };
    const snapshot = join(cacheDir, 'models--org--multi', 'snapshots', hub.sha('org/multi'));
    const host = await CheckpointLinears.open(UL2);
    const local = await CheckpointLinears.open(UL2);
    const before = tf.memory().numTensors;

    expect(await resolveAdapterDir('org/multi', opts.hub, 'step3')).toBe(join(snapshot, 'step3'));
    expect([...hub.downloads.keys()].sort()).toEqual(['org/multi/step3/adapter_config.json', 'org/multi/step3/adapter_model.safetensors']);
    expect((await readdir(snapshot)).sort()).toEqual(['step3']);
    expect((await readdir(join(snapshot, 'step3'))).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect(hub.requests.some((r) => r.includes('/tree/') && r.endsWith('/step3'))).toBe(true); // listed under the subfolder only

    const viaHub = await loadAdapter(host, 'org/multi', { ...opts, subfolder: 'step3' });
    const step3Dir = join(tmp, 'step3');
    await mkdir(step3Dir);
    await copyFile(join(QV_R4, 'adapter_config.json'), join(step3Dir, 'adapter_config.json'));
    await copyFile(fixture('adamw_after_step3.safetensors'), join(step3Dir, 'adapter_model.safetensors'));
    const fromFolder = await loadAdapter(local, step3Dir);
    expect(await arrays(viaHub.stateDict())).toEqual(await arrays(fromFolder.stateDict()));

    // The legacy .bin in another subfolder, into the same model under a name (PEFT's load_adapter(id, name, subfolder=…)).
    await viaHub.loadAdapter('org/multi', 'legacy', { ...opts, subfolder: 'legacy' });
    expect(hub.downloads.get('org/multi/legacy/adapter_model.bin')).toBe(1);
    fromFolder.unload();
    const golden = await loadAdapter(local, QV_R4, { adapterName: 'golden' });
    expect(await arrays(viaHub.stateDict('legacy'))).toEqual(await arrays(golden.stateDict('golden')));
    golden.unload();
    viaHub.unload();

    // No subfolder: the top level (its config has step3's bytes, so the cache links that blob instead of downloading it).
    const top = await loadAdapter(host, 'org/multi', opts);
    expect((await readdir(snapshot)).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors', 'legacy', 'step3']);
    expect(hub.downloads.get('org/multi/adapter_model.safetensors')).toBe(1);
    top.unload();
    expect(hub.downloads.get('org/multi/step3/adapter_model.bin')).toBeUndefined();
    expect(hub.downloads.get('org/multi/README.md')).toBeUndefined();

    // "" is the top level there too (hf_hub_download: `if subfolder == "": subfolder = None`).
    expect(await resolveAdapterDir('org/multi', opts.hub, '')).toBe(snapshot);

    // A subfolder the repository lacks: one error naming the id and the subfolder; nothing allocated.
    await expect(loadAdapter(host, 'org/multi', { ...opts, subfolder: 'nope' })).rejects.toThrow(/^org\/multi \(subfolder nope\): not a local folder, and downloading it from the hub failed/);
    expect(tf.memory().numTensors).toBe(before);
    host.dispose();
    local.dispose();
  });

  it('a hub subfolder with "#", "?" or "%" (which @huggingface/hub would send unescaped, naming another path) is one error before any request; locally such a folder reads, and a hub subfolder with a space downloads', async () => {
    const cfg = await readFile(join(QV_R4, 'adapter_config.json'));
    const weights = await readFile(join(QV_R4, 'adapter_model.safetensors'));
    const repo: Record<string, Uint8Array> = { 'adapter_config.json': cfg, 'adapter_model.safetensors': weights };
    for (const sub of ['v1#2', 'v1?2', 'v1%232', 'my adapter']) Object.assign(repo, { [`${sub}/adapter_config.json`]: cfg, [`${sub}/adapter_model.safetensors`]: weights });
    const hub = fakeHubFetch({ 'org/urls': repo });
    const opts = { cacheDir: join(tmp, 'cache-urls'), fetch: hub.fetch, hubUrl: 'https://hub.invalid' };
    const host = new TwoLayerHost();
    const before = tf.memory().numTensors;
    for (const sub of ['v1#2', 'v1?2', 'v1%232']) {
      const msg = `LoRA: subfolder ${JSON.stringify(sub)} contains "${sub[2]}", which the hub client would send unescaped in its request URLs`;
      await expect(resolveAdapterDir('org/urls', opts, sub), sub).rejects.toThrow(msg);
      await expect(loadAdapter(host, 'org/urls', { hub: opts, subfolder: sub }), sub).rejects.toThrow(msg);
      await expect(mergeAdapterIntoCheckpoint(fixture('ul2-tiny'), { dirOrId: 'org/urls', subfolder: sub }, join(tmp, 'never-urls'), { hub: opts }), sub).rejects.toThrow(msg);
    }
    // In a list, a later adapter's bad hub subfolder is refused before the first one is fetched.
    await expect(mergeAdapterIntoCheckpoint(fixture('ul2-tiny'), [{ dirOrId: 'org/urls', subfolder: 'my adapter' }, { dirOrId: 'org/urls', subfolder: 'v1#2' }], join(tmp, 'never-urls'), { hub: opts })).rejects.toThrow('LoRA: subfolder "v1#2" contains "#"');
    expect(hub.requests).toEqual([]);
    expect(tf.memory().numTensors).toBe(before);
    expect((await readdir(tmp)).includes('never-urls')).toBe(false);
    // A space is escaped by fetch's URL parser: the subfolder downloads.
    expect(await resolveAdapterDir('org/urls', opts, 'my adapter')).toBe(join(opts.cacheDir, 'models--org--urls', 'snapshots', hub.sha('org/urls'), 'my adapter'));
    expect(hub.downloads.get('org/urls/my adapter/adapter_model.safetensors')).toBe(1);
    // A local folder with such a name is just a path.
    const local = join(tmp, 'urls-local');
    await mkdir(join(local, 'v1#2'), { recursive: true });
    for (const f of ['adapter_config.json', 'adapter_model.safetensors']) await copyFile(join(QV_R4, f), join(local, 'v1#2', f));
    expect((await readAdapter(local, { subfolder: 'v1#2' })).config.r).toBe(4);
    expect(await resolveAdapterDir(local, opts, 'v1#2')).toBe(join(local, 'v1#2'));
    host.dispose();
  });
});
