import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  parseSafetensors,
  resolveCheckpointFiles,
  SafetensorsError,
  SafetensorsFile,
  serializeSafetensors,
  writeFileAtomic,
  writeSafetensorsFile,
} from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'safetensors-audit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (name: string) => {
  const d = join(dir, `${name}-${n++}`);
  mkdirSync(d);
  return d;
};

/** A file from a header object (written verbatim) and a data section of `dataBytes` zero bytes. */
function raw(header: unknown, dataBytes: number): Uint8Array {
  const h = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  return out;
}

describe('reader: the Rust reference rules (safetensors/src/tensor.rs, Metadata::validate)', () => {
  it('a shape whose element count overflows is refused even when a later dimension is 0 (ValidationOverflow)', async () => {
    // validate(): shape.iter().try_fold(1usize, usize::checked_mul) — 2^40 · 2^40 overflows u64 before the 0 is reached.
    const bytes = raw({ a: { dtype: 'F32', shape: [2 ** 40, 2 ** 40, 0], data_offsets: [0, 0] } }, 0);
    expect(() => parseSafetensors(bytes)).toThrow(SafetensorsError);
    expect(() => parseSafetensors(bytes)).toThrow(/tensor "a".*overflow/);
    const p = join(fresh('overflow'), 'x.safetensors');
    writeFileSync(p, bytes);
    await expect(SafetensorsFile.open(p)).rejects.toThrow(/overflow/);
    // The same dimensions in the other order do not overflow (0 · 2^40 · 2^40 = 0), as in Rust.
    expect(parseSafetensors(raw({ a: { dtype: 'F32', shape: [0, 2 ** 40, 2 ** 40], data_offsets: [0, 0] } }, 0)).tensors.get('a')!.shape).toEqual([0, 2 ** 40, 2 ** 40]);
  });
});

describe('writers only write what the format can hold (shape: Vec<usize>, __metadata__: HashMap<String, String>)', () => {
  it('serializeSafetensors refuses negative or fractional dimensions and non-string metadata', () => {
    const data = new Float32Array(4);
    expect(() => serializeSafetensors({ a: { dtype: 'F32', shape: [-2, -2], data } })).toThrow(SafetensorsError);
    expect(() => serializeSafetensors({ a: { dtype: 'F32', shape: [-2, -2], data } })).toThrow(/tensor "a": shape \[-2,-2\]/);
    expect(() => serializeSafetensors({ a: { dtype: 'F32', shape: [0.5, 8], data } })).toThrow(/tensor "a": shape/);
    expect(() => serializeSafetensors({ a: { dtype: 'F32', shape: [4], data } }, { step: 3 as unknown as string })).toThrow(/__metadata__\.step is not a string/);
    expect(() => serializeSafetensors({ a: { dtype: 'F32', shape: [2 ** 40, 2 ** 40, 0], data: new Float32Array(0) } })).toThrow(/overflow/);
  });

  it('writeSafetensorsFile refuses them too, before creating any file', async () => {
    const p = join(fresh('bad-write'), 'x.safetensors');
    await expect(writeSafetensorsFile(p, [{ name: 'a', dtype: 'F32', shape: [-1, -4], bytes: () => new Uint8Array(16) }])).rejects.toThrow(SafetensorsError);
    await expect(writeSafetensorsFile(p, [{ name: 'a', dtype: 'F32', shape: [4], bytes: () => new Uint8Array(16) }], { n: null as unknown as string })).rejects.toThrow(/__metadata__\.n is not a string/);
    expect(existsSync(p)).toBe(false);
  });

  it('a tensor named "__proto__" is written into the header like any other name', async () => {
    const bytes = serializeSafetensors(new Map([['__proto__', { dtype: 'F32' as const, shape: [2], data: new Float32Array([1, 2]) }]]));
    const { tensors } = parseSafetensors(bytes);
    expect([...tensors.keys()]).toEqual(['__proto__']);
    expect(tensors.get('__proto__')!.shape).toEqual([2]);
    const p = join(fresh('proto'), 'x.safetensors');
    await writeSafetensorsFile(p, [{ name: '__proto__', dtype: 'F32', shape: [2], bytes: () => new Uint8Array(new Float32Array([1, 2]).buffer) }]);
    expect(Buffer.compare(readFileSync(p), Buffer.from(bytes))).toBe(0);
  });
});

describe('writeFileAtomic', () => {
  it('two concurrent writes of one path both succeed and leave one of the two contents whole', async () => {
    for (let k = 0; k < 5; k++) {
      const d = fresh('concurrent');
      const p = join(d, 'x.bin');
      const a = new Uint8Array(1000).fill(65);
      const b = new Uint8Array(1 << 20).fill(66);
      await Promise.all([writeFileAtomic(p, a), writeFileAtomic(p, b)]);
      const got = readFileSync(p);
      expect(Buffer.compare(got, Buffer.from(a)) === 0 || Buffer.compare(got, Buffer.from(b)) === 0).toBe(true);
      expect(readdirSync(d)).toEqual(['x.bin']);
    }
  });

  it('a rename that fails (the target is a folder) leaves no temporary file', async () => {
    const d = fresh('rename');
    mkdirSync(join(d, 'target'));
    writeFileSync(join(d, 'target', 'keep'), 'x');
    await expect(writeFileAtomic(join(d, 'target'), 'data')).rejects.toThrow();
    expect(readdirSync(d)).toEqual(['target']);
  });
});

describe('resolveCheckpointFiles (transformers from_pretrained on a local folder; safetensors/src/index.rs)', () => {
  const shard = serializeSafetensors({ a: { dtype: 'F32', shape: [1], data: new Float32Array([1]) } });

  it('a shard the index names but the folder lacks is one clear error naming the index and the shard', async () => {
    const d = fresh('missing');
    writeFileSync(join(d, 'model-00001-of-00002.safetensors'), shard);
    writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } }));
    const err = await resolveCheckpointFiles(d).then(() => null, (e: unknown) => e as Error);
    expect(err).toBeInstanceOf(SafetensorsError);
    expect(err!.message).toContain(join(d, 'model.safetensors.index.json'));
    expect(err!.message).toContain('model-00002-of-00002.safetensors');
  });

  it('weight_map must be an object of file names (HashMap<String, String>), not a list', async () => {
    const d = fresh('array');
    writeFileSync(join(d, 'a.safetensors'), shard);
    writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: ['a.safetensors'] }));
    await expect(resolveCheckpointFiles(d)).rejects.toThrow(/weight_map/);
  });

  it('model.safetensors is loaded when both it and an index exist (transformers checks SAFE_WEIGHTS_NAME first)', async () => {
    const d = fresh('both');
    writeFileSync(join(d, 'model.safetensors'), shard);
    writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: { a: 'model-00001-of-00002.safetensors' } }));
    expect(await resolveCheckpointFiles(d)).toEqual({ files: [join(d, 'model.safetensors')], weightMap: null });
  });

  it('an index whose shards exist resolves to them (each once, in first-use order)', async () => {
    const d = fresh('ok');
    writeFileSync(join(d, 's1.safetensors'), shard);
    writeFileSync(join(d, 's2.safetensors'), shard);
    writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: { a: 's1.safetensors', b: 's2.safetensors', c: 's1.safetensors' } }));
    const { files, weightMap } = await resolveCheckpointFiles(d);
    expect(files).toEqual([join(d, 's1.safetensors'), join(d, 's2.safetensors')]);
    expect(weightMap!.get('c')).toBe(join(d, 's1.safetensors'));
  });
});
