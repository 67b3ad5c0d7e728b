// Fixes from a second new-user walkthrough of the example (every command and flag of the README run by hand).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MANIFEST_FILE, STATE_FILE, TRAINABLE_FILE, writeCheckpoint } from '@conifer/trainer';
import { afterAll, describe, expect, it } from 'vitest';
import { commandHelp } from '../src/args.js';
import { main } from '../src/main.js';
import { checkResumeCheckpoint } from '../src/pipeline/checkpoint-integrity.js';
import { capture } from './capture.js';

const tmp = mkdtempSync(join(tmpdir(), 'conifer-walkthrough-2-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A small AdamW checkpoint at `step` under `dir` (two variables, as the trainer writes it). */
async function checkpoint(dir: string, step: number): Promise<string> {
  const values = (n: number, x: number) => new Float32Array(n).fill(x);
  return writeCheckpoint(dir, step, {
    variables: { 'a.lora_A.weight': { shape: [2, 4], values: values(8, 0.5) }, 'a.lora_B.weight': { shape: [4, 2], values: values(8, 0) } },
    optimizer: { step, m: { 'a.lora_A.weight': values(8, 0), 'a.lora_B.weight': values(8, 0) }, v: { 'a.lora_A.weight': values(8, 0), 'a.lora_B.weight': values(8, 0) } },
    state: { step, epoch: 0 },
  });
}

/** Overwrites bytes of `file` at `at`, keeping its size. */
function scribble(file: string, at: number, text: string): void {
  const bytes = readFileSync(file);
  bytes.write(text, at, 'latin1');
  writeFileSync(file, bytes);
}

/** A fresh `checkpoints` folder under `tmp`. */
function freshDir(name: string): string {
  const dir = join(tmp, name, 'checkpoints');
  mkdirSync(dir, { recursive: true });
  return dir;
}

describe('--resume refuses a damaged checkpoint (checkResumeCheckpoint) instead of starting over', () => {
  it('an intact checkpoint, or none, passes; a folder without a manifest (a write that was killed) is passed over', async () => {
    const dir = freshDir('intact');
    await expect(checkResumeCheckpoint(dir)).resolves.toBeNull(); // no checkpoint: a fresh start, as before
    await expect(checkResumeCheckpoint(join(tmp, 'no-such-folder'))).resolves.toBeNull();
    const three = await checkpoint(dir, 3);
    await expect(checkResumeCheckpoint(dir)).resolves.toBe(three);
    rmSync(join(await checkpoint(dir, 5), MANIFEST_FILE)); // killed before its manifest: the trainer resumes from checkpoint-3
    await expect(checkResumeCheckpoint(dir)).resolves.toBe(three);
  });

  it('a truncated file: the folder, the sizes, and what to do (the only checkpoint: delete it to start over)', async () => {
    const dir = freshDir('truncated');
    const folder = await checkpoint(dir, 3);
    const size = statSync(join(folder, TRAINABLE_FILE)).size;
    truncateSync(join(folder, TRAINABLE_FILE), 100);
    await expect(checkResumeCheckpoint(dir)).rejects.toThrow(
      `--resume: ${folder} is damaged: ${TRAINABLE_FILE} is 100 bytes, its manifest says ${size.toLocaleString('en-US')} bytes. Restore that folder, or delete it to resume from the start (no older checkpoint)`,
    );
  });

  it('the newest damaged, an older one intact: the error names the older one to resume from', async () => {
    const dir = freshDir('newer-damaged');
    const older = await checkpoint(dir, 2);
    const newer = await checkpoint(dir, 4);
    rmSync(join(newer, STATE_FILE));
    await expect(checkResumeCheckpoint(dir)).rejects.toThrow(`--resume: ${newer} is damaged: ${STATE_FILE} is missing. Restore that folder, or delete it to resume from ${older}`);
  });

  it('the sizes right but a header or the state unreadable: named as well', async () => {
    const dir = freshDir('scribbled');
    const folder = await checkpoint(dir, 3);
    scribble(join(folder, TRAINABLE_FILE), 8, 'XXXX'); // the header's first bytes (its JSON) overwritten
    await expect(checkResumeCheckpoint(dir)).rejects.toThrow(new RegExp(`^--resume: ${folder} is damaged: ${TRAINABLE_FILE}: header is not valid JSON`));
    const dir2 = freshDir('scribbled-state');
    const folder2 = await checkpoint(dir2, 3);
    scribble(join(folder2, STATE_FILE), 0, '}');
    await expect(checkResumeCheckpoint(dir2)).rejects.toThrow(new RegExp(`^--resume: ${folder2} is damaged: ${STATE_FILE} is not valid JSON`));
    const dir3 = freshDir('scribbled-manifest');
    const folder3 = await checkpoint(dir3, 3);
    scribble(join(folder3, MANIFEST_FILE), 0, '}');
    await expect(checkResumeCheckpoint(dir3)).rejects.toThrow(new RegExp(`^--resume: ${folder3} is damaged: its ${MANIFEST_FILE} manifest is not valid JSON`));
  });

  it('train --resume on a truncated checkpoint: one line, exit 1, before the model loads; the checkpoint is kept and nothing is written', async () => {
    const out = join(tmp, 'cli-run');
    const folder = await checkpoint(join(out, 'checkpoints'), 3);
    truncateSync(join(folder, TRAINABLE_FILE), 1000);
    const c = capture();
    const code = await main(['train', '--limit', '24', '--batch-size', '2', '--grad-accum', '1', '--max-steps', '5', '--resume', '--out', out], c.io);
    expect(code).toBe(1);
    expect(c.err).toEqual([expect.stringMatching(new RegExp(`^conifer-train-ul2-dolly: --resume: ${folder} is damaged: ${TRAINABLE_FILE} is 1,000 bytes`))]);
    expect(c.out.some((l) => l.startsWith('  backend'))).toBe(false); // refused after the plan, before the backend and the model
    expect(existsSync(folder)).toBe(true);
    expect(existsSync(join(out, 'adapter'))).toBe(false);
  });
});

describe('help', () => {
  it("generate and eval's --model is a folder or a hub id: no bare config.json (that is train --dry-run's), which they refuse", async () => {
    expect(commandHelp('train')).toMatch(/--model DIR\|FILE\|ID +Hugging Face snapshot folder, a bare config\.json \(--dry-run\)/);
    for (const cmd of ['generate', 'eval'] as const) {
      const help = commandHelp(cmd);
      expect(help, cmd).toMatch(/\n  --model DIR\|ID +Hugging Face snapshot folder \(config\.json \+ safetensors weights\), or a hub id such as google\/flan-ul2 \(default: the embedded demo model/);
      expect(help, cmd).not.toMatch(/bare config|--dry-run/);
    }
  });
});

