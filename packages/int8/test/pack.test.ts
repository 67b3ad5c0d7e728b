import { describe, expect, it } from 'vitest';
import { packInt8, packedWidth, unpackByte, unpackInt8 } from '../src/index';

describe('packInt8 / unpackInt8', () => {
  it('round-trips all 256 byte values, -128..127', () => {
    const values = Int8Array.from({ length: 256 }, (_, i) => i - 128);
    const packed = packInt8(values, 1, 256);
    expect(packed.length).toBe(64);
    expect(Array.from(unpackInt8(packed, 1, 256))).toEqual(Array.from(values));
  });

  it('puts element 4j+k in byte k of word j (little-endian), sign bits included', () => {
    // [-128, -1, 0, 127] → bytes 0x80, 0xff, 0x00, 0x7f → word 0x7f00ff80 = 2130771840
    expect(Array.from(packInt8([-128, -1, 0, 127], 1, 4))).toEqual([0x7f00ff80]);
    // [127, 0, -1, -128] → 0x80ff007f, as int32: 0x80ff007f − 2³² = −2130771841
    expect(Array.from(packInt8([127, 0, -1, -128], 1, 4))).toEqual([-2130771841]);
    expect([0, 1, 2, 3].map((k) => unpackByte(-2130771841, k))).toEqual([127, 0, -1, -128]);
  });

  it('pads rows whose length is not a multiple of 4 with zero bytes', () => {
    for (const cols of [1, 2, 3, 5, 6, 7, 9]) {
      const rows = 3;
      const values = Int8Array.from({ length: rows * cols }, (_, i) => ((i * 37) % 255) - 127);
      const packed = packInt8(values, rows, cols);
      expect(packed.length).toBe(rows * packedWidth(cols));
      expect(Array.from(unpackInt8(packed, rows, cols))).toEqual(Array.from(values));
      for (let r = 0; r < rows; r++) {
        const last = packed[r * packedWidth(cols) + packedWidth(cols) - 1] as number;
        for (let k = ((cols - 1) % 4) + 1; k < 4; k++) expect(unpackByte(last, k)).toBe(0);
      }
    }
    // one row [1, 2, 3, 4, 5] → words [0x04030201, 0x00000005]
    expect(Array.from(packInt8([1, 2, 3, 4, 5], 1, 5))).toEqual([0x04030201, 5]);
  });

  it('rejects values that are not int8 and wrong lengths', () => {
    expect(() => packInt8([128], 1, 1)).toThrow(/value 128 at \[0, 0\] is not an int8/);
    expect(() => packInt8([0.5], 1, 1)).toThrow(/not an int8/);
    expect(() => packInt8([1, 2], 1, 3)).toThrow(/expected 1×3 = 3 values, got 2/);
    expect(() => unpackInt8(new Int32Array(3), 2, 5)).toThrow(/expected 2×2 words/);
  });
});
