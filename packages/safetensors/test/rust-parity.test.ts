// Parity with the Rust `safetensors` crate (huggingface/safetensors, safetensors/src/tensor.rs), which
// Python's `safetensors.torch.save_file` / `safe_open` / `load_file` run: the writer's `prepare` /
// `serialize` / `serialize_to_file`, the reader's `SafeTensors::read_metadata` (serde_json into
// `HashMetadata`, then `Metadata::validate`). Expected values are derived line by line from that
// source (and serde / serde_json's rules it relies on) where the golden files do not cover them.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSafetensors, SafetensorsError, serializeSafetensors, sortTensorsForSave, writeSafetensorsFile, type Dtype, type TensorToWrite } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'safetensors-parity-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`./fixtures/${name}`, import.meta.url)));

/** A file from a header written verbatim and `dataBytes` zero bytes of data. */
function raw(header: string, dataBytes = 0): Uint8Array {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + h.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  return out;
}
const accepts = (header: string, dataBytes = 0) => parseSafetensors(raw(header, dataBytes));
const refuses = (header: string, dataBytes: number, why: RegExp) => {
  expect(() => accepts(header, dataBytes), header).toThrow(SafetensorsError);
  expect(() => accepts(header, dataBytes), header).toThrow(why);
};
/** The header text of a file (without its padding). */
const headerText = (bytes: Uint8Array) => new TextDecoder().decode(bytes.subarray(8, 8 + Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true)))).trimEnd();

