// addWeightedAdapter on the real PEFT adapter (golden lora/ul2-tiny-qv-r4: r 4, alpha 8, scaling 2, q
// and v of ul2-tiny's 16 attention blocks, copied to test/fixtures) loaded under two names. The
// combined deltas against the formulas of PEFT's add_weighted_adapter (peft/tuners/lora/model.py):
// linear scales A and B by √(wᵢ·s) each, so B'·A' = (√w₁ + √w₂)²·s·B·A; cat and svd give
// (w₁ + w₂)·s·B·A. Then PEFT's file layout, and loading the saved combination back.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAdapter, type LoraModel } from '../src/index.js';
import { CheckpointLinears, fixture, relL2, layerOutputs } from './helpers.js';

const QV_R4 = fixture('ul2-tiny-qv-r4');
const UL2 = fixture('ul2-tiny/model.safetensors');

let tmp: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  tmp = await mkdtemp(join(tmpdir(), 'conifer-lora-weighted-golden-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** The product B·A of adapter `name` at every layer (its own scaling left out). */
const products = (lora: LoraModel, name: string) => {
  const out = new Map<string, Float32Array>();
  for (const [path, l] of lora.layers) {
    const a = l.adapter(name);
    const p = tf.matMul(a.loraB, a.loraA);
    out.set(path, p.dataSync() as Float32Array);
    p.dispose();
  }
  return out;
};

describe('addWeightedAdapter with the golden PEFT adapter (ul2-tiny q/v, r 4, scaling 2)', () => {
  it('the adapter under two names, weights [0.6, 0.3]: linear (√0.6 + √0.3)²·2·B·A, cat and svd 0.9·2·B·A; 32 tensors each, none leaked', async () => {
    const host = await CheckpointLinears.open(UL2);
    const lora = await loadAdapter(host, QV_R4);
    await lora.loadAdapter(QV_R4, 'b');
    const ba = products(lora, 'default'); // the golden B·A
    const [w1, w2] = [0.6, 0.3];
    const want = {
      linear: (Math.sqrt(w1 * 2) + Math.sqrt(w2 * 2)) ** 2,
      cat: (w1 + w2) * 2,
      svd: (w1 + w2) * 2,
    };
    for (const [type, factor] of Object.entries(want) as Array<[keyof typeof want, number]>) {
      const before = tf.memory().numTensors;
      await lora.addWeightedAdapter(['default', 'b'], [w1, w2], type, { combinationType: type });
      expect(tf.memory().numTensors).toBe(before + 32); // 16 layers × (A, B)
      const cfg = lora.peftConfig.get(type)!;
      expect([cfg.r, cfg.lora_alpha, cfg.target_modules]).toEqual([type === 'cat' ? 8 : 4, type === 'cat' ? 8 : 4, ['q', 'v']]);
      let worst = 0;
      for (const [path, p] of products(lora, type)) {
        expect(lora.layers.get(path)!.adapter(type).scaling).toBe(1);
        worst = Math.max(worst, relL2(p, ba.get(path)!.map((x) => factor * x)));
      }
      expect(worst).toBeLessThan(type === 'svd' ? 1e-5 : 1e-6);
    }
    lora.unload();
    host.dispose();
  });

  it("saves in PEFT's layout (adapter_config.json r 8, lora_alpha 8, target_modules [q, v], the rest the source's) and loads back: base + 0.9·(golden − base)", async () => {
    const host = await CheckpointLinears.open(UL2);
    const lora = await loadAdapter(host, QV_R4);
    const golden = layerOutputs(lora);
    const base = lora.withAdapterDisabled(() => layerOutputs(lora));
    await lora.loadAdapter(QV_R4, 'b');
    await lora.addWeightedAdapter(['default', 'b'], [0.6, 0.3], 'mix', { combinationType: 'cat' });
    const dir = join(tmp, 'mix');
    await lora.saveAdapter(tmp, { selectedAdapters: ['mix'] }); // a named adapter goes to <dir>/<name>, as PEFT
    const saved = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    const source = JSON.parse(await readFile(join(QV_R4, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    expect(saved).toEqual({ ...source, r: 8, lora_alpha: 8 });
    lora.unload();
    host.dispose();

    const host2 = await CheckpointLinears.open(UL2);
    const before = tf.memory().numTensors;
    const again = await loadAdapter(host2, dir);
    expect(tf.memory().numTensors).toBe(before + 32);
    let worst = 0;
    for (const [path, y] of layerOutputs(again)) {
      const b = base.get(path)!;
      worst = Math.max(worst, relL2(y, golden.get(path)!.map((g, i) => b[i]! + 0.9 * (g - b[i]!))));
    }
    expect(worst).toBeLessThan(1e-6);
    again.unload();
    host2.dispose();
  });
});
