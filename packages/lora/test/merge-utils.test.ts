// PEFT's peft/utils/merge_utils.py (magnitude_based_pruning, random_pruning, prune,
// calculate_majority_sign_mask, disjoint_merge, task_arithmetic, magnitude_prune, ties, dare_linear,
// dare_ties): every deterministic function against values derived by hand from its lines (in the
// comments); DARE's random pruning by its structure (kept fraction, 1/density rescale, seeding).
import seedrandom from 'seedrandom';
import { describe, expect, it } from 'vitest';
import {
  calculateMajoritySignMask,
  dareLinear,
  dareTies,
  disjointMerge,
  magnitudeBasedPruning,
  magnitudePrune,
  prune,
  randomPruning,
  taskArithmetic,
  ties,
} from '../src/merge-utils.js';

const f = (xs: number[]) => Float64Array.from(xs);
const list = (x: Float64Array | Uint8Array) => [...x];

describe('merge_utils (PEFT), deterministic parts', () => {
  it('magnitude_based_pruning keeps int(density·n) largest |x|; among equal magnitudes the lower index', () => {
    // k = int(0.6·5) = 3 → |−3|, |2|, |−2| stay
    expect(list(magnitudeBasedPruning(f([1, -3, 2, -2, 0.5]), 0.6))).toEqual([0, -3, 2, -2, 0]);
    // |1| = |−1| = |1|: k = 2 keeps indices 0 and 1
    expect(list(magnitudeBasedPruning(f([1, -1, 1, 0.5]), 0.5))).toEqual([1, -1, 0, 0]);
    expect(list(magnitudeBasedPruning(f([0.5, 1, -1, 1]), 0.5))).toEqual([0, 1, -1, 0]);
    // int(0.29 · 100) = int(28.999999999999996) = 28, as Python's int()
    const t = Float64Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(magnitudeBasedPruning(t, 0.29).filter((x) => x !== 0).length).toBe(28);
    // k = int(0.1 · 5) = 0 → everything pruned
    expect(list(magnitudeBasedPruning(f([1, 2, 3, 4, 5]), 0.1))).toEqual([0, 0, 0, 0, 0]);
  });

  it('magnitude_based_pruning (selection, not a sort) keeps exactly the first k of the indices sorted by |x| desc, then index, on many ties', () => {
    // The definition: torch.topk(tensor.abs(), k) with the lower index first among equal magnitudes.
    const byDefinition = (t: Float64Array, density: number) => {
      const k = Math.trunc(density * t.length);
      const order = Array.from(t.keys()).sort((i, j) => Math.abs(t[j]!) - Math.abs(t[i]!) || i - j);
      const out = new Float64Array(t.length);
      for (const i of order.slice(0, k)) out[i] = t[i]!;
      return out;
    };
    const rng = seedrandom('pruning');
    for (let trial = 0; trial < 400; trial++) {
      const levels = 1 + Math.floor(rng() * 5); // few distinct magnitudes: many ties at the threshold
      const t = Float64Array.from({ length: 1 + Math.floor(rng() * 40) }, () => Math.floor(rng() * levels) * (rng() < 0.5 ? -1 : 1));
      const density = rng();
      expect(list(magnitudeBasedPruning(t, density)).map((x) => x + 0), `${list(t)} at ${density}`).toEqual(list(byDefinition(t, density)).map((x) => x + 0));
    }
  });

  it('prune: density >= 1 keeps the tensor, a negative density is an error', () => {
    const t = f([1, -2, 3]);
    expect(prune(t, 1, 'magnitude')).toBe(t);
    expect(prune(t, 1.5, 'random', true, () => 0.99)).toBe(t);
    expect(() => prune(t, -0.1, 'magnitude')).toThrow(/density should be >= 0, got -0.1/);
  });

  it('calculate_majority_sign_mask: "total" elects the sign of the sum, "frequency" of the sign count (>= 0 → +1; zeros never kept)', () => {
    const ts = [f([3, -1, 0, 1]), f([-1, -1, 2, -2]), f([-1, 2, -2, 0])];
    // total: sums [1, 0, 0, −1] → elected [+, +, +, −]
    expect(calculateMajoritySignMask(ts, 'total').map(list)).toEqual([
      [1, 0, 0, 0],
      [0, 0, 1, 1],
      [0, 1, 0, 0],
    ]);
    // frequency: sign sums [−1, −1, 0, 0] → elected [−, −, +, +]
    expect(calculateMajoritySignMask(ts, 'frequency').map(list)).toEqual([
      [0, 1, 0, 1],
      [1, 1, 1, 0],
      [1, 0, 0, 0],
    ]);
  });

  it('disjoint_merge: masked sum over the count kept (clamped to 1)', () => {
    const ts = [f([2, 4, 6]), f([4, -8, 1])];
    const masks = [Uint8Array.from([1, 1, 0]), Uint8Array.from([1, 0, 0])];
    // [(2+4)/2, 4/1, 0/max(0,1)]
    expect(list(disjointMerge(ts, masks))).toEqual([3, 4, 0]);
  });

  it('task_arithmetic and magnitude_prune: Σ wᵢ·(pruned) tᵢ', () => {
    const ts = [f([1, -2, 3, 0.5]), f([-4, 1, 0.25, 2])];
    expect(list(taskArithmetic(ts, [0.5, 2]))).toEqual([0.5 - 8, -1 + 2, 1.5 + 0.5, 0.25 + 4]);
    // density 0.5: k = 2 → t₁ keeps 3, −2; t₂ keeps −4, 2
    expect(list(magnitudePrune(ts, [0.5, 2], 0.5))).toEqual([-8, -1, 1.5, 4]);
  });

  it('ties: prune by magnitude, elect the sign on the unweighted pruned tensors, merge the weighted ones disjointly', () => {
    const ts = [f([3, -1, 2, -4]), f([-1, 2, -3, -1]), f([2, -3, 1, 1])];
    // density 0.5, k = 2: t₁ → [3, 0, 0, −4]; t₂ → [0, 2, −3, 0]; t₃ → [2, −3, 0, 0]
    // total: sums [5, −1, −3, −4] → elected [+, −, −, −]; masks t₁ [1,0,0,1], t₂ [0,0,1,0], t₃ [1,1,0,0]
    // weights [1, 2, −1]: weighted t₁ [3,0,0,−4], t₂ [0,4,−6,0], t₃ [−2,3,0,0]
    // merged: [(3 − 2)/2, 3/1, −6/1, −4/1]
    expect(list(ties(ts, [1, 2, -1], 0.5, 'total'))).toEqual([0.5, 3, -6, -4]);
    // frequency: sign sums [2, 0, −1, −1] → elected [+, +, −, −]; masks t₁ [1,0,0,1], t₂ [0,1,1,0], t₃ [1,0,0,0]
    // merged: [(3 − 2)/2, 4/1, −6/1, −4/1]
    expect(list(ties(ts, [1, 2, -1], 0.5, 'frequency'))).toEqual([0.5, 4, -6, -4]);
  });
});

