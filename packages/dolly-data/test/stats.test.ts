import { describe, expect, it } from 'vitest';
import { datasetStats, lengthStats, percentile, type EncodedExample } from '../src';

const ex = (category: string, s: number, t: number, max = 512): EncodedExample => ({
  sourceIds: new Int32Array(Math.min(s, max)),
  targetIds: new Int32Array(Math.min(t, max)),
  fullSourceLength: s,
  fullTargetLength: t,
  category,
});

describe('percentile / lengthStats', () => {
  it('linear interpolation like numpy.percentile', () => {
    // np.percentile([3,1,4,1,5,9,2,6,5,3,5], [50, 90, 99]) == [4, 6, 8.7]
    const a = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5];
    const s = lengthStats(a, 5);
    expect(s.p50).toBe(4);
    expect(s.p90).toBe(6);
    expect(s.p99).toBeCloseTo(8.7, 12);
    expect([s.mean, s.min, s.max, s.truncated]).toEqual([4, 1, 9, 2]); // 9 and 6 are over 5
    expect(percentile([], 0.5)).toBeNaN();
    expect(percentile([7], 0.99)).toBe(7);
  });
});

describe('datasetStats', () => {
  it('counts categories (largest first), lengths, truncation and a plan’s padding', () => {
    const examples = [ex('b', 10, 4), ex('a', 600, 3), ex('b', 20, 700), ex('c', 5, 5)];
    const s = datasetStats(examples, { plan: [[0, 2], [1], [3]] });
    expect(Object.entries(s.categories)).toEqual([
      ['b', 2],
      ['a', 1],
      ['c', 1],
    ]);
    expect(s.records).toBe(4);
    expect([s.source.truncated, s.target.truncated]).toEqual([1, 1]);
    expect(s.source.max).toBe(600);
    // padding on truncated lengths: [0,2] → 2 × (20 + 512) = 1064 padded for 10+4+20+512 = 546 real
    expect(s.padding).toMatchObject({ batches: 3, realTokens: 546 + 512 + 3 + 10, paddedTokens: 1064 + 515 + 10 });
    expect(datasetStats(examples).padding).toBeUndefined();
  });
});
