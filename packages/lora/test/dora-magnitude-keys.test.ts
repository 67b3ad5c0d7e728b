// DoRA magnitude keys in both forms PEFT loads: `….lora_magnitude_vector` (what PEFT's
// get_peft_model_state_dict saves) and `….lora_magnitude_vector.weight` (set_peft_model_state_dict appends
// `.weight` to the first form and leaves the second as it is: peft/utils/save_and_load.py). The fixture's
// PEFT-layout DoRA folder (fixtures/dora/peft-adapter and peft-adapter-bin) is rewritten with the second
// form; every reader must give what the original gives, bit for bit. Both forms at once are an error
// naming the module. Saving keeps the first form.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { unzipSync, zipSync } from 'fflate';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serializeSafetensors } from '@conifer/safetensors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AdapterTensor, type LoraModel, injectLora, loadAdapter, mergeAdapterIntoCheckpoint, readAdapter } from '../src/index.js';
import { OneLayerHost, PATH, arr, dora, floatBase } from './dora-helpers.js';
import { fixture } from './helpers.js';

const M = `base_model.model.${PATH}.lora_magnitude_vector`;
const MW = `${M}.weight`;
const ORIGINAL = fixture('dora/peft-adapter');
const ORIGINAL_BIN = fixture('dora/peft-adapter-bin');

let tmp: string;
let x: tf.Tensor2D;
let config: string;
let original: Map<string, AdapterTensor>;
let weightForm: string; // the fixture's safetensors with the magnitude keyed `….lora_magnitude_vector.weight`
let weightFormBin: string; // the fixture's torch .bin, the same key renamed in its pickle
let bothForms: string; // both keys, the same tensor under each

const f32Bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

async function writeSafetensorsAdapter(dir: string, tensors: ReadonlyMap<string, AdapterTensor>, adapterConfig = config): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'adapter_config.json'), adapterConfig);
  await writeFile(join(dir, 'adapter_model.safetensors'), serializeSafetensors(new Map([...tensors].map(([k, t]) => [k, { dtype: 'F32' as const, shape: t.shape, data: f32Bytes(t.data) }])), { format: 'pt' }));
  return dir;
}

/** `tensors` with the magnitude key renamed to its `.weight` form (order kept). */
const withWeightKey = (tensors: ReadonlyMap<string, AdapterTensor>) => new Map([...tensors].map(([k, t]) => [k === M ? MW : k, t]));

/**
 * The fixture's `adapter_model.bin` (torch.save's zip) with one key of its pickle renamed: torch.save
 * writes keys as BINUNICODE (`X`, 4-byte little-endian length, UTF-8), nothing else points into the
 * pickle by offset (protocol 2 has no frames), so the key is replaced in place with its new length.
 */
function renameBinKey(bin: Uint8Array, from: string, to: string): Uint8Array {
  const files = unzipSync(bin);
  const pklName = Object.keys(files).find((n) => n.endsWith('/data.pkl'))!;
  const pkl = files[pklName]!;
  const op = (s: string) => {
    const b = new TextEncoder().encode(s);
    const out = new Uint8Array(5 + b.length);
    out[0] = 0x58;
    new DataView(out.buffer).setUint32(1, b.length, true);
    out.set(b, 5);
    return out;
  };
  const [old, neu] = [op(from), op(to)];
  let at = -1;
  for (let i = 0; i + old.length <= pkl.length && at < 0; i++) if (old.every((v, j) => pkl[i + j] === v)) at = i;
  expect(at).toBeGreaterThan(0);
  const next = new Uint8Array(pkl.length - old.length + neu.length);
  next.set(pkl.subarray(0, at));
  next.set(neu, at);
  next.set(pkl.subarray(at + old.length), at + neu.length);
  files[pklName] = next;
  return zipSync(files, { level: 0 });
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  tmp = await mkdtemp(join(tmpdir(), 'conifer-dora-mkeys-'));
  x = tf.tensor2d(arr('x'), [dora.n, dora.in]);
  config = await readFile(join(ORIGINAL, 'adapter_config.json'), 'utf8');
  original = (await readAdapter(ORIGINAL)).tensors;
  expect([...original.keys()]).toContain(M);
  weightForm = await writeSafetensorsAdapter(join(tmp, 'weight-form'), withWeightKey(original));
  weightFormBin = join(tmp, 'weight-form-bin');
  await mkdir(weightFormBin);
  await writeFile(join(weightFormBin, 'adapter_config.json'), config);
  await writeFile(join(weightFormBin, 'adapter_model.bin'), renameBinKey(new Uint8Array(await readFile(join(ORIGINAL_BIN, 'adapter_model.bin'))), M, MW));
  bothForms = await writeSafetensorsAdapter(join(tmp, 'both-forms'), new Map([...original, [MW, original.get(M)!]]));
});
afterAll(async () => {
  x.dispose();
  await rm(tmp, { recursive: true, force: true });
});

