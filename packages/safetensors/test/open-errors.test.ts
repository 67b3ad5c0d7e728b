import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SafetensorsError, SafetensorsFile, readSafetensorsFile } from '../src/index.js';

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
