// pruneCheckpoints removes a folder's COMPLETE manifest before the folder: a kill (here: a failing rm)
// in the middle of a removal leaves a folder without a manifest, which a resume passes over as a torn
// write, never a folder whose manifest lists files that are gone (a DamagedCheckpointError on resume).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { checkpointToResume, MANIFEST_FILE, pruneCheckpoints, writeCheckpoint } from '../src';
import { tempDirs } from './temp-dirs';

const failures = vi.hoisted(() => ({ rm: false }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...fs,
    rm: async (...args: Parameters<typeof fs.rm>) => {
      if (failures.rm) throw new Error('killed during rm');
      return fs.rm(...args);
    },
  };
});
afterEach(() => void (failures.rm = false));

const tmp = tempDirs('conifer-trainer-prune-order-');

describe('pruneCheckpoints: the manifest goes first', () => {
  it('a removal cut short leaves a folder without a manifest: the resume still continues from the newest', async () => {
    const dir = tmp();
    const content = { variables: { 'p.w': { shape: [2], values: new Float32Array([1, 2]) } }, optimizer: { step: 0, m: {}, v: {} }, state: {} };
    for (const step of [1, 2]) await writeCheckpoint(dir, step, content);
    failures.rm = true;
    await expect(pruneCheckpoints(dir, 1)).rejects.toThrow('killed during rm');
    failures.rm = false;
    expect(existsSync(join(dir, 'checkpoint-1'))).toBe(true);
    expect(existsSync(join(dir, 'checkpoint-1', MANIFEST_FILE))).toBe(false);
    expect(await checkpointToResume(dir)).toBe(join(dir, 'checkpoint-2'));
    await pruneCheckpoints(dir, 1); // the leftover goes at the next prune
    expect(existsSync(join(dir, 'checkpoint-1'))).toBe(false);
  });
});
