// An adapter whose keys are a superset of what the model has: PEFT's load_adapter loads with
// `load_state_dict(strict=False)` (peft/utils/save_and_load.py set_peft_model_state_dict), so keys of
// layers the model lacks are ignored — here with one warning, in transformers' `load_adapter` wording.
// Missing keys of injected layers and wrong shapes stay errors. The case: a seq2seq adapter (encoder +
// decoder q/v) loaded onto an encoder-only model (two-stack fake host, no T5 code).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serializeSafetensors } from '@conifer/safetensors';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FloatLinear, injectLora, loadAdapter, readAdapter } from '../src/index.js';
import { MapHost, randomValues } from './helpers.js';

const D = 8;
/** A T5-shaped host of FloatLinears: 2 encoder blocks (q, k, v), and without `encoderOnly` 2 decoder blocks (self q, v; cross q, v). */
class TwoStackHost extends MapHost {
  constructor(encoderOnly: boolean, dEncV = D) {
    super();
    let seed = 10;
    const add = (path: string, out = D) => this.linears.set(path, FloatLinear.fromArray(randomValues(out * D, seed++), out, D));
    for (let b = 0; b < 2; b++) for (const m of ['q', 'k', 'v']) add(`encoder.block.${b}.layer.0.SelfAttention.${m}`, m === 'v' ? dEncV : D);
    if (encoderOnly) return;
    for (let b = 0; b < 2; b++) {
      for (const m of ['q', 'v']) add(`decoder.block.${b}.layer.0.SelfAttention.${m}`);
      for (const m of ['q', 'v']) add(`decoder.block.${b}.layer.1.EncDecAttention.${m}`);
    }
  }
}

let tmp: string;
let dir: string; // the seq2seq adapter: q and v of both stacks, r 2, alpha 4, random A and B
let x: tf.Tensor2D;
beforeAll(async () => {
  await tf.setBackend('cpu');
  tmp = await mkdtemp(join(tmpdir(), 'conifer-lora-unexpected-'));
  dir = join(tmp, 'seq2seq');
  const full = new TwoStackHost(false);
  const lora = injectLora(full, { r: 2, lora_alpha: 4, target_modules: ['q', 'v'], init_lora_weights: false }, { seed: 5 });
  await lora.saveAdapter(dir);
  lora.unload();
  full.dispose();
  x = tf.tensor2d(randomValues(3 * D, 99), [3, D]);
});
afterAll(async () => {
  x.dispose();
  vi.restoreAllMocks();
  await rm(tmp, { recursive: true, force: true });
});

const DECODER_KEYS = 16; // 2 blocks × (self q, v + cross q, v) × (A, B)