/** The host's output on the fixture's x. */
function output(host: OneLayerHost): number[] {
  const y = host.layer.apply(x);
  const out = Array.from(y.dataSync());
  y.dispose();
  return out;
}

describe('DoRA magnitude keyed `….lora_magnitude_vector.weight` (PEFT loads both forms)', () => {
  it('the rewritten files hold the .weight form only (safetensors and torch .bin)', async () => {
    for (const dir of [weightForm, weightFormBin]) {
      const { tensors } = await readAdapter(dir);
      expect([...tensors.keys()].sort()).toEqual([...original.keys()].map((k) => (k === M ? MW : k)).sort());
      expect(Array.from(tensors.get(MW)!.data)).toEqual(Array.from(original.get(M)!.data));
    }
    expect((await readAdapter(weightFormBin)).format).toBe('bin');
  });

  it('loadAdapter: the same output as the saved form, bit for bit, no warning, no tensor left; saveAdapter writes the saved form', async () => {
    const host = new OneLayerHost(floatBase());
    const base = host.layer;
    const before = tf.memory().numTensors;
    const ref = await loadAdapter(host, ORIGINAL);
    const want = output(host);
    ref.unload();
    expect(output(host)).not.toEqual(want); // the adapter changes the output
    for (const dir of [weightForm, weightFormBin]) {
      const warnings: string[] = [];
      const lora = await loadAdapter(host, dir, { onWarning: (m) => warnings.push(m) });
      expect(output(host)).toEqual(want);
      expect(warnings).toEqual([]);
      const saved = join(tmp, `resaved-${dir.endsWith('bin') ? 'bin' : 'st'}`);
      await lora.saveAdapter(saved);
      expect([...(await readAdapter(saved)).tensors.keys()]).toEqual([...original.keys()]);
      lora.unload();
      expect(host.layer).toBe(base);
      expect(tf.memory().numTensors).toBe(before);
    }
  });

  it('LoraModel.loadAdapter (a new name and an existing one), loadAdapterWeights and loadStateDict (strict) give the same output', async () => {
    const host = new OneLayerHost(floatBase());
    const before = tf.memory().numTensors;
    const ref = await loadAdapter(host, ORIGINAL);
    const want = output(host);
    ref.unload();
    const check = async (load: (lora: LoraModel) => Promise<void> | void, name: string) => {
      const lora = injectLora(host, { r: dora.r, lora_alpha: dora.lora_alpha, target_modules: ['q'], use_dora: true });
      if (name !== 'default') lora.addAdapter(name, { r: dora.r, lora_alpha: dora.lora_alpha, target_modules: ['q'], use_dora: true });
      lora.eval();
      await load(lora);
      lora.setAdapter(name);
      expect(output(host)).toEqual(want);
      lora.unload();
      expect(tf.memory().numTensors).toBe(before);
    };
    for (const dir of [weightForm, weightFormBin]) {
      await check((l) => l.loadAdapter(dir, 'w'), 'w'); // existing name
      await check((l) => l.loadAdapterWeights(dir), 'default');
    }
    // a name the model does not have yet: LoraModel.loadAdapter adds it from the config
    const lora = injectLora(host, { r: 2, lora_alpha: 2, target_modules: ['q'] });
    await lora.loadAdapter(weightForm, 'new');
    lora.setAdapter('new');
    expect(output(host)).toEqual(want);
    lora.unload();
    expect(tf.memory().numTensors).toBe(before);
    await check((l) => l.loadStateDict(withWeightKey(original)), 'default');
  });

  it('mergeAdapterIntoCheckpoint: the same merged file bytes as the saved form (safetensors and .bin)', async () => {
    const ckpt = join(tmp, 'ckpt');
    await mkdir(ckpt, { recursive: true });
    await writeFile(join(ckpt, 'model.safetensors'), serializeSafetensors(new Map([
      [`${PATH}.weight`, { dtype: 'F32' as const, shape: [dora.out, dora.in], data: f32Bytes(arr('W')) }],
      [`${PATH}.bias`, { dtype: 'F32' as const, shape: [dora.out], data: f32Bytes(arr('bias')) }],
    ])));
    await mergeAdapterIntoCheckpoint(ckpt, ORIGINAL, join(tmp, 'merged-ref'));
    const want = await readFile(join(tmp, 'merged-ref', 'model.safetensors'));
    const unchanged = await readFile(join(ckpt, 'model.safetensors'));
    expect(Buffer.compare(want, unchanged)).not.toBe(0); // the merge changes the weight
    for (const [i, dir] of [weightForm, weightFormBin].entries()) {
      const out = join(tmp, `merged-${i}`);
      const result = await mergeAdapterIntoCheckpoint(ckpt, dir, out);
      expect(result.merged).toEqual([PATH]);
      expect(Buffer.compare(await readFile(join(out, 'model.safetensors')), want)).toBe(0);
    }
    // under a use_dora false config the .weight form is refused as the saved form is
    const plain = await writeSafetensorsAdapter(join(tmp, 'plain-config'), withWeightKey(original), JSON.stringify({ ...JSON.parse(config), use_dora: false }));
    await expect(mergeAdapterIntoCheckpoint(ckpt, plain, join(tmp, 'never-plain'))).rejects.toThrow(/layers\.0\.q has a lora_magnitude_vector but the config says use_dora false/);
  });

  it('both forms for one module: one error naming the module, from every reader; nothing loaded, written or leaked', async () => {
    const host = new OneLayerHost(floatBase());
    const base = host.layer;
    const before = tf.memory().numTensors;
    const named = /DoRA magnitude of layers\.0\.q twice, keyed both …lora_magnitude_vector and …lora_magnitude_vector\.weight/;
    await expect(loadAdapter(host, bothForms)).rejects.toThrow(named);
    expect(host.layer).toBe(base);
    expect(tf.memory().numTensors).toBe(before);

    const lora = injectLora(host, { r: dora.r, lora_alpha: dora.lora_alpha, target_modules: ['q'], use_dora: true });
    const after = tf.memory().numTensors;
    const keep = Array.from(lora.layers.get(PATH)!.adapters.get('default')!.magnitude!.dataSync());
    await expect(lora.loadAdapter(bothForms, 'b')).rejects.toThrow(named);
    expect([...lora.peftConfig.keys()]).toEqual(['default']);
    expect([...lora.layers.get(PATH)!.adapters.keys()]).toEqual(['default']);
    await expect(lora.loadAdapterWeights(bothForms)).rejects.toThrow(named);
    const both = new Map([...original, [MW, original.get(M)!]]);
    expect(() => lora.loadStateDict(both)).toThrow(named);
    expect(() => lora.loadStateDict(both, 'default', { strict: false })).toThrow(named);
    expect(Array.from(lora.layers.get(PATH)!.adapters.get('default')!.magnitude!.dataSync())).toEqual(keep);
    expect(tf.memory().numTensors).toBe(after);
    lora.unload();
    expect(tf.memory().numTensors).toBe(before);

    const never = join(tmp, 'never-both');
    await expect(mergeAdapterIntoCheckpoint(join(tmp, 'ckpt'), bothForms, never)).rejects.toThrow(/layers\.0\.q has both lora_magnitude_vector and lora_magnitude_vector\.weight/);
    await expect(readFile(join(never, 'model.safetensors'))).rejects.toThrow(/ENOENT/);
  });

  it('a wrong shape or an unexpected .weight key is named as the file keys it', async () => {
    const host = new OneLayerHost(floatBase());
    const before = tf.memory().numTensors;
    const bad = await writeSafetensorsAdapter(join(tmp, 'bad-shape'), new Map([...withWeightKey(original)].map(([k, t]) => [k, k === MW ? { shape: [3], data: new Float32Array(3) } : t])));
    await expect(loadAdapter(host, bad)).rejects.toThrow(/layers\.0\.q\.lora_magnitude_vector\.weight is \[3\], the model needs \[24\]/);
    expect(tf.memory().numTensors).toBe(before);
    // a plain LoRA config: the magnitude is an unexpected key (warned and ignored, as PEFT), named as in the file
    const plain = await writeSafetensorsAdapter(join(tmp, 'plain-load'), withWeightKey(original), JSON.stringify({ ...JSON.parse(config), use_dora: false }));
    const warnings: string[] = [];
    const lora = await loadAdapter(host, plain, { onWarning: (m) => warnings.push(m) });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/unexpected keys not found in the model, ignored \(PEFT loads with strict=False\): base_model\.model\.layers\.0\.q\.lora_magnitude_vector\.weight$/);
    lora.unload();
    expect(tf.memory().numTensors).toBe(before);
  });
});
