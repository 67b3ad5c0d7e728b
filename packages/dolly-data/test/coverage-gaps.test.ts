// Paths a coverage run showed no test reached: the CLI's usage errors and help, broken tokenizer
// folders, a tokenizer without T5's special tokens, a second T5Tokenizer over the same tokenizers.js
// Tokenizer, empty inputs to the sampler and planner, the default hub cache folder.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { BatchSampler, bundledTokenizerDir, hubCachePath, loadT5Tokenizer, T5Tokenizer, tokenBudgetPlan } from '../src';
import { STATS_USAGE } from '../src/stats-command';
import { fixture, readJsonFixture, type TokenizerCase } from './helpers';

const run = promisify(execFile);
const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const bin = (...args: string[]) =>
  run(process.execPath, ['--import', 'tsx', cli, ...args]).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'conifer-dolly-gaps-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('conifer-dolly: usage', () => {
  it('help on stdout with status 0; no command is status 2; a missing or second FILE is status 2 with the stats usage', async () => {
    const help = await bin('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: conifer-dolly <command>\n/);
    expect((await bin('-h')).code).toBe(0);
    const none = await bin();
    expect(none.code).toBe(2);
    expect(none.stdout).toMatch(/^usage: conifer-dolly <command>/);
    const statsHelp = await bin('stats', '--help');
    expect(statsHelp).toMatchObject({ code: 0, stdout: `${STATS_USAGE}\n` });
    for (const args of [['stats'], ['stats', fixture('no-final-newline.jsonl'), fixture('no-final-newline.jsonl')]]) {
      const r = await bin(...args);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`conifer-dolly stats: expected one FILE\n\n${STATS_USAGE}\n`);
    }
  }, 60_000);

  it('a bad option value or an unknown option: a usage error (status 2, as the other usage errors) and one line naming it; the options reach the report', async () => {
    const f = fixture('no-final-newline.jsonl');
    const zero = await bin('stats', '--batch-size', '0', f);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toBe('conifer-dolly: --batch-size must be a positive integer, got "0"\n');
    const abc = await bin('stats', '--max-tokens', 'abc', f);
    expect(abc.code).toBe(2);
    expect(abc.stderr).toBe('conifer-dolly: --max-tokens must be a positive integer, got "abc"\n');
    // Number() would read these as 16, 1000 and 2 (Python's int() refuses them)
    for (const v of ['0x10', '1e3', '2.0']) {
      const r = await bin('stats', '--batch-size', v, f);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`conifer-dolly: --batch-size must be a positive integer, got "${v}"\n`);
    }
    const unknown = await bin('stats', '--bogus', f);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(unknown.stderr).toMatch(/^conifer-dolly: Unknown option '--bogus'/);
    const ok = await bin('stats', '--json', '--max-source-length', '4', '--batch-size', '2', '--max-tokens', '64', '--seed', '7', f);
    expect(ok.code).toBe(0);
    const report = JSON.parse(ok.stdout) as { records: number; source: { truncated: number }; paddingFixed: { batchSize: number; batches: number }; paddingTokenBudget: { maxTokens: number } };
    expect(report.records).toBe(3);
    expect(report.paddingFixed).toMatchObject({ batchSize: 2, batches: 2 }); // 3 records in batches of 2
    expect(report.paddingTokenBudget.maxTokens).toBe(64);
    expect(report.source.truncated).toBeGreaterThan(0); // lengths above 4 counted
  }, 60_000);
});

