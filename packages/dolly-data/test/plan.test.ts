import { describe, expect, it } from 'vitest';
import { fixedBatchPlan, makeRng, paddingStats, tokenBudgetPlan, type ExampleLength } from '../src';

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

// 500 synthetic lengths with a heavy tail, like Dolly's.
const rng = makeRng('lengths');
const lengths: ExampleLength[] = range(500).map(() => ({
  source: 2 + Math.floor(Math.exp(rng() * 6)),
  target: 2 + Math.floor(Math.exp(rng() * 5.5)),
}));

describe('fixedBatchPlan', () => {
  it('each epoch covers every record once, in batches of batchSize (last smaller)', () => {
    const plan = fixedBatchPlan(103, { batchSize: 10 });
    expect(plan.map((b) => b.length)).toEqual([...Array(10).fill(10), 3]);
    expect(sorted(plan.flat())).toEqual(range(103));
    expect(fixedBatchPlan(103, { batchSize: 10, dropLast: true })).toHaveLength(10);
  });

  it('same seed and epoch → same order; another epoch or seed → another order', () => {
    const a = fixedBatchPlan(100, { batchSize: 8, seed: 1, epoch: 0 });
    expect(fixedBatchPlan(100, { batchSize: 8, seed: 1, epoch: 0 })).toEqual(a);
    expect(fixedBatchPlan(100, { batchSize: 8, seed: 1, epoch: 1 })).not.toEqual(a);
    expect(fixedBatchPlan(100, { batchSize: 8, seed: 2, epoch: 0 })).not.toEqual(a);
    expect(fixedBatchPlan(5, { batchSize: 2, shuffle: false })).toEqual([[0, 1], [2, 3], [4]]);
  });

  it('rejects a bad batch size', () => {
    expect(() => fixedBatchPlan(5, { batchSize: 0 })).toThrow(RangeError);
  });
});

