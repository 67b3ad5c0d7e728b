// --resume against the data flags and the cadence (src/pipeline/resume-check.ts): the flags whose change would make the
// resumed run silently wrong (other records or split, other texts, another batch plan under the saved cursor, another
// number of steps per epoch under the saved step count) are refused before the model loads, one line naming the values
// to resume with; the logging / eval / save cadence (transformers' compare_trainer_and_checkpoint_args warns about
// logging_steps, eval_steps, save_steps) is one warning on stderr; a record without the fields checks nothing of them.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { bundledDollyPath } from '@conifer/dolly-data';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseCommandLine } from '../src/args.js';
import { main } from '../src/main.js';
import type { TrainOptions } from '../src/options.js';
import { RESUME_DATA_FLAGS, RESUME_WARNED_FLAGS, RUN_FLAGS_FILE, checkResumeFlags, writeRunRecord } from '../src/pipeline/resume-check.js';
import { capture } from './capture.js';

const tmp = mkdtempSync(join(tmpdir(), 'conifer-resume-flags-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// the demo model, 24 records (19 train / 5 test), micro-batches of 4, one optimizer step: checkpoint-1
const TINY = ['train', '--backend', 'wasm', '--limit', '24', '--max-steps', '1', '--batch-size', '4', '--grad-accum', '2', '--lr', '1e-9', '--max-source-length', '40', '--max-target-length', '20', '--r', '4', '--lora-alpha', '8'];
const out = join(tmp, 'run');
const checkpoints = join(out, 'checkpoints');
// a Dolly-format file other than the shipped copy: its first 30 lines
const otherData = join(tmp, 'dolly-30.jsonl');

const parsed = (...flags: string[]): TrainOptions => {
  const p = parseCommandLine([...TINY, '--out', out, ...flags]);
  if (p.kind !== 'run' || p.options.command !== 'train') throw new Error('expected train options');
  return p.options;
};
const record = (dir = checkpoints) => JSON.parse(readFileSync(join(dir, RUN_FLAGS_FILE), 'utf8')) as Record<string, unknown>;

/** A copy of the run's checkpoints with `run-flags.json` replaced by `flags` (or left out). */
function copyWithRecord(flags: Record<string, unknown> | null): string {
  const dir = mkdtempSync(join(tmp, 'ckpt-'));
  cpSync(checkpoints, dir, { recursive: true });
  if (flags) writeFileSync(join(dir, RUN_FLAGS_FILE), JSON.stringify(flags));
  else rmSync(join(dir, RUN_FLAGS_FILE));
  return dir;
}

async function quietMain(argv: string[]) {
  const c = capture();
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation(() => true); // the trainer's progress lines
  try {
    return { code: await main(argv, c.io), ...c };
  } finally {
    spy.mockRestore();
  }
}

beforeAll(async () => {
  writeFileSync(otherData, readFileSync(bundledDollyPath(), 'utf8').split('\n').slice(0, 30).join('\n'));
  const r = await quietMain([...TINY, '--out', out]);
  expect(r.err).toEqual([]);
  expect(r.code).toBe(0);
}, 120_000);

describe('the run record', () => {
  it('holds the data flags and the cadence as this run used them (null: not given)', () => {
    expect(record()).toEqual({
      use_rslora: false, init_lora_weights: true, prompt_template: 'original', pad_to_multiple_of: 1,
      data: null, limit: 24, seed: 42, max_source_length: 40, max_target_length: 20, batch_tokens: null, per_device_train_batch_size: 4, gradient_accumulation_steps: 2,
      logging_steps: 1, eval_steps: null, save_steps: null,
    });
  });
});

describe('--resume refuses a data flag that differs, before the model loads', () => {
  const refused = async (...flags: string[]) => {
    const r = await quietMain([...TINY, '--out', out, '--resume', ...flags]);
    expect(r.code).toBe(1);
    expect(r.err).toHaveLength(1);
    expect(r.out.join('\n')).not.toMatch(/^ +backend +/m); // no backend set up, so no model loaded
    return r.err[0]!;
  };
  const tail = ': resume with the same flags, or give another --out$';

  it.each([
    // [flags of this run, what the error names]
    [['--seed', '7'], '--seed 42 \\(this run: 7\\)'],
    [['--limit', '30'], '--limit 24 \\(this run: 30\\)'],
    [['--batch-size', '2'], '--batch-size 4 \\(this run: 2\\)'],
    [['--grad-accum', '1'], '--grad-accum 2 \\(this run: 1\\)'],
  ])('%j', async (flags, named) => {
    expect(await refused(...flags)).toMatch(new RegExp(`^conifer-train-ul2-dolly: --resume: .*checkpoint-1 was written with ${named}${tail}`));
  });

  it('--batch-tokens: another batch plan under the cursor (the run had fixed batches); --batch-size then sizes only the eval batches', async () => {
    const without = TINY.filter((_, i) => TINY[i] !== '--batch-size' && TINY[i - 1] !== '--batch-size');
    const r = await quietMain([...without, '--batch-tokens', '240', '--out', out, '--resume']);
    expect(r.code).toBe(1);
    // the demo's default --batch-size (4) is not compared under --batch-tokens: only --batch-tokens is named
    expect(r.err).toEqual([expect.stringMatching(new RegExp(`checkpoint-1 was written with no --batch-tokens \\(this run: 240\\)${tail}`))]);
  });

  it('--data: another file (by its absolute path); the shipped copy named by its path is the default', async () => {
    const esc = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    // the file goes by its absolute path: the error says how to resume the same data moved elsewhere
    const hint = ` \\(the same data at another path: set "data" in ${esc(join(checkpoints, RUN_FLAGS_FILE))}\\)`;
    expect(await refused('--data', otherData)).toMatch(new RegExp(`was written with no --data \\(this run: ${esc(resolve(otherData))}\\): resume with the same flags${hint}, or give another --out$`));
    expect(await checkResumeFlags(checkpoints, parsed('--data', bundledDollyPath(), '--resume'))).toBeNull();
  });

  it('several: one line naming each, with the LoRA flags first', async () => {
    expect(await refused('--use-rslora', '--seed', '7', '--grad-accum', '4')).toMatch(
      new RegExp(`was written with no --use-rslora \\(this run: with it\\) and --seed 42 \\(this run: 7\\) and --grad-accum 2 \\(this run: 4\\)${tail}`),
    );
  });

  it('the same flags, and flags that are not data flags (the schedule: the trainer compares it), pass the check', async () => {
    expect(await checkResumeFlags(checkpoints, parsed('--resume'))).toBeNull();
    expect(await checkResumeFlags(checkpoints, parsed('--resume', '--max-steps', '3', '--lr', '1e-3', '--epochs', '2'))).toBeNull();
  });
});

describe('--max-source-length / --max-target-length', () => {
  it('with fixed batches: one warning (the same records, other lengths), the run goes on and the record takes the new lengths', async () => {
    // on a copy of the run (the other tests resume the original's record)
    const copy = join(tmp, 'run-lengths');
    cpSync(out, copy, { recursive: true });
    const copyCheckpoints = join(copy, 'checkpoints');
    const r = await quietMain([...TINY.map((a, i) => (TINY[i - 1] === '--max-source-length' ? '32' : a)), '--out', copy, '--resume', '--logging-steps', '2']);
    expect(r.code).toBe(0);
    expect(r.err).toEqual([
      expect.stringMatching(/^warning: --resume: .*checkpoint-1 was written with --max-source-length 40 \(this run: 32\): this run keeps its own lengths of the same records from here on \(evaluations then measure another truncation than the best so far\); and with --logging-steps 1 \(this run: 2\): this run logs, evaluates and saves with its own$/),
    ]);
    expect(record(copyCheckpoints)).toMatchObject({ max_source_length: 32, max_target_length: 20, logging_steps: 2, seed: 42 });
    expect(await checkResumeFlags(copyCheckpoints, parsed('--resume', '--max-source-length', '32', '--logging-steps', '2'))).toBeNull();
    expect(await checkResumeFlags(copyCheckpoints, parsed('--resume', '--max-source-length', '32', '--max-target-length', '16', '--logging-steps', '2'))).toMatch(
      /written with --max-target-length 20 \(this run: 16\): this run keeps its own lengths/,
    );
  }, 120_000);

  it('under --batch-tokens (the run’s or this one’s): refused, they size the buckets the cursor counts in', async () => {
    const dir = copyWithRecord({ ...record(), batch_tokens: 240 });
    const p = parseCommandLine([...TINY.filter((_, i) => TINY[i] !== '--batch-size' && TINY[i - 1] !== '--batch-size'), '--batch-tokens', '240', '--out', out, '--resume']);
    if (p.kind !== 'run' || p.options.command !== 'train') throw new Error('expected train options');
    await expect(checkResumeFlags(dir, { ...p.options, maxSourceLength: 48 })).rejects.toThrow(/was written with --max-source-length \d+ \(this run: 48\) and|was written with --max-source-length \d+ \(this run: 48\): resume/);
    await expect(checkResumeFlags(dir, { ...p.options, maxTargetLength: 12 })).rejects.toThrow(/--max-target-length \d+ \(this run: 12\): resume with the same flags/);
  });
});

describe('a token-budget run', () => {
  const tokenRun = (o: Record<string, unknown> = {}) => ({ ...record(), batch_tokens: 240, ...o });

  it('refuses another --batch-tokens or none; its --batch-size (eval batches only) is not compared', async () => {
    const dir = copyWithRecord(tokenRun());
    const withTokens = (n: string) => {
      const p = parseCommandLine([...TINY.filter((_, i) => TINY[i] !== '--batch-size' && TINY[i - 1] !== '--batch-size'), '--batch-tokens', n, '--out', out, '--resume']);
      if (p.kind !== 'run' || p.options.command !== 'train') throw new Error('expected train options');
      return p.options;
    };
    expect(await checkResumeFlags(dir, withTokens('240'))).toBeNull();
    expect(await checkResumeFlags(dir, { ...withTokens('240'), batchSize: 16 })).toBeNull();
    await expect(checkResumeFlags(dir, withTokens('480'))).rejects.toThrow(/was written with --batch-tokens 240 \(this run: 480\): resume/);
    await expect(checkResumeFlags(dir, parsed('--resume'))).rejects.toThrow(/was written with --batch-tokens 240 \(this run: without\): resume/);
  });
});

describe('--resume warns about the cadence (logging / eval / save steps), once, and goes on', () => {
  it('one warning line on stderr naming each; the record then holds this run’s cadence, so the next resume is quiet', async () => {
    const r = await quietMain([...TINY, '--out', out, '--resume', '--logging-steps', '2', '--eval-every', '5', '--save-every', '3']);
    expect(r.code).toBe(0);
    expect(r.err).toEqual([
      expect.stringMatching(/^warning: --resume: .*checkpoint-1 was written with --logging-steps 1 \(this run: 2\) and no --eval-every \(this run: 5\) and no --save-every \(this run: 3\): this run logs, evaluates and saves with its own$/),
    ]);
    expect(r.out.join('\n')).toMatch(/stopped: \w+ after 1 optimizer steps/);
    expect(record()).toMatchObject({ logging_steps: 2, eval_steps: 5, save_steps: 3, seed: 42, limit: 24 });
    expect(await checkResumeFlags(checkpoints, parsed('--resume', '--logging-steps', '2', '--eval-every', '5', '--save-every', '3'))).toBeNull();
    // and back: the warning names the new values
    expect(await checkResumeFlags(checkpoints, parsed('--resume'))).toMatch(/written with --logging-steps 2 \(this run: 1\) and --eval-every 5 \(this run: without\) and --save-every 3 \(this run: without\): this run/);
    // a warned flag never hides a refused one
    await expect(checkResumeFlags(checkpoints, parsed('--resume', '--seed', '1'))).rejects.toThrow(/was written with --seed 42 \(this run: 1\): resume/);
  }, 120_000);
});

describe('records written before these fields', () => {
  const OLD = { use_rslora: false, init_lora_weights: true, prompt_template: 'original', pad_to_multiple_of: 1 };

  it('a record without the data fields checks none of them (and warns about nothing), but still the LoRA flags', async () => {
    const dir = copyWithRecord(OLD);
    const other = parsed('--resume', '--seed', '7', '--limit', '30', '--max-source-length', '48', '--max-target-length', '24', '--batch-size', '2', '--grad-accum', '1', '--logging-steps', '3', '--eval-every', '2', '--data', otherData);
    expect(await checkResumeFlags(dir, other)).toBeNull();
    await expect(checkResumeFlags(dir, { ...other, useRslora: true })).rejects.toThrow(/was written with no --use-rslora \(this run: with it\): resume/);
    // no record at all: nothing of it is checked
    expect(await checkResumeFlags(copyWithRecord(null), { ...other, useRslora: true })).toBeNull();
  });

  it('a field at a time: each present field is checked, each missing one is not', async () => {
    // every flag changed at once; a record with one of the fields names that one alone
    const changed = { ...parsed('--resume', '--seed', '7', '--limit', '30', '--max-source-length', '48', '--max-target-length', '24', '--batch-size', '2', '--grad-accum', '1', '--logging-steps', '3', '--eval-every', '2', '--save-every', '2', '--data', otherData) };
    const cases: Array<[field: string, recorded: unknown, named: string, flags?: Partial<TrainOptions>]> = [
      ['data', null, `no --data (this run: ${resolve(otherData)})`],
      ['limit', 24, '--limit 24 (this run: 30)'],
      ['seed', 42, '--seed 42 (this run: 7)'],
      ['max_source_length', 40, '--max-source-length 40 (this run: 48)'],
      ['max_target_length', 20, '--max-target-length 20 (this run: 24)'],
      ['batch_tokens', null, 'no --batch-tokens (this run: 480)', { batchTokens: 480 }],
      ['per_device_train_batch_size', 4, '--batch-size 4 (this run: 2)'],
      ['gradient_accumulation_steps', 2, '--grad-accum 2 (this run: 1)'],
      ['logging_steps', 1, '--logging-steps 1 (this run: 3)'],
      ['eval_steps', null, 'no --eval-every (this run: 2)'],
      ['save_steps', 4, '--save-every 4 (this run: 2)'],
    ];
    expect(cases.map(([field]) => field)).toEqual([...RESUME_DATA_FLAGS, ...RESUME_WARNED_FLAGS].map((f) => f.field));
    for (const [field, recorded, named, flags] of cases) {
      const dir = copyWithRecord({ ...OLD, [field]: recorded });
      const result = await checkResumeFlags(dir, { ...changed, ...flags }).then((warning) => ({ warning }), (e: Error) => ({ error: e.message }));
      const warned = RESUME_WARNED_FLAGS.some((f) => f.field === field);
      const lengthWarned = field === 'max_source_length' || field === 'max_target_length'; // fixed batches: warned
      expect(result).toEqual(lengthWarned
        ? { warning: `warning: --resume: ${join(dir, 'checkpoint-1')} was written with ${named}: this run keeps its own lengths of the same records from here on (evaluations then measure another truncation than the best so far)` }
        : warned
        ? { warning: `warning: --resume: ${join(dir, 'checkpoint-1')} was written with ${named}: this run logs, evaluates and saves with its own` }
        : { error: `--resume: ${join(dir, 'checkpoint-1')} was written with ${named}: resume with the same flags${field === 'data' ? ` (the same data at another path: set "data" in ${join(dir, RUN_FLAGS_FILE)})` : ''}, or give another --out` });
    }
  });

  it('a resumed run completes an old record with its own flags (its checkpoints follow them), keeping the recorded ones', async () => {
    const dir = copyWithRecord(OLD);
    await writeRunRecord(dir, { ...parsed('--logging-steps', '2', '--seed', '7'), resume: true });
    expect(record(dir)).toEqual({
      ...OLD, data: null, limit: 24, seed: 7, max_source_length: 40, max_target_length: 20, batch_tokens: null, per_device_train_batch_size: 4,
      gradient_accumulation_steps: 2, logging_steps: 2, eval_steps: null, save_steps: null,
    });
    // so the next resume checks them
    await expect(checkResumeFlags(dir, parsed('--resume', '--logging-steps', '2'))).rejects.toThrow(/was written with --seed 7 \(this run: 42\): resume/);
    // a recorded field is kept, not overwritten by a resumed run's value
    const partial = copyWithRecord({ ...OLD, seed: 42 });
    await writeRunRecord(partial, { ...parsed('--seed', '9'), resume: true });
    expect(record(partial)).toMatchObject({ seed: 42, limit: 24 });
  });
});
