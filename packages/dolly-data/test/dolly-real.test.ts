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

  it('80/20 as the original (train = int(0.8 × 15,011)): 12,008 / 3,003, stratified too, each category at 20% (±1 record)', () => {
    const plain = splitIndices(records.length);
    expect([plain.train.length, plain.test.length]).toEqual([12_008, 3_003]);
    const { train, test } = splitIndices(records.length, { stratifyBy: records.map((r) => r.category) });
    expect([train.length, test.length]).toEqual([12_008, 3_003]);
    const inTest = new Map<string, number>();
    for (const i of test) inTest.set(records[i]!.category, (inTest.get(records[i]!.category) ?? 0) + 1);
    // train shares 0.8 × count: floors sum to 12,004; the 4 left go to the .8 remainders
    expect(Object.fromEntries(inTest)).toEqual({
      open_qa: 749, // 3742 − 2993
      general_qa: 438, // 2191 − 1753
      classification: 427, // 2136 − 1709
      closed_qa: 355, // 1773 − 1418
      brainstorming: 353, // 1766 − 1413
      information_extraction: 301, // 1506 − 1205
      summarization: 238, // 1188 − 950
      creative_writing: 142, // 709 − 567
    });
  });
});