describe('tokenBudgetPlan', () => {
  const plan = tokenBudgetPlan(lengths, { maxTokens: 2048, seed: 3 });

  it('covers every record exactly once', () => {
    expect(sorted(plan.flat())).toEqual(range(500));
  });

  it('keeps every batch within the budget (a record longer than the budget alone)', () => {
    for (const b of plan) {
      const s = Math.max(...b.map((i) => lengths[i]!.source));
      const t = Math.max(...b.map((i) => lengths[i]!.target));
      if (b.length > 1) expect(b.length * (s + t)).toBeLessThanOrEqual(2048);
    }
    const huge = tokenBudgetPlan([{ source: 5000, target: 10 }, { source: 3, target: 3 }], { maxTokens: 100 });
    expect(sorted(huge.map((b) => b.length))).toEqual([1, 1]);
  });

  it('respects maxBatchSize', () => {
    const p = tokenBudgetPlan(lengths, { maxTokens: 1e9, maxBatchSize: 7 });
    expect(Math.max(...p.map((b) => b.length))).toBe(7);
    expect(sorted(p.flat())).toEqual(range(500));
  });

  it('pads far less than random fixed batches of 8', () => {
    const bucketed = paddingStats(lengths, plan).factor;
    const random = paddingStats(lengths, fixedBatchPlan(500, { batchSize: 8, seed: 3 })).factor;
    // (on the real Dolly lengths it is ≤ 1.3; see dolly-real.test.ts)
    expect(random).toBeGreaterThan(2.5);
    expect(bucketed).toBeLessThan(random / 1.5);
  });

  it('deterministic per seed and epoch; batch order (and membership of ties) changes with the epoch', () => {
    expect(tokenBudgetPlan(lengths, { maxTokens: 2048, seed: 3 })).toEqual(plan);
    expect(tokenBudgetPlan(lengths, { maxTokens: 2048, seed: 3, epoch: 1 })).not.toEqual(plan);
    expect(tokenBudgetPlan(lengths, { maxTokens: 2048, seed: 4 })).not.toEqual(plan);
  });

  it('padToMultipleOf: the budget counts the rounded-up lengths collate pads to', () => {
    const pad = (n: number) => Math.ceil(n / 64) * 64;
    const p = tokenBudgetPlan(lengths, { maxTokens: 2048, seed: 3, padToMultipleOf: 64 });
    expect(sorted(p.flat())).toEqual(range(500));
    for (const b of p) {
      const s = pad(Math.max(...b.map((i) => lengths[i]!.source)));
      const t = pad(Math.max(...b.map((i) => lengths[i]!.target)));
      if (b.length > 1) expect(b.length * (s + t)).toBeLessThanOrEqual(2048);
    }
    // hand-computed: 10 + 10 rounds up to 16 + 16, so only one 32-token row fits in 40
    const two = [{ source: 10, target: 10 }, { source: 10, target: 10 }];
    expect(tokenBudgetPlan(two, { maxTokens: 40, shuffle: false })).toEqual([[0, 1]]);
    expect(tokenBudgetPlan(two, { maxTokens: 40, shuffle: false, padToMultipleOf: 16 })).toEqual([[0], [1]]);
    expect(() => tokenBudgetPlan(two, { maxTokens: 40, padToMultipleOf: 0 })).toThrow(/padToMultipleOf/);
  });

  it('shuffle: false gives the same plan every epoch (ties keep the record order)', () => {
    const p0 = tokenBudgetPlan(lengths, { maxTokens: 2048, shuffle: false, epoch: 0 });
    expect(tokenBudgetPlan(lengths, { maxTokens: 2048, shuffle: false, epoch: 1 })).toEqual(p0);
    expect(tokenBudgetPlan(lengths, { maxTokens: 2048, shuffle: false, epoch: 7, seed: 5 })).toEqual(p0);
    // equal lengths: the record order, whatever the epoch
    const same = range(6).map(() => ({ source: 4, target: 4 }));
    for (const epoch of [0, 1, 2]) expect(tokenBudgetPlan(same, { maxTokens: 24, shuffle: false, epoch })).toEqual([[0, 1, 2], [3, 4, 5]]);
  });

  it('shuffle: false leaves batches sorted by source bucket', () => {
    const p = tokenBudgetPlan(lengths, { maxTokens: 2048, shuffle: false });
    const bucket = (len: number) => Math.floor(Math.log(len) / Math.log1p(0.1));
    const firstBucket = p.map((b) => Math.min(...b.map((i) => bucket(lengths[i]!.source))));
    expect(firstBucket).toEqual([...firstBucket].sort((a, b) => a - b));
    expect(new Set(firstBucket).size).toBeGreaterThan(10);
  });

  it('rejects bad options', () => {
    expect(() => tokenBudgetPlan(lengths, { maxTokens: 0 })).toThrow(RangeError);
    expect(() => tokenBudgetPlan(lengths, { maxTokens: 10, bucketWidth: 0 })).toThrow(RangeError);
  });
});

describe('paddingStats', () => {
  it('counts real and padded tokens (hand-computed)', () => {
    const l = [
      { source: 3, target: 2 },
      { source: 1, target: 4 },
    ];
    // one batch: 2 × (3 + 4) = 14 padded; real 3+2+1+4 = 10
    expect(paddingStats(l, [[0, 1]])).toEqual({ batches: 1, realTokens: 10, paddedTokens: 14, factor: 1.4, paddingFraction: 1 - 10 / 14 });
    expect(paddingStats(l, [[0], [1]]).factor).toBe(1);
  });

  it('padToMultipleOf counts the rounded-up lengths (hand-computed)', () => {
    const l = [
      { source: 3, target: 2 },
      { source: 1, target: 4 },
    ];
    // multiple of 4: one batch 2 × (4 + 4) = 16; alone (4 + 4) + (4 + 4) = 16
    expect(paddingStats(l, [[0, 1]], { padToMultipleOf: 4 })).toMatchObject({ realTokens: 10, paddedTokens: 16, factor: 1.6 });
    expect(paddingStats(l, [[0], [1]], { padToMultipleOf: 4 }).paddedTokens).toBe(16);
    expect(paddingStats(l, [[0, 1]], { padToMultipleOf: 1 }).paddedTokens).toBe(14);
  });
});
