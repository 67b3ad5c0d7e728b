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

  it('rejects bad options', () => {
    expect(() => splitIndices(10, { testFraction: 1.5 })).toThrow(RangeError);
    expect(() => splitIndices(10, { stratifyBy: ['a'] })).toThrow(/1 keys for 10/);
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
