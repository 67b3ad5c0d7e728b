// mergeAdapterIntoCheckpoint with several adapters: PEFT's merge_and_unload(adapter_names=[…]) on the
// files — W + Σᵢ scalingᵢ·Bᵢ·Aᵢ, added one adapter at a time in the given order as PEFT's
// lora.Linear.merge / Linear8bitLt.merge loop over adapter_names — against a float64 reference, the
// in-memory LoraModel.merge of the same adapters, and the same merges done one after another.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { float32ToBf16Bits, readSafetensorsFile, serializeSafetensors, toFloat32, type RawTensor } from '@conifer/safetensors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AdapterTensor, loadAdapter, loraScaling, mergeAdapterIntoCheckpoint, readAdapter } from '../src/index.js';
import { CheckpointLinears, fixture } from './helpers.js';
import { quantizeBnb } from './bnb-quantize.js';

const QV_R4 = fixture('ul2-tiny-qv-r4'); // r 4, alpha 8: scaling 2
const UL2_DIR = fixture('ul2-tiny');
let tmp: string;
let parent: string; // holds the step-3 adapter with alpha 16 (scaling 4) in parent/step3 (a subfolder)
let qOnly: string; // step-3's q layers only, target_modules ["q"], use_rslora with alpha 6 (scaling 3)
let base: Map<string, RawTensor>;
const f32 = (t: RawTensor) => toFloat32(t.dtype, t.data);
const read = async (file: string) => (await readSafetensorsFile(file)).tensors;
const same = (a: RawTensor, b: RawTensor) => a.dtype === b.dtype && `${a.shape}` === `${b.shape}` && Buffer.compare(Buffer.from(a.data), Buffer.from(b.data)) === 0;

