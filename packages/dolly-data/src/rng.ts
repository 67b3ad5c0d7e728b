import seedrandom from 'seedrandom';

/** A seeded uniform generator in [0, 1). */
export type Rng = () => number;

/** A generator seeded from a seed and a purpose, e.g. `makeRng(42, 'epoch', 3)`. */
export function makeRng(seed: number | string, ...scope: Array<string | number>): Rng {
  return seedrandom([String(seed), ...scope.map(String)].join(':'));
}

/** Fisher–Yates shuffle in place. */
export function shuffleInPlace<T>(items: T[], rng: Rng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = items[i]!;
    items[i] = items[j]!;
    items[j] = t;
  }
  return items;
}

/** A seeded permutation of `0..n-1`. */
export function permutation(n: number, rng: Rng): number[] {
  return shuffleInPlace(Array.from({ length: n }, (_, i) => i), rng);
}
