import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { float32ToF16Bits, halfToFloat, readSafetensorsFile, serializeSafetensors, writeSafetensorsFile } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'safetensors-stream-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const f32 = (xs: number[]) => new Float32Array(xs);
const bytesOf = (a: Float32Array | Uint16Array | Int32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe('writeSafetensorsFile: tensor by tensor, atomic', () => {
  const a = f32([1, 2, 3, 4, 5, 6]);
  const b = new Int32Array([7, -8]);
  const c = new Uint16Array([0x3c00, 0xc000, 0x7c00]);

  it('writes the same bytes as serializeSafetensors; each producer is called once, in order', async () => {
    const calls: string[] = [];
    const path = join(dir, 'same.safetensors');
    await writeSafetensorsFile(path, [
      { name: 'a', dtype: 'F32', shape: [2, 3], bytes: () => (calls.push('a'), bytesOf(a)) },
      { name: 'b', dtype: 'I32', shape: [2], bytes: async () => (calls.push('b'), bytesOf(b)) },
      { name: 'c', dtype: 'F16', shape: [3], bytes: () => (calls.push('c'), bytesOf(c)) },
    ], { format: 'pt' });
    expect(calls).toEqual(['a', 'b', 'c']);
    const want = serializeSafetensors({ a: { dtype: 'F32', shape: [2, 3], data: a }, b: { dtype: 'I32', shape: [2], data: b }, c: { dtype: 'F16', shape: [3], data: c } }, { format: 'pt' });
    expect(Buffer.compare(readFileSync(path), Buffer.from(want))).toBe(0);
  });

  it('lays tensors out in save_file\'s order (dtype, then name), not the order given, and reads back', async () => {
    const path = join(dir, 'order.safetensors');
    await writeSafetensorsFile(path, [
      { name: 'z', dtype: 'I32', shape: [2], bytes: () => bytesOf(b) },
      { name: 'a', dtype: 'F32', shape: [6], bytes: () => bytesOf(a) },
    ]);
    const { tensors } = await readSafetensorsFile(path);
    expect([...tensors.keys()]).toEqual(['a', 'z']); // file order of the data: F32 before I32
    expect([...new Float32Array(tensors.get('a')!.data.slice().buffer)]).toEqual([...a]);
    expect(tensors.get('z')!.shape).toEqual([2]);
  });

  it('a producer that throws or returns the wrong length leaves the old file untouched and no temporary file', async () => {
    const path = join(dir, 'keep.safetensors');
    writeFileSync(path, 'old');
    await expect(writeSafetensorsFile(path, [
      { name: 'a', dtype: 'F32', shape: [6], bytes: () => bytesOf(a) },
      { name: 'b', dtype: 'I32', shape: [3], bytes: () => bytesOf(b) },
    ])).rejects.toThrow(/tensor "b": 8 bytes produced but I32\[3\] needs 12/);
    await expect(writeSafetensorsFile(path, [
      { name: 'a', dtype: 'F32', shape: [6], bytes: () => { throw new Error('disk on fire'); } },
    ])).rejects.toThrow('disk on fire');
    expect(readFileSync(path, 'utf8')).toBe('old');
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    await expect(writeSafetensorsFile(join(dir, 'dup.safetensors'), [
      { name: 'a', dtype: 'F32', shape: [6], bytes: () => bytesOf(a) },
      { name: 'a', dtype: 'F32', shape: [6], bytes: () => bytesOf(a) },
    ])).rejects.toThrow(/"a" is reserved or repeated/);
    expect(existsSync(join(dir, 'dup.safetensors'))).toBe(false);
  });
});

describe('float32ToF16Bits: round to nearest even, as torch .to(float16)', () => {
  it('every finite half value converts back to its own bits; NaN stays NaN', () => {
    const all = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) all[h] = halfToFloat(h);
    const back = float32ToF16Bits(all);
    for (let h = 0; h < 65536; h++) {
      if (Number.isNaN(all[h])) expect(Number.isNaN(halfToFloat(back[h]!)), `${h}`).toBe(true);
      else if (back[h] !== h) throw new Error(`half ${h.toString(16)} → ${all[h]} → ${back[h]!.toString(16)}`);
    }
  });

  it('ties go to even, overflow to Infinity, underflow through subnormals to ±0', () => {
    const cases: Array<[number, number]> = [
      [1 + 2 ** -11, 0x3c00], // halfway between 1 and 1 + 2^-10: even (1)
      [1 + 3 * 2 ** -11, 0x3c02], // halfway between 1 + 2^-10 and 1 + 2^-9: even (… + 2^-9)
      [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just past the tie
      [65504, 0x7bff],
      [65519, 0x7bff],
      [65520, 0x7c00], // the tie past the largest half rounds to Infinity
      [-1e6, 0xfc00],
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // tie between 0 and 2^-24: even (0)
      [1.5 * 2 ** -25, 0x0001],
      [3 * 2 ** -25, 0x0002], // tie between 1 and 2 subnormal units: even (2)
      [2 ** -14 - 2 ** -25, 0x0400], // rounds up from the largest subnormal into the smallest normal
      [-0, 0x8000],
      [1e-10, 0x0000],
    ];
    const got = float32ToF16Bits(f32(cases.map(([x]) => x)));
    cases.forEach(([x, want], i) => expect(got[i], `${x}`).toBe(want));
  });

  it('random values land on the nearest half', () => {
    let s = 1;
    const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    const xs = new Float32Array(20000).map(() => (next() - 0.5) * 2 ** (Math.floor(next() * 40) - 24));
    const hs = float32ToF16Bits(xs);
    xs.forEach((x, i) => {
      const h = hs[i]!;
      const d = Math.abs(halfToFloat(h) - x);
      for (const n of [h - 1, h + 1]) {
        if ((n & 0x7c00) !== 0x7c00 && (n & 0x7fff) !== 0x7fff && n >= 0 && n < 65536 && ((n ^ h) & 0x8000) === 0) {
          if (Math.abs(halfToFloat(n) - x) < d) throw new Error(`${x}: ${h} is not the nearest (${n} is)`);
        }
      }
    });
  });
});