async function writeAdapterDir(dir: string, patch: Record<string, unknown>, keep: (key: string) => boolean): Promise<void> {
  await mkdir(dir, { recursive: true });
  const config = JSON.parse(await readFile(join(QV_R4, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(join(dir, 'adapter_config.json'), JSON.stringify({ ...config, ...patch }));
  const tensors = await read(fixture('adamw_after_step3.safetensors'));
  await writeFile(join(dir, 'adapter_model.safetensors'), serializeSafetensors(new Map([...tensors].filter(([k]) => keep(k)))));
}

/** W + Σ scaling·B·A in float64 over `adapters` (as read), for every weight any of them adapts. */
async function float64Reference(adapters: string[]): Promise<Map<string, Float64Array>> {
  const out = new Map<string, Float64Array>();
  for (const dir of adapters) {
    const { config, tensors } = await readAdapter(dir);
    for (const [key, A] of tensors) {
      const m = /^base_model\.model\.(.+)\.lora_A\.weight$/.exec(key);
      if (!m) continue;
      const B = tensors.get(key.replace('lora_A', 'lora_B')) as AdapterTensor;
      const name = `${m[1]}.weight`;
      const w = out.get(name) ?? Float64Array.from(f32(base.get(name)!));
      const [o, r] = B.shape as [number, number];
      const inF = A.shape[1]!;
      const s = loraScaling(config.r, config.lora_alpha, config.use_rslora);
      for (let i = 0; i < o; i++) for (let j = 0; j < inF; j++) for (let k = 0; k < r; k++) w[i * inF + j]! += s * B.data[i * r + k]! * A.data[k * inF + j]!;
      out.set(name, w);
    }
  }
  return out;
}

/** Merges into tmp/<out> and reads the merged model.safetensors back. */
async function mergeRead(baseDir: string, adapter: Parameters<typeof mergeAdapterIntoCheckpoint>[1], out: string, options: Parameters<typeof mergeAdapterIntoCheckpoint>[3] = {}): Promise<Map<string, RawTensor>> {
  await mergeAdapterIntoCheckpoint(baseDir, adapter, join(tmp, out), options);
  return read(join(tmp, out, 'model.safetensors'));
}

/** One adapter holding QV_R4 and step-3 (alpha 16) concatenated (r 8, alpha 8: scaling 1): B·A = 2·B₁A₁ + 4·B₂A₂, one delta. */
async function catAdapter(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const config = JSON.parse(await readFile(join(QV_R4, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(join(dir, 'adapter_config.json'), JSON.stringify({ ...config, r: 8, lora_alpha: 8 }));
  const [a, b] = [await read(join(QV_R4, 'adapter_model.safetensors')), await read(fixture('adamw_after_step3.safetensors'))];
  const out = new Map<string, { dtype: 'F32'; shape: number[]; data: Float32Array }>();
  for (const [key, t] of a) {
    const [x, y] = [f32(t), f32(b.get(key)!)];
    if (key.includes('lora_A')) {
      // [8, in] = [2·A₁; 4·A₂]
      out.set(key, { dtype: 'F32', shape: [8, t.shape[1]!], data: Float32Array.from([...x.map((v) => 2 * v), ...y.map((v) => 4 * v)]) });
    } else {
      // [out, 8] = [B₁, B₂]
      const [o] = t.shape as [number];
      const d = new Float32Array(o * 8);
      for (let i = 0; i < o; i++) for (let k = 0; k < 4; k++) [d[i * 8 + k], d[i * 8 + 4 + k]] = [x[i * 4 + k]!, y[i * 4 + k]!];
      out.set(key, { dtype: 'F32', shape: [o, 8], data: d });
    }
  }
  await writeFile(join(dir, 'adapter_model.safetensors'), serializeSafetensors(out));
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  tmp = await mkdtemp(join(tmpdir(), 'conifer-merge-multi-'));
  parent = join(tmp, 'several');
  await writeAdapterDir(join(parent, 'step3'), { lora_alpha: 16 }, () => true);
  qOnly = join(tmp, 'q-only');
  await writeAdapterDir(qOnly, { target_modules: ['q'], lora_alpha: 6, use_rslora: true }, (k) => /\.q\.lora_/.test(k));
  base = await read(fixture('ul2-tiny/model.safetensors'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('mergeAdapterIntoCheckpoint with several adapters (PEFT merge_and_unload(adapter_names))', () => {
  it('W + Σ scalingᵢ·Bᵢ·Aᵢ: equals the float64 sum, the in-memory LoraModel.merge of the same adapters, and the three merges done one after another (byte for byte)', async () => {
    const step3 = { dirOrId: parent, subfolder: 'step3' };
    const out = join(tmp, 'merged-3');
    const result = await mergeAdapterIntoCheckpoint(UL2_DIR, [QV_R4, step3, qOnly], out);
    expect(result.merged).toHaveLength(16); // the union: q and v of every attention
    const merged = await read(join(out, 'model.safetensors'));
    expect([...merged.keys()].sort()).toEqual([...base.keys()].sort());

    const want = await float64Reference([QV_R4, join(parent, 'step3'), qOnly]);
    expect(want.size).toBe(16);
    let worst = 0;
    for (const [name, t] of merged) {
      const w = want.get(name);
      if (!w) {
        expect(same(t, base.get(name)!), name).toBe(true);
        continue;
      }
      const got = f32(t);
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - w[i]!) / Math.max(1, Math.abs(w[i]!)));
    }
    console.log(`3 adapters on the files vs float64 W + Σ s·B·A: max rel |Δ| ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(3e-7); // a few float32 roundings (one per adapter)

    // In memory: the same three adapters loaded on ul2-tiny's linears, merged in that order.
    const host = await CheckpointLinears.open(fixture('ul2-tiny/model.safetensors'));
    const lora = await loadAdapter(host, QV_R4);
    await lora.loadAdapter(parent, 'step3', { subfolder: 'step3' });
    await lora.loadAdapter(qOnly, 'q');
    const before = tf.memory().numTensors;
    lora.merge(['default', 'step3', 'q']);
    let memWorst = 0;
    for (const [path, layer] of lora.layers) {
      const w = layer.dequantize();
      const got = f32(merged.get(`${path}.weight`)!);
      const mem = w.dataSync();
      for (let i = 0; i < got.length; i++) memWorst = Math.max(memWorst, Math.abs(got[i]! - mem[i]!));
      w.dispose();
    }
    console.log(`3 adapters on the files vs LoraModel.merge in memory: max |Δ| ${memWorst.toExponential(2)}`);
    expect(memWorst).toBeLessThan(1e-6);
    lora.unmerge();
    expect(tf.memory().numTensors).toBe(before);
    lora.unload();
    host.dispose();

    // One after another: each merge's output is the next one's base.
    await mergeAdapterIntoCheckpoint(UL2_DIR, QV_R4, join(tmp, 'seq-1'));
    await mergeAdapterIntoCheckpoint(join(tmp, 'seq-1'), step3, join(tmp, 'seq-2'));
    const seq = await mergeRead(join(tmp, 'seq-2'), qOnly, 'seq-3');
    for (const [name, t] of merged) expect(same(t, seq.get(name)!), name).toBe(true);
    // The order is PEFT's, and it matters for the roundings: q-only first gives other float32 bits somewhere.
    const reordered = await mergeRead(UL2_DIR, [qOnly, QV_R4, step3], 'merged-3-reordered');
    expect([...merged].some(([name, t]) => !same(t, reordered.get(name)!))).toBe(true);
  });

  it('the same adapter twice adds its delta twice (one folder loaded under two names)', async () => {
    const twice = join(tmp, 'twice');
    await mergeAdapterIntoCheckpoint(UL2_DIR, [QV_R4, QV_R4], twice);
    const got = await read(join(twice, 'model.safetensors'));
    const want = await float64Reference([QV_R4, QV_R4]);
    let worst = 0;
    for (const [name, w] of want) {
      const g = f32(got.get(name)!);
      for (let i = 0; i < g.length; i++) worst = Math.max(worst, Math.abs(g[i]! - w[i]!) / Math.max(1, Math.abs(w[i]!)));
    }
    expect(worst).toBeLessThan(2e-7);
  });

  it('the running sum is rounded between adapters only in the dtype the merge runs in: a BF16 checkpoint kept BF16 rounds after each adapter (PEFT on a bf16 model); a dtype conversion merges every adapter in float32 and rounds once (PEFT on a float32 model, then .to(dtype))', async () => {
    const step3 = { dirOrId: parent, subfolder: 'step3' };
    // A BF16 checkpoint (ul2-tiny rounded), and its exact float32 widening.
    const [bf16Dir, wideDir] = [join(tmp, 'base-bf16'), join(tmp, 'base-bf16-as-f32')];
    const asBf16 = new Map([...base].map(([n, t]) => [n, { dtype: 'BF16' as const, shape: t.shape, data: float32ToBf16Bits(f32(t)) }]));
    const wide = new Map([...asBf16].map(([n, t]) => [n, { dtype: 'F32' as const, shape: t.shape, data: toFloat32('BF16', new Uint8Array(t.data.buffer)) }]));
    for (const [dir, tensors] of [[bf16Dir, asBf16], [wideDir, wide]] as const) {
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'model.safetensors'), serializeSafetensors(tensors, { format: 'pt' }));
      await copyFile(fixture('ul2-tiny/config.json'), join(dir, 'config.json'));
    }
    const bits = (t: RawTensor) => new Uint16Array(t.data.slice().buffer);

    // BF16 kept (dtype same): [a, b] is a merged into the bf16 checkpoint, then b merged into that output.
    const both = await mergeRead(bf16Dir, [QV_R4, step3], 'bf16-2');
    await mergeAdapterIntoCheckpoint(bf16Dir, QV_R4, join(tmp, 'bf16-a'));
    const seq = await mergeRead(join(tmp, 'bf16-a'), step3, 'bf16-ab');
    for (const [name, t] of both) {
      expect(t.dtype, name).toBe('BF16');
      expect(same(t, seq.get(name)!), name).toBe(true);
    }
    // …which is not one rounding of the sum: the bf16 rounding after a changes some entries.
    const wideSum = await mergeRead(wideDir, [QV_R4, step3], 'bf16-wide-2'); // float32 throughout
    let differ = 0;
    for (const [name, t] of both) {
      const [got, once] = [bits(t), float32ToBf16Bits(f32(wideSum.get(name)!))];
      for (let i = 0; i < got.length; i++) if (got[i] !== once[i]) differ++;
    }
    expect(differ).toBeGreaterThan(0);

    // BF16 → F32: no bf16 rounding between the adapters — the bytes of the float32 widening merged.
    const toF32 = await mergeRead(bf16Dir, [QV_R4, step3], 'bf16-to-f32', { dtype: 'F32' });
    for (const [name, t] of toF32) expect(same(t, wideSum.get(name)!), name).toBe(true);

    // F32 → BF16: every adapter added in float32 (the first one included), one bf16 rounding at the end —
    // the bf16 rounding of the float32 merge, not "a converted to bf16, then b merged into that".
    const f32Sum = await mergeRead(UL2_DIR, [QV_R4, step3], 'f32-2-for-bf16');
    const toBf16 = await mergeRead(UL2_DIR, [QV_R4, step3], 'f32-to-bf16', { dtype: 'BF16' });
    for (const [name, t] of toBf16) {
      expect(t.dtype, name).toBe('BF16');
      expect(bits(t), name).toEqual(float32ToBf16Bits(f32(f32Sum.get(name)!)));
    }
    await mergeAdapterIntoCheckpoint(UL2_DIR, QV_R4, join(tmp, 'f32-a-bf16'), { dtype: 'BF16' });
    const twoSessions = await mergeRead(join(tmp, 'f32-a-bf16'), step3, 'f32-a-bf16-b');
    expect([...toBf16].some(([name, t]) => !same(t, twoSessions.get(name)!))).toBe(true);
  });

  it('an 8-bit checkpoint is quantized again after each adapter (PEFT\'s Linear8bitLt.merge): the same bytes as merging one adapter after the other', async () => {
    const dir = join(tmp, 'base-8bit');
    await mkdir(dir, { recursive: true });
    const tensors = new Map<string, { dtype: 'F32' | 'I8'; shape: number[]; data: Uint8Array | Float32Array }>();
    for (const [name, t] of base) {
      if (!/\.(q|v)\.weight$/.test(name)) {
        tensors.set(name, { dtype: 'F32', shape: t.shape, data: t.data });
        continue;
      }
      const [out, inF] = t.shape as [number, number];
      const w = f32(t);
      const { CB, SCB } = quantizeBnb(w, out, inF);
      tensors.set(name, { dtype: 'I8', shape: [out, inF], data: new Uint8Array(CB.buffer) });
      tensors.set(`${name.slice(0, -'.weight'.length)}.SCB`, { dtype: 'F32', shape: [out], data: SCB });
    }
    await writeFile(join(dir, 'model.safetensors'), serializeSafetensors(tensors, { format: 'pt' }));
    await copyFile(fixture('ul2-tiny/config.json'), join(dir, 'config.json'));
    const step3 = { dirOrId: parent, subfolder: 'step3' };
    const both = await mergeRead(dir, [QV_R4, step3], 'i8-2');
    await mergeAdapterIntoCheckpoint(dir, QV_R4, join(tmp, 'i8-a'));
    const seq = await mergeRead(join(tmp, 'i8-a'), step3, 'i8-ab');
    let changed = 0;
    for (const [name, t] of both) {
      expect(same(t, seq.get(name)!), name).toBe(true);
      if (!same(t, { ...tensors.get(name)!, data: new Uint8Array(tensors.get(name)!.data.buffer) } as RawTensor)) changed++;
    }
    expect(changed).toBe(32); // 16 int8 weights and their SCBs
    // One quantization of the summed delta (the two adapters concatenated into one) gives other int8 values
    // somewhere — while on the float32 checkpoint it is the same merge to float32 rounding.
    await catAdapter(join(tmp, 'cat'));
    const once = await mergeRead(dir, join(tmp, 'cat'), 'i8-once');
    expect([...both].filter(([name, t]) => t.dtype === 'I8' && !same(t, once.get(name)!)).length).toBeGreaterThan(0);
    const [cat32, two32] = [await mergeRead(UL2_DIR, join(tmp, 'cat'), 'f32-cat'), await mergeRead(UL2_DIR, [QV_R4, step3], 'f32-2')];
    for (const [name, t] of two32) expect(Math.max(...f32(t).map((v, i) => Math.abs(v - f32(cat32.get(name)!)[i]!))), name).toBeLessThan(1e-6);
  });

  it('refused before anything is written: an adapter that does not fit (named by position and folder, every adapter\'s problems listed), an empty list, a bad entry', async () => {
    const wrongRank = join(tmp, 'wrong-rank');
    await writeAdapterDir(wrongRank, { r: 8 }, () => true);
    const noModule = join(tmp, 'no-module');
    await writeAdapterDir(noModule, {}, (k) => !k.includes('encoder.block.0.layer.0.SelfAttention.q.'));
    const tensors = await read(join(noModule, 'adapter_model.safetensors'));
    tensors.set('base_model.model.encoder.block.0.layer.0.SelfAttention.qq.lora_A.weight', tensors.get('base_model.model.encoder.block.1.layer.0.SelfAttention.q.lora_A.weight')!);
    tensors.set('base_model.model.encoder.block.0.layer.0.SelfAttention.qq.lora_B.weight', tensors.get('base_model.model.encoder.block.1.layer.0.SelfAttention.q.lora_B.weight')!);
    await writeFile(join(noModule, 'adapter_model.safetensors'), serializeSafetensors(tensors));
    const out = join(tmp, 'refused');
    const err = await mergeAdapterIntoCheckpoint(UL2_DIR, [QV_R4, wrongRank, { dirOrId: noModule }], out).then(() => null, (e: Error) => e.message);
    expect(err).toMatch(/^mergeAdapterIntoCheckpoint: the adapters do not fit the checkpoint: /);
    expect(err).toContain(`adapter 1 (${wrongRank}): decoder.block.0.layer.0.SelfAttention.q: lora_A [4,64] and lora_B [64,4] do not fit decoder.block.0.layer.0.SelfAttention.q.weight [64,64] at r 8`);
    expect(err).toContain('… (16 problems) — ');
    expect(err).toContain(`adapter 2 (${noModule}): the checkpoint has no encoder.block.0.layer.0.SelfAttention.qq.weight`);
    expect(err).not.toContain('adapter 0');
    expect(existsSync(out)).toBe(false);
    await expect(mergeAdapterIntoCheckpoint(UL2_DIR, [], out)).rejects.toThrow('mergeAdapterIntoCheckpoint: no adapter given (an empty list)');
    await expect(mergeAdapterIntoCheckpoint(UL2_DIR, [QV_R4, { subfolder: 'x' } as never], out)).rejects.toThrow(/^mergeAdapterIntoCheckpoint: adapter 1 is \{"subfolder":"x"\}; give a folder or hub id, or \{ dirOrId, subfolder \}/);
    await expect(mergeAdapterIntoCheckpoint(UL2_DIR, [QV_R4, 7 as never], out)).rejects.toThrow(/adapter 1 is 7/);
    expect(existsSync(out)).toBe(false);
  });
});