describe('tokenizer folders and vocabularies', () => {
  const bundled = () => JSON.parse(readFileSync(join(bundledTokenizerDir(), 'tokenizer.json'), 'utf8')) as {
    model: { vocab: Array<[string, number]> };
    added_tokens: Array<{ id: number; content: string }>;
  };

  it('invalid JSON in tokenizer.json or tokenizer_config.json is one error naming the file', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'tokenizer.json'), '{"model": ');
    await expect(loadT5Tokenizer(dir)).rejects.toThrow(new RegExp(`^${join(dir, 'tokenizer.json').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: invalid JSON \\(`));
    writeFileSync(join(dir, 'tokenizer.json'), readFileSync(join(bundledTokenizerDir(), 'tokenizer.json')));
    writeFileSync(join(dir, 'tokenizer_config.json'), '{ not json');
    await expect(loadT5Tokenizer(dir)).rejects.toThrow(`${join(dir, 'tokenizer_config.json')}: invalid JSON (`);
    rmSync(join(dir, 'tokenizer_config.json')); // optional: absent is fine
    expect((await loadT5Tokenizer(dir)).encode('Write')).toEqual([8733, 1]);
  });

  it('a vocabulary without <pad> or </s> is refused as not a T5 tokenizer', () => {
    for (const piece of ['<pad>', '</s>']) {
      const json = bundled();
      json.model.vocab = json.model.vocab.map(([p, s]) => [p === piece ? `${piece}-renamed` : p, s] as [string, number]);
      json.added_tokens = json.added_tokens.filter((t) => t.content !== piece);
      expect(() => T5Tokenizer.fromJSON(json, {}, { wordCacheSize: 0 })).toThrow('not a T5 tokenizer: <pad> or </s> is missing from the vocabulary');
    }
  });

  it('a wordCacheSize that is not an integer >= 0 is one error naming it (NaN used to give a cache without bound)', async () => {
    for (const bad of [Number.NaN, -1, 1.5]) {
      // checked before any file is read: this folder does not exist
      await expect(loadT5Tokenizer('/nonexistent-dir', { wordCacheSize: bad })).rejects.toThrow(`wordCacheSize must be an integer >= 0, got ${bad}`);
    }
    expect(() => T5Tokenizer.fromJSON(bundled(), {}, { wordCacheSize: Number.NaN })).toThrow('wordCacheSize must be an integer >= 0, got NaN');
  });

  it('a second T5Tokenizer over the same tokenizers.js Tokenizer keeps the Rust reference ids (consecutive unknowns fused)', () => {
    const { cases } = readJsonFixture<{ cases: TokenizerCase[] }>('tokenizer-t5.json');
    const withUnknowns = cases.filter((c) => c.ids.includes(2));
    expect(withUnknowns.length).toBeGreaterThanOrEqual(5);
    const first = T5Tokenizer.fromJSON(bundled(), {});
    const second = new T5Tokenizer(first.tokenizer);
    for (const c of withUnknowns) {
      expect(second.encode(c.text)).toEqual(c.ids);
      expect(first.encode(c.text)).toEqual(c.ids);
    }
  });
});

describe('empty or invalid inputs', () => {
  it('BatchSampler refuses an empty example list; tokenBudgetPlan a maxBatchSize below 1', () => {
    expect(() => new BatchSampler([], { batching: { kind: 'fixed', batchSize: 2 } })).toThrow(
      'BatchSampler: no examples',
    );
    const lengths = [{ source: 3, target: 2 }];
    expect(() => tokenBudgetPlan(lengths, { maxTokens: 16, maxBatchSize: 0 })).toThrow('maxBatchSize must be >= 1, got 0');
    expect(() => tokenBudgetPlan(lengths, { maxTokens: 16, maxBatchSize: Number.NaN })).toThrow('maxBatchSize must be >= 1, got NaN');
    expect(() => tokenBudgetPlan(lengths, { maxTokens: 16, maxBatchSize: 2.5 })).toThrow('maxBatchSize must be a whole number (or Infinity), got 2.5');
    expect(tokenBudgetPlan(lengths, { maxTokens: 16, maxBatchSize: 1 })).toEqual([[0]]);
    expect(tokenBudgetPlan(lengths, { maxTokens: 16, maxBatchSize: Infinity })).toEqual([[0]]);
  });

  it('BatchSampler checks padToMultipleOf when built, for fixed batches too (collate would only meet it at the first batch)', () => {
    const one = [{ sourceIds: Int32Array.of(5, 1), targetIds: Int32Array.of(1), fullSourceLength: 2, fullTargetLength: 1, category: 'c' }];
    expect(() => new BatchSampler(one, { batching: { kind: 'fixed', batchSize: 2 }, padToMultipleOf: 0 })).toThrow(
      'padToMultipleOf must be an integer >= 1, got 0',
    );
  });

  it("the hub cache defaults to ~/.cache/conifer/hub (README)", () => {
    expect(hubCachePath()).toBe(join(homedir(), '.cache', 'conifer', 'hub', 'datasets--databricks--databricks-dolly-15k', 'main', 'databricks-dolly-15k.jsonl'));
  });
});
