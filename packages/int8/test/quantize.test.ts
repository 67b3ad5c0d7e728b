import { describe, expect, it } from 'vitest';
import { dequantizeFloat32, halfToFloat, quantizeFloat32, quantizeWeightData, unpackInt8 } from '../src/index';
import { randn } from './helpers';

function toBf16Bytes(values: Float32Array): Uint8Array {
  // truncation is enough: the test compares against the decoded bf16 values
  const u32 = new Uint32Array(values.buffer.slice(0));
  const out = new Uint8Array(values.length * 2);
  for (let i = 0; i < values.length; i++) {
    const h = (u32[i] as number) >>> 16;
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >>> 8;
  }
  return out;
}

describe('quantizeFloat32', () => {
  it('matches a hand-derived row: absmax 1 → q = round(w·127), half away from zero', () => {
    // row 0: [0.5, -1, 0.25, 0] → [63.5→64, -127, 31.75→32, 0], scale 1/127; row 1: all zero → scale 0
    const q = quantizeFloat32(new Float32Array([0.5, -1, 0.25, 0, 0, 0, 0, 0]), 2, 4);
    expect(Array.from(unpackInt8(q.packed, 2, 4))).toEqual([64, -127, 32, 0, 0, 0, 0, 0]);
    expect(q.packed[0]).toBe(64 | (0x81 << 8) | (32 << 16)); // 2130240
    expect(q.scale[0]).toBeCloseTo(1 / 127, 9);
    expect(q.scale[1]).toBe(0);
  });

  it('keeps |w − deq(q(w))| ≤ absmax/254 per row, odd inFeatures included', () => {
    for (const [out, inF] of [[7, 13], [5, 64], [3, 1], [4, 6]] as const) {
      const w = randn(out * inF, out * 100 + inF, 0.3);
      w[2] = 9; // an outlier row
      const deq = dequantizeFloat32(quantizeFloat32(w, out, inF));
      for (let r = 0; r < out; r++) {
        let absmax = 0;
        for (let c = 0; c < inF; c++) absmax = Math.max(absmax, Math.abs(w[r * inF + c] as number));
        let worst = 0;
        for (let c = 0; c < inF; c++) worst = Math.max(worst, Math.abs((w[r * inF + c] as number) - (deq[r * inF + c] as number)));
        // the float32 scale adds ≤ 127·ulp(scale)/2 ≈ absmax·4e-9
        expect(worst).toBeLessThanOrEqual((absmax / 254) * (1 + 1e-6));
      }
    }
  });

  it('maps each row absmax to ±127 exactly', () => {
    const w = randn(6 * 10, 3);
    const q = unpackInt8(quantizeFloat32(w, 6, 10).packed, 6, 10);
    for (let r = 0; r < 6; r++) expect(Math.max(...Array.from(q.subarray(r * 10, r * 10 + 10), Math.abs))).toBe(127);
  });

  it('rejects non-finite weights and wrong sizes', () => {
    expect(() => quantizeFloat32(new Float32Array([1, NaN]), 1, 2)).toThrow(/non-finite weight NaN at weight row 0, column 1/);
    expect(() => quantizeFloat32(new Float32Array(5), 2, 3)).toThrow(/has 5 values, expected \[2, 3\] = 6/);
  });
});

describe('quantizeWeightData (checkpoint bytes)', () => {
  const out = 5;
  const inF = 7;
  const w = randn(out * inF, 11);

  it('F32 bytes at an unaligned offset give the same result as the float32 array', () => {
    const buf = new Uint8Array(3 + w.byteLength);
    buf.set(new Uint8Array(w.buffer), 3);
    const q = quantizeWeightData({ dtype: 'F32', shape: [out, inF], data: buf.subarray(3) });
    const ref = quantizeFloat32(w, out, inF);
    expect(Array.from(q.packed)).toEqual(Array.from(ref.packed));
    expect(Array.from(q.scale)).toEqual(Array.from(ref.scale));
  });

  it('BF16 and F16 bytes decode to the values they encode', () => {
    const bf = toBf16Bytes(w);
    const decoded = new Float32Array(new Uint32Array(Array.from({ length: w.length }, (_, i) => ((bf[2 * i] as number) | ((bf[2 * i + 1] as number) << 8)) << 16)).buffer);
    const buf = new Uint8Array(1 + bf.length);
    buf.set(bf, 1);
    const q = quantizeWeightData({ dtype: 'BF16', shape: [out, inF], data: buf.subarray(1) });
    expect(Array.from(q.packed)).toEqual(Array.from(quantizeFloat32(decoded, out, inF).packed));
    // F16: 0x3c00 = 1, 0xc000 = -2, 0x3555 ≈ 0.33325, 0x0001 = 2^-24 (subnormal), 0x7bff = 65504
    expect([0x3c00, 0xc000, 0x3555, 0x0001, 0x7bff].map(halfToFloat)).toEqual([1, -2, 0.333251953125, 2 ** -24, 65504]);
    const f16 = new Uint8Array([0x00, 0x3c, 0x00, 0xc0]); // [1, -2]
    const q16 = quantizeWeightData({ dtype: 'F16', shape: [1, 2], data: f16 });
    expect(Array.from(unpackInt8(q16.packed, 1, 2))).toEqual([64, -127]); // 1·127/2 = 63.5 → 64
    expect(q16.scale[0]).toBeCloseTo(2 / 127, 9);
  });

  it('names what is wrong with bad input', () => {
    expect(() => quantizeWeightData({ dtype: 'F32', shape: [2, 3], data: new Uint8Array(20) }, 'encoder.block.0.layer.0.SelfAttention.q'))
      .toThrow('encoder.block.0.layer.0.SelfAttention.q: 20 bytes for F32 [2, 3], expected 24');
    expect(() => quantizeWeightData({ dtype: 'I8' as 'F32', shape: [1, 1], data: new Uint8Array(1) })).toThrow(/unsupported weight dtype "I8"/);
    expect(() => quantizeWeightData({ dtype: 'F32', shape: [4], data: new Uint8Array(16) })).toThrow(/expected a 2-D weight/);
  });
});
