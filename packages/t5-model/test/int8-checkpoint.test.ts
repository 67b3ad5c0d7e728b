// Checkpoints saved in 8 bit (bitsandbytes' serialization, what transformers' save_pretrained writes
// for a model loaded with load_in_8bit): `<path>.weight` I8 [out, in], `<path>.SCB` F32 [out] (row
// absmax), `<path>.weight_format` U8 0. Built here from the golden ul2-tiny the way bitsandbytes
// quantizes (int8_vectorwise_quant: round(W · 127 / absmax), half to even as torch.round).
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { parseSafetensors, readSafetensorsFile, serializeSafetensors, toFloat32, type TensorToWrite } from '@conifer/safetensors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Float32Linear, T5EncoderModel, T5ForConditionalGeneration, type LinearSpec } from '../src/index.js';
import { expectedTensors } from '../src/weights.js';
import { parseT5Config } from '../src/config.js';
import { modelDir, useBackend } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 't5-int8-ckpt-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
beforeAll(async () => {
  await useBackend('cpu');
});

const src = modelDir('ul2-tiny');
const config = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8')) as Record<string, unknown>;
const linearPaths = [...expectedTensors(parseT5Config(config)).values()].flatMap((e) => (e.linear ? [e.linear.path] : []));

/** torch.round: half to even. */
const roundHalfEven = (v: number) => {
  const f = Math.floor(v);
  const d = v - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
};

/** bitsandbytes' int8_vectorwise_quant of W [out, in]: CB and SCB. */
function bnbQuantize(w: Float32Array, out: number, inF: number): { CB: Int8Array; SCB: Float32Array } {
  const CB = new Int8Array(out * inF);
  const SCB = new Float32Array(out);
  for (let r = 0; r < out; r++) {
    let absmax = 0;
    for (let c = 0; c < inF; c++) absmax = Math.max(absmax, Math.abs(w[r * inF + c]!));
    SCB[r] = absmax;
    const f = Math.fround(127 / absmax);
    for (let c = 0; c < inF; c++) CB[r * inF + c] = roundHalfEven(Math.fround(w[r * inF + c]! * f));
  }
  return { CB, SCB };
}

/** bitsandbytes' int8_vectorwise_dequant in float32. */
const bnbDequantize = (CB: Int8Array, SCB: Float32Array, inF: number) =>
  Float32Array.from(CB, (q, i) => Math.fround(Math.fround(q * SCB[Math.floor(i / inF)]!) * Math.fround(7.874015718698502e-3)));

/** The golden ul2-tiny written in 8 bit into `name`; `edit` may change the tensors first. */
function write8bit(name: string, edit?: (t: Map<string, TensorToWrite>) => void): { dir: string; quantized: Map<string, { CB: Int8Array; SCB: Float32Array }> } {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const { tensors } = parseSafetensors(new Uint8Array(readFileSync(join(src, 'model.safetensors'))));
  const out = new Map<string, TensorToWrite>();
  const quantized = new Map<string, { CB: Int8Array; SCB: Float32Array }>();
  for (const [k, t] of tensors) {
    const path = k.replace(/\.weight$/, '');
    if (!linearPaths.includes(path)) {
      out.set(k, { dtype: t.dtype, shape: t.shape, data: t.data });
      continue;
    }
    const [o, i] = t.shape as [number, number];
    const q = bnbQuantize(toFloat32(t.dtype, t.data), o, i);
    quantized.set(path, q);
    out.set(k, { dtype: 'I8', shape: [o, i], data: new Uint8Array(q.CB.buffer) });
    out.set(`${path}.SCB`, { dtype: 'F32', shape: [o], data: q.SCB });
    // weight_format on every other projection (transformers ≥ 4.37 writes it; older 8-bit files lack it).
    if (quantized.size % 2) out.set(`${path}.weight_format`, { dtype: 'U8', shape: [], data: new Uint8Array([0]) });
  }
  edit?.(out);
  writeFileSync(join(dir, 'model.safetensors'), serializeSafetensors(out, { format: 'pt' }));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, quantization_config: { quant_method: 'bitsandbytes', load_in_8bit: true } }));
  copyFileSync(join(src, 'generation_config.json'), join(dir, 'generation_config.json'));
  return { dir, quantized };
}

const logitsOf = async (m: T5ForConditionalGeneration) => {
  const ids = tf.tensor2d([[37, 8, 99, 1]], undefined, 'int32');
  const mask = tf.onesLike(ids) as tf.Tensor2D;
  const dec = tf.tensor2d([[0, 5, 6]], undefined, 'int32');
  const y = m.forward({ inputIds: ids, attentionMask: mask, decoderInputIds: dec }).logits;
  const v = Float32Array.from(await y.data());
  tf.dispose([ids, mask, dec, y]);
  return v;
};
const relL2 = (a: Float32Array, b: Float32Array) => Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0) / b.reduce((s, v) => s + v * v, 0));

