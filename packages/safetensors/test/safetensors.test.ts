import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  decodeFloatsInto,
  float32ToBf16Bits,
  halfToFloat,
  parseSafetensors,
  readSafetensorsFile,
  resolveCheckpointFiles,
  SafetensorsError,
  SafetensorsFile,
  serializeSafetensors,
  toFloat32,
} from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'safetensors-test-'));
const cleanup: string[] = [dir];
afterAll(() => cleanup.forEach((d) => rmSync(d, { recursive: true, force: true })));
let n = 0;
function file(bytes: Uint8Array): string {
  const p = join(dir, `f${n++}.safetensors`);
  writeFileSync(p, bytes);
  return p;
}

/** A file from a header object (written verbatim) and a data section of `dataBytes` bytes. */
function raw(header: unknown, dataBytes: number, headerLength?: bigint): Uint8Array {
  const h = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(h.length), true);
  out.set(h, 8);
  return out;
}

const good = () =>
  serializeSafetensors({
    a: { dtype: 'F32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
    b: { dtype: 'I32', shape: [3], data: new Int32Array([7, 8, 9]) },
  }, { format: 'pt' });

async function openError(bytes: Uint8Array): Promise<Error> {
  const p = file(bytes);
  const err = await SafetensorsFile.open(p).then(
    async (f) => {
      await f.close();
      return null;
    },
    (e: unknown) => e as Error,
  );
  expect(err).toBeInstanceOf(SafetensorsError);
  expect(err!.message).toContain(p); // names the file
  // The in-memory parser rejects it the same way.
  expect(() => parseSafetensors(bytes)).toThrow(SafetensorsError);
  return err!;
}

describe('round trip', () => {
  it('serialize → open/read and parse in memory', async () => {
    const bytes = good();
    expect((new DataView(bytes.buffer).getUint32(0, true)) % 8).toBe(0); // header padded to 8
    const { tensors, metadata } = await readSafetensorsFile(file(bytes));
    expect(metadata).toEqual({ format: 'pt' });
    expect(Array.from(toFloat32('F32', tensors.get('a')!.data))).toEqual([1, 2, 3, 4]);
    expect(tensors.get('b')).toMatchObject({ dtype: 'I32', shape: [3] });
    expect(parseSafetensors(bytes).tensors.get('a')!.shape).toEqual([2, 2]);
  });

  it('F16 and BF16 decode exactly; float32 → bf16 rounds to nearest even', () => {
    const f16 = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x0001, 0x7c00]).buffer); // 1, -2, 2^-24, inf
    expect(Array.from(toFloat32('F16', f16))).toEqual([1, -2, 2 ** -24, Infinity]);
    const bits = float32ToBf16Bits(new Float32Array([1, -2.5, 1 + 2 ** -8, 1 + 3 * 2 ** -8]));
    expect(Array.from(bits)).toEqual([0x3f80, 0xc020, 0x3f80, 0x3f82]);
    expect(Array.from(toFloat32('BF16', new Uint8Array(bits.buffer)))).toEqual([1, -2.5, 1, 1 + 2 ** -6]);
    // A view at an odd offset decodes too.
    const buf = new Uint8Array(9);
    new DataView(buf.buffer).setFloat32(1, 3.5, true);
    new DataView(buf.buffer).setFloat32(5, -1, true);
    expect(Array.from(toFloat32('F32', buf.subarray(1)))).toEqual([3.5, -1]);
  });

  it('decodeFloatsInto: a slice of elements into a reused buffer, any dtype and offset; out of range throws', () => {
    const values = [0.5, -3, 1024, 2 ** -14, 7, -0.25];
    const f32 = new Uint8Array(new Float32Array(values).buffer);
    const f16 = new Uint8Array(new Uint16Array([0x3800, 0xc200, 0x6400, 0x0400, 0x4700, 0xb400]).buffer);
    const bf16 = new Uint8Array(float32ToBf16Bits(new Float32Array(values)).buffer);
    const f64 = new Uint8Array(new Float64Array(values).buffer);
    const odd = new Uint8Array(f32.length + 3);
    odd.set(f32, 3);
    const out = new Float32Array(8).fill(99);
    for (const [dtype, bytes] of [['F32', f32], ['F16', f16], ['BF16', bf16], ['F64', f64], ['F32', odd.subarray(3)]] as const) {
      decodeFloatsInto(dtype, bytes, 2, 3, out);
      expect(Array.from(out.subarray(0, 3)), dtype).toEqual([1024, 2 ** -14, 7]);
      expect(out[3], 'elements past count untouched').toBe(99);
      expect(Array.from(toFloat32(dtype, bytes)), dtype).toEqual(values);
    }
    expect(halfToFloat(0x7bff)).toBe(65504);
    expect(() => decodeFloatsInto('F32', f32, 4, 3, out)).toThrow(SafetensorsError);
    expect(() => decodeFloatsInto('F16', f16, 0, 6, new Float32Array(5))).toThrow(/elements 0..6 of 6 into 5/);
    expect(() => decodeFloatsInto('I32' as 'F32', f32, 0, 1, out)).toThrow(/cannot decode I32 as floats/);
  });
});

