import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { mkdtemp, readFile, rm, writeFile, copyFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adapterConfigJson, injectLora, loadAdapter, parseAdapterConfig, peftLoraDefaults, readAdapter, resolveLoraConfig } from '../src/index.js';
import { pythonFloatRepr } from '../src/python-json.js';
import { CheckpointLinears, TwoLayerHost, fixture } from './helpers.js';

let tmp: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  tmp = await mkdtemp(join(tmpdir(), 'conifer-lora-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const QV_R4 = fixture('ul2-tiny-qv-r4');
const SEED_R8 = fixture('seed-settings-r8-a32');
const UL2 = fixture('ul2-tiny/model.safetensors');

describe('PEFT adapter files (golden: PEFT 0.21 on ul2-tiny)', () => {
  it('the golden adapter reads with PEFT keys, shapes and config', async () => {
    const { config, tensors, format } = await readAdapter(QV_R4);
    expect(format).toBe('safetensors');
    expect(config).toMatchObject({ r: 4, lora_alpha: 8, lora_dropout: 0, target_modules: ['q', 'v'], init_lora_weights: false, peft_type: 'LORA', task_type: 'SEQ_2_SEQ_LM' });
    expect(tensors.size).toBe(32); // 2 encoder blocks × {q,v} + 3 decoder blocks × {self q,v, cross q,v} = 16 layers × {A,B}
    expect(tensors.get('base_model.model.encoder.block.0.layer.0.SelfAttention.q.lora_A.weight')!.shape).toEqual([4, 64]);
    expect(tensors.get('base_model.model.decoder.block.2.layer.1.EncDecAttention.v.lora_B.weight')!.shape).toEqual([64, 4]);
  });

  it('loadAdapter onto the checkpoint linears of ul2-tiny, then save: files byte-identical to PEFT\'s', async () => {
    const host = await CheckpointLinears.open(UL2);
    expect(host.linears.size).toBe(47);
    const lora = await loadAdapter(host, QV_R4);
    expect(lora.layers.size).toBe(16);
    expect(lora.layers.get('decoder.block.0.layer.1.EncDecAttention.q')!.scaling).toBe(2);
    expect(lora.trainableVariables()).toEqual([]); // is_trainable defaults to false, as PEFT
    lora.setTrainable(true);
    // PEFT on the same model: 16 · (4·64 + 64·4) = 8192 trainable; all = checkpoint tensors + adapter
    expect(lora.trainableParameterCounts().trainable).toBe(8192);
    expect(lora.printTrainableParameters(null)).toBe(`trainable params: 8,192 || all params: ${(host.total + 8192).toLocaleString('en-US')} || trainable%: ${((100 * 8192) / (host.total + 8192)).toFixed(4)}`);

    const out = join(tmp, 'qv-r4-resaved');
    await lora.saveAdapter(out);
    expect((await readdir(out)).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']); // no temp files left
    const [mine, peft] = await Promise.all([readFile(join(out, 'adapter_model.safetensors')), readFile(join(QV_R4, 'adapter_model.safetensors'))]);
    expect(Buffer.compare(mine, peft)).toBe(0);
    const [myCfg, peftCfg] = await Promise.all([readFile(join(out, 'adapter_config.json'), 'utf8'), readFile(join(QV_R4, 'adapter_config.json'), 'utf8')]);
    expect(myCfg).toBe(peftCfg);
    lora.unload();
    host.dispose();
  });

  it('the seed-settings adapter (r 8, alpha 32, dropout 0.1, default T5 targets) loads', async () => {
    const host = await CheckpointLinears.open(UL2);
    const lora = await loadAdapter(host, SEED_R8, { isTrainable: true });
    expect(lora.config).toMatchObject({ r: 8, lora_alpha: 32, lora_dropout: 0.1, target_modules: ['q', 'v'], init_lora_weights: true });
    expect(lora.layers.size).toBe(16);
    const any = lora.layers.get('encoder.block.1.layer.0.SelfAttention.v')!;
    expect(any.scaling).toBe(4);
    expect(any.loraA.shape).toEqual([8, 64]);
    expect([...any.loraB.dataSync()].every((v) => v === 0)).toBe(true); // PEFT's fresh init: B = 0
    expect(lora.trainableVariables().length).toBe(32);
    const out = join(tmp, 'seed-resaved');
    await lora.saveAdapter(out);
    expect(await readFile(join(out, 'adapter_config.json'), 'utf8')).toBe(await readFile(join(SEED_R8, 'adapter_config.json'), 'utf8'));
    expect(Buffer.compare(await readFile(join(out, 'adapter_model.safetensors')), await readFile(join(SEED_R8, 'adapter_model.safetensors')))).toBe(0);
    lora.unload();
    host.dispose();
  });

  it('a freshly injected adapter saves every PEFT field and loads back identical', async () => {
    const host = new TwoLayerHost();
    const lora = injectLora(host, { r: 3, lora_alpha: 6, lora_dropout: 0.05, init_lora_weights: false, use_rslora: true }, { seed: 42 });
    const dir = join(tmp, 'fake');
    await lora.saveAdapter(dir, { baseModelNameOrPath: 'fake/two-layer' });
    const golden = JSON.parse(await readFile(join(QV_R4, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    const saved = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(saved).sort()).toEqual(Object.keys(golden).sort());
    expect(saved).toMatchObject({ r: 3, lora_alpha: 6, lora_dropout: 0.05, use_rslora: true, inference_mode: true, base_model_name_or_path: 'fake/two-layer', target_modules: ['q', 'v'] });
    const before = lora.stateDict();
    lora.unload();

    const host2 = new TwoLayerHost();
    const again = await loadAdapter(host2, dir);
    const after = again.stateDict();
    expect([...after.keys()]).toEqual([...before.keys()]);
    for (const [k, t] of before) {
      expect(after.get(k)!.shape).toEqual(t.shape);
      expect(Buffer.compare(Buffer.from(after.get(k)!.data.buffer), Buffer.from(t.data.buffer))).toBe(0);
    }
    expect(again.layers.get('layers.0.q')!.scaling).toBeCloseTo(6 / Math.sqrt(3));
    again.unload();
    host.dispose();
    host2.dispose();
  });

  it('missing config fields get PEFT defaults; unknown fields are kept (PEFT 0.3-style config)', async () => {
    const peft03 = {
      base_model_name_or_path: 'google/flan-ul2',
      bias: 'none',
      enable_lora: null,
      fan_in_fan_out: false,
      inference_mode: true,
      lora_alpha: 32,
      lora_dropout: 0.05,
      merge_weights: false,
      modules_to_save: null,
      peft_type: 'LORA',
      r: 16,
      target_modules: ['q', 'v'],
      task_type: 'SEQ_2_SEQ_LM',
    };
    const c = parseAdapterConfig(JSON.stringify(peft03));
    expect(c).toMatchObject({ r: 16, lora_alpha: 32, use_rslora: false, init_lora_weights: true, rank_pattern: {}, merge_weights: false, enable_lora: null });
    for (const k of Object.keys(peftLoraDefaults())) expect(k in c).toBe(true);
    expect(() => parseAdapterConfig(JSON.stringify({ ...peft03, peft_type: 'IA3' }), 'x.json')).toThrow(/x\.json: .*only "LORA"/);
    expect(parseAdapterConfig(JSON.stringify({ ...peft03, use_dora: true })).use_dora).toBe(true); // DoRA: see dora.test.ts
    expect(() => parseAdapterConfig(JSON.stringify({ ...peft03, use_qalora: true }))).toThrow(/QA-LoRA is not supported/);
    // PEFT enables aLoRA / Arrow on `is not None`: an empty list or object is on too.
    for (const v of [[1], []]) expect(() => parseAdapterConfig(JSON.stringify({ ...peft03, alora_invocation_tokens: v }))).toThrow(/alora_invocation_tokens = .*aLoRA.* is not supported/);
    for (const v of [{ top_k: 2 }, {}]) expect(() => parseAdapterConfig(JSON.stringify({ ...peft03, arrow_config: v }))).toThrow(/arrow_config = .*Arrow routing.* is not supported/);
    expect(parseAdapterConfig(JSON.stringify({ ...peft03, alora_invocation_tokens: null, arrow_config: null })).r).toBe(16);
  });

  it('a model whose key set differs from the file is refused with the keys named', async () => {
    const dir = join(tmp, 'mismatch');
    const host = new TwoLayerHost();
    const lora = injectLora(host, { target_modules: ['q'] });
    await lora.saveAdapter(dir);
    lora.unload();
    const cfg = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8'));
    await writeFile(join(dir, 'adapter_config.json'), JSON.stringify({ ...cfg, target_modules: ['q', 'v'] }));
    await expect(loadAdapter(host, dir)).rejects.toThrow(/Missing: base_model\.model\.layers\.1\.v\.lora_A\.weight, base_model\.model\.layers\.1\.v\.lora_B\.weight/);
    await writeFile(join(dir, 'adapter_config.json'), JSON.stringify({ ...cfg, r: 5 }));
    await expect(loadAdapter(host, dir)).rejects.toThrow(/lora_A\.weight is \[8,8\], the model needs \[5,8\]/);
    expect([...host.linears.values()].every((l) => l.constructor.name === 'FrozenVariableLinear')).toBe(true);
    await copyFile(join(QV_R4, 'adapter_config.json'), join(dir, 'adapter_config.json'));
    host.dispose();
  });

  it('writes Python floats and key order like json.dumps(indent=2, sort_keys=True)', () => {
    expect(pythonFloatRepr(0)).toBe('0.0');
    expect(pythonFloatRepr(0.1)).toBe('0.1');
    expect(pythonFloatRepr(1e-5)).toBe('1e-05');
    expect(pythonFloatRepr(2)).toBe('2.0');
    const text = adapterConfigJson(resolveLoraConfig({ target_modules: 'a|b', alpha_pattern: { z: 1, a: 2 }, base_model_name_or_path: 'é' })); // an unknown key in code is refused (config-fields.test.ts)
    expect(text).toContain('"alpha_pattern": {\n    "a": 2,\n    "z": 1\n  },');
    expect(text).toContain('"lora_dropout": 0.0,');
    expect(text).toContain('"base_model_name_or_path": "\\u00e9"');
    expect(text.endsWith('}')).toBe(true);
  });
});
