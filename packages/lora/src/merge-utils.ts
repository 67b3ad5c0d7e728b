/**
 * PEFT's `peft/utils/merge_utils.py` on host arrays (float64, row-major, every task tensor the same
 * length): the ways {@link LoraModel.addWeightedAdapter} combines "task tensors" (the A's, the B's, or
 * the deltas scaling·B·A of several adapters). Each function names the PEFT function it follows.
 */

/** A source of uniform numbers in [0, 1) (seedrandom's `prng()`), for DARE's random pruning. */
export type Uniform = () => number;

/** PEFT's `majority_sign_method`. */
export type MajoritySignMethod = 'total' | 'frequency';

const sign = (x: number) => (x > 0 ? 1 : x < 0 ? -1 : 0);

/**
 * PEFT's `magnitude_based_pruning`: keeps the `k = int(density · n)` entries of largest magnitude
 * (`torch.topk(tensor.abs(), k)`), zeroes the rest. torch leaves the choice among equal magnitudes
 * unspecified; here the lower index wins, so the result is deterministic.
 */
export function magnitudeBasedPruning(tensor: Float64Array, density: number): Float64Array {
  const n = tensor.length;
  const k = Math.trunc(density * n); // Python's int() of the same float64 product
  const out = new Float64Array(n);
  if (k <= 0) return out;
  // The k-th largest magnitude (selection in O(n): sorting a 4096 × 4096 delta took 7–20 s); every
  // entry above it is kept, then equal ones from the lowest index.
  const magnitudes = new Float64Array(n);
  for (let i = 0; i < n; i++) magnitudes[i] = Math.abs(tensor[i]!);
  const threshold = select(magnitudes, n - Math.min(k, n));
  let kept = 0;
  for (let i = 0; i < n; i++) {
    if (Math.abs(tensor[i]!) > threshold) {
      out[i] = tensor[i]!;
      kept++;
    }
  }
  for (let i = 0; i < n && kept < k; i++) {
    if (Math.abs(tensor[i]!) === threshold) {
      out[i] = tensor[i]!;
      kept++;
    }
  }
  return out;
}

/** The value at position `pos` of `xs` sorted ascending (Hoare's quickselect; `xs` is reordered). */
function select(xs: Float64Array, pos: number): number {
  let lo = 0;
  let hi = xs.length - 1;
  while (lo < hi) {
    const pivot = xs[(lo + hi) >>> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (xs[i]! < pivot) i++;
      while (xs[j]! > pivot) j--;
      if (i <= j) {
        const x = xs[i]!;
        xs[i++] = xs[j]!;
        xs[j--] = x;
      }
    }
    // [lo, j] <= pivot <= [i, hi], and entries strictly between j and i equal the pivot
    if (pos <= j) hi = j;
    else if (pos >= i) lo = i;
    else return pivot;
  }
  return xs[pos]!;
}

/**
 * PEFT's `random_pruning`: each entry kept with probability `density` (`torch.bernoulli`; here
 * `uniform() < density`), then divided by `density` when `rescale`. torch's generator cannot be
 * reproduced, so the kept entries differ from PEFT's; the rule is the same.
 */
export function randomPruning(tensor: Float64Array, density: number, rescale: boolean, uniform: Uniform): Float64Array {
  const out = new Float64Array(tensor.length);
  for (let i = 0; i < tensor.length; i++) {
    const kept = uniform() < density ? tensor[i]! : 0;
    out[i] = rescale ? kept / density : kept;
  }
  return out;
}

/**
 * PEFT's `prune`: `density >= 1` keeps everything (PEFT warns), a negative density is an error,
 * otherwise {@link magnitudeBasedPruning} or {@link randomPruning}.
 */
export function prune(tensor: Float64Array, density: number, method: 'magnitude' | 'random', rescale = false, uniform?: Uniform): Float64Array {
  if (density >= 1) return tensor;
  if (density < 0) throw new Error(`LoRA: density should be >= 0, got ${density}`);
  if (method === 'magnitude') return magnitudeBasedPruning(tensor, density);
  if (!uniform) throw new Error('LoRA: random pruning needs a random source');
  return randomPruning(tensor, density, rescale, uniform);
}

