import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Float32Linear, Int8Linear, int8LinearFactory, isSkippedModule, quantizeFloat32, skipModules, unpackInt8, type LinearSpec } from '../src/index';
import { randn } from './helpers';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function bf16Spec(path: string, out: number, inF: number, seed: number): { spec: LinearSpec; values: Float32Array } {
  const w = randn(out * inF, seed);
  const bytes = new Uint8Array(5 + out * inF * 2); // the tensor starts at an odd offset of a shared buffer
  const values = new Float32Array(out * inF);
  const u32 = new Uint32Array(w.buffer);
  const v32 = new Uint32Array(values.buffer);
  for (let i = 0; i < w.length; i++) {
    const h = (u32[i] as number) >>> 16;
    bytes[5 + 2 * i] = h & 0xff;
    bytes[6 + 2 * i] = h >>> 8;
    v32[i] = h << 16;
  }
  return { spec: { path, inFeatures: inF, outFeatures: out, weight: { dtype: 'BF16', shape: [out, inF], data: bytes.subarray(5) } }, values };
}

describe('int8LinearFactory', () => {
  it('quantizes a BF16 checkpoint view per row, in the chosen mode', async () => {
    const { spec, values } = bf16Spec('encoder.block.0.layer.1.DenseReluDense.wi_0', 6, 10, 1);
    const layer = int8LinearFactory({ mode: 'llm-int8', threshold: 4 })(spec) as Int8Linear;
    expect(layer).toBeInstanceOf(Int8Linear);
    expect([layer.inFeatures, layer.outFeatures, layer.mode, layer.threshold]).toEqual([10, 6, 'llm-int8', 4]);
    const ref = quantizeFloat32(values, 6, 10);
    expect(Array.from(unpackInt8(await layer.packed.data() as Int32Array, 6, 10))).toEqual(Array.from(unpackInt8(ref.packed, 6, 10)));
    expect(Array.from(await layer.scale.data())).toEqual(Array.from(ref.scale));
    layer.dispose();
  });

  it('keeps lm_head in float32 by default, and follows shouldQuantize', async () => {
    const { spec, values } = bf16Spec('lm_head', 4, 3, 2);
    const head = int8LinearFactory()(spec);
    expect(head).toBeInstanceOf(Float32Linear);
    const w = head.dequantize!();
    expect(Array.from(await w.data())).toEqual(Array.from(values));
    const y = tf.tidy(() => head.apply(tf.ones([2, 1, 3])));
    expect(y.shape).toEqual([2, 1, 4]);
    tf.dispose([w, y]);
    head.dispose!();
    const q = int8LinearFactory({ shouldQuantize: (s) => s.path.endsWith('.q') })(bf16Spec('decoder.block.0.layer.0.SelfAttention.q', 4, 3, 3).spec);
    expect(q).toBeInstanceOf(Int8Linear);
    q.dispose!();
  });

  it("skipModules(['wo']) keeps T5's wo (as transformers' 8-bit T5 loading) and lm_head float32, quantizes the rest", () => {
    const paths = [
      'encoder.block.0.layer.0.SelfAttention.q', 'encoder.block.0.layer.0.SelfAttention.o', 'encoder.block.0.layer.1.DenseReluDense.wi_0',
      'encoder.block.0.layer.1.DenseReluDense.wo', 'decoder.block.1.layer.1.EncDecAttention.o', 'decoder.block.1.layer.2.DenseReluDense.wo', 'lm_head',
    ];
    const q = skipModules(['wo']);
    const spec = (path: string): LinearSpec => ({ path, inFeatures: 1, outFeatures: 1, weight: { dtype: 'F32', shape: [1, 1], data: new Uint8Array(4) } });
    expect(paths.filter((p) => q(spec(p)))).toEqual(paths.slice(0, 3).concat('decoder.block.1.layer.1.EncDecAttention.o'));
    const factory = int8LinearFactory({ shouldQuantize: q });
    const wo = factory(bf16Spec('encoder.block.0.layer.1.DenseReluDense.wo', 4, 3, 5).spec);
    const wi = factory(bf16Spec('encoder.block.0.layer.1.DenseReluDense.wi_1', 4, 3, 6).spec);
    expect(wo).toBeInstanceOf(Float32Linear);
    expect(wi).toBeInstanceOf(Int8Linear);
    wo.dispose!();
    wi.dispose!();
    expect(skipModules(['SelfAttention.o'])(spec('encoder.block.0.layer.0.SelfAttention.o'))).toBe(false); // a path suffix works too
    expect(() => skipModules(['w*'])).toThrow('skipModules: "w*" is not a module name or path');
  });

  it('skipModules keeps a named module\'s whole subtree float32, as transformers matches llm_int8_skip_modules', () => {
    // transformers 5.x quantizers_utils.should_convert_module: re.match(f"{key}\\.", full_name) (a prefix ending at a
    // dot), re.match(key) or full_name.endswith(key); 4.x integrations/bitsandbytes.py _replace_with_bnb_linear:
    // `name not in modules_to_not_convert` and `key + "." in current_key_name_str`. Both skip every linear under
    // "encoder" or "decoder.block.0". Ours matches whole path segments, so "decoder.block.1" is not "decoder.block.10".
    const spec = (path: string): LinearSpec => ({ path, inFeatures: 1, outFeatures: 1, weight: { dtype: 'F32', shape: [1, 1], data: new Uint8Array(4) } });
    const paths = [
      'encoder.block.0.layer.0.SelfAttention.q', 'encoder.block.3.layer.1.DenseReluDense.wo', 'decoder.block.0.layer.1.EncDecAttention.k',
      'decoder.block.1.layer.0.SelfAttention.v', 'decoder.block.10.layer.2.DenseReluDense.wi_0', 'lm_head',
    ];
    const quantized = (names: string[]): string[] => paths.filter((p) => skipModules(names)(spec(p)));
    expect(quantized(['encoder'])).toEqual([paths[2], paths[3], paths[4]]);
    expect(quantized(['decoder.block.1'])).toEqual([paths[0], paths[1], paths[2], paths[4]]);
    expect(quantized(['decoder'])).toEqual([paths[0], paths[1]]);
    expect(quantized(['DenseReluDense'])).toEqual(paths.slice(0, 5)); // mid-path: not matched, as in transformers 5.x
  });

  it('isSkippedModule is the rule skipModules applies: a name, a `.name` suffix or a `name.` subtree, on whole segments', () => {
    const wo = 'decoder.block.1.layer.2.DenseReluDense.wo';
    expect(isSkippedModule(wo, [wo])).toBe(true); // the whole path
    expect(isSkippedModule(wo, ['wo'])).toBe(true); // a leaf name
    expect(isSkippedModule(wo, ['DenseReluDense.wo'])).toBe(true); // a path suffix
    expect(isSkippedModule(wo, ['decoder.block.1'])).toBe(true); // a subtree
    expect(isSkippedModule(wo, ['o', 'block.1', 'decoder.block.10', 'DenseReluDense', 'decoder.bl'])).toBe(false); // only whole segments, not mid-path
    expect(isSkippedModule('decoder.block.10.layer.0.SelfAttention.q', ['decoder.block.1'])).toBe(false);
    expect(isSkippedModule(wo, ['decoder.block'])).toBe(true); // a subtree above a block
    expect(isSkippedModule(wo, [])).toBe(false);
    expect(isSkippedModule('lm_head', ['wo'])).toBe(false); // lm_head is skipModules' default, not this rule's
    const spec = (path: string): LinearSpec => ({ path, inFeatures: 1, outFeatures: 1, weight: { dtype: 'F32', shape: [1, 1], data: new Uint8Array(4) } });
    for (const names of [['wo'], ['decoder.block.1'], ['encoder', 'q']]) {
      for (const p of [wo, 'encoder.block.0.layer.0.SelfAttention.q', 'decoder.block.10.layer.0.SelfAttention.k']) {
        expect(skipModules(names)(spec(p)), `${names.join(',')} on ${p}`).toBe(!isSkippedModule(p, names));
      }
    }
  });

  it('a float32 fallback layer checks its bytes and input and names the module in its errors, allocating nothing', () => {
    const before = tf.memory().numTensors;
    const factory = int8LinearFactory();
    const f32 = (bytes: number): LinearSpec => ({ path: 'lm_head', inFeatures: 3, outFeatures: 2, weight: { dtype: 'F32', shape: [2, 3], data: new Uint8Array(bytes) } });
    // [2, 3] F32 = 24 bytes; 40 bytes used to be taken (the rest ignored), 8 failed inside the safetensors decoder
    expect(() => factory(f32(40))).toThrow('lm_head: 40 bytes for F32 [2, 3], expected 24');
    expect(() => factory(f32(8))).toThrow('lm_head: 8 bytes for F32 [2, 3], expected 24');
    const i8 = { path: 'lm_head', inFeatures: 3, outFeatures: 2, weight: { dtype: 'I8' as const, shape: [2, 3], data: new Uint8Array(6), SCB: new Float32Array([1, Number.NaN]) } };
    expect(() => factory(i8)).toThrow('lm_head: SCB[1] = NaN is not a finite absmax ≥ 0'); // was "weight: …"
    expect(() => factory({ ...i8, weight: { dtype: 'I8', shape: [2, 3], data: new Uint8Array(6) } })).toThrow('lm_head: not an 8-bit (I8 + SCB) weight');
    expect(tf.memory().numTensors).toBe(before);
    const head = factory(f32(24));
    const x = tf.zeros([3, 2]); // 6 values: would reshape to [2, 3] if the last axis were not checked
    expect(() => head.apply(x)).toThrow('lm_head: x must end in 3, got [3, 2]');
    x.dispose();
    head.dispose!();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects a weight whose shape disagrees with the spec', () => {
    const { spec } = bf16Spec('encoder.block.0.layer.0.SelfAttention.k', 4, 3, 4);
    expect(() => int8LinearFactory()({ ...spec, inFeatures: 5 }))
      .toThrow('encoder.block.0.layer.0.SelfAttention.k: weight shape [4, 3] is not [outFeatures 4, inFeatures 5]');
  });
});

