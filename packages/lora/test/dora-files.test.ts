// DoRA in PEFT's files: the saved key of the magnitude (`….lora_magnitude_vector`), config `use_dora`
// written back, a PEFT-layout DoRA folder (fixtures/dora/peft-adapter, from generate.py) loaded and
// computing PEFT's forward, and mergeAdapterIntoCheckpoint's W' = m/‖W+ΔW‖·(W+ΔW) on the files.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensorsFile, serializeSafetensors, toFloat32 } from '@conifer/safetensors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { injectLora, loadAdapter, mergeAdapterIntoCheckpoint, readAdapter } from '../src/index.js';
import { OneLayerHost, PATH, arr, dora, floatBase, relErr } from './dora-helpers.js';
import { fixture } from './helpers.js';

let tmp: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  tmp = await mkdtemp(join(tmpdir(), 'conifer-dora-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const KEYS = ['lora_A.weight', 'lora_B.weight', 'lora_magnitude_vector'].map((k) => `base_model.model.${PATH}.${k}`);

describe('DoRA adapter files (PEFT 0.21 layout)', () => {
  it('saveAdapter writes PEFT keys (magnitude without adapter name and .weight) and use_dora true; loadAdapter round-trips exactly', async () => {
    const host = new OneLayerHost(floatBase());
    const lora = injectLora(host, { r: dora.r, lora_alpha: dora.lora_alpha, target_modules: ['q'], use_dora: true });
    lora.layers.get(PATH)!.setWeights(arr('A'), arr('B'), 'default', arr('m'));
    const x = tf.tensor2d(arr('x'), [dora.n, dora.in]);
    const y = host.layer.apply(x);
    const dir = join(tmp, 'saved');
    await lora.saveAdapter(dir);
    const { tensors, config } = await readAdapter(dir);
    expect([...tensors.keys()]).toEqual(KEYS);
    expect(tensors.get(KEYS[2]!)!.shape).toEqual([dora.out]);
    expect(Array.from(tensors.get(KEYS[2]!)!.data)).toEqual(Array.from(arr('m')));
    expect(config.use_dora).toBe(true);
    expect(JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8')).use_dora).toBe(true);
    // a second, named DoRA adapter: saved in dir/<name>/ under the same keys
    lora.addAdapter('other', { r: 2, lora_alpha: 2, target_modules: ['q'], use_dora: true });
    await lora.saveAdapter(join(tmp, 'two'));
    expect([...(await readAdapter(join(tmp, 'two', 'other'))).tensors.keys()]).toContain(KEYS[2]);
    lora.unload();
    const before = tf.memory().numTensors;
    const again = await loadAdapter(host, dir, { isTrainable: true });
    expect(again.trainableVariables().map((v) => v.name)).toEqual(KEYS);
    const y2 = host.layer.apply(x);
    expect(Array.from(y2.dataSync())).toEqual(Array.from(y.dataSync()));
    tf.dispose([y2]);
    again.unload();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
  });

  it('a DoRA folder in PEFT layout (generate.py; safetensors, and torch.save .bin) loads and computes PEFT forward; a missing or misshaped magnitude is one error', async () => {
    const host = new OneLayerHost(floatBase());
    const base = host.layer;
    const x = tf.tensor2d(arr('x'), [dora.n, dora.in]);
    for (const folder of ['dora/peft-adapter', 'dora/peft-adapter-bin']) {
      expect((await readAdapter(fixture(folder))).format).toBe(folder.endsWith('bin') ? 'bin' : 'safetensors');
      const lora = await loadAdapter(host, fixture(folder));
      const y = host.layer.apply(x);
      expect(relErr(y.dataSync(), arr('y_eval'))).toBeLessThan(1e-6);
      tf.dispose([y]);
      lora.unload();
    }
    // the same folder without its magnitude, then with a wrong shape
    const { tensors } = await readAdapter(fixture('dora/peft-adapter'));
    const config = await readFile(fixture('dora/peft-adapter/adapter_config.json'), 'utf8');
    for (const [name, edit, msg] of [
      ['no-m', (t: Map<string, unknown>) => t.delete(KEYS[2]!), /Missing: base_model\.model\.layers\.0\.q\.lora_magnitude_vector/],
      ['bad-m', (t: Map<string, { dtype: 'F32'; shape: number[]; data: Float32Array }>) => t.set(KEYS[2]!, { dtype: 'F32', shape: [3], data: new Float32Array(3) }), /lora_magnitude_vector is \[3\], the model needs \[24\]/],
    ] as const) {
      const t = new Map([...tensors].map(([k, v]) => [k, { dtype: 'F32' as const, shape: v.shape, data: v.data }]));
      (edit as (m: typeof t) => void)(t);
      const dir = join(tmp, name);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'adapter_config.json'), config);
      await writeFile(join(dir, 'adapter_model.safetensors'), serializeSafetensors(new Map([...t].map(([k, v]) => [k, { dtype: v.dtype, shape: v.shape, data: new Uint8Array(v.data.buffer, v.data.byteOffset, v.data.byteLength) }]))));
      const before = tf.memory().numTensors;
      await expect(loadAdapter(host, dir)).rejects.toThrow(msg);
      expect(host.layer).toBe(base);
      expect(tf.memory().numTensors).toBe(before);
    }
    tf.dispose([x]);
  });

  it('mergeAdapterIntoCheckpoint: W′ = m/‖W+ΔW‖·(W+ΔW) (PEFT merge_safe) on the files; a DoRA key under use_dora false, or use_dora without magnitudes, is refused', async () => {
    const ckpt = join(tmp, 'ckpt');
    await mkdir(ckpt, { recursive: true });
    const W = arr('W');
    const b = arr('bias');
    const raw = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    await writeFile(
      join(ckpt, 'model.safetensors'),
      serializeSafetensors(new Map([
        [`${PATH}.weight`, { dtype: 'F32' as const, shape: [dora.out, dora.in], data: raw(W) }],
        [`${PATH}.bias`, { dtype: 'F32' as const, shape: [dora.out], data: raw(b) }],
      ])),
    );
    const out = join(tmp, 'merged');
    const result = await mergeAdapterIntoCheckpoint(ckpt, fixture('dora/peft-adapter'), out);
    expect(result.merged).toEqual([PATH]);
    const merged = (await readSafetensorsFile(join(out, 'model.safetensors'))).tensors;
    const w = merged.get(`${PATH}.weight`)!;
    expect(relErr(toFloat32(w.dtype, w.data), arr('merged'))).toBeLessThan(1e-6);
    const bias = merged.get(`${PATH}.bias`)!;
    expect(Array.from(toFloat32(bias.dtype, bias.data))).toEqual(Array.from(b));
    // the same tensors under a config without use_dora: the magnitude key is named, nothing written
    const plain = join(tmp, 'plain-config');
    await mkdir(plain, { recursive: true });
    const config = JSON.parse(await readFile(fixture('dora/peft-adapter/adapter_config.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(plain, 'adapter_config.json'), JSON.stringify({ ...config, use_dora: false }));
    await writeFile(join(plain, 'adapter_model.safetensors'), await readFile(fixture('dora/peft-adapter/adapter_model.safetensors')));
    await expect(mergeAdapterIntoCheckpoint(ckpt, plain, join(tmp, 'never'))).rejects.toThrow(/layers\.0\.q has a lora_magnitude_vector but the config says use_dora false/);
    // use_dora true but the magnitude missing from the file: refused, nothing written
    const noM = join(tmp, 'dora-no-magnitude');
    await mkdir(noM, { recursive: true });
    await writeFile(join(noM, 'adapter_config.json'), JSON.stringify(config));
    const { tensors } = await readAdapter(fixture('dora/peft-adapter'));
    const kept = [...tensors].filter(([k]) => k !== KEYS[2]);
    expect(kept.map(([k]) => k)).toEqual(KEYS.slice(0, 2));
    await writeFile(join(noM, 'adapter_model.safetensors'), serializeSafetensors(new Map(kept.map(([k, v]) => [k, { dtype: 'F32' as const, shape: v.shape, data: new Uint8Array(v.data.buffer, v.data.byteOffset, v.data.byteLength) }]))));
    const never = join(tmp, 'never-no-m');
    await expect(mergeAdapterIntoCheckpoint(ckpt, noM, never)).rejects.toThrow(/layers\.0\.q has no lora_magnitude_vector \(use_dora is true\)/);
    await expect(readFile(join(never, 'model.safetensors'))).rejects.toThrow(/ENOENT/);
  });
});
