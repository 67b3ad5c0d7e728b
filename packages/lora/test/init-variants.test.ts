import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoraConfigError, injectLora, loadAdapter, parseAdapterConfig, readAdapter } from '../src/index.js';
import { CheckpointLinears, TwoLayerHost, fixture, maxAbsDiff, randomValues } from './helpers.js';

let tmp: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  tmp = await mkdtemp(join(tmpdir(), 'conifer-lora-init-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const QV_R4 = fixture('ul2-tiny-qv-r4');
const UL2 = fixture('ul2-tiny/model.safetensors');

/** A copy of the golden PEFT adapter whose adapter_config.json says `init_lora_weights: init`. */
async function adapterWithInit(init: unknown): Promise<string> {
  const dir = await mkdtemp(join(tmp, 'adapter-'));
  await cp(QV_R4, dir, { recursive: true });
  const cfg = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(join(dir, 'adapter_config.json'), JSON.stringify({ ...cfg, init_lora_weights: init }));
  return dir;
}

describe('init_lora_weights "orthogonal" (PEFT LoraLayer.orthogonal_init)', () => {
  it('A and B are both random, B·A = 0 so the model starts as its base, and B gets a gradient at once', () => {
    const host = new TwoLayerHost();
    const x = tf.tensor2d(randomValues(5 * 8, 7), [5, 8]);
    const before = host.forward(x);
    const lora = injectLora(host, { r: 4, lora_alpha: 8, target_modules: ['q', 'v'], init_lora_weights: 'orthogonal' }, { seed: 3 });
    for (const l of lora.layers.values()) {
      const [a, b] = [l.loraA.dataSync(), l.loraB.dataSync()];
      // each matrix is Gaussian / 10 mixed by orthonormal rows: far from zero
      expect(Math.max(...a.map(Math.abs))).toBeGreaterThan(0.05);
      expect(Math.max(...b.map(Math.abs))).toBeGreaterThan(0.05);
      const baT = tf.tidy(() => tf.max(tf.abs(tf.matMul(l.loraB, l.loraA))));
      const ba = baT.dataSync()[0]!;
      baT.dispose();
      expect(ba).toBeLessThan(1e-7);
      // A has rank r/2: its rows live in the span of Q's even rows (A = Q[0::2]ᵀ·Nᵀ / 10)
      const gram = tf.matMul(l.loraA, l.loraA, false, true); // [r, r]
      const g = gram.arraySync() as number[][];
      gram.dispose();
      // a 4×4 determinant by cofactors: 0 for rank 2, against a trace² of order 1e-2
      const det = (m: number[][]): number => (m.length === 1 ? m[0]![0]! : m[0]!.reduce((s, v, j) => s + (j % 2 ? -1 : 1) * v * det(m.slice(1).map((row) => row.filter((_, k) => k !== j))), 0));
      const trace = g.reduce((s, row, i) => s + row[i]!, 0);
      expect(Math.abs(det(g))).toBeLessThan(1e-6 * trace ** 4);
    }
    const after = host.forward(x);
    expect(maxAbsDiff(before.dataSync(), after.dataSync())).toBeLessThan(1e-6);
    const layer = lora.layers.get('layers.1.v')!;
    const { grads, value } = tf.variableGrads(() => tf.sum(tf.square(host.forward(x))) as tf.Scalar, [layer.loraB]);
    expect(Math.max(...grads[layer.loraB.name]!.dataSync().map(Math.abs))).toBeGreaterThan(1e-4); // default init: B's gradient is also nonzero, A's is 0
    tf.dispose([x, before, after, value, ...Object.values(grads)]);
    lora.unload();
    host.dispose();
  });

  it('is reproducible by seed and refuses an odd rank with PEFT\'s message', () => {
    const draw = (seed: number) => {
      const host = new TwoLayerHost();
      const lora = injectLora(host, { r: 2, target_modules: ['q'], init_lora_weights: 'orthogonal' }, { seed });
      const a = lora.layers.get('layers.0.q')!.loraA.dataSync().slice();
      lora.unload();
      host.dispose();
      return a;
    };
    expect(draw(1)).toEqual(draw(1));
    expect(draw(1)).not.toEqual(draw(2));
    expect(() => injectLora(new TwoLayerHost(), { r: 3, init_lora_weights: 'orthogonal', target_modules: ['q'] })).toThrow(/requires the LoRA rank to be even, got r = 3/);
    expect(() => injectLora(new TwoLayerHost(), { r: 2, rank_pattern: { q: 3 }, init_lora_weights: 'orthogonal', target_modules: ['q'] })).toThrow(/rank to be even, got 3/);
  });
});

describe('adapters saved with other init_lora_weights values', () => {
  it('"eva" and "orthogonal" adapters load (A and B come from the file) and save back as they were', async () => {
    const host = await CheckpointLinears.open(UL2);
    const { tensors } = await readAdapter(QV_R4);
    for (const init of ['eva', 'orthogonal']) {
      const dir = await adapterWithInit(init);
      const lora = await loadAdapter(host, dir);
      expect(lora.config.init_lora_weights).toBe(init);
      const state = await lora.readStateDict();
      for (const [k, t] of tensors) expect(state.get(k)!.data).toEqual(t.data);
      const out = join(dir, 'resaved');
      await lora.saveAdapter(out);
      expect(JSON.parse(await readFile(join(out, 'adapter_config.json'), 'utf8')).init_lora_weights).toBe(init);
      lora.unload();
    }
    host.dispose();
  });

  it('"eva" cannot start a fresh adapter: one error, nothing injected', () => {
    const host = new TwoLayerHost();
    const q = host.linears.get('layers.0.q');
    expect(() => injectLora(host, { target_modules: ['q', 'v'], init_lora_weights: 'eva' })).toThrow(/"eva" initialises A from the model's activations/);
    expect(host.linears.get('layers.0.q')).toBe(q);
    host.dispose();
  });

  it('PiSSA, OLoRA, CorDA, LoftQ and LoRA-GA adapters are refused with how to convert them', async () => {
    for (const init of ['pissa', 'pissa_niter_16', 'olora', 'corda', 'loftq', 'lora-ga']) {
      expect(() => parseAdapterConfig(JSON.stringify({ peft_type: 'LORA', init_lora_weights: init }))).toThrow(LoraConfigError);
      expect(() => parseAdapterConfig(JSON.stringify({ peft_type: 'LORA', init_lora_weights: init }))).toThrow(/residual base weight.*path_initial_model_for_weight_conversion/);
    }
    await expect(loadAdapter(new TwoLayerHost(), await adapterWithInit('pissa'))).rejects.toThrow(/"pissa" is not supported/);
    expect(() => parseAdapterConfig(JSON.stringify({ peft_type: 'LORA', init_lora_weights: 'kaiming' }))).toThrow(/not supported \(true, false, "gaussian", "orthogonal"/);
  });
});