describe('Int8Linear options', () => {
  it('rejects bad modes, thresholds and shapes', () => {
    const w = new Float32Array(6);
    expect(() => Int8Linear.fromFloat32(w, [2, 3], { mode: 'int4' as 'llm-int8' })).toThrow(/mode must be "weight-only" or "llm-int8", got "int4"/);
    expect(() => Int8Linear.fromFloat32(w, [2, 3], { threshold: -1 })).toThrow('Int8Linear.fromFloat32: threshold must be >= 0 (0: no outlier columns), got -1');
    expect(() => Int8Linear.fromFloat32(w)).toThrow(/needs its shape/);
    expect(() => Int8Linear.fromFloat32(w, [2, 3], { bias: new Float32Array(3) })).toThrow(/bias must have 2 values/);
  });

  it("threshold 0 is bitsandbytes' plain int8 product with no outlier columns (hand-derived)", async () => {
    // bitsandbytes MatMul8bitLt decomposes only `if state.threshold > 0.0` (Linear8bitLt's default threshold is 0.0;
    // int8_vectorwise_quant(A, threshold=0.0) finds no outliers). W = [[1, 0.5]] → q = [127, 64], scale 1/127; x = [10, 1].
    // threshold 6: column 0 is an outlier → x̂ = round(1 · 127/1) = 127 on column 1: (127·64 · 1/127 + 10·127) · 1/127 = 1334/127
    // threshold 0: absmax 10 → x̂ = [127, round(12.7) = 13]: (127·127 + 13·64) · (10/127) · (1/127) = 169610/16129
    const w = Float32Array.of(1, 0.5);
    const x = tf.tensor2d([[10, 1]]);
    const y = async (threshold: number) => {
      const layer = Int8Linear.fromFloat32(w, [1, 2], { mode: 'llm-int8', threshold });
      const v = (await tf.tidy(() => layer.apply(x)).data())[0]!;
      expect(layer.threshold).toBe(threshold);
      layer.dispose();
      return v;
    };
    expect(await y(6)).toBeCloseTo(1334 / 127, 5); // 10.50394
    expect(await y(0)).toBeCloseTo(169610 / 16129, 5); // 10.51584
    x.dispose();
  });

  it('requantize: a new layer with the same mode, threshold and bias holding another weight, quantized per row', async () => {
    const base = Int8Linear.fromFloat32(randn(12, 3), [3, 4], { mode: 'llm-int8', threshold: 5, bias: Float32Array.from([1, 2, 3]) });
    const w = randn(12, 4);
    const r = base.requantize(w);
    expect([r.mode, r.threshold, r.inFeatures, r.outFeatures]).toEqual(['llm-int8', 5, 4, 3]);
    const q = quantizeFloat32(w, 3, 4);
    expect(Array.from((await r.packed.data()) as Int32Array)).toEqual(Array.from(q.packed));
    expect(Array.from(await r.scale.data())).toEqual(Array.from(q.scale));
    expect(Array.from(await r.bias!.data())).toEqual([1, 2, 3]);
    base.dispose();
    expect(Array.from(await r.bias!.data())).toEqual([1, 2, 3]); // its own copy
    r.dispose();
  });
});
