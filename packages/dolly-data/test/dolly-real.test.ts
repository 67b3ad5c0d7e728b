import { beforeAll, describe, expect, it } from 'vitest';
import {
  bundledDollyPath,
  datasetStats,
  encodeRecords,
  fixedBatchPlan,
  loadDolly,
  loadT5Tokenizer,
  paddingStats,
  splitIndices,
  tokenBudgetPlan,
  type DollyRecord,
  type EncodedExample,
} from '../src';
import { readJsonFixture } from './helpers';

const golden = readJsonFixture<{ records: number; prompt: number[]; response: number[]; category: string[] }>('dolly-token-lengths.json');

// The whole bundled file: read, format and tokenize all 15,011 records once (~10 s).
describe('the bundled databricks-dolly-15k.jsonl', () => {
  let records: DollyRecord[];
  let examples: EncodedExample[];
  beforeAll(async () => {
    records = (await loadDolly(bundledDollyPath())).records;
    examples = encodeRecords(records, await loadT5Tokenizer());
  }, 60_000);

  it('has 15,011 records with the published category counts', () => {
    expect(records).toHaveLength(15_011);
    expect(golden.records).toBe(15_011);
    const stats = datasetStats(examples);
    expect(stats.categories).toEqual({
      open_qa: 3742,
      general_qa: 2191,
      classification: 2136,
      closed_qa: 1773,
      brainstorming: 1766,
      information_extraction: 1506,
      summarization: 1188,
      creative_writing: 709,
    });
    expect(records.map((r) => r.category)).toEqual(golden.category);
  });

  it('token lengths of every prompt and response equal dolly-token-lengths.json', () => {
    const prompt = examples.map((e) => e.fullSourceLength);
    const response = examples.map((e) => e.fullTargetLength);
    const wrongPrompt = prompt.flatMap((n, i) => (n === golden.prompt[i] ? [] : [i]));
    const wrongResponse = response.flatMap((n, i) => (n === golden.response[i] ? [] : [i]));
    expect(wrongPrompt).toEqual([]);
    expect(wrongResponse).toEqual([]);
  });

  it('length statistics equal the reference (golden README): mean, p50, p90, p99, over 512', () => {
    const { source, target } = datasetStats(examples);
    expect(source.mean.toFixed(1)).toBe('102.3');
    expect([source.p50, source.p90, source.p99, source.truncated]).toEqual([18, 280, 931, 526]);
    expect(target.mean.toFixed(1)).toBe('85.2');
    expect([target.p50, target.p90, target.truncated]).toEqual([48, 184, 219]);
    // truncation to 512 happened exactly for those
    expect(examples.filter((e) => e.sourceIds.length === 512 && e.fullSourceLength > 512)).toHaveLength(526);
    expect(Math.max(...examples.map((e) => e.sourceIds.length))).toBe(512);
  });

  it('token-budget batches pad ≤ 1.3× real tokens; random batches of 8 about 3.3×', () => {
    const lengths = examples.map((e) => ({ source: e.sourceIds.length, target: e.targetIds.length }));
    const bucketed = paddingStats(lengths, tokenBudgetPlan(lengths, { maxTokens: 4096 }));
    const random = paddingStats(lengths, fixedBatchPlan(lengths.length, { batchSize: 8 }));
    expect(bucketed.factor).toBeLessThanOrEqual(1.3);
    expect(random.factor).toBeGreaterThan(3.0);
    expect(random.factor).toBeLessThan(3.7);
  });

  it('a stratified 80/20 split keeps each category at 20% (±1 record)', () => {
    const { train, test } = splitIndices(records.length, { stratifyBy: records.map((r) => r.category) });
    expect(train.length + test.length).toBe(15_011);
    const inTest = new Map<string, number>();
    for (const i of test) inTest.set(records[i]!.category, (inTest.get(records[i]!.category) ?? 0) + 1);
    expect(inTest.get('open_qa')).toBe(Math.round(3742 * 0.2));
    expect(inTest.get('creative_writing')).toBe(Math.round(709 * 0.2));
  });
});