describe('writers: the bytes Python save_file writes (Rust prepare / serialize)', () => {
  it('files Python wrote (PEFT adapter with __metadata__, gradients without) come back byte for byte, whatever the order given', async () => {
    for (const name of ['adapter_model.safetensors', 'grads_step0.safetensors']) {
      const bytes = fixture(name);
      const { tensors, metadata } = parseSafetensors(bytes);
      const reversed = [...tensors].reverse();
      const again = serializeSafetensors(new Map(reversed), metadata);
      expect(Buffer.compare(Buffer.from(again), Buffer.from(bytes)), name).toBe(0);
      const path = join(dir, name);
      await writeSafetensorsFile(path, reversed.map(([n, t]) => ({ name: n, dtype: t.dtype, shape: t.shape, bytes: () => t.data })), metadata);
      expect(Buffer.compare(readFileSync(path), Buffer.from(bytes)), name).toBe(0);
    }
  });

  it('tensors are laid out by dtype, descending in the Dtype enum, then by name; __metadata__ first', async () => {
    // prepare(): data.sort_by(|(lname, left), (rname, right)| right.dtype().cmp(&left.dtype()).then(lname.cmp(rname)))
    // with enum Dtype { BOOL, F4, F6_E2M3, F6_E3M2, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, I16, U16, F16, BF16, I32, U32, F32, C64, F64, I64, U64 }.
    const given: [string, Dtype, number[], number][] = [['b', 'BOOL', [1], 1], ['a', 'U8', [2], 2], ['c', 'F4', [2], 1], ['w', 'F16', [1], 2], ['v', 'BF16', [1], 2], ['z', 'F32', [1], 4], ['x', 'F32', [1], 4], ['y', 'I64', [1], 8]];
    const fill: Record<string, number> = { y: 1, x: 2, z: 3, v: 4, w: 5, a: 6, c: 7, b: 8 };
    const data = (name: string, n: number) => new Uint8Array(n).fill(fill[name]!);
    const bytes = serializeSafetensors(new Map(given.map(([n, dtype, shape, size]) => [n, { dtype, shape, data: data(n, size) }])), { format: 'pt' });
    const want =
      '{"__metadata__":{"format":"pt"},' +
      '"y":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"x":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},' +
      '"z":{"dtype":"F32","shape":[1],"data_offsets":[12,16]},"v":{"dtype":"BF16","shape":[1],"data_offsets":[16,18]},' +
      '"w":{"dtype":"F16","shape":[1],"data_offsets":[18,20]},"a":{"dtype":"U8","shape":[2],"data_offsets":[20,22]},' +
      '"c":{"dtype":"F4","shape":[2],"data_offsets":[22,23]},"b":{"dtype":"BOOL","shape":[1],"data_offsets":[23,24]}}';
    // Force alignment to 8 bytes: the header is padded with spaces, its length (padded) first.
    const padded = want + ' '.repeat((8 - (want.length % 8)) % 8);
    expect(new DataView(bytes.buffer).getBigUint64(0, true)).toBe(BigInt(padded.length));
    expect(new TextDecoder().decode(bytes.subarray(8, 8 + padded.length))).toBe(padded);
    expect([...bytes.subarray(8 + padded.length)]).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 5, 5, 6, 6, 7, 8]);
    // The streamed writer lays them out the same, calling each producer once, in that order.
    const calls: string[] = [];
    const path = join(dir, 'mixed.safetensors');
    await writeSafetensorsFile(path, given.map(([name, dtype, shape, size]) => ({ name, dtype, shape, bytes: () => (calls.push(name), data(name, size)) })), { format: 'pt' });
    expect(calls).toEqual(['y', 'x', 'z', 'v', 'w', 'a', 'c', 'b']);
    expect(Buffer.compare(readFileSync(path), Buffer.from(bytes))).toBe(0);
    expect(sortTensorsForSave([{ name: 'm', dtype: 'C64' }, { name: 'k', dtype: 'F64' }, { name: 'l', dtype: 'U64' }, { name: 'e', dtype: 'F8_E8M0' }, { name: 'd', dtype: 'F6_E3M2' }]).map((t) => t.dtype)).toEqual(['U64', 'F64', 'C64', 'F8_E8M0', 'F6_E3M2']);
  });

  it('names compare as Rust Strings (UTF-8 bytes), and integer-like names keep their place', () => {
    // lname.cmp(rname) on String: byte order — U+FF01 (EF BC 81) before U+1F600 (F0 9F 98 80), though
    // JavaScript's < puts "\u{1F600}" (surrogates D83D DE00) first. "10" < "2" < "a" as bytes, and a header
    // built from a JS object would have put "2" and "10" ahead of __metadata__ (integer keys come first).
    const t = (): TensorToWrite => ({ dtype: 'F32', shape: [0], data: new Float32Array(0) });
    const bytes = serializeSafetensors(new Map([['\u{1F600}', t()], ['\uFF01', t()], ['a', t()], ['2', t()], ['10', t()]]), { format: 'pt' });
    const entry = (name: string) => `"${name}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`;
    expect(headerText(bytes)).toBe(`{"__metadata__":{"format":"pt"},${['10', '2', 'a', '\uFF01', '\u{1F600}'].map(entry).join(',')}}`);
  });

  it('strings are escaped as serde_json escapes them (short escapes, \\u00xx for other controls, UTF-8 as is)', () => {
    // serde_json ser.rs ESCAPE table: " \ \b \f \n \r \t, the other bytes below 0x20 as \u00xx (lowercase hex);
    // DEL, "/", non-ASCII and U+2028 are written as they are.
    const name = 'q"b\\s\nc\u0001d\u007fé/\u2028\t\u001f\b\f\r';
    const bytes = serializeSafetensors(new Map([[name, { dtype: 'U8' as const, shape: [1], data: new Uint8Array([9]) }]]), { 'k\u0000': 'v"' });
    expect(headerText(bytes)).toBe('{"__metadata__":{"k\\u0000":"v\\""},"q\\"b\\\\s\\nc\\u0001d\u007fé/\u2028\\t\\u001f\\b\\f\\r":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}');
    expect(parseSafetensors(bytes).tensors.get(name)!.data[0]).toBe(9);
  });

  it('refuses what Rust cannot write: a lone surrogate (not UTF-8), a header over 100 MB (HeaderTooLarge), an odd count of F4 (MisalignedSlice)', () => {
    const one = { dtype: 'F32' as const, shape: [1], data: new Float32Array(1) };
    expect(() => serializeSafetensors({ 'a\uD800': one })).toThrow(/tensor name "a\\ud800" holds a lone surrogate/);
    expect(() => serializeSafetensors({ a: one }, { '\uDC00': 'x' })).toThrow(/__metadata__ key "\\udc00" holds a lone surrogate/);
    expect(() => serializeSafetensors({ a: one }, { k: 'x\uD83D' })).toThrow(/__metadata__\.k holds a lone surrogate/);
    expect(() => serializeSafetensors({ '\u{1F600}': one })).not.toThrow(); // a surrogate pair is one character
    // serialize / serialize_to_file: if n > MAX_HEADER_SIZE as u64 { return Err(SafeTensorError::HeaderTooLarge) }
    expect(() => serializeSafetensors({}, { k: 'x'.repeat(100_000_000) })).toThrow(/header would be 100000032 bytes, over the 100000000-byte limit/);
    // validate(): nbits = nelements * bitsize; if nbits % 8 != 0 { MisalignedSlice }
    expect(() => serializeSafetensors({ a: { dtype: 'F4', shape: [3], data: new Uint8Array(2) } })).toThrow(/tensor "a": F4\[3\] is not a whole number of bytes/);
  });
});

