import { makeRng, shuffleInPlace } from './rng';
import { checkOptions, type KnownOptions } from './unknown-options';

/** Options for {@link splitIndices}. */
export interface SplitOptions {
  /** Seed of the shuffle (default 42). */
  seed?: number | string;
  /**
   * Fraction of the records in the test split (default 0.2, as the original's 80/20). Train
   * gets `floor(n × (1 − testFraction))` records, test the rest.
   */
  testFraction?: number;
  /**
   * Stratify by this key (e.g. each record's category): every group is split with the same
   * fraction, so the test split keeps the category mix.
   */
  stratifyBy?: ArrayLike<string>;
}

const SPLIT_OPTIONS: KnownOptions<SplitOptions> = { seed: true, testFraction: true, stratifyBy: true };
/** datasets' `train_test_split` names of options named differently here. */
const DATASETS_NAMES = { test_size: 'testFraction', stratify_by_column: 'stratifyBy' };

/** Indices (ascending) of the records in each split. */
export interface Split {
  train: number[];
  test: number[];
}

/**
 * A deterministic train/test split of `n` records: after a seeded shuffle, train gets
 * `floor(n × (1 − testFraction))` records, as the original's `train = int(0.8 * n)`
 * (15,011 records → 12,008 / 3,003), and test the rest. Stratified, the train count is
 * the same and is shared among the groups in proportion to their sizes (each gets the floor
 * of its share, the remaining records go to the largest remainders), so every group keeps
 * the fraction to within one record.
 */
export function splitIndices(n: number, options: SplitOptions = {}): Split {
  checkOptions('splitIndices', options, SPLIT_OPTIONS, DATASETS_NAMES);
  const { seed = 42, testFraction = 0.2, stratifyBy } = options;
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`splitIndices: n must be an integer >= 0, got ${n}`);
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
  const keys = [...groups.keys()].sort();
  const nTrain = trainCounts(keys.map((k) => groups.get(k)!.length), n, 1 - testFraction);
  const train: number[] = [];
  const test: number[] = [];
  keys.forEach((key, g) => {
    const members = shuffleInPlace(groups.get(key)!, rng);
    const nTest = members.length - nTrain[g]!;
    test.push(...members.slice(0, nTest));
    train.push(...members.slice(nTest));
  });
  const asc = (a: number, b: number): number => a - b;
  return { train: train.sort(asc), test: test.sort(asc) };
}

/**
 * Train records per group: `floor(n × trainFraction)` in all (the original's `int(0.8 * n)`),
 * shared by largest remainder: each group gets the floor of its share, and the records left
 * over go one each to the groups with the largest fractional shares (ties: the earlier group).
 */
function trainCounts(sizes: readonly number[], n: number, trainFraction: number): number[] {
  const total = exactFloor(n * trainFraction);
  const shares = sizes.map((size) => size * trainFraction);
  const counts = shares.map((x) => Math.floor(x));
  let left = total - counts.reduce((a, b) => a + b, 0);
  // Remainders rounded to 1e-9, so float noise (1752.8000000000002) does not decide ties.
  const byRemainder = shares.map((x, g) => ({ g, r: Math.round((x - Math.floor(x)) * 1e9) })).sort((a, b) => b.r - a.r || a.g - b.g);
  for (const { g } of byRemainder) {
    if (left <= 0) break;
    if (counts[g]! < sizes[g]!) {
      counts[g] = counts[g]! + 1;
      left--;
    }
  }
  return counts;
}

/**
 * The floor of a product as if it had been computed exactly: 1 − 0.9 is 0.09999999999999998 in
 * float64, so 10 × (1 − 0.9) = 0.9999999999999998, whose plain floor (0) loses a record. Rounded
 * to 12 significant digits first, it is 1 (sklearn's and datasets' `train_test_split` get 1 too).
 */
function exactFloor(x: number): number {
  return Math.floor(Number(x.toPrecision(12)));
}

/** Picks `items[i]` for each index. */
export function pick<T>(items: readonly T[], indices: readonly number[]): T[] {
  return indices.map((i) => {
    const v = items[i];
    if (v === undefined) throw new RangeError(`index ${i} out of range (${items.length} items)`);
    return v;
  });
}
