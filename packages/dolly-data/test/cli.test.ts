import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runStats } from '../src/stats-command';
import { fixture } from './helpers';

const run = promisify(execFile);
const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const opts = { maxSourceLength: 512, maxTargetLength: 512, maxTokens: 4096, batchSize: 8, seed: '42', skipInvalid: false, json: false };

describe('conifer-dolly stats', () => {
  it('reports counts, lengths and padding of a file', async () => {
    const out = await runStats(fixture('dolly-sample.jsonl'), opts);
    expect(out).toContain('dolly-sample.jsonl: 40 records\n');
    expect(out).toMatch(/^ {2}closed_qa +5$/m);
    expect(out).toMatch(/^ {2}source +mean [\d.]+ +p50 [\d.]+ +p90 [\d.]+ +p99 [\d.]+ +max \d+ +truncated 0 \(> 512\)$/m);
    expect(out).toMatch(/token budget 4096 +\d+ batches, padded\/real [\d.]+x/);
    expect(out).toMatch(/random batches of 8 +5 batches/);
  });

  it('--json output, and --skip-invalid counts malformed lines', async () => {
    const report = JSON.parse(await runStats(fixture('broken-json.jsonl'), { ...opts, json: true, skipInvalid: true })) as Record<string, unknown>;
    expect(report).toMatchObject({ records: 3, skippedLines: 1, categories: { brainstorming: 3 } });
    await expect(runStats(fixture('broken-json.jsonl'), opts)).rejects.toThrow(/broken-json\.jsonl:3: invalid JSON/);
  });

  it('--skip-invalid on a file with no valid line fails instead of reporting 0 records', async () => {
    await expect(runStats(fixture('all-invalid.jsonl'), { ...opts, skipInvalid: true })).rejects.toThrow(/all-invalid\.jsonl: no valid records \(2 lines skipped\)$/);
  });

  it('the bin: exit 0 with the report, exit 1 with one line naming file and line, exit 2 on usage errors', async () => {
    const ok = await run(process.execPath, ['--import', 'tsx', cli, 'stats', fixture('no-final-newline.jsonl')]);
    expect(ok.stdout).toContain('no-final-newline.jsonl: 3 records');
    const bad = await run(process.execPath, ['--import', 'tsx', cli, 'stats', fixture('missing-field.jsonl')]).catch((e: { code: number; stderr: string }) => e);
    expect(bad).toMatchObject({ code: 1 });
    expect((bad as { stderr: string }).stderr.trim()).toBe(`conifer-dolly: ${fixture('missing-field.jsonl')}:2: missing field "response"`);
    const none = await run(process.execPath, ['--import', 'tsx', cli, 'stats', '--skip-invalid', fixture('all-invalid.jsonl')]).catch((e: { code: number; stderr: string }) => e);
    expect(none).toMatchObject({ code: 1 });
    expect((none as { stderr: string }).stderr.trim()).toBe(`conifer-dolly: ${fixture('all-invalid.jsonl')}: no valid records (2 lines skipped)`);
    const usage = await run(process.execPath, ['--import', 'tsx', cli, 'frobnicate']).catch((e: { code: number; stderr: string }) => e);
    expect(usage).toMatchObject({ code: 2 });
    expect((usage as { stderr: string }).stderr).toContain('unknown command "frobnicate"');
  }, 60_000);
});