describe('an adapter with keys the model does not have (PEFT: strict=False)', () => {
  it('a seq2seq adapter on an encoder-only host: the 4 encoder q/v layers load exactly, the 16 decoder keys are ignored with one warning naming them', async () => {
    const { tensors } = await readAdapter(dir);
    expect(tensors.size).toBe(8 + DECODER_KEYS);
    const host = new TwoStackHost(true);
    const warnings: string[] = [];
    const before = tf.memory().numTensors;
    const lora = await loadAdapter(host, dir, { onWarning: (m) => warnings.push(m) });
    expect([...lora.layers.keys()]).toEqual(['encoder.block.0.layer.0.SelfAttention.q', 'encoder.block.0.layer.0.SelfAttention.v', 'encoder.block.1.layer.0.SelfAttention.q', 'encoder.block.1.layer.0.SelfAttention.v']);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(new RegExp(`^LoRA: loading adapter "default" from ${dir.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} led to unexpected keys not found in the model, ignored \\(PEFT loads with strict=False\\): base_model\\.model\\.decoder\\.block\\.0\\.`));
    expect(warnings[0]).toContain(`… (${DECODER_KEYS})`);
    expect(warnings[0]).not.toContain('encoder.');
    // Each encoder layer holds the file's A and B, and computes base + scaling·x·Aᵀ·Bᵀ.
    for (const [path, layer] of lora.layers) {
      const A = tensors.get(`base_model.model.${path}.lora_A.weight`)!;
      const B = tensors.get(`base_model.model.${path}.lora_B.weight`)!;
      expect(Array.from(layer.loraA.dataSync())).toEqual(Array.from(A.data));
      expect(Array.from(layer.loraB.dataSync())).toEqual(Array.from(B.data));
      const [y, base, want] = tf.tidy(() => {
        const b = layer.base.apply(x);
        const delta = tf.mul(tf.matMul(tf.matMul(x, tf.tensor2d(A.data, A.shape as [number, number]), false, true), tf.tensor2d(B.data, B.shape as [number, number]), false, true), 2);
        return [layer.apply(x), b, tf.add(b, delta)];
      });
      const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
      expect(maxDiff(y, want)).toBeLessThan(1e-5);
      expect(maxDiff(y, base)).toBeGreaterThan(1e-2);
      tf.dispose([y, base, want]);
    }
    lora.unload();
    expect(tf.memory().numTensors).toBe(before);

    // Without onWarning: console.warn; LoraModel.loadAdapter(dir, name) too.
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const again = await loadAdapter(host, dir);
    await again.loadAdapter(dir, 'b');
    expect(warn).toHaveBeenCalledTimes(2);
    expect(String(warn.mock.calls[1]![0])).toMatch(/^LoRA: loading adapter "b" from .* led to unexpected keys not found in the model/);
    warn.mockRestore();
    // loadStateDict keeps its strict default: the same keys are an error there.
    expect(() => again.loadStateDict(tensors, 'b')).toThrow(/adapter keys do not match the model\. Unexpected: base_model\.model\.decoder\./);
    again.unload();
    expect(tf.memory().numTensors).toBe(before);
    host.dispose();
  });

  it('missing keys of injected layers and wrong shapes stay errors, and leave the host and tensor count as they were', async () => {
    const { tensors, config } = await readAdapter(dir);
    const broken = join(tmp, 'missing');
    const drop = 'base_model.model.encoder.block.1.layer.0.SelfAttention.v.lora_B.weight';
    const kept = new Map([...tensors].filter(([k]) => k !== drop).map(([k, t]) => [k, { dtype: 'F32' as const, shape: t.shape, data: t.data }]));
    await mkdir(broken);
    await writeFile(join(broken, 'adapter_model.safetensors'), serializeSafetensors(kept, { format: 'pt' }));
    await writeFile(join(broken, 'adapter_config.json'), await readFile(join(dir, 'adapter_config.json')));
    expect(config.r).toBe(2);

    const host = new TwoStackHost(true);
    const other = new TwoStackHost(true, 6); // encoder v projects to 6: B of v is [8, 2] in the file, the model needs [6, 2]
    const linears = [new Map(host.linears), new Map(other.linears)];
    const before = tf.memory().numTensors;
    const warnings: string[] = [];
    const onWarning = (m: string) => warnings.push(m);
    await expect(loadAdapter(host, broken, { onWarning })).rejects.toThrow(`LoRA: adapter keys do not match the model. Missing: ${drop}.`);
    await expect(loadAdapter(other, dir, { onWarning })).rejects.toThrow(/adapter shapes do not match the model: base_model\.model\.encoder\.block\.0\.layer\.0\.SelfAttention\.v\.lora_B\.weight is \[8,2\], the model needs \[6,2\]/);
    const lora = await loadAdapter(host, dir, { onWarning });
    const inLora = tf.memory().numTensors;
    await expect(lora.loadAdapter(broken, 'b', { onWarning })).rejects.toThrow(/Missing: base_model\.model\.encoder\.block\.1\.layer\.0\.SelfAttention\.v\.lora_B\.weight/);
    expect([...lora.peftConfig.keys()]).toEqual(['default']);
    expect(tf.memory().numTensors).toBe(inLora);
    expect(warnings).toHaveLength(1); // the successful load only: a failed load warns about nothing
    lora.unload();
    expect(tf.memory().numTensors).toBe(before);
    for (const [i, h] of [host, other].entries()) for (const [path, l] of linears[i]!) expect(h.linears.get(path)).toBe(l);
    host.dispose();
    other.dispose();
  });

  it('an onWarning that is not a function, or a strict that is not a boolean, is one error naming it before anything is read or injected', async () => {
    const host = new TwoStackHost(true);
    const linears = new Map(host.linears);
    const before = tf.memory().numTensors;
    await expect(loadAdapter(host, dir, { onWarning: 'log' as never })).rejects.toThrow('loadAdapter: onWarning must be a function, not "log"');
    await expect(loadAdapter(host, join(tmp, 'absent'), { onWarning: 1 as never })).rejects.toThrow('loadAdapter: onWarning must be a function, not 1'); // before the folder is read
    for (const [path, l] of linears) expect(host.linears.get(path)).toBe(l);
    expect(tf.memory().numTensors).toBe(before);
    const lora = await loadAdapter(host, dir, { onWarning: () => {} });
    const inLora = tf.memory().numTensors;
    await expect(lora.loadAdapter(join(tmp, 'absent'), 'b', { onWarning: {} as never })).rejects.toThrow('LoraModel.loadAdapter: onWarning must be a function, not {}');
    const { tensors } = await readAdapter(dir);
    expect(() => lora.loadStateDict(tensors, 'default', { strict: 'no' as never })).toThrow('loadStateDict: strict must be true or false, not "no"');
    expect(() => lora.loadStateDict(tensors, 'default', { strict: false, onWarning: null as never })).toThrow('loadStateDict: onWarning must be a function, not null');
    expect([...lora.peftConfig.keys()]).toEqual(['default']);
    expect(tf.memory().numTensors).toBe(inLora);
    lora.unload();
    expect(tf.memory().numTensors).toBe(before);
    host.dispose();
  });
});