describe('reader: accepts and refuses what the Rust reader does (read_metadata → HashMetadata → Metadata::validate)', () => {
  const f32x2 = '{"dtype":"F32","shape":[2],"data_offsets":[0,8]}';

  it('shapes and offsets are usize: integer literals only (2.0, 2e0, -0 are floats to serde_json), up to u64::MAX', () => {
    refuses('{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}', 8, /tensor "a": shape \[2\.0\] is not a list of non-negative integers/);
    refuses('{"a":{"dtype":"F32","shape":[2e0],"data_offsets":[0,8]}}', 8, /shape \[2e0\]/);
    refuses('{"a":{"dtype":"F32","shape":[0],"data_offsets":[-0,0]}}', 0, /data_offsets \[-0,0\]/); // serde_json: "-0" parses as F64
    refuses('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8.0]}}', 8, /data_offsets \[0,8\.0\]/);
    refuses('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}}', 8, /data_offsets \[0,8,8\] are not \[begin, end\]/); // a (usize, usize) tuple
    expect(accepts('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', 8).tensors.get('a')!.shape).toEqual([2]);
    // A dimension past 2^53 is a usize like any other (beside a 0, the tensor is empty); past u64::MAX it is an f64.
    expect(accepts('{"a":{"dtype":"F32","shape":[18446744073709551615,0],"data_offsets":[0,0]}}').tensors.get('a')!.shape).toEqual([2 ** 64, 0]);
    refuses('{"a":{"dtype":"F32","shape":[18446744073709551616,0],"data_offsets":[0,0]}}', 0, /shape \[18446744073709551616,0\]/);
  });

  it('__metadata__: null is None; given twice it is refused (serde duplicate_field), even after null', () => {
    expect(accepts('{"__metadata__":null}').metadata).toBeUndefined();
    expect(accepts(`{"__metadata__":null,"a":${f32x2}}`, 8).tensors.get('a')!.dtype).toBe('F32');
    refuses('{"__metadata__":{"a":"1"},"__metadata__":{"a":"1"}}', 0, /__metadata__ appears twice/);
    refuses('{"__metadata__":null,"__metadata__":{"a":"1"}}', 0, /__metadata__ appears twice/);
    refuses('{"__metadata__":["pt"]}', 0, /__metadata__ must be an object of strings/);
    // HashMap<String, String>: a repeated key keeps the last value; "__proto__" is a key like any other.
    const { metadata } = accepts('{"__metadata__":{"format":"np","format":"pt","__proto__":"x"}}');
    expect(Object.entries(metadata!)).toEqual([['format', 'pt'], ['__proto__', 'x']]);
  });

  it('entries in any order: validate() runs over them sorted by data_offsets, begin then end (a tuple\'s cmp)', () => {
    // Metadata::deserialize: tensors.sort_by(|(_, left), (_, right)| left.data_offsets.cmp(&right.data_offsets))
    const { tensors } = accepts('{"c":{"dtype":"U8","shape":[2],"data_offsets":[4,6]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"z":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}', 6);
    expect([...tensors].map(([name, t]) => [name, t.data.byteLength])).toEqual([['c', 2], ['a', 4], ['z', 0]]);
  });

  it('a repeated tensor name keeps its last entry (a HashMap), though every entry must deserialize', () => {
    // The earlier entry is dropped before validate(): its offsets are not checked...
    const { tensors } = accepts(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]},"a":${f32x2}}`, 8);
    expect([...tensors.keys()]).toEqual(['a']);
    expect(tensors.get('a')).toMatchObject({ dtype: 'F32', shape: [2], data: new Uint8Array(8) });
    // ...but it is deserialized (unknown variant), and a dropped entry's bytes are then covered by no one.
    refuses(`{"a":{"dtype":"F128","shape":[2],"data_offsets":[0,8]},"a":${f32x2}}`, 8, /tensor "a": unknown dtype "F128"/);
    refuses(`{"a":${f32x2},"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}`, 8, /data section is 8 bytes but the tensors cover 0/);
  });

  it('TensorInfo as serde derives it: a repeated field is refused, unknown fields ignored, the fields as a list accepted, dtype as {"F32": null} too', () => {
    refuses('{"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}', 8, /tensor "a": field dtype appears twice/);
    refuses('{"a":{"dtype":"F32","shape":[2]}}', 8, /tensor "a": missing field data_offsets/);
    expect(accepts('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":[1,{"x":null}],"extra":2}}', 8).tensors.get('a')!.shape).toEqual([2]);
    expect(accepts('{"a":["F32",[2],[0,8]]}', 8).tensors.get('a')).toMatchObject({ dtype: 'F32', shape: [2], data: new Uint8Array(8) });
    refuses('{"a":["F32",[2],[0,8],1]}', 8, /is not \[dtype, shape, data_offsets\]/);
    expect(accepts('{"a":{"dtype":{"F32":null},"shape":[2],"data_offsets":[0,8]}}', 8).tensors.get('a')!.dtype).toBe('F32');
    refuses('{"a":{"dtype":{"F32":1},"shape":[2],"data_offsets":[0,8]}}', 8, /unknown dtype \{"F32":1\}/);
    // Every field is required, in either form: visit_map's missing_field, visit_seq's invalid_length.
    refuses('{"a":{"shape":[0],"data_offsets":[0,0]}}', 0, /tensor "a": missing field dtype/);
    refuses('{"a":{"dtype":"F32","data_offsets":[0,0]}}', 0, /tensor "a": missing field shape/);
    refuses('{"a":["F32",[0]]}', 0, /tensor "a": entry \["F32",\[0\]\] is not \[dtype, shape, data_offsets\]/);
    // ContentRefDeserializer::deserialize_enum: a map "with a single key", no fewer, no more.
    refuses('{"a":{"dtype":{"F32":null,"F16":null},"shape":[2],"data_offsets":[0,8]}}', 8, /unknown dtype \{"F32":null,"F16":null\}/);
    refuses('{"a":{"dtype":{},"shape":[2],"data_offsets":[0,8]}}', 8, /unknown dtype \{\}/);
  });

  it('every dtype of the Rust enum, sized by bitsize; a sub-byte tensor must end on a byte (MisalignedSlice)', () => {
    const sizes: [Dtype, number[], number][] = [['F4', [2, 3], 3], ['F6_E2M3', [4], 3], ['F6_E3M2', [4], 3], ['F8_E8M0', [5], 5], ['C64', [2], 16], ['F8_E4M3', [1], 1], ['U64', [1], 8]];
    for (const [dtype, shape, bytes] of sizes) {
      expect(accepts(`{"a":{"dtype":"${dtype}","shape":${JSON.stringify(shape)},"data_offsets":[0,${bytes}]}}`, bytes).tensors.get('a')!.dtype, dtype).toBe(dtype);
    }
    refuses('{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}', 2, /tensor "a": F4\[3\] is not a whole number of bytes/);
    refuses('{"a":{"dtype":"F6_E2M3","shape":[1],"data_offsets":[0,1]}}', 1, /F6_E2M3\[1\] is not a whole number of bytes/);
  });

  it('F8_E4M3FNUZ and F8_E5M2FNUZ (torch.float8_e4m3fnuz / float8_e5m2fnuz): 8 bits, between F8_E8M0 and I16 in the enum', () => {
    // The crate's enum gained them after F8_E8M0 (the copies of tensor.rs in the reference index predate
    // them; order as code built on the crate lists them: BOOL, F4, F6_E2M3, F6_E3M2, U8, I8, F8_E5M2,
    // F8_E4M3, F8_E8M0, F8_E4M3FNUZ, F8_E5M2FNUZ, I16, …). prepare() sorts descending.
    expect(accepts('{"a":{"dtype":"F8_E4M3FNUZ","shape":[3],"data_offsets":[0,3]},"b":{"dtype":"F8_E5M2FNUZ","shape":[2],"data_offsets":[3,5]}}', 5).tensors.get('b')!.dtype).toBe('F8_E5M2FNUZ');
    const order = sortTensorsForSave((['F8_E8M0', 'I16', 'F8_E4M3FNUZ', 'F8_E4M3', 'F8_E5M2FNUZ'] as Dtype[]).map((dtype) => ({ name: 'x', dtype })));
    expect(order.map((t) => t.dtype)).toEqual(['I16', 'F8_E5M2FNUZ', 'F8_E4M3FNUZ', 'F8_E8M0', 'F8_E4M3']);
  });

  it('a hostile header gets a message of bounded length: a 1 MB name, a 1 MB shape are clipped', () => {
    const name = 'n'.repeat(1_000_000);
    const long = (header: string, data: number) => {
      try {
        accepts(header, data);
      } catch (e) {
        return (e as Error).message;
      }
      return 'accepted';
    };
    const a = long(`{"${name}":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 0);
    expect(a).toMatch(/^safetensors: tensor "n{80}… \(1000000 characters\)" ends at 8, past the data section \(0 bytes\)$/);
    const b = long(`{"${name}":{"dtype":"F32","shape":[${'1,'.repeat(500_000)}2.5],"data_offsets":[0,8]}}`, 8);
    expect(b).toMatch(/^safetensors: tensor "n{80}… \(1000000 characters\)": shape \[(1,){39}1… \(1000005 characters\) is not a list of non-negative integers$/);
    const c = long(`{"${name}":{"dtype":"F4","shape":[${'1,'.repeat(500_000)}1],"data_offsets":[0,1]}}`, 1);
    expect(c).toMatch(/^safetensors: tensor "n{80}… \(1000000 characters\)": F4\[(1,){40}… \(1000001 characters\)\] is not a whole number of bytes$/);
  });

  it('the JSON as serde_json reads it: whitespace before { (the start check is commented out), no BOM, no lone surrogate, finite numbers, depth < 128', () => {
    expect(accepts(` \n\t\r{"a":${f32x2}}`, 8).tensors.size).toBe(1);
    refuses(`\uFEFF{"a":${f32x2}}`, 8, /not valid JSON/);
    refuses('{"a\\ud800":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}', 0, /not valid JSON \(unpaired surrogate escape at character 3\)/);
    refuses('{"__metadata__":{"k":"\\udc00"}}', 0, /unpaired surrogate escape/);
    expect([...accepts('{"\\ud83d\\ude00":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}').tensors.keys()]).toEqual(['\u{1F600}']);
    refuses(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1e400}}`, 8, /number 1e400 out of range/);
    expect(accepts(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1e-400}}`, 8).tensors.size).toBe(1);
    // serde_json's remaining_depth starts at 128 and fails on reaching 0: the header object, the entry,
    // then 125 more nested lists is 127 levels; one more is refused.
    const nested = (levels: number) => `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":${'['.repeat(levels)}${']'.repeat(levels)}}}`;
    expect(accepts(nested(125), 8).tensors.size).toBe(1);
    refuses(nested(126), 8, /nested more than 127 deep/);
    refuses(`{"a":${f32x2},}`, 8, /not valid JSON/);
  });
});
