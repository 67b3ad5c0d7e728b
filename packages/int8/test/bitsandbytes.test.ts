// bitsandbytes' 8-bit serialization (`weight` int8 [out, in] = CB, `SCB` = row absmax, W ≈ CB · SCB / 127):
// to and from our packed form, the factory on an 8-bit checkpoint weight, and Int8Linear.int8Weight().
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  dequantizeBitsAndBytes, dequantizeFloat32, Float32Linear, fromBitsAndBytes, Int8Linear, int8LinearFactory, quantizeFloat32, skipModules, toBitsAndBytes, unpackInt8,
  type LinearSpec,
} from '../src/index';
import { randn } from './helpers';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const [OUT, IN] = [6, 10];
/** An 8-bit checkpoint weight: CB in [-127, 127], SCB per row (one row all zero), at an odd byte offset. */
function bnbSpec(path: string): { spec: LinearSpec; CB: Int8Array; SCB: Float32Array } {
  const r = randn(OUT * IN, 3);
  const CB = Int8Array.from(r, (v, i) => (Math.floor(i / IN) === 2 ? 0 : Math.max(-127, Math.min(127, Math.round(v * 60)))));
  const SCB = Float32Array.from({ length: OUT }, (_, i) => (i === 2 ? 0 : 0.05 + 0.01 * i));
  const bytes = new Uint8Array(3 + OUT * IN);
  bytes.set(new Uint8Array(CB.buffer), 3);
  return { spec: { path, inFeatures: IN, outFeatures: OUT, weight: { dtype: 'I8', shape: [OUT, IN], data: bytes.subarray(3), SCB } }, CB, SCB };
}

describe('bitsandbytes 8-bit layout', () => {
  it('fromBitsAndBytes keeps the int8 values, scale = SCB / 127; toBitsAndBytes gives them back (SCB to the last bit on quantized weights)', () => {
    const { CB, SCB } = bnbSpec('x');
    const q = fromBitsAndBytes({ weight: CB, SCB, outFeatures: OUT, inFeatures: IN });
    expect(Array.from(unpackInt8(q.packed, OUT, IN))).toEqual(Array.from(CB));
    expect(Array.from(q.scale)).toEqual(Array.from(SCB, (s) => Math.fround(s / 127)));
    const back = toBitsAndBytes(q);
    expect(Array.from(back.weight)).toEqual(Array.from(CB));
    // A loaded SCB goes back as it was, even where SCB / 127 · 127 would move it by an ulp in float32.
    const odd = Float32Array.from({ length: 4096 }, (_, i) => 0.001 + i * 1.2345e-4);
    const changes = odd.filter((s) => Math.fround(Math.fround(s / 127) * 127) !== s).length;
    expect(changes).toBeGreaterThan(0);
    const oddQ = fromBitsAndBytes({ weight: new Int8Array(4096), SCB: odd, outFeatures: 4096, inFeatures: 1 });
    expect(Array.from(toBitsAndBytes(oddQ).SCB)).toEqual(Array.from(odd));
    // Our own quantization → bitsandbytes → ours: the same scales, bit for bit, on a real-sized weight.
    const ours = quantizeFloat32(randn(512 * 64, 9, 0.05), 512, 64);
    const again = fromBitsAndBytes(toBitsAndBytes(ours));
    expect(Array.from(again.packed)).toEqual(Array.from(ours.packed));
    expect(Array.from(again.scale)).toEqual(Array.from(ours.scale));
    expect(() => fromBitsAndBytes({ weight: CB, SCB: SCB.subarray(1), outFeatures: OUT, inFeatures: IN }, 'w')).toThrow(/w: weight has 60 values and SCB 5/);
    expect(() => fromBitsAndBytes({ weight: CB, SCB: SCB.map((v, i) => (i ? v : NaN)), outFeatures: OUT, inFeatures: IN }, 'w')).toThrow(/SCB\[0\] = NaN/);
  });

  it('dequantizeBitsAndBytes is (CB · SCB) · (1/127) in float32, within one rounding of ours', () => {
    const { CB, SCB } = bnbSpec('x');
    const w = dequantizeBitsAndBytes({ weight: CB, SCB, outFeatures: OUT, inFeatures: IN });
    for (const i of [0, 7, 33, 59]) expect(w[i]).toBe(Math.fround(Math.fround(CB[i]! * SCB[Math.floor(i / IN)]!) * Math.fround(1 / 127)));
    const ours = dequantizeFloat32(fromBitsAndBytes({ weight: CB, SCB, outFeatures: OUT, inFeatures: IN }));
    w.forEach((v, i) => expect(Math.abs(v - ours[i]!)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -22));
  });

  it('the factory takes an 8-bit checkpoint weight as it is (no float round trip); a skipped module gets bitsandbytes\' float weight', async () => {
    const { spec, CB, SCB } = bnbSpec('encoder.block.0.layer.1.DenseReluDense.wo');
    const layer = int8LinearFactory({ mode: 'llm-int8' })({ ...spec, path: 'encoder.block.0.layer.0.SelfAttention.q' }) as Int8Linear;
    expect(layer).toBeInstanceOf(Int8Linear);
    expect(layer.mode).toBe('llm-int8');
    const got = await layer.int8Weight();
    expect(Array.from(got.weight)).toEqual(Array.from(CB));
    expect(Array.from(got.SCB)).toEqual(Array.from(SCB));
    layer.dispose();
    const skipped = int8LinearFactory({ shouldQuantize: skipModules(['wo']) })(spec);
    expect(skipped).toBeInstanceOf(Float32Linear);
    const w = skipped.dequantize!();
    expect(Array.from(await w.data())).toEqual(Array.from(dequantizeBitsAndBytes({ weight: CB, SCB, outFeatures: OUT, inFeatures: IN })));
    w.dispose();
    skipped.dispose?.();
    expect(() => int8LinearFactory()({ ...spec, weight: { ...spec.weight, SCB: undefined } })).toThrow(/not an 8-bit \(I8 \+ SCB\) weight/);
  });

  it('Int8Linear from an 8-bit checkpoint gives its SCB back bit for bit', async () => {
    const SCB = Float32Array.from({ length: 64 }, (_, i) => 0.001 + i * 1.2345e-4);
    const weight = new Int8Array(64 * 8).map((_, i) => (i % 255) - 127);
    const layer = int8LinearFactory()({ path: 'encoder.block.0.layer.0.SelfAttention.q', inFeatures: 8, outFeatures: 64, weight: { dtype: 'I8', shape: [64, 8], data: new Uint8Array(weight.buffer), SCB } }) as Int8Linear;
    const got = await layer.int8Weight();
    expect(Array.from(got.SCB)).toEqual(Array.from(SCB));
    expect(Array.from(got.weight)).toEqual(Array.from(weight));
    layer.dispose();
  });

  it('Int8Linear.int8Weight() of a float-quantized layer: its int8 values and SCB = scale · 127; leaks nothing', async () => {
    const w = randn(OUT * IN, 5);
    const layer = Int8Linear.fromFloat32(w, [OUT, IN]);
    const q = quantizeFloat32(w, OUT, IN);
    const before = tf.memory().numTensors;
    const got = await layer.int8Weight();
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(got.weight)).toEqual(Array.from(unpackInt8(q.packed, OUT, IN)));
    expect(Array.from(got.SCB)).toEqual(Array.from(q.scale, (s) => Math.fround(s * 127)));
    layer.dispose();
  });
});