/** A float32 linear that also answers int8Weight() with the CB/SCB it was built from (what @conifer/int8's Int8Linear offers). */
class Int8Backed extends Float32Linear {
  constructor(spec: LinearSpec, private readonly q: { weight: Int8Array; SCB: Float32Array }) {
    super(Float32Linear.fromSpec(spec).weightT);
  }
  async int8Weight() {
    return { weight: this.q.weight, SCB: this.q.SCB };
  }
}

describe('8-bit checkpoints (bitsandbytes serialization)', () => {
  it('load: each projection is I8 + SCB, dequantized as bitsandbytes does (exactly); the model runs within int8 error of the float one', async () => {
    const { dir, quantized } = write8bit('bnb');
    const seen: string[] = [];
    const model = await T5ForConditionalGeneration.fromPretrained(dir, {
      makeLinear: (spec) => {
        seen.push(`${spec.path}:${spec.weight.dtype}:${spec.weight.SCB?.length ?? '-'}`);
        return Float32Linear.fromSpec(spec);
      },
    });
    expect(seen).toHaveLength(linearPaths.length);
    expect(seen.every((s) => /:I8:\d+$/.test(s))).toBe(true);
    for (const [path, linear] of model.listLinears()) {
      const q = quantized.get(path)!;
      const w = linear.dequantize!();
      expect(Buffer.compare(Buffer.from((await w.data() as Float32Array).buffer), Buffer.from(bnbDequantize(q.CB, q.SCB, w.shape[1]).buffer)), path).toBe(0);
      w.dispose();
    }
    const float = await T5ForConditionalGeneration.fromPretrained(src);
    const err = relL2(await logitsOf(model), await logitsOf(float));
    console.log(`8-bit ul2-tiny vs float32: logits rel L2 ${err.toExponential(2)}`);
    expect(err).toBeLessThan(2e-2);
    expect(err).toBeGreaterThan(1e-5); // the weights really are the 8-bit ones
    model.dispose();
    float.dispose();
  });

  it('save with keepInt8 writes the same 8-bit tensors (T5\'s wo dequantized, as transformers keeps it float) and a bitsandbytes quantization_config; without it, float weights and no quantization_config', async () => {
    const { dir, quantized } = write8bit('bnb-resave');
    const model = await T5ForConditionalGeneration.fromPretrained(dir, {
      // Every projection 8-bit, wo included: transformers keeps T5's wo float (_keep_in_fp32_modules), so it is saved dequantized.
      makeLinear: (spec) => new Int8Backed(spec, { weight: new Int8Array(spec.weight.data.slice().buffer), SCB: spec.weight.SCB! }),
    });
    const before = tf.memory().numTensors;
    const out = join(tmp, 'resaved');
    expect(await model.savePretrained(out, { keepInt8: true })).toEqual(['model.safetensors', 'config.json', 'generation_config.json']);
    expect(tf.memory().numTensors).toBe(before);
    const { tensors } = await readSafetensorsFile(join(out, 'model.safetensors'));
    for (const path of linearPaths) {
      const w = tensors.get(`${path}.weight`)!;
      if (path.endsWith('.wo')) {
        expect(w.dtype, path).toBe('F32');
        expect(tensors.has(`${path}.SCB`)).toBe(false);
        continue;
      }
      const q = quantized.get(path)!;
      expect(w.dtype, path).toBe('I8');
      expect(Buffer.compare(Buffer.from(w.data), Buffer.from(q.CB.buffer)), path).toBe(0);
      expect(Array.from(toFloat32('F32', tensors.get(`${path}.SCB`)!.data))).toEqual(Array.from(q.SCB));
      const fmt = tensors.get(`${path}.weight_format`)!;
      expect([fmt.dtype, fmt.shape, Array.from(fmt.data)]).toEqual(['U8', [], [0]]);
    }
    const saved = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { quantization_config: Record<string, unknown> };
    const wo = linearPaths.filter((p) => p.endsWith('.wo'));
    expect(saved.quantization_config).toMatchObject({ quant_method: 'bitsandbytes', load_in_8bit: true, load_in_4bit: false, llm_int8_threshold: 6, llm_int8_skip_modules: [...wo, 'lm_head'] });
    // It loads back to the same model.
    const back = await T5ForConditionalGeneration.fromPretrained(out);
    expect(relL2(await logitsOf(back), await logitsOf(model))).toBeLessThan(1e-6);
    back.dispose();
    // Saved without keepInt8: every projection dequantized, the loaded quantization_config dropped.
    const plain = join(tmp, 'resaved-float');
    await model.savePretrained(plain);
    expect(new Set([...(await readSafetensorsFile(join(plain, 'model.safetensors'))).tensors.values()].map((t) => t.dtype))).toEqual(new Set(['F32']));
    expect(JSON.parse(readFileSync(join(plain, 'config.json'), 'utf8'))).not.toHaveProperty('quantization_config');
    model.dispose();
  });

  it('T5EncoderModel: the 8-bit encoder (decoder SCBs never needed) equals the seq2seq model’s encoder; keepInt8 skips no lm_head it lacks', async () => {
    // A broken decoder SCB: an encoder never reads it (T5EncoderModel ignores decoder.*).
    const dec = linearPaths.find((p) => p.startsWith('decoder.'))!;
    const { dir } = write8bit('bnb-encoder', (t) => t.delete(`${dec}.SCB`));
    const full = await T5ForConditionalGeneration.fromPretrained(write8bit('bnb-encoder-ref').dir);
    const encoder = await T5EncoderModel.fromPretrained(dir, {
      makeLinear: (spec) => new Int8Backed(spec, { weight: new Int8Array(spec.weight.data.slice().buffer), SCB: spec.weight.SCB! }),
    });
    const ids = tf.tensor2d([[37, 8, 99, 1]], undefined, 'int32');
    const mask = tf.onesLike(ids) as tf.Tensor2D;
    const want = full.encode(ids, mask);
    const got = encoder.forward({ inputIds: ids, attentionMask: mask }).lastHiddenState;
    expect(Array.from(await got.data())).toEqual(Array.from(await want.lastHiddenState.data()));
    const out = join(tmp, 'encoder-resaved');
    await encoder.savePretrained(out, { keepInt8: true });
    const saved = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { quantization_config: Record<string, unknown> };
    // the float projections only: the encoder's wo (transformers' _keep_in_fp32_modules), no 'lm_head'
    expect(saved.quantization_config['llm_int8_skip_modules']).toEqual(linearPaths.filter((p) => p.startsWith('encoder.') && p.endsWith('.wo')));
    const back = await T5EncoderModel.fromPretrained(out);
    const again = back.forward({ inputIds: ids, attentionMask: mask }).lastHiddenState;
    expect(relL2(Float32Array.from(await again.data()), Float32Array.from(await got.data()))).toBeLessThan(1e-6);
    tf.dispose([ids, mask, want.lastHiddenState, want.attentionMask, got, again]);
    back.dispose();
    encoder.dispose();
    full.dispose();
  });

  it('an 8-bit weight without its SCB, a mis-shaped SCB, a weight_format other than 0, or an I8 tensor that is not a projection: one clear error', async () => {
    const q0 = `${linearPaths[0]}`;
    const cases: Array<[string, (t: Map<string, TensorToWrite>) => void, RegExp]> = [
      ['no-scb', (t) => t.delete(`${q0}.SCB`), new RegExp(`missing: ${q0.replaceAll('.', '\\.')}\\.SCB \\(the 8-bit ${q0.replaceAll('.', '\\.')}\\.weight needs it\\)`)],
      ['scb-shape', (t) => t.set(`${q0}.SCB`, { dtype: 'F32', shape: [3], data: new Float32Array(3) }), /mis-shaped: .*\.SCB \(F32\[3\], expected F32\/F16\/BF16\[64\]\)/],
      ['norm-i8', (t) => t.set('encoder.final_layer_norm.weight', { dtype: 'I8', shape: [64], data: new Uint8Array(64) }), /mis-shaped: encoder\.final_layer_norm\.weight \(I8\[64\], expected F32\/F16\/BF16\[64\]\)/],
    ];
    for (const [name, edit, error] of cases) {
      await expect(T5ForConditionalGeneration.fromPretrained(write8bit(name, edit).dir), name).rejects.toThrow(error);
    }
    const fmt = write8bit('fmt', (t) => t.set(`${q0}.weight_format`, { dtype: 'U8', shape: [], data: new Uint8Array([1]) }));
    const before = tf.memory().numTensors;
    await expect(T5ForConditionalGeneration.fromPretrained(fmt.dir)).rejects.toThrow(/checkpoint does not match config\.json — mis-shaped: .*\.weight_format \(1: only bitsandbytes' row-major 8-bit layout, 0, is supported\)/);
    expect(tf.memory().numTensors).toBe(before);
  });
});

