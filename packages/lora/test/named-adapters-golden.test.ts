// Named adapters against the golden PEFT 0.21 files: the golden adapter under two names, PEFT's
// save_pretrained layout (default at the top, others in dir/<name>/) byte for byte, reloads, and
// merge_and_unload(adapter_names) against PEFT's merged weights.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensorsFile, toFloat32 } from '@conifer/safetensors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FloatLinear, LoraLinear, loadAdapter } from '../src/index.js';
import { CheckpointLinears, fixture, maxAbsDiff, relL2, layerOutputs } from './helpers.js';

const QV_R4 = fixture('ul2-tiny-qv-r4');
const SEED_R8 = fixture('seed-settings-r8-a32');
const UL2 = fixture('ul2-tiny/model.safetensors');
const FILES = ['adapter_config.json', 'adapter_model.safetensors'];

let tmp: string;
let step3Dir: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  tmp = await mkdtemp(join(tmpdir(), 'conifer-lora-named-'));
  step3Dir = join(tmp, 'step3');
  await mkdir(step3Dir);
  await copyFile(join(QV_R4, 'adapter_config.json'), join(step3Dir, 'adapter_config.json'));
  await copyFile(fixture('adamw_after_step3.safetensors'), join(step3Dir, 'adapter_model.safetensors'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const sameBytes = async (a: string, b: string) => Buffer.compare(await readFile(a), await readFile(b)) === 0;

describe('named adapters with the golden PEFT files (ul2-tiny)', () => {
  it('the golden adapter under two names: the golden output with either active, base + 2·delta with both; nothing leaks', async () => {
    const ref = await CheckpointLinears.open(UL2);
    const single = await loadAdapter(ref, QV_R4); // the single-adapter path the golden tests check against PEFT
    const golden = layerOutputs(single);
    const base = single.withAdapterDisabled(() => layerOutputs(single));
    single.unload();
    ref.dispose();

    const host = await CheckpointLinears.open(UL2);
    const lora = await loadAdapter(host, QV_R4);
    const before = tf.memory().numTensors;
    await lora.loadAdapter(QV_R4, 'b');
    expect(tf.memory().numTensors).toBe(before + 32); // 16 layers × (A, B)
    expect(lora.activeAdapters).toEqual(['default']); // PEFT: load_adapter does not activate
    expect(layerOutputs(lora)).toEqual(golden);
    lora.setAdapter('b');
    expect(tf.memory().numTensors).toBe(before + 32);
    expect(layerOutputs(lora)).toEqual(golden); // bit for bit: same weights, same ops
    lora.setAdapter(['default', 'b']);
    const both = layerOutputs(lora);
    let worst = 0;
    for (const [path, y] of both) {
      const want = golden.get(path)!.map((g, i) => base.get(path)![i]! + 2 * (g - base.get(path)![i]!));
      worst = Math.max(worst, relL2(y, want));
    }
    expect(worst).toBeLessThan(1e-6);
    expect(tf.memory().numTensors).toBe(before + 32);
    lora.deleteAdapter('b');
    expect(tf.memory().numTensors).toBe(before); // b's 32 variables are gone
    expect(lora.activeAdapters).toEqual(['default']);
    expect(layerOutputs(lora)).toEqual(golden);
    lora.unload();
    host.dispose();
  });

  it("save: PEFT's layout — default at the top, others in dir/<name>/ — each byte-identical to its golden files; selectedAdapters", async () => {
    const host = await CheckpointLinears.open(UL2);
    const lora = await loadAdapter(host, QV_R4);
    await lora.loadAdapter(QV_R4, 'b');
    await lora.loadAdapter(SEED_R8, 'seed', { isTrainable: true });
    expect(lora.layers.get('encoder.block.0.layer.0.SelfAttention.q')!.adapters.get('seed')!.r).toBe(8);
    const out = join(tmp, 'three');
    await lora.saveAdapter(out);
    expect((await readdir(out)).sort()).toEqual([...FILES, 'b', 'seed']);
    for (const f of FILES) {
      expect(await sameBytes(join(out, f), join(QV_R4, f))).toBe(true);
      expect(await sameBytes(join(out, 'b', f), join(QV_R4, f))).toBe(true);
      expect(await sameBytes(join(out, 'seed', f), join(SEED_R8, f))).toBe(true);
    }
    expect((await readdir(join(out, 'b'))).sort()).toEqual(FILES);

    const some = join(tmp, 'selected');
    await lora.saveAdapter(some, { selectedAdapters: ['seed'] });
    expect(await readdir(some)).toEqual(['seed']);
    expect(await sameBytes(join(some, 'seed', 'adapter_model.safetensors'), join(SEED_R8, 'adapter_model.safetensors'))).toBe(true);
    await expect(lora.saveAdapter(join(tmp, 'none'), { selectedAdapters: ['seed', 'nope'] })).rejects.toThrow(/selectedAdapters names adapters this model does not have: nope \(adapters: default, b, seed\)/);
    await expect(readdir(join(tmp, 'none'))).rejects.toThrow(/ENOENT/);

    // Reload the layout (PEFT: from_pretrained(dir) + load_adapter(dir/<name>, name)) and save again: the same bytes.
    const host2 = await CheckpointLinears.open(UL2);
    const again = await loadAdapter(host2, out);
    await again.loadAdapter(join(out, 'b'), 'b');
    await again.loadAdapter(join(out, 'seed'), 'seed');
    for (const name of ['default', 'b', 'seed']) {
      const [x, y] = [lora.stateDict(name), again.stateDict(name)];
      expect([...y.keys()]).toEqual([...x.keys()]);
      for (const [k, t] of x) expect(Buffer.compare(Buffer.from(y.get(k)!.data.buffer), Buffer.from(t.data.buffer))).toBe(0);
    }
    const out2 = join(tmp, 'three-again');
    await again.saveAdapter(out2);
    for (const f of [...FILES, ...FILES.map((g) => join('b', g)), ...FILES.map((g) => join('seed', g))]) expect(await sameBytes(join(out2, f), join(out, f))).toBe(true);

    // After deleting b, only default and seed are saved; default still the golden bytes.
    again.deleteAdapter('b');
    const out3 = join(tmp, 'two');
    await again.saveAdapter(out3);
    expect((await readdir(out3)).sort()).toEqual([...FILES, 'seed']);
    for (const f of FILES) expect(await sameBytes(join(out3, f), join(QV_R4, f))).toBe(true);
    lora.unload();
    again.unload();
    host.dispose();
    host2.dispose();
  });

  it("loadAdapter(dir, name): trainable only with isTrainable (the others' trainability unchanged), frozen loads set eval mode", async () => {
    const host = await CheckpointLinears.open(UL2);
    const lora = await loadAdapter(host, QV_R4); // frozen (PEFT's is_trainable=False)
    await lora.loadAdapter(SEED_R8, 'seed', { isTrainable: true });
    const vars = lora.trainableVariables();
    expect(vars).toHaveLength(32);
    expect(vars.every((v) => v.name.endsWith('.seed.weight'))).toBe(true);
    expect(lora.peftConfig.get('seed')!.inference_mode).toBe(false);
    expect(lora.peftConfig.get('default')!.inference_mode).toBe(true);
    lora.train();
    await lora.loadAdapter(QV_R4, 'b');
    expect(lora.training).toBe(false); // PEFT: load_adapter(is_trainable=False) calls model.eval()
    expect(lora.trainableVariables()).toHaveLength(32);
    lora.setAdapter('b'); // PEFT: set_adapter makes the active adapter trainable, the others frozen
    expect(lora.trainableVariables().every((v) => v.name.endsWith('.b.weight'))).toBe(true);
    expect(lora.trainableParameterCounts().trainable).toBe(8192);
    lora.unload();
    host.dispose();
  });

  it('a named adapter that does not fit the model is refused and changes nothing (new layers give their bases back)', async () => {
    const dir = join(tmp, 'qvo');
    await mkdir(dir);
    const cfg = JSON.parse(await readFile(join(QV_R4, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(dir, 'adapter_config.json'), JSON.stringify({ ...cfg, target_modules: ['q', 'v', 'o'] }));
    await copyFile(join(QV_R4, 'adapter_model.safetensors'), join(dir, 'adapter_model.safetensors'));
    const host = await CheckpointLinears.open(UL2);
    const lora = await loadAdapter(host, QV_R4);
    const before = tf.memory().numTensors;
    const linears = new Map(host.linears);
    await expect(lora.loadAdapter(dir, 'qvo')).rejects.toThrow(/Missing: base_model\.model\.decoder\.block\.0\.layer\.0\.SelfAttention\.o\.lora_A\.weight/);
    expect(tf.memory().numTensors).toBe(before);
    for (const [path, l] of linears) expect(host.linears.get(path)).toBe(l); // the same objects: o's bases are back
    expect([...host.linears.values()].filter((l) => l instanceof LoraLinear)).toHaveLength(16);
    expect([...lora.peftConfig.keys()]).toEqual(['default']);
    expect([...lora.layers.keys()]).toHaveLength(16);
    lora.unload();
    host.dispose();
  });

  it("mergeAndUnload(['step3']) merges only that adapter: PEFT's merged q/v weights (golden merged_qv_after_step3)", async () => {
    const golden = (await readSafetensorsFile(fixture('merged_qv_after_step3.safetensors'))).tensors;
    const host = await CheckpointLinears.open(UL2);
    const lora = await loadAdapter(host, QV_R4); // active, but not named: not merged
    await lora.loadAdapter(step3Dir, 'step3');
    const before = tf.memory().numTensors;
    lora.mergeAndUnload(['step3']);
    expect(tf.memory().numTensors).toBe(before - 16 * 4); // both adapters' A and B freed; merged weights replace the bases
    let worst = 0;
    for (const [name, t] of golden) {
      const lin = host.linears.get(name.slice(0, -'.weight'.length));
      expect(lin).toBeInstanceOf(FloatLinear);
      const W = lin!.dequantize!();
      worst = Math.max(worst, maxAbsDiff(W.dataSync(), toFloat32(t.dtype, t.data)));
      W.dispose();
    }
    expect(worst).toBeLessThan(1e-6);
    host.dispose();
  });
});