describe('merge_utils (PEFT), DARE: the structure of random pruning', () => {
  const ones = Float64Array.from({ length: 20000 }, () => 1);

  it('random_pruning keeps each entry with probability density and rescales the kept ones by 1/density', () => {
    const rng = seedrandom('dare');
    const out = randomPruning(ones, 0.3, true, () => rng());
    const kept = out.filter((x) => x !== 0);
    // Binomial(20000, 0.3): mean 6000, σ ≈ 64.8; ±5σ
    expect(Math.abs(kept.length - 6000)).toBeLessThan(325);
    expect(new Set(kept)).toEqual(new Set([1 / 0.3]));
    const rng2 = seedrandom('dare');
    expect(randomPruning(ones, 0.3, false, () => rng2()).filter((x) => x !== 0)).toEqual(Float64Array.from({ length: kept.length }, () => 1));
  });

  it('dare_linear = Σ wᵢ·tᵢ·maskᵢ/density; the same seed gives the same result, another seed another', () => {
    const t1 = Float64Array.from({ length: 2000 }, (_, i) => Math.sin(i + 1));
    const t2 = Float64Array.from({ length: 2000 }, (_, i) => Math.cos(3 * i));
    const run = (seed: string) => {
      const rng = seedrandom(seed);
      return dareLinear([t1, t2], [0.5, -2], 0.4, () => rng());
    };
    const out = run('a');
    let both = 0;
    let none = 0;
    for (let i = 0; i < out.length; i++) {
      const choices = [0, (0.5 * t1[i]!) / 0.4, (-2 * t2[i]!) / 0.4, (0.5 * t1[i]! - 2 * t2[i]!) / 0.4];
      const j = choices.findIndex((c) => Math.abs(c - out[i]!) < 1e-12);
      expect(j).toBeGreaterThanOrEqual(0);
      if (j === 3) both++;
      if (j === 0) none++;
    }
    // P(both kept) = 0.16, P(none) = 0.36 over 2000 entries (σ ≈ 16 and 21)
    expect(Math.abs(both - 320)).toBeLessThan(100);
    expect(Math.abs(none - 720)).toBeLessThan(120);
    expect(run('a')).toEqual(out);
    expect(run('b')).not.toEqual(out);
  });

  it('dare_ties elects the sign on the rescaled pruned tensors', () => {
    // density 0.5 and a source that keeps exactly the even entries of t₁ and the odd ones of t₂
    const draws = [0.1, 0.9, 0.1, 0.9, 0.9, 0.1, 0.9, 0.1];
    let n = 0;
    const uniform = () => draws[n++]!;
    const out = dareTies([f([1, 2, -3, 4]), f([-1, -2, 3, 4])], [1, 3], 0.5, 'total', uniform);
    // pruned: t₁ [2, 0, −6, 0], t₂ [0, −4, 0, 8]; each entry has one value, so it is elected and kept
    // weighted: [2, 0, −6, 0], [0, −12, 0, 24] → merged [2, −12, −6, 24]
    expect(list(out)).toEqual([2, -12, -6, 24]);
  });
});