describe('corrupt and hostile files each give a clear error', () => {
  it('too small to hold the length', async () => {
    expect((await openError(new Uint8Array(5))).message).toMatch(/too small/);
  });

  it('truncated data section', async () => {
    const bytes = good();
    expect((await openError(bytes.subarray(0, bytes.length - 3))).message).toMatch(/past the data section|cover/);
  });

  it('truncated inside the header', async () => {
    expect((await openError(good().subarray(0, 20))).message).toMatch(/runs past the end of the file/);
  });

  it('huge header length (2^62) is refused before any allocation', async () => {
    expect((await openError(raw({}, 0, 2n ** 62n))).message).toMatch(/exceeds the 100000000-byte limit/);
  });

  it('header length beyond the file', async () => {
    expect((await openError(raw({}, 0, 1000n))).message).toMatch(/runs past the end/);
  });

  it('bad JSON', async () => {
    expect((await openError(raw('{"a": {"dtype": "F32",', 0))).message).toMatch(/not valid JSON/);
    expect((await openError(raw('[1, 2]', 0))).message).toMatch(/not a JSON object/);
  });

  it('unknown dtype', async () => {
    const e = await openError(raw({ a: { dtype: 'F128', shape: [1], data_offsets: [0, 16] } }, 16));
    expect(e.message).toMatch(/tensor "a": unknown dtype "F128"/);
  });

  it('overlapping offsets', async () => {
    const e = await openError(raw({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12));
    expect(e.message).toMatch(/overlaps/);
  });

  it('offsets out of range', async () => {
    const e = await openError(raw({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 8));
    expect(e.message).toMatch(/past the data section/);
  });

  it('offsets that disagree with dtype × shape, negative or reversed', async () => {
    expect((await openError(raw({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8))).message).toMatch(/needs 12/);
    expect((await openError(raw({ a: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, 8))).message).toMatch(/data_offsets/);
    expect((await openError(raw({ a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, 8))).message).toMatch(/shape/);
  });

  it('a gap, or bytes no tensor covers', async () => {
    expect((await openError(raw({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8))).message).toMatch(/gap/);
    expect((await openError(raw({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 8))).message).toMatch(/cover/);
  });

  it('metadata that is not strings', async () => {
    expect((await openError(raw({ __metadata__: { n: 1 } }, 0))).message).toMatch(/__metadata__/);
  });

  it('a sharded index with a path outside the folder, or bad JSON', async () => {
    const d = mkdtempSync(join(tmpdir(), 'safetensors-index-'));
    cleanup.push(d);
    writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: '../etc/passwd' } }));
    await expect(resolveCheckpointFiles(d)).rejects.toThrow(/not a plain file name/);
    writeFileSync(join(d, 'model.safetensors.index.json'), '{');
    await expect(resolveCheckpointFiles(d)).rejects.toThrow(/not valid JSON/);
    const empty = mkdtempSync(join(tmpdir(), 'safetensors-empty-'));
    cleanup.push(empty);
    await expect(resolveCheckpointFiles(empty)).rejects.toThrow(/neither model.safetensors nor/);
  });
});
