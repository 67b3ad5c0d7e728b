// mergeAdapterIntoCheckpoint: PEFT's merge_and_unload + save_pretrained on the files, against the
// golden merged q/v weights (PEFT 0.21, fixtures/merged_qv_after_step3.safetensors).
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { float32ToBf16Bits, float32ToF16Bits, readSafetensorsFile, serializeSafetensors, toFloat32, type RawTensor } from '@conifer/safetensors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergeAdapterIntoCheckpoint } from '../src/index.js';
import { fixture } from './helpers.js';
import { quantizeBnb } from './bnb-quantize.js';

let tmp: string;
let step3: string; // the golden step-3 adapter as a folder
let base: Map<string, RawTensor>;
let golden: Map<string, Float32Array>;
const f32 = (t: RawTensor) => toFloat32(t.dtype, t.data);
const read = async (file: string) => (await readSafetensorsFile(file)).tensors;
const maxAbs = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

/** An adapter folder: the step-3 weights under `config` (the r4 config with `patch` applied), optionally with keys changed by `edit`. */
async function adapterDir(name: string, patch: Record<string, unknown> = {}, edit?: (t: Map<string, RawTensor>) => void): Promise<string> {
  const dir = join(tmp, name);
  await mkdir(dir, { recursive: true });
  const config = JSON.parse(await readFile(fixture('ul2-tiny-qv-r4/adapter_config.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(join(dir, 'adapter_config.json'), JSON.stringify({ ...config, ...patch }));
  const tensors = await read(fixture('adamw_after_step3.safetensors'));
  edit?.(tensors);
  await writeFile(join(dir, 'adapter_model.safetensors'), serializeSafetensors(new Map([...tensors].map(([k, t]) => [k, { ...t }]))));
  return dir;
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'conifer-merge-files-'));
  step3 = await adapterDir('step3');
  base = await read(fixture('ul2-tiny/model.safetensors'));
  golden = new Map([...(await read(fixture('merged_qv_after_step3.safetensors')))].map(([k, t]) => [k, f32(t)]));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('mergeAdapterIntoCheckpoint (merge on the files, one tensor at a time)', () => {
  it("equals PEFT's merged q/v weights; every other tensor, the config and the generation config are copied byte for byte", async () => {
    const out = join(tmp, 'merged');
    const seen: string[] = [];
    const result = await mergeAdapterIntoCheckpoint(fixture('ul2-tiny'), step3, out, { onFile: (f, i, n) => seen.push(`${f} ${i}/${n}`) });
    expect(seen).toEqual(['model.safetensors 0/1']);
    expect(result.files).toEqual(['model.safetensors', 'config.json', 'generation_config.json']);
    expect(result.merged).toHaveLength(16);
    expect(result.merged).toContain('decoder.block.2.layer.1.EncDecAttention.v');
    const merged = await read(join(out, 'model.safetensors'));
    expect([...merged.keys()].sort()).toEqual([...base.keys()].sort());
    let worst = 0;
    for (const [name, t] of merged) {
      const want = golden.get(name);
      if (want) {
        expect(t.dtype).toBe('F32');
        worst = Math.max(worst, maxAbs(f32(t), want));
        expect(maxAbs(f32(t), f32(base.get(name)!)), `${name} changed`).toBeGreaterThan(1e-3);
      } else {
        expect(Buffer.compare(Buffer.from(t.data), Buffer.from(base.get(name)!.data)), name).toBe(0);
      }
    }
    console.log(`file merge vs PEFT merged q/v: max |Δ| ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-6);
    for (const f of ['config.json', 'generation_config.json']) {
      expect(await readFile(join(out, f), 'utf8')).toBe(await readFile(fixture(`ul2-tiny/${f}`), 'utf8'));
    }
  });

  it('dtype BF16 stores every tensor as the bf16 rounding of the float32 merge, and says so in config.json', async () => {
    const out = join(tmp, 'merged-bf16');
    await mergeAdapterIntoCheckpoint(fixture('ul2-tiny'), step3, out, { dtype: 'BF16' });
    const f32Out = await read(join(tmp, 'merged', 'model.safetensors'));
    for (const [name, t] of await read(join(out, 'model.safetensors'))) {
      expect(t.dtype).toBe('BF16');
      const want = float32ToBf16Bits(f32(f32Out.get(name)!));
      expect(Buffer.compare(Buffer.from(t.data), Buffer.from(want.buffer)), name).toBe(0);
    }
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config.dtype).toBe('bfloat16');
    expect(config.d_model).toBe(64);
  });

  it('a BF16 checkpoint stays BF16 (dtype same), sharded with an index: same shards, same map, total size of the output; other weight formats and cards are not copied, tokenizer files are', async () => {
    const dir = join(tmp, 'bf16-sharded');
    await mkdir(dir, { recursive: true });
    const names = [...base.keys()].sort();
    const shards = [names.slice(0, 20), names.slice(20)];
    const weightMap: Record<string, string> = {};
    for (const [i, part] of shards.entries()) {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      const tensors = new Map(part.map((n) => [n, { dtype: 'BF16' as const, shape: base.get(n)!.shape, data: float32ToBf16Bits(f32(base.get(n)!)) }]));
      await writeFile(join(dir, file), serializeSafetensors(tensors, { format: 'pt' }));
      for (const n of part) weightMap[n] = file;
    }
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 1 }, weight_map: weightMap }));
    await copyFile(fixture('ul2-tiny/config.json'), join(dir, 'config.json'));
    await writeFile(join(dir, 'spiece.model'), 'sentencepiece');
    await writeFile(join(dir, 'README.md'), '# the base model');
    await writeFile(join(dir, 'pytorch_model.bin'), 'pickle');
    const out = join(tmp, 'bf16-sharded-merged');
    const result = await mergeAdapterIntoCheckpoint(dir, step3, out);
    expect(result.files).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json', 'config.json', 'spiece.model']);
    expect(result.skipped).toEqual(['README.md', 'pytorch_model.bin']);
    expect((await readdir(out)).sort()).toEqual([...result.files].sort());
    const index = JSON.parse(await readFile(join(out, 'model.safetensors.index.json'), 'utf8')) as { metadata: { total_size: number }; weight_map: Record<string, string> };
    expect(index.weight_map).toEqual(weightMap);
    expect(index.metadata.total_size).toBe([...base.values()].reduce((a, t) => a + t.data.byteLength / 2, 0));
    let worst = 0;
    for (const [i, part] of shards.entries()) {
      const got = await read(join(out, `model-0000${i + 1}-of-00002.safetensors`));
      expect([...got.keys()].sort()).toEqual(part);
      for (const [name, t] of got) {
        expect(t.dtype).toBe('BF16');
        const want = golden.get(name);
        if (want) worst = Math.max(worst, maxAbs(f32(t), want) / Math.max(...want.map(Math.abs)));
        else expect(Buffer.compare(Buffer.from(t.data), Buffer.from(float32ToBf16Bits(f32(base.get(name)!)).buffer)), name).toBe(0);
      }
    }
    expect(worst).toBeLessThan(2 ** -7); // bf16 keeps 8 significant bits
  });

  it('alpha_pattern and use_rslora set each module\'s scaling as PEFT does', async () => {
    // scaling 2 (alpha 8 / r 4) in the golden merge; alpha_pattern q → 16 gives 4 for q only; rslora gives 8/√4 = 4 everywhere.
    for (const [name, patch, qScale, vScale] of [['alpha-q', { alpha_pattern: { q: 16 } }, 4, 2], ['rslora', { use_rslora: true }, 4, 4]] as const) {
      const out = join(tmp, `merged-${name}`);
      await mergeAdapterIntoCheckpoint(fixture('ul2-tiny'), await adapterDir(name, patch), out);
      for (const [key, t] of await read(join(out, 'model.safetensors'))) {
        const want = golden.get(key);
        if (!want) continue;
        const w0 = f32(base.get(key)!);
        const factor = (key.endsWith('.q.weight') ? qScale : vScale) / 2;
        expect(maxAbs(f32(t), w0.map((v, i) => v + factor * (want[i]! - v))), `${name} ${key}`).toBeLessThan(1e-5);
      }
    }
  });

  it('dtype F16 is the f16 rounding of the float32 merge; rank_pattern gives a module its rank (a wrong one is named)', async () => {
    const out = join(tmp, 'merged-f16');
    await mergeAdapterIntoCheckpoint(fixture('ul2-tiny'), step3, out, { dtype: 'F16' });
    const f32Out = await read(join(tmp, 'merged', 'model.safetensors'));
    for (const [name, t] of await read(join(out, 'model.safetensors'))) {
      expect(t.dtype).toBe('F16');
      expect(Buffer.compare(Buffer.from(t.data), Buffer.from(float32ToF16Bits(f32(f32Out.get(name)!)).buffer)), name).toBe(0);
    }
    // rank_pattern: the r-4 tensors fit r 8 nowhere but where the pattern says 4.
    const ranked = await adapterDir('ranked', { r: 8, rank_pattern: { q: 4, v: 4 } });
    expect((await mergeAdapterIntoCheckpoint(fixture('ul2-tiny'), ranked, join(tmp, 'merged-ranked'))).merged).toHaveLength(16);
    const half = await adapterDir('ranked-half', { r: 8, rank_pattern: { q: 4 } });
    await expect(mergeAdapterIntoCheckpoint(fixture('ul2-tiny'), half, join(tmp, 'merged-ranked-half'))).rejects.toThrow(/SelfAttention\.v: lora_A \[4,64\] and lora_B \[64,4\] do not fit .* at r 8/);
  });

  it('the output folder: a non-empty one is refused; with overwrite, earlier weight files go and the rest stays', async () => {
    const out = join(tmp, 'reused');
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'model-00001-of-00002.safetensors'), 'stale shard');
    await writeFile(join(out, 'model.safetensors.index.json'), '{"weight_map": {}}');
    await writeFile(join(out, 'notes.txt'), 'mine');
    await expect(mergeAdapterIntoCheckpoint(fixture('ul2-tiny'), step3, out)).rejects.toThrow(/is not empty \(model-00001-of-00002\.safetensors, model\.safetensors\.index\.json, notes\.txt\); choose an empty one or pass overwrite/);
    expect(await readFile(join(out, 'notes.txt'), 'utf8')).toBe('mine');
    await mergeAdapterIntoCheckpoint(fixture('ul2-tiny'), step3, out, { overwrite: true });
    expect((await readdir(out)).sort()).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'notes.txt']);
  });

  it('snapshot files: everything but weights, adapter files, the card and dotfiles is copied; folders are reported; an lm_head adapter on tied embeddings is refused', async () => {
    const dir = join(tmp, 'snapshot');
    await mkdir(join(dir, 'onnx'), { recursive: true });
    for (const f of ['config.json', 'model.safetensors']) await copyFile(fixture(`ul2-tiny/${f}`), join(dir, f));
    for (const f of ['chat_template.jinja', 'modeling_x.py', 'tokenizer.json', 'merges.txt', '.gitattributes', 'README.md', 'adapter_config.json', 'flax_model.msgpack']) await writeFile(join(dir, f), f);
    const result = await mergeAdapterIntoCheckpoint(dir, step3, join(tmp, 'snapshot-merged'));
    expect(result.files).toEqual(['model.safetensors', 'chat_template.jinja', 'config.json', 'merges.txt', 'modeling_x.py', 'tokenizer.json']);
    expect(result.skipped).toEqual(['.gitattributes', 'README.md', 'adapter_config.json', 'flax_model.msgpack', 'onnx/']);
    // An adapter on lm_head: refused while config.json ties it to the embedding (T5's default).
    const head = await adapterDir('head', {}, (t) => {
      t.set('base_model.model.lm_head.lora_A.weight', { dtype: 'F32', shape: [4, 64], data: new Uint8Array(4 * 64 * 4) });
      t.set('base_model.model.lm_head.lora_B.weight', { dtype: 'F32', shape: [512, 4], data: new Uint8Array(512 * 4 * 4) });
    });
    await expect(mergeAdapterIntoCheckpoint(fixture('ul2-tiny'), head, join(tmp, 'head-merged'))).rejects.toThrow(/lm_head is tied to the input embedding/);
  });

  it('a sharded checkpoint whose index names a tensor its shard lacks is refused; a copy in another shard is not written', async () => {
    const dir = join(tmp, 'bad-index');
    await mkdir(dir, { recursive: true });
    const names = [...base.keys()].sort();
    const [a, b] = [names.slice(0, 20), names.slice(20)];
    const shard = (part: string[]) => serializeSafetensors(new Map(part.map((n) => [n, { ...base.get(n)! }])));
    await writeFile(join(dir, 'a.safetensors'), shard(a));
    await writeFile(join(dir, 'b.safetensors'), shard([...b, a[0]!])); // a[0] also in b
    const weightMap = Object.fromEntries([...a.map((n) => [n, 'a.safetensors']), ...b.map((n) => [n, 'b.safetensors'])]);
    await copyFile(fixture('ul2-tiny/config.json'), join(dir, 'config.json'));
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: { ...weightMap, 'encoder.extra.weight': 'a.safetensors' } }));
    await expect(mergeAdapterIntoCheckpoint(dir, step3, join(tmp, 'bad-index-merged'))).rejects.toThrow(/the index puts encoder\.extra\.weight in a\.safetensors, which does not hold it/);
    expect(existsSync(join(tmp, 'bad-index-merged'))).toBe(false);
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const out = join(tmp, 'dup-merged');
    await mergeAdapterIntoCheckpoint(dir, step3, out);
    expect([...(await read(join(out, 'b.safetensors'))).keys()].sort()).toEqual(b);
    const index = JSON.parse(await readFile(join(out, 'model.safetensors.index.json'), 'utf8')) as { metadata: { total_size: number }; weight_map: Record<string, string> };
    expect(Object.keys(index.weight_map)).toEqual(names); // sorted, as transformers writes it
    expect(index.metadata.total_size).toBe([...base.values()].reduce((s, t) => s + t.data.byteLength, 0));
  });

  it('an 8-bit checkpoint (bitsandbytes I8 + SCB): adapted weights dequantized, merged and quantized again (SCB float32), the rest untouched even with dtype BF16', async () => {
    // The golden ul2-tiny in 8 bit, quantized as bitsandbytes does (round half to even, SCB = row absmax).
    const dir = join(tmp, 'base-8bit');
    await mkdir(dir, { recursive: true });
    const dq = (CB: Int8Array, SCB: Float32Array, inF: number) => Float32Array.from(CB, (q, i) => Math.fround(Math.fround(q * SCB[Math.floor(i / inF)]!) * Math.fround(1 / 127)));
    const tensors = new Map<string, { dtype: 'F32' | 'I8' | 'U8'; shape: number[]; data: Uint8Array | Float32Array }>();
    const int8 = new Map<string, { CB: Int8Array; SCB: Float32Array }>();
    for (const [name, t] of base) {
      if (!/\.(q|k|v|o|wi_0|wi_1|wo)\.weight$/.test(name)) {
        tensors.set(name, { dtype: 'F32', shape: t.shape, data: t.data });
        continue;
      }
      const [out, inF] = t.shape as [number, number];
      const w = f32(t);
      const { CB, SCB } = quantizeBnb(w, out, inF);
      const path = name.slice(0, -'.weight'.length);
      int8.set(path, { CB, SCB });
      tensors.set(name, { dtype: 'I8', shape: [out, inF], data: new Uint8Array(CB.buffer) });
      tensors.set(`${path}.SCB`, { dtype: 'F32', shape: [out], data: SCB });
      tensors.set(`${path}.weight_format`, { dtype: 'U8', shape: [], data: new Uint8Array([0]) });
    }
    await writeFile(join(dir, 'model.safetensors'), serializeSafetensors(tensors, { format: 'pt' }));
    await copyFile(fixture('ul2-tiny/config.json'), join(dir, 'config.json'));
    const out = join(tmp, 'merged-8bit');
    const result = await mergeAdapterIntoCheckpoint(dir, step3, out, { dtype: 'BF16' });
    expect(result.merged).toHaveLength(16);
    const merged = await read(join(out, 'model.safetensors'));
    let worst = 0;
    let flips = 0;
    for (const [path, { CB, SCB }] of int8) {
      const w = merged.get(`${path}.weight`)!;
      const s = merged.get(`${path}.SCB`)!;
      expect([w.dtype, s.dtype, merged.get(`${path}.weight_format`)!.dtype], path).toEqual(['I8', 'F32', 'U8']);
      const want = golden.get(`${path}.weight`);
      if (!want) {
        expect(Buffer.compare(Buffer.from(w.data), Buffer.from(CB.buffer)), path).toBe(0);
        expect(Array.from(f32(s))).toEqual(Array.from(SCB));
        continue;
      }
      // Expected: the 8-bit base dequantized, plus PEFT's delta (golden merged − float base), rounded to
      // fp16 (bitsandbytes quantizes an fp16 copy), quantized again.
      const [o, inF] = w.shape as [number, number];
      const merged32 = dq(CB, SCB, inF).map((v, i) => v + (want[i]! - f32(base.get(`${path}.weight`)!)[i]!));
      const target = toFloat32('F16', new Uint8Array(float32ToF16Bits(merged32).buffer));
      const got = dq(new Int8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength), f32(s), inF);
      for (let r = 0; r < o; r++) {
        const absmax = Math.max(...target.subarray(r * inF, (r + 1) * inF).map(Math.abs));
        expect(Math.abs(f32(s)[r]! - absmax) / absmax).toBeLessThan(1e-5);
        for (let c = 0; c < inF; c++) {
          const e = Math.abs(got[r * inF + c]! - target[r * inF + c]!) / (absmax / 127);
          worst = Math.max(worst, e);
          if (e > 0.5 + 1e-3) flips++;
        }
      }
    }
    // Each merged value is the nearest int8 step of the target (≤ half a step), but for the odd tie that
    // the float64 delta and the golden float32 one round apart.
    expect(worst).toBeLessThan(1.01);
    expect(flips).toBeLessThan(4);
    for (const name of ['shared.weight', 'encoder.final_layer_norm.weight']) expect(merged.get(name)!.dtype).toBe('BF16');
    // transformers' layout: tensors by dtype (all SCBs first), here SCBs in one shard and the int8 weights in
    // another — the same bytes come out.
    const dm = join(tmp, 'base-8bit-dtype-major');
    await mkdir(dm, { recursive: true });
    const byKind = (k: (n: string) => boolean) => new Map([...tensors].filter(([n]) => k(n)));
    await writeFile(join(dm, 'a.safetensors'), serializeSafetensors(byKind((n) => !n.endsWith('.weight') || !tensors.get(n)!.dtype.startsWith('I')), { format: 'pt' }));
    await writeFile(join(dm, 'b.safetensors'), serializeSafetensors(byKind((n) => n.endsWith('.weight') && tensors.get(n)!.dtype === 'I8'), { format: 'pt' }));
    const map = Object.fromEntries([...tensors].map(([n, t]) => [n, n.endsWith('.weight') && t.dtype === 'I8' ? 'b.safetensors' : 'a.safetensors']));
    await writeFile(join(dm, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: map }));
    await copyFile(fixture('ul2-tiny/config.json'), join(dm, 'config.json'));
    const dmOut = join(tmp, 'merged-8bit-dtype-major');
    await mergeAdapterIntoCheckpoint(dm, step3, dmOut, { dtype: 'BF16' });
    const split = new Map([...(await read(join(dmOut, 'a.safetensors'))), ...(await read(join(dmOut, 'b.safetensors')))]);
    expect([...split.keys()].sort()).toEqual([...merged.keys()].sort());
    for (const [n, t] of merged) expect(Buffer.compare(Buffer.from(split.get(n)!.data), Buffer.from(t.data)), n).toBe(0);
  });

  it('an adapter that does not fit, an unknown dtype or the base folder as output: one clear error, nothing written', async () => {
    const cases: Array<[string, () => Promise<string>, RegExp]> = [
      ['other-module', () => adapterDir('other-module', {}, (t) => {
        for (const w of ['A', 'B']) {
          const k = `base_model.model.encoder.block.0.layer.0.SelfAttention.q.lora_${w}.weight`;
          t.set(k.replace('.q.', '.qq.'), t.get(k)!);
          t.delete(k);
        }
      }), /the checkpoint has no encoder\.block\.0\.layer\.0\.SelfAttention\.qq\.weight/],
      ['rank', async () => adapterDir('rank', { r: 8 }), /lora_A \[4,64\] and lora_B \[64,4\] do not fit .*\[64,64\] at r 8/],
      ['stray-key', () => adapterDir('stray-key', {}, (t) => t.set('base_model.model.shared.weight', t.values().next().value!)), /adapter key base_model\.model\.shared\.weight is not a LoRA A or B weight/],
      ['half', () => adapterDir('half', {}, (t) => t.delete('base_model.model.decoder.block.1.layer.0.SelfAttention.v.lora_B.weight')), /decoder\.block\.1\.layer\.0\.SelfAttention\.v has lora_A but no lora_B/],
    ];
    for (const [name, make, error] of cases) {
      const out = join(tmp, `fail-${name}`);
      await expect(mergeAdapterIntoCheckpoint(fixture('ul2-tiny'), await make(), out), name).rejects.toThrow(error);
      expect(existsSync(out), name).toBe(false);
    }
    await expect(mergeAdapterIntoCheckpoint(fixture('ul2-tiny'), step3, join(tmp, 'fail-dtype'), { dtype: 'F8' as never })).rejects.toThrow(/dtype "F8" is not same, F32, BF16 or F16/);
    await expect(mergeAdapterIntoCheckpoint(fixture('ul2-tiny'), step3, fixture('ul2-tiny/../ul2-tiny'))).rejects.toThrow(/is the base folder/);
    expect(existsSync(join(tmp, 'fail-dtype'))).toBe(false);
  });
});