/**
 * PEFT's `calculate_majority_sign_mask` over tensors stacked on dimension 0: per entry the elected
 * sign is that of the sum of the values (`"total"`) or of their signs (`"frequency"`), +1 when that
 * sum is >= 0; an entry of a tensor is in the mask when its sign equals the elected one (zeros never).
 */
export function calculateMajoritySignMask(tensors: readonly Float64Array[], method: MajoritySignMethod = 'total'): Uint8Array[] {
  const n = tensors[0]?.length ?? 0;
  const elected = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    let m = 0;
    for (let j = 0; j < tensors.length; j++) m += method === 'total' ? tensors[j]![i]! : sign(tensors[j]![i]!);
    elected[i] = m >= 0 ? 1 : -1;
  }
  return tensors.map((t) => {
    const mask = new Uint8Array(n);
    for (let i = 0; i < n; i++) mask[i] = sign(t[i]!) === elected[i] ? 1 : 0;
    return mask;
  });
}

/** PEFT's `disjoint_merge`: per entry, the sum of the masked values over the number kept (at least 1). */
export function disjointMerge(tensors: readonly Float64Array[], masks: readonly Uint8Array[]): Float64Array {
  const n = tensors[0]?.length ?? 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    let kept = 0;
    for (let j = 0; j < tensors.length; j++) {
      if (masks[j]![i]) {
        sum += tensors[j]![i]!;
        kept++;
      }
    }
    out[i] = sum / Math.max(kept, 1);
  }
  return out;
}

const weighted = (tensors: readonly Float64Array[], weights: readonly number[]) => tensors.map((t, j) => t.map((x) => x * weights[j]!));

function weightedSum(tensors: readonly Float64Array[], weights: readonly number[]): Float64Array {
  const out = new Float64Array(tensors[0]?.length ?? 0);
  for (const [j, t] of tensors.entries()) for (let i = 0; i < out.length; i++) out[i]! += t[i]! * weights[j]!;
  return out;
}

/** PEFT's `task_arithmetic`: Σ weightᵢ · tensorᵢ. */
export function taskArithmetic(tensors: readonly Float64Array[], weights: readonly number[]): Float64Array {
  return weightedSum(tensors, weights);
}

/** PEFT's `magnitude_prune`: each tensor {@link prune}d by magnitude, then Σ weightᵢ · tensorᵢ. */
export function magnitudePrune(tensors: readonly Float64Array[], weights: readonly number[], density: number): Float64Array {
  return weightedSum(
    tensors.map((t) => prune(t, density, 'magnitude')),
    weights,
  );
}

/**
 * PEFT's `ties`: prune each tensor by magnitude, elect the sign on the pruned (unweighted) tensors,
 * weight them, then {@link disjointMerge}.
 */
export function ties(tensors: readonly Float64Array[], weights: readonly number[], density: number, majoritySignMethod: MajoritySignMethod = 'total'): Float64Array {
  const pruned = tensors.map((t) => prune(t, density, 'magnitude'));
  const mask = calculateMajoritySignMask(pruned, majoritySignMethod);
  return disjointMerge(weighted(pruned, weights), mask);
}

/** PEFT's `dare_linear`: random pruning with rescaling by 1/density, then Σ weightᵢ · tensorᵢ. */
export function dareLinear(tensors: readonly Float64Array[], weights: readonly number[], density: number, uniform: Uniform): Float64Array {
  return weightedSum(
    tensors.map((t) => prune(t, density, 'random', true, uniform)),
    weights,
  );
}

/** PEFT's `dare_ties`: random pruning with rescaling, sign election, weighting, {@link disjointMerge}. */
export function dareTies(tensors: readonly Float64Array[], weights: readonly number[], density: number, majoritySignMethod: MajoritySignMethod, uniform: Uniform): Float64Array {
  const pruned = tensors.map((t) => prune(t, density, 'random', true, uniform));
  const mask = calculateMajoritySignMask(pruned, majoritySignMethod);
  return disjointMerge(weighted(pruned, weights), mask);
}
