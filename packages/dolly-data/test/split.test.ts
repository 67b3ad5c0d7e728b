import { describe, expect, it } from 'vitest';
import { makeRng, permutation, pick, splitIndices } from '../src';

const categories = Array.from({ length: 1000 }, (_, i) => (i % 10 < 7 ? 'a' : i % 10 < 9 ? 'b' : 'c'));

describe('splitIndices', () => {
  it('80/20 by default, disjoint, covering, ascending', () => {
    const { train, test } = splitIndices(1000);
    expect([train.length, test.length]).toEqual([800, 200]);
    expect(new Set([...train, ...test]).size).toBe(1000);
    expect(train).toEqual([...train].sort((a, b) => a - b));
    expect(test).toEqual([...test].sort((a, b) => a - b));
  });

  it("train gets floor(n × 0.8) records, as the original's int(0.8 * n): 15,011 → 12,008 / 3,003", () => {
    const sizes = (n: number, testFraction?: number) => {
      const { train, test } = splitIndices(n, { testFraction });
      return [train.length, test.length];
    };
    expect(sizes(15_011)).toEqual([12_008, 3_003]);
    expect(sizes(7)).toEqual([5, 2]); // int(5.6) = 5 (rounding 0.2 × 7 would give 6 / 1)
    expect(sizes(16)).toEqual([12, 4]);
    expect(sizes(10, 0.25)).toEqual([7, 3]);
    expect(sizes(3, 0)).toEqual([3, 0]);
    expect(sizes(3, 1)).toEqual([0, 3]);
  });

  it('floor(n × (1 − testFraction)) is taken of the exact product, not of its float rounding', () => {
    // 1 − 0.9 = 0.09999999999999998 in float64, so 10 × it = 0.9999999999999998 and 20 × it = 1.9999999999999996:
    // floor gave 0 and 1 train records where floor(10 × 0.1) = 1 and floor(20 × 0.1) = 2 (sklearn / datasets'
    // train_test_split(test_size=0.9) also keep 1 and 2)
    const sizes = (n: number, testFraction: number, stratifyBy?: string[]) => {
      const { train, test } = splitIndices(n, { testFraction, ...(stratifyBy ? { stratifyBy } : {}) });
      return [train.length, test.length];
    };
    expect(sizes(10, 0.9)).toEqual([1, 9]);
    expect(sizes(20, 0.9)).toEqual([2, 18]);
    // stratified, two groups of 10: each share 0.9999999999999998 → one train record each (was 1 / 0)
    const keys = Array.from({ length: 20 }, (_, i) => (i < 10 ? 'a' : 'b'));
    const { train } = splitIndices(20, { testFraction: 0.9, stratifyBy: keys });
    expect([train.filter((i) => i < 10).length, train.filter((i) => i >= 10).length]).toEqual([1, 1]);
  });

  it('is identical across runs with the same seed and differs with another', () => {
    expect(splitIndices(1000, { seed: 7 })).toEqual(splitIndices(1000, { seed: 7 }));
    expect(splitIndices(1000, { seed: 7 }).test).not.toEqual(splitIndices(1000, { seed: 8 }).test);
  });

  it('pins the split of seed 42 (a change of RNG or algorithm shows here)', () => {
    expect(splitIndices(10).test).toEqual(splitIndices(10, { seed: 42 }).test);
    expect(splitIndices(10).test).toHaveLength(2);
    expect(splitIndices(10).test).toMatchInlineSnapshot(`
      [
        6,
        7,
      ]
    `);
  });

  it('stratified: each category split 80/20', () => {
    const { train, test } = splitIndices(1000, { stratifyBy: categories, testFraction: 0.2 });
    const count = (ix: number[], c: string) => ix.filter((i) => categories[i] === c).length;
    expect([count(test, 'a'), count(test, 'b'), count(test, 'c')]).toEqual([140, 40, 20]);
    expect(train.length + test.length).toBe(1000);
    expect(splitIndices(1000, { stratifyBy: categories })).toEqual(splitIndices(1000, { stratifyBy: categories }));
  });

  it('stratified: the same floor(n × 0.8) train records in all, shared by largest remainder', () => {
    // groups of 3, 3 and 1 (n = 7): shares 2.4, 2.4, 0.8 → floors 2, 2, 0; int(5.6) = 5 → the
    // one left goes to the largest remainder (c, 0.8): train 2 / 2 / 1, test 1 / 1 / 0
    const keys = ['a', 'a', 'a', 'b', 'b', 'b', 'c'];
    const { train, test } = splitIndices(7, { stratifyBy: keys });
    expect([train.length, test.length]).toEqual([5, 2]);
    const count = (k: string[], ix: number[], c: string) => ix.filter((i) => k[i] === c).length;
    expect([count(keys, train, 'a'), count(keys, train, 'b'), count(keys, train, 'c')]).toEqual([2, 2, 1]);
    // equal remainders (1.5 and 1.5; int(3) = 3, one left): the earlier group in key order, a
    const odd = ['b', 'b', 'b', 'a', 'a', 'a'];
    const o = splitIndices(6, { stratifyBy: odd, testFraction: 0.5 });
    expect([count(odd, o.train, 'a'), count(odd, o.train, 'b')]).toEqual([2, 1]);
  });

  it('rejects bad options', () => {
    expect(() => splitIndices(10, { testFraction: 1.5 })).toThrow(RangeError);
    expect(() => splitIndices(10, { stratifyBy: ['a'] })).toThrow(/1 keys for 10/);
    // n used to be taken as it came: 2.5 split 3 records (0, 1, 2), -1 gave two empty splits
    expect(() => splitIndices(2.5)).toThrow('splitIndices: n must be an integer >= 0, got 2.5');
    expect(() => splitIndices(-1)).toThrow('splitIndices: n must be an integer >= 0, got -1');
    expect(splitIndices(0)).toEqual({ train: [], test: [] });
  });
});

describe('rng helpers', () => {
  it('permutation is a seeded permutation', () => {
    const p = permutation(50, makeRng(1, 'x'));
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(p).toEqual(permutation(50, makeRng(1, 'x')));
    expect(p).not.toEqual(permutation(50, makeRng(1, 'y')));
  });

  it('pick reads items by index and rejects a bad one', () => {
    expect(pick(['a', 'b', 'c'], [2, 0])).toEqual(['c', 'a']);
    expect(() => pick(['a'], [3])).toThrow(RangeError);
  });
});
