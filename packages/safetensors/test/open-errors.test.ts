import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SafetensorsError, SafetensorsFile, readSafetensorsFile, serializeSafetensors } from '../src/index.js';

describe('SafetensorsFile.open: a path that is not a readable file', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'st-open-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a folder is one SafetensorsError naming it (Node opens a folder and fails only at the read, with an EISDIR naming nothing)', async () => {
    await expect(SafetensorsFile.open(dir)).rejects.toThrow(new SafetensorsError(`${dir}: not a file (a folder)`));
    await expect(readSafetensorsFile(dir)).rejects.toBeInstanceOf(SafetensorsError);
  });

  it('a missing file stays Node’s ENOENT, whose message names the path (callers test its code)', async () => {
    const missing = join(dir, 'model.safetensors');
    const e = await SafetensorsFile.open(missing).catch((x: unknown) => x);
    expect((e as NodeJS.ErrnoException).code).toBe('ENOENT');
    expect((e as Error).message).toContain(missing);
  });
});

describe('SafetensorsFile after close()', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'st-closed-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('read() is one SafetensorsError naming the file and saying it was closed (not Node’s bare "file closed")', async () => {
    const path = join(dir, 'model.safetensors');
    await writeFile(
      path,
      serializeSafetensors({ w: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) }, none: { dtype: 'F32', shape: [0], data: new Float32Array(0) } }),
    );
    const file = await SafetensorsFile.open(path);
    expect((await file.read('w')).data).toEqual(new Uint8Array(new Float32Array([1, 2]).buffer));
    await file.close();
    const closed = (name: string) => new SafetensorsError(`${path}: cannot read "${name}": the file was closed (open it again with SafetensorsFile.open)`);
    await expect(file.read('w')).rejects.toThrow(closed('w'));
    await expect(file.read('w')).rejects.toBeInstanceOf(SafetensorsError);
    // an empty tensor needs no file access, and is refused all the same
    await expect(file.read('none')).rejects.toThrow(closed('none'));
    // closing twice is harmless, as Node's FileHandle.close is; the header stays readable
    await expect(file.close()).resolves.toBeUndefined();
    expect(file.names()).toEqual(['none', 'w']);
    expect(file.info('w').shape).toEqual([2]);
  });

  it('a close() between the reads of one tensor makes that read the same error; other read errors stay themselves', async () => {
    const path = join(dir, 'racing.safetensors');
    await writeFile(path, serializeSafetensors({ w: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) } }));
    const file = await SafetensorsFile.open(path);
    // the handle's next read finds the file closed: as when close() comes between two reads of a > 2 GiB tensor
    const handle = (file as unknown as { handle: { read: (...a: unknown[]) => Promise<unknown> } }).handle;
    const read = handle.read.bind(handle);
    handle.read = async (...a: unknown[]) => {
      await file.close();
      return read(...a);
    };
    await expect(file.read('w')).rejects.toThrow(
      new SafetensorsError(`${path}: cannot read "w": the file was closed (open it again with SafetensorsFile.open)`),
    );
    await expect(file.read('w')).rejects.toBeInstanceOf(SafetensorsError);
    // a read that fails otherwise (here: the file cut short) is not reported as closed, even once it is
    const cut = join(dir, 'cut.safetensors');
    await writeFile(cut, serializeSafetensors({ w: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) } }));
    const other = await SafetensorsFile.open(cut);
    const h = (other as unknown as { handle: { read: (...a: unknown[]) => Promise<unknown> } }).handle;
    h.read = async () => {
      await other.close();
      return { bytesRead: 0 };
    };
    await expect(other.read('w')).rejects.toThrow(/unexpected end of file/);
  });
});
