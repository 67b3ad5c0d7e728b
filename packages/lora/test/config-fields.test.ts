import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { LoraConfigError, adapterConfigJson, injectLora, loadAdapter, parseAdapterConfig, peftLoraDefaults, readAdapter, resolveLoraConfig, type LoraConfigInput } from '../src/index.js';
import { editDistance, suggestField } from '../src/config-fields.js';
import { TwoLayerHost } from './helpers.js';

let tmp: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  tmp = await mkdtemp(join(tmpdir(), 'conifer-lora-fields-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** Runs `fn`, which must throw; returns the error. */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('did not throw');
}

describe('a config given in code: unknown keys are refused, as PEFT LoraConfig(**kwargs)', () => {
  it('typos: one LoraConfigError naming each key and the field it probably meant', () => {
    const e = thrown(() => resolveLoraConfig({ r: 8, lora_alhpa: 32, target_module: ['q', 'k'] }));
    expect(e).toBeInstanceOf(LoraConfigError);
    expect(e.message).toBe(
      "LoRA config: unknown fields lora_alhpa (did you mean lora_alpha?), target_module (did you mean target_modules?): not a field of PEFT's LoraConfig " +
        "(PEFT 0.21.0, whose constructor refuses it too; the fields are peftLoraDefaults()'s keys)",
    );
    // one and two edits, a swap of neighbours counting as one
    expect(() => resolveLoraConfig({ lora_dropuot: 0.1 })).toThrow(/unknown field lora_dropuot \(did you mean lora_dropout\?\)/);
    expect(() => resolveLoraConfig({ use_rsloar: true })).toThrow(/use_rsloar \(did you mean use_rslora\?\)/);
    expect(() => resolveLoraConfig({ init_lora_weight: false })).toThrow(/init_lora_weight \(did you mean init_lora_weights\?\)/);
    expect(() => resolveLoraConfig({ lora_alph: 16, r: 4 })).toThrow(/^LoRA config: unknown field lora_alph \(did you mean lora_alpha\?\): /);
  });

  it('camelCase (or another case) of a snake_case field points at the snake_case one', () => {
    const e = thrown(() => resolveLoraConfig({ r: 4, loraAlpha: 32, targetModules: ['q'], loraDropout: 0.1, useDora: true, initLoraWeights: false }));
    expect(e).toBeInstanceOf(LoraConfigError);
    expect(e.message).toMatch(
      /^LoRA config: unknown fields loraAlpha \(did you mean lora_alpha\?\), targetModules \(did you mean target_modules\?\), loraDropout \(did you mean lora_dropout\?\), useDora \(did you mean use_dora\?\), initLoraWeights \(did you mean init_lora_weights\?\): /,
    );
    expect(() => resolveLoraConfig({ LORA_ALPHA: 32 })).toThrow(/LORA_ALPHA \(did you mean lora_alpha\?\)/);
    expect(() => resolveLoraConfig({ 'lora-alpha': 32 })).toThrow(/lora-alpha \(did you mean lora_alpha\?\)/);
  });

  it('any other unknown key is refused too, without a suggestion (PEFT refuses every unknown keyword)', () => {
    expect(() => resolveLoraConfig({ rank: 8 })).toThrow(/^LoRA config: unknown field rank: not a field of PEFT's LoraConfig/);
    expect(() => resolveLoraConfig({ enable_lora: null })).toThrow(/^LoRA config: unknown field enable_lora: /);
    // a key with an undefined value is still a misspelled key
    expect(() => resolveLoraConfig({ lora_alhpa: undefined })).toThrow(/lora_alhpa \(did you mean lora_alpha\?\)/);
    // every PEFT field is accepted, and its value kept
    const all = resolveLoraConfig(peftLoraDefaults());
    expect(all).toEqual({ ...peftLoraDefaults(), target_modules: ['q', 'v'] });
  });

  it('suggestions: the nearest field, none for a short key rewritten', () => {
    expect(editDistance('lora_alhpa', 'lora_alpha')).toBe(1);
    expect(editDistance('target_module', 'target_modules')).toBe(1);
    expect(editDistance('abc', 'xyz')).toBe(3);
    const known = Object.keys(peftLoraDefaults());
    expect(suggestField('rr', known)).toBe(undefined); // "r" would be all of it rewritten
    expect(suggestField('x', known)).toBe(undefined);
    expect(suggestField('revison', known)).toBe('revision');
    expect(suggestField('bais', known)).toBe('bias');
    expect(suggestField('loraAlpha', known)).toBe('lora_alpha');
    expect(suggestField('lora_aXXXa', known)).toBe(undefined); // 3 edits: too far
    expect(suggestField('lora_aXXha', known)).toBe('lora_alpha');
    // one edit from both use_bdlora and use_dora: the first in `known` (peftLoraFields() is sorted)
    expect(suggestField('use_dlora', known)).toBe('use_bdlora');
    expect(suggestField('use_dlora', [...known].sort().reverse())).toBe('use_dora');
  });

  it('injectLora with a typo: the error, nothing injected, no tensor created', () => {
    const host = new TwoLayerHost();
    const before = [...host.linears.values()];
    const n = tf.memory().numTensors;
    expect(() => injectLora(host, { r: 2, lora_alhpa: 32, target_modules: ['q', 'v'] })).toThrow(LoraConfigError);
    expect(() => injectLora(host, { r: 2, loraAlpha: 32, target_modules: ['q', 'v'] })).toThrow(/loraAlpha \(did you mean lora_alpha\?\)/);
    expect([...host.linears.values()]).toEqual(before);
    expect(tf.memory().numTensors).toBe(n);
    // the host is free: a correct config injects
    const lora = injectLora(host, { r: 2, lora_alpha: 32, target_modules: ['q', 'v'] });
    expect(lora.layers.get('layers.0.q')!.scaling).toBe(16);
    lora.unload();
    expect(tf.memory().numTensors).toBe(n);
    host.dispose();
  });

  it('addAdapter with a typo: the error, no adapter added, no tensor created', () => {
    const host = new TwoLayerHost();
    const lora = injectLora(host, { r: 2, target_modules: ['q'] });
    const layers = [...host.linears.values()];
    const n = tf.memory().numTensors;
    expect(() => lora.addAdapter('other', { r: 2, target_modules: ['v'], lora_dropuot: 0.1 })).toThrow(/^LoRA config: unknown field lora_dropuot \(did you mean lora_dropout\?\)/);
    expect([...lora.peftConfig.keys()]).toEqual(['default']);
    expect([...host.linears.values()]).toEqual(layers);
    expect([...lora.layers.keys()]).toEqual(['layers.0.q']);
    expect(tf.memory().numTensors).toBe(n);
    lora.unload();
    host.dispose();
  });
});

describe('a config read from adapter_config.json: unknown fields kept, written back, ignored; a warning to onWarning', () => {
  /** A saved adapter on TwoLayerHost whose config also carries `extra`, in PEFT's format. */
  async function adapterWith(name: string, extra: Record<string, unknown>): Promise<{ dir: string; configText: string }> {
    const host = new TwoLayerHost();
    const lora = injectLora(host, { r: 2, lora_alpha: 4, target_modules: ['q', 'v'], init_lora_weights: false }, { seed: 3 });
    const dir = join(tmp, name);
    await lora.saveAdapter(dir);
    lora.unload();
    host.dispose();
    const configText = adapterConfigJson({ ...parseAdapterConfig(await readFile(join(dir, 'adapter_config.json'), 'utf8')), ...extra });
    await writeFile(join(dir, 'adapter_config.json'), configText);
    return { dir, configText };
  }
  const LEGACY = { enable_lora: null, merge_weights: false, some_future_field: { mode: 'fast', k: 2 } };

  it('enable_lora, merge_weights and a future field: loadAdapter loads, warns once via onWarning, and saves them back byte for byte', async () => {
    const { dir, configText } = await adapterWith('legacy', LEGACY);
    expect(configText).toContain('"enable_lora": null');
    const warn = vi.spyOn(console, 'warn');
    const host = new TwoLayerHost();
    const n = tf.memory().numTensors;
    const warnings: string[] = [];
    const lora = await loadAdapter(host, dir, { onWarning: (m) => warnings.push(m) });
    expect(warnings).toEqual([
      `${join(dir, 'adapter_config.json')}: unexpected keyword arguments ['enable_lora', 'merge_weights', 'some_future_field'] for class LoraConfig (PEFT 0.21.0's fields), these are ignored ` +
        '(kept, and written back when the adapter is saved). This probably means that the file was saved by another PEFT version',
    ]);
    expect(lora.config).toMatchObject({ r: 2, lora_alpha: 4, ...LEGACY });
    expect(lora.layers.size).toBe(2);
    const out = join(tmp, 'legacy-resaved');
    await lora.saveAdapter(out);
    expect(await readFile(join(out, 'adapter_config.json'), 'utf8')).toBe(configText);
    // the same config through LoraModel.loadAdapter under another name
    await lora.loadAdapter(dir, 'again', { onWarning: (m) => warnings.push(m) });
    expect(warnings).toHaveLength(2);
    expect(warnings[1]).toBe(warnings[0]);
    expect(lora.peftConfig.get('again')).toMatchObject(LEGACY);
    lora.unload();
    expect(tf.memory().numTensors).toBe(n);
    // without onWarning: loads, and prints nothing
    const quiet = await loadAdapter(host, dir);
    expect(quiet.config).toMatchObject(LEGACY);
    quiet.unload();
    expect(warn).not.toHaveBeenCalled();
    host.dispose();
  });

  it('readAdapter and parseAdapterConfig keep them; a misspelled field in a file is kept and named with its suggestion', async () => {
    const { dir } = await adapterWith('typo-file', { lora_alhpa: 32 });
    const warnings: string[] = [];
    const { config } = await readAdapter(dir, { onWarning: (m) => warnings.push(m) });
    expect(config).toMatchObject({ lora_alpha: 4, lora_alhpa: 32 });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/unexpected keyword arguments \['lora_alhpa'\] for class LoraConfig .*, or misspells a field: lora_alhpa \(did you mean lora_alpha\?\)$/);
    const parsed: string[] = [];
    expect(parseAdapterConfig(JSON.stringify({ peft_type: 'LORA', r: 4, ...LEGACY }), 'x.json', { onWarning: (m) => parsed.push(m) })).toMatchObject({ r: 4, ...LEGACY });
    expect(parsed).toEqual([expect.stringMatching(/^x\.json: unexpected keyword arguments \['enable_lora', 'merge_weights', 'some_future_field'\] for class LoraConfig/)]);
    // a PEFT 0.21 file (every field known) warns about nothing
    const clean: string[] = [];
    parseAdapterConfig(JSON.stringify(peftLoraDefaults()), 'y.json', { onWarning: (m) => clean.push(m) });
    expect(clean).toEqual([]);
  });

  it("a loaded adapter's config spread into a new one keeps its file's fields (as PEFT takes its loaded config back); a new typo is still refused", async () => {
    const { dir } = await adapterWith('reuse', LEGACY);
    const host = new TwoLayerHost();
    const n = tf.memory().numTensors;
    const lora = await loadAdapter(host, dir, { onWarning: () => {} });
    lora.addAdapter('b', { ...lora.config, r: 4 });
    expect(lora.peftConfig.get('b')).toMatchObject({ r: 4, ...LEGACY });
    expect(resolveLoraConfig({ ...lora.config, lora_dropout: 0.1 })).toMatchObject({ lora_dropout: 0.1, ...LEGACY });
    expect(() => lora.addAdapter('c', { ...lora.config, lora_alhpa: 2 })).toThrow(/^LoRA config: unknown field lora_alhpa \(did you mean lora_alpha\?\)/);
    // the file's fields only: a JSON copy of the config (no marker) is a config in code
    expect(() => resolveLoraConfig(JSON.parse(JSON.stringify(lora.config)) as LoraConfigInput)).toThrow(/^LoRA config: unknown fields enable_lora, merge_weights, some_future_field: /);
    lora.unload();
    expect(tf.memory().numTensors).toBe(n);
    host.dispose();
  });
});

describe("runtime_config: a LoraConfig argument PEFT never saves", () => {
  it('is accepted in code, ignored and not written to adapter_config.json', () => {
    const c = resolveLoraConfig({ r: 4, runtime_config: { ephemeral_gpu_offload: false } });
    expect(c).not.toHaveProperty('runtime_config');
    expect(adapterConfigJson(c)).not.toContain('runtime_config');
  });

  it('in a file: dropped without a warning (a LoraConfig field, not another version\'s)', () => {
    const warnings: string[] = [];
    const c = parseAdapterConfig(JSON.stringify({ peft_type: 'LORA', r: 4, runtime_config: { ephemeral_gpu_offload: false } }), 'z.json', { onWarning: (m) => warnings.push(m) });
    expect(warnings).toEqual([]);
    expect(c).not.toHaveProperty('runtime_config');
  });
});
