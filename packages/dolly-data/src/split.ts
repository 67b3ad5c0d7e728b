import { makeRng, shuffleInPlace } from './rng';

/** Options for {@link splitIndices}. */
export interface SplitOptions {
  /** Seed of the shuffle (default 42). */
  seed?: number | string;
  /** Fraction of the records in the test split (default 0.2, as the original's 80/20). */
  testFraction?: number;
  /**
   * Stratify by this key (e.g. each record's category): every group is split with the same
   * fraction, so the test split keeps the category mix.
   */
  stratifyBy?: ArrayLike<string>;
}

/** Indices (ascending) of the records in each split. */
export interface Split {
  train: number[];
  test: number[];
}

/**
 * A deterministic train/test split of `n` records: a seeded shuffle, then the first
 * `round(n × testFraction)` (per group when stratified) go to test.
 */
export function splitIndices(n: number, options: SplitOptions = {}): Split {
  const { seed = 42, testFraction = 0.2, stratifyBy } = options;
  if (!(testFraction >= 0 && testFraction <= 1)) throw new RangeError(`testFraction must be in [0, 1], got ${testFraction}`);
  if (stratifyBy && stratifyBy.length !== n) throw new RangeError(`stratifyBy has ${stratifyBy.length} keys for ${n} records`);
  const rng = makeRng(seed, 'split');
  const groups = new Map<string, number[]>();
  for (let i = 0; i < n; i++) {
    const key = stratifyBy ? stratifyBy[i]! : '';
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(i);
  }
  const train: number[] = [];
  const test: number[] = [];
  for (const key of [...groups.keys()].sort()) {
    const members = shuffleInPlace(groups.get(key)!, rng);
    const nTest = Math.round(members.length * testFraction);
    test.push(...members.slice(0, nTest));
    train.push(...members.slice(nTest));
  }
  const asc = (a: number, b: number): number => a - b;
  return { train: train.sort(asc), test: test.sort(asc) };
}

/** Picks `items[i]` for each index. */
export function pick<T>(items: readonly T[], indices: readonly number[]): T[] {
  return indices.map((i) => {
    const v = items[i];
    if (v === undefined) throw new RangeError(`index ${i} out of range (${items.length} items)`);
    return v;
  });
}
