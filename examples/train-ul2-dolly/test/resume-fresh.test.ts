// `--resume` on an `--out` without a checkpoint starts a fresh run (job scripts that always pass it rely on this), and is
// one in every respect: it says so in one line, evaluates before training, and its plan counts that evaluation (and, with
// --eval-on-start --predict-with-generate, its generation). Resuming is --resume AND a checkpoint to resume
// (checkResumeCheckpoint: @conifer/trainer's checkpointToResume), in the real run and in the --dry-run plan alike.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MANIFEST_FILE, TRAINABLE_FILE, writeCheckpoint } from '@conifer/trainer';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { parseCommandLine } from '../src/args.js';
import { main } from '../src/main.js';
import type { TrainOptions } from '../src/options.js';
import { trainPlan } from '../src/train.js';
import { capture } from './capture.js';

const tmp = mkdtempSync(join(tmpdir(), 'conifer-resume-fresh-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// 48 records (38 train / 10 test), micro-batches of 2, accumulation 2: 10 steps per epoch, --max-steps of them run
const TINY = ['train', '--backend', 'wasm', '--limit', '48', '--batch-size', '2', '--grad-accum', '2', '--lr', '3e-3', '--max-source-length', '48', '--max-target-length', '24'];

/** A small AdamW checkpoint at `step` under `out`/checkpoints (as the trainer writes it; the dry run reads only its files). */
async function checkpoint(out: string, step: number): Promise<string> {
  const dir = join(out, 'checkpoints');
  mkdirSync(dir, { recursive: true });
  const values = (n: number, x: number) => new Float32Array(n).fill(x);
  return writeCheckpoint(dir, step, {
    variables: { 'a.lora_A.weight': { shape: [2, 4], values: values(8, 0.5) }, 'a.lora_B.weight': { shape: [4, 2], values: values(8, 0) } },
    optimizer: { step, m: { 'a.lora_A.weight': values(8, 0), 'a.lora_B.weight': values(8, 0) }, v: { 'a.lora_A.weight': values(8, 0), 'a.lora_B.weight': values(8, 0) } },
    state: { step, cursor: { epoch: 0, position: 2 * step }, lastEvalStep: -1 }, // the fields the plan reads (src/pipeline/resume-point.ts)
  });
}

/** The dry run's output: the evals line's count, the generating ones among them, and the lines. */
async function dryRun(out: string, ...flags: string[]) {
  const c = capture();
  const code = await main([...TINY, '--max-steps', '4', '--dry-run', '--out', out, ...flags], c.io);
  const text = c.out.join('\n');
  const evals = /^ +evals +(\d+) × /m.exec(text);
  // the generation's count is printed when it differs from the evaluations'
  const generating = /generation ≤ [^,:]+, in (\d+) of them/.exec(text);
  return { code, ...c, text, evals: evals ? Number(evals[1]) : null, generating: generating ? Number(generating[1]) : evals ? Number(evals[1]) : null };
}

const FRESH = /^--resume: no checkpoint under .*checkpoints: a fresh run$/m;

describe('the --dry-run plan: resuming = --resume and a checkpoint under --out/checkpoints', () => {
  // 4 steps, no epoch end, no --eval-every: no evaluation during training, one after it; the one before only on a fresh start
  it('--resume on an --out without a checkpoint counts the evaluation before training, as a run without --resume', async () => {
    const empty = join(tmp, 'empty'); // no folder at all
    const plain = await dryRun(empty);
    expect(plain.evals).toBe(2);
    const fresh = await dryRun(empty, '--resume');
    expect(fresh.code).toBe(0);
    expect(fresh.err).toEqual([]);
    expect(fresh.evals).toBe(2);
    expect(fresh.text).toMatch(FRESH);
    expect(plain.text).not.toMatch(/^--resume/m);
    // a checkpoints folder holding only a run record and a checkpoint whose write was killed (no manifest): still none
    const partial = join(tmp, 'partial');
    rmSync(join(await checkpoint(partial, 2), MANIFEST_FILE));
    expect((await dryRun(partial, '--resume')).evals).toBe(2);
  });

  it('--resume with a checkpoint: no evaluation before training, and no "fresh run" line', async () => {
    const out = join(tmp, 'resumed');
    await checkpoint(out, 2);
    const resumed = await dryRun(out, '--resume');
    expect(resumed.code).toBe(0);
    expect(resumed.err).toEqual([]);
    expect(resumed.evals).toBe(1);
    expect(resumed.text).not.toMatch(/^--resume/m);
  });

  it('--eval-on-start --predict-with-generate: the trainer evaluates (and generates) at step 0 when it starts fresh, not when it resumes', async () => {
    const gen = ['--eval-on-start', '--predict-with-generate'];
    const fresh = await dryRun(join(tmp, 'fresh-on-start'), '--resume', ...gen);
    expect([fresh.evals, fresh.generating]).toEqual([2, 1]); // step 0 (generates) + the app's after training
    const out = join(tmp, 'resumed-on-start');
    await checkpoint(out, 2);
    const resumed = await dryRun(out, '--resume', ...gen);
    expect([resumed.evals, resumed.generating]).toEqual([1, 0]); // @conifer/trainer: evalOnStart only at step 0
    // without --resume, as a fresh --resume
    expect([(await dryRun(join(tmp, 'plain-on-start'), ...gen)).evals]).toEqual([2]);
  });

  it('a damaged checkpoint: the dry run refuses it as the real run does (one line, no plan)', async () => {
    const out = join(tmp, 'damaged');
    const folder = await checkpoint(out, 2);
    rmSync(join(folder, TRAINABLE_FILE));
    const r = await dryRun(out, '--resume');
    expect(r.code).toBe(1);
    expect(r.err).toEqual([`conifer-train-ul2-dolly: --resume: ${folder} is damaged: ${TRAINABLE_FILE} is missing. Restore that folder, or delete it to resume from the start (no older checkpoint)`]);
    expect(r.evals).toBeNull();
  });

  it('trainPlan: the checkpoint it is given, not --resume, decides', async () => {
    const p = parseCommandLine([...TINY, '--max-steps', '4', '--resume', '--eval-on-start', '--out', join(tmp, 'unused')]);
    if (p.kind !== 'run' || p.options.command !== 'train') throw new Error('expected train options');
    const opts: TrainOptions = p.options;
    expect(trainPlan(opts).evals.count).toBe(2);
    expect(trainPlan(opts, null).evals.count).toBe(2);
    expect(trainPlan(opts, { step: 2, epoch: 0, position: 4, evaluated: false }).evals.count).toBe(1);
  });
});

describe('a real run with --resume on an empty --out', () => {
  async function run(out: string, ...flags: string[]) {
    const c = capture();
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation(() => true); // the trainer's progress lines
    try {
      return { code: await main([...TINY, '--out', out, '--resume', ...flags], c.io), ...c, text: c.out.join('\n') };
    } finally {
      spy.mockRestore();
    }
  }

  it('starts fresh, says so, and evaluates before training ("before → after"); resumed, it does not', async () => {
    const out = join(tmp, 'real');
    const fresh = await run(out, '--max-steps', '1');
    expect(fresh.err).toEqual([]);
    expect(fresh.code).toBe(0);
    expect(fresh.text).toMatch(FRESH);
    expect(fresh.text).toMatch(/^ +evals +2 × /m);
    const before = /^eval loss before training: (\d+\.\d{4}) per target token/m.exec(fresh.text);
    expect(before).not.toBeNull();
    expect(fresh.text).toMatch(new RegExp(`^eval loss after training: +\\d+\\.\\d{4} per target token \\(was ${before![1]!.replace('.', '\\.')}\\)`, 'm'));
    // now checkpoint-1 is there: --resume continues it (one more step), with no evaluation of the fresh adapter before
    const resumed = await run(out, '--max-steps', '2');
    expect(resumed.err).toEqual([]);
    expect(resumed.code).toBe(0);
    expect(resumed.text).not.toMatch(/^--resume/m);
    expect(resumed.text).not.toMatch(/eval loss before training/);
    expect(resumed.text).toMatch(/^ +evals +1 × /m);
    expect(resumed.text).toMatch(/stopped: maxSteps after 2 optimizer steps/);
  }, 240_000);
});
