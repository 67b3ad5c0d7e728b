// A checkpoint damaged after it was written (its COMPLETE manifest there, its files no longer matching
// it) is one DamagedCheckpointError on resume, never a silent fresh start; a folder without a manifest
// (a kill mid-write) is still passed over. transformers' Trainer resumes from get_last_checkpoint
// (src/transformers/trainer_utils.py: the highest checkpoint-<N> folder) and fails in
// Trainer._load_from_checkpoint when it is damaged; it never falls back to an older one silently.
import { readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import {
  checkpointDamage, checkpointToResume, DamagedCheckpointError, MANIFEST_FILE, OPTIMIZER_FILE, pruneCheckpoints, readCheckpoint, STATE_FILE,
  train, TRAINABLE_FILE,
} from '../src';
import { tempDirs } from './temp-dirs';
import { ToyModel, toyData } from './toy';

const tmp = tempDirs('conifer-trainer-damage-');

/** Trains a toy model `steps` steps with a checkpoint every 2 (all kept): `dir/checkpoint-2`, `-4`, …. */
async function checkpoints(dir: string, steps: number): Promise<void> {
  await withModel(async (model) => {
    const r = await train({ model, data: toyData(40), maxSteps: steps, checkpointDir: dir, checkpointEvery: 2, keepLast: Infinity, logger: false, handleSigint: false });
    r.optimizer.dispose();
  });
}

/** Runs `fn` with a fresh toy model (the variable names of the checkpoints), disposed after, even when `fn` fails. */
async function withModel(fn: (model: ToyModel) => Promise<void>): Promise<void> {
  const model = new ToyModel(3, 'dmg');
  try {
    await fn(model);
  } finally {
    model.dispose();
  }
}

/** Overwrites bytes of `file` at `at`, keeping its size. */
function scribble(file: string, at: number, text: string): void {
  const bytes = readFileSync(file);
  bytes.write(text, at, 'latin1');
  writeFileSync(file, bytes);
}

/** Every file under `dir` with its bytes (base64), to show that nothing was written or removed. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out[relative(dir, join(e.parentPath, e.name))] = readFileSync(join(e.parentPath, e.name)).toString('base64');
  }
  return out;
}

const ck = (dir: string, step: number) => join(dir, `checkpoint-${step}`);
const bytes = (file: string) => statSync(file).size.toLocaleString('en-US');

describe('a damaged checkpoint (its manifest there, its files not matching) is one DamagedCheckpointError', () => {
  // Each damage to the only checkpoint: [what is done, what the error says is damaged]
  const cases: Array<[string, (folder: string) => void, (folder: string) => string | RegExp]> = [
    ['a truncated file', (f) => truncateSync(join(f, TRAINABLE_FILE), 100), () => `${TRAINABLE_FILE} is 100 bytes, its manifest says `],
    ['a missing file', (f) => rmSync(join(f, OPTIMIZER_FILE)), () => `${OPTIMIZER_FILE} is missing`],
    // the header's JSON scribbled over, the file's size unchanged: only a parse tells
    ['a scribbled safetensors header (same size)', (f) => scribble(join(f, TRAINABLE_FILE), 8, 'XXXX'), () => /^trainable\.safetensors: header is not valid JSON/],
    ['a state.json that does not parse (same size)', (f) => scribble(join(f, STATE_FILE), 0, '}'), () => /^state\.json is not valid JSON \(/],
    ['a manifest that does not parse', (f) => scribble(join(f, MANIFEST_FILE), 0, '}'), () => /^its COMPLETE manifest is not valid JSON \(/],
  ];
  for (const [what, damage, expected] of cases) {
    it(`${what}: checkpointToResume, readCheckpoint and train({ resume }) name the folder, the damage and the fix`, async () => {
      const dir = tmp();
      await checkpoints(dir, 2);
      const folder = ck(dir, 2);
      expect(await checkpointDamage(folder)).toBeNull();
      damage(folder);
      const e = await checkpointToResume(dir).then(
        () => null,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(DamagedCheckpointError);
      const d = e as DamagedCheckpointError;
      expect([d.folder, d.resumeFrom, d.alsoDamaged]).toEqual([folder, null, []]);
      const want = expected(folder);
      if (typeof want === 'string') expect(d.damage.startsWith(want)).toBe(true);
      else expect(d.damage).toMatch(want);
      expect(d.message).toBe(`${folder} is damaged: ${d.damage}. Restore that folder, or delete it to resume from the start (no older checkpoint)`);
      expect(await checkpointDamage(folder)).toBe(d.damage);
      // readCheckpoint: the same error, not a parse stack
      await expect(readCheckpoint(folder)).rejects.toThrow(d.message);
      await withModel(async (model) => {
        const before = tf.memory().numTensors;
        await expect(train({ model, data: toyData(40), maxSteps: 4, checkpointDir: dir, resume: true, logger: false, handleSigint: false })).rejects.toThrow(d.message);
        expect(tf.memory().numTensors).toBe(before);
      });
    });
  }

  it('a manifest that parses but does not list the required files, or lists something that is not a file name', async () => {
    const dir = tmp();
    await checkpoints(dir, 2);
    const folder = ck(dir, 2);
    const manifest = JSON.parse(readFileSync(join(folder, MANIFEST_FILE), 'utf8')) as { files: Array<{ name: string; size: number }> };
    writeFileSync(join(folder, MANIFEST_FILE), JSON.stringify({ ...manifest, files: manifest.files.filter((f) => f.name !== STATE_FILE) }));
    expect(await checkpointDamage(folder)).toBe(`its ${MANIFEST_FILE} manifest does not list ${STATE_FILE}`);
    writeFileSync(join(folder, MANIFEST_FILE), JSON.stringify({ ...manifest, files: [...manifest.files, { name: '../metrics.jsonl', size: 1 }] }));
    expect(await checkpointDamage(folder)).toBe(`its ${MANIFEST_FILE} manifest lists {"name":"../metrics.jsonl","size":1}, not a file name and size`);
    await expect(checkpointToResume(dir)).rejects.toThrow(DamagedCheckpointError);
  });

  it('the truncated size is given in bytes, as the manifest lists it', async () => {
    const dir = tmp();
    await checkpoints(dir, 2);
    const file = join(ck(dir, 2), TRAINABLE_FILE);
    const size = bytes(file);
    truncateSync(file, 100);
    expect(await checkpointDamage(ck(dir, 2))).toBe(`${TRAINABLE_FILE} is 100 bytes, its manifest says ${size} bytes`);
  });

  it('the newest damaged, older ones intact: the error names the one to resume from once it is deleted; damaged ones between are named too', async () => {
    const dir = tmp();
    await checkpoints(dir, 6);
    rmSync(join(ck(dir, 6), STATE_FILE));
    await expect(checkpointToResume(dir)).rejects.toThrow(
      `${ck(dir, 6)} is damaged: ${STATE_FILE} is missing. Restore that folder, or delete it to resume from ${ck(dir, 4)}`,
    );
    truncateSync(join(ck(dir, 4), OPTIMIZER_FILE), 10);
    await expect(checkpointToResume(dir)).rejects.toThrow(
      `${ck(dir, 6)} is damaged: ${STATE_FILE} is missing. Restore that folder, or delete it and ${ck(dir, 4)} (damaged too) to resume from ${ck(dir, 2)}`,
    );
    // readCheckpoint of the damaged checkpoint-4 looks at the older ones beside it
    await expect(readCheckpoint(ck(dir, 4))).rejects.toThrow(new RegExp(`^${ck(dir, 4)} is damaged: ${OPTIMIZER_FILE} is 10 bytes, .*to resume from ${ck(dir, 2)}$`));
    // deleted as the error says: the resume continues from checkpoint-2
    rmSync(ck(dir, 6), { recursive: true });
    rmSync(ck(dir, 4), { recursive: true });
    expect(await checkpointToResume(dir)).toBe(ck(dir, 2));
  });

  it('a newest folder without a manifest (a kill mid-write) is passed over, as before; the walk goes on to the next folder with one', async () => {
    const dir = tmp();
    expect(await checkpointToResume(dir)).toBeNull(); // no checkpoint: the start
    expect(await checkpointToResume(join(dir, 'no-such-folder'))).toBeNull();
    await checkpoints(dir, 6);
    rmSync(join(ck(dir, 6), MANIFEST_FILE));
    truncateSync(join(ck(dir, 6), TRAINABLE_FILE), 10); // torn: no matter without a manifest
    expect(await checkpointToResume(dir)).toBe(ck(dir, 4));
    await expect(readCheckpoint(ck(dir, 6))).rejects.toThrow(`${ck(dir, 6)} is not a complete checkpoint (no COMPLETE manifest: its write did not finish)`);
    await withModel(async (model) => {
      const r = await train({ model, data: toyData(40), maxSteps: 5, checkpointDir: dir, keepLast: Infinity, resume: true, logger: false, handleSigint: false });
      r.optimizer.dispose();
      expect([r.resumedFrom, r.step]).toEqual([ck(dir, 4), 5]);
    });
    // the next folder with a manifest is damaged: that is the error, the manifest-less one still passed over
    rmSync(join(ck(dir, 4), TRAINABLE_FILE));
    rmSync(ck(dir, 5), { recursive: true });
    await expect(checkpointToResume(dir)).rejects.toThrow(`${ck(dir, 4)} is damaged: ${TRAINABLE_FILE} is missing. Restore that folder, or delete it to resume from ${ck(dir, 2)}`);
  });

  it('train({ resume }) on a damaged newest checkpoint: nothing trained, written or pruned', async () => {
    const dir = tmp();
    await checkpoints(dir, 6);
    scribble(join(ck(dir, 6), TRAINABLE_FILE), 8, 'XXXX');
    const before = snapshot(dir);
    expect(Object.keys(before)).toEqual(expect.arrayContaining(['metrics.jsonl', 'loss-curve.svg', join('checkpoint-2', MANIFEST_FILE)]));
    await withModel(async (model) => {
      const w = Array.from(await model.w.data());
      const tensors = tf.memory().numTensors;
      const onSave = () => {
        throw new Error('onSave must not run');
      };
      // keepLast 1 and a checkpoint every step: pruning would remove checkpoint-2 and -4 at the first save
      await expect(
        train({ model, data: toyData(40), maxSteps: 8, checkpointDir: dir, checkpointEvery: 1, keepLast: 1, saveEvery: 1, onSave, resume: true, logger: false, handleSigint: false }),
      ).rejects.toThrow(DamagedCheckpointError);
      expect(snapshot(dir)).toEqual(before);
      expect(Array.from(await model.w.data())).toEqual(w);
      expect(tf.memory().numTensors).toBe(tensors);
    });
  });
});

describe('pruneCheckpoints never removes a damaged checkpoint', () => {
  it('keeps damaged folders with a manifest (newer or older), counts only intact ones toward keepLast, removes torn ones without a manifest', async () => {
    const dir = tmp();
    await checkpoints(dir, 10); // checkpoint-2 … -10
    scribble(join(ck(dir, 10), TRAINABLE_FILE), 8, 'XXXX'); // newest: damaged, its sizes still right
    truncateSync(join(ck(dir, 4), STATE_FILE), 3); // older: damaged
    rmSync(join(ck(dir, 6), MANIFEST_FILE)); // a torn write, older than the newest complete one
    await pruneCheckpoints(dir, 2);
    const left = readdirSync(dir).filter((n) => n.startsWith('checkpoint-')).sort();
    // checkpoint-8 and -2: the newest 2 intact ones; -10 and -4 damaged, kept; -6 (no manifest) removed
    expect(left).toEqual(['checkpoint-10', 'checkpoint-2', 'checkpoint-4', 'checkpoint-8']);
    expect(await checkpointDamage(ck(dir, 8))).toBeNull();
    expect(await checkpointDamage(ck(dir, 2))).toBeNull();
    await pruneCheckpoints(dir, 1);
    expect(readdirSync(dir).filter((n) => n.startsWith('checkpoint-')).sort()).toEqual(['checkpoint-10', 'checkpoint-4', 'checkpoint-8']);
  });
});
