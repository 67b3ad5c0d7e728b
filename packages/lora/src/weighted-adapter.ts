/**
 * PEFT's `LoraModel.add_weighted_adapter` (peft/tuners/lora/model.py) without the model: the checks
 * of `_check_add_weighted_adapter` and the new adapter's config ({@link planWeightedAdapter}), and
 * the A and B of one layer ({@link combineLayer}: `cat`, `_generalized_task_arithmetic_weighted_adapter`,
 * `_svd_generalized_task_arithmetic_weighted_adapter`), computed on the host in float64.
 */
import seedrandom from 'seedrandom';
import type { LoraConfig } from './config.js';
import { checkAdapterName } from './lora-adapter.js';
import type { LoraLinear } from './lora-linear.js';
import { type MajoritySignMethod, type Uniform, dareLinear, dareTies, magnitudePrune, taskArithmetic, ties } from './merge-utils.js';
import { type Svd, firstNonFinite, lowRankSvd, matMul } from './svd.js';
import { isAllLinear, isTargetModule } from './target.js';
import { truncatedSvd } from './truncated-svd.js';

/** PEFT's `combination_type` values. */
export const COMBINATION_TYPES = [
  'svd',
  'linear',
  'cat',
  'ties',
  'ties_svd',
  'dare_ties',
  'dare_linear',
  'dare_ties_svd',
  'dare_linear_svd',
  'magnitude_prune',
  'magnitude_prune_svd',
] as const;
export type CombinationType = (typeof COMBINATION_TYPES)[number];

/** Options of {@link LoraModel.addWeightedAdapter}: PEFT's keyword arguments in camelCase. */
export interface AddWeightedAdapterOptions {
  /** PEFT's `combination_type` (default `"svd"`, as PEFT). With a single adapter it is always `"linear"`, as PEFT. */
  combinationType?: CombinationType;
  /** PEFT's `svd_rank`: the new adapter's rank for the `*svd` types (default: the largest rank among `adapters`). */
  svdRank?: number | null;
  /** PEFT's `svd_clamp`: a quantile q in [0, 1]; U·S and Vh are clamped to ±`quantile(entries of both, q)` (default: no clamping). */
  svdClamp?: number | null;
  /**
   * PEFT's `svd_full_matrices` (default true). PEFT keeps the first r singular vectors either way, so
   * the result is the same; a rank above a layer's min(out, in) is filled with zeros here.
   */
  svdFullMatrices?: boolean;
  /** PEFT's `density` in [0, 1]: the fraction of entries kept by the `ties`, `dare_*` and `magnitude_prune*` types (required by them). */
  density?: number | null;
  /** PEFT's `majority_sign_method` for the `ties` and `dare_ties` types (default `"total"`). */
  majoritySignMethod?: MajoritySignMethod;
  /** Seed of DARE's random pruning (default 0). PyTorch's `torch.bernoulli` stream cannot be reproduced: the kept entries differ from PEFT's, the rule does not. */
  seed?: number | string;
}

/** What {@link combineLayer} needs, decided once for the model by {@link planWeightedAdapter}. */
export interface WeightedAdapterPlan {
  /** The type used: `"linear"` when a single adapter is combined. */
  combinationType: CombinationType;
  /** The new adapter's r (and lora_alpha: its scaling is 1). */
  newRank: number;
  /** The new adapter's config: `adapters[0]`'s with PEFT's replacements. */
  config: LoraConfig;
  /** The layers that get the new adapter: those where any of `adapters` is, in the model's order. */
  paths: string[];
  density: number | null;
  majoritySignMethod: MajoritySignMethod;
  svdClamp: number | null;
  seed: number | string;
}

const SVD_TYPES: readonly CombinationType[] = ['svd', 'ties_svd', 'dare_linear_svd', 'dare_ties_svd', 'magnitude_prune_svd'];
/** The types that add A's and B's entry by entry (PEFT: "all adapters must have the same r value"). */
const ENTRYWISE_TYPES: readonly CombinationType[] = ['linear', 'ties', 'dare_ties', 'dare_linear', 'magnitude_prune'];
const DENSITY_TYPES: readonly CombinationType[] = ['ties', 'ties_svd', 'dare_ties', 'dare_linear', 'dare_ties_svd', 'dare_linear_svd', 'magnitude_prune', 'magnitude_prune_svd'];
const isDare = (t: CombinationType) => t.startsWith('dare_');

const fail = (msg: string): never => {
  throw new Error(`LoRA addWeightedAdapter: ${msg}`);
};
const sample = (xs: readonly string[]) => xs.slice(0, 3).join(', ') + (xs.length > 3 ? `, … (${xs.length})` : '');

/** An adapter's target_modules as PEFT holds it: `"all-linear"` is the set of the last names of the linears it adapts (PEFT's `_maybe_include_all_linear_layers`). */
function targetModules(name: string, config: LoraConfig, layers: ReadonlyMap<string, LoraLinear>): string[] | string {
  if (!isAllLinear(config.target_modules)) return config.target_modules;
  const names = [...layers].filter(([, l]) => l.adapters.has(name)).map(([path]) => path.slice(path.lastIndexOf('.') + 1));
  return [...new Set(names)].sort();
}

/**
 * PEFT's `_check_add_weighted_adapter` and the config `add_weighted_adapter` gives the new adapter
 * (`replace(peft_config[adapters[0]], r=new_rank, lora_alpha=new_rank, target_modules=…,
 * alpha_pattern={}, rank_pattern={}, use_rslora=False)`), plus checks of every argument: each
 * problem is one error naming it, raised before anything changes.
 */
export function planWeightedAdapter(args: {
  configs: ReadonlyMap<string, LoraConfig>;
  layers: ReadonlyMap<string, LoraLinear>;
  hostPaths: readonly string[];
  adapters: readonly string[];
  weights: readonly number[];
  adapterName: string;
  options: AddWeightedAdapterOptions;
}): WeightedAdapterPlan {
  const { configs, layers, adapters, weights, adapterName, options } = args;
  const known = [...configs.keys()].join(', ') || 'none';
  if (!Array.isArray(adapters) || adapters.length === 0) fail(`adapters must name at least one adapter (adapters: ${known})`);
  const unknown = adapters.filter((a) => !configs.has(a));
  if (unknown.length) fail(`no adapter named ${unknown.map((a) => JSON.stringify(a)).join(', ')} (adapters: ${known})`);
  if (!Array.isArray(weights) || weights.length !== adapters.length) fail(`weights must have one number per adapter (${adapters.length}), got ${JSON.stringify(weights)}`);
  const badWeights = weights.filter((w) => typeof w !== 'number' || !Number.isFinite(w));
  if (badWeights.length) fail(`weights must be finite numbers, got ${JSON.stringify(weights)}`);
  checkAdapterName(adapterName);
  if (configs.has(adapterName)) fail(`an adapter named "${adapterName}" already exists (PEFT would silently keep it); delete it first or choose another name`);

  const requested = options.combinationType ?? 'svd';
  if (!COMBINATION_TYPES.includes(requested)) fail(`invalid combination_type ${JSON.stringify(requested)} (one of ${COMBINATION_TYPES.join(', ')})`);
  const { svdRank = null, svdClamp = null, density = null, majoritySignMethod = 'total', svdFullMatrices = true, seed = 0 } = options;
  const isSvd = SVD_TYPES.includes(requested);
  if (svdRank !== null && !isSvd) fail(`svdRank is only used by the *svd combination types, not "${requested}"`);
  if (svdRank !== null && !(Number.isInteger(svdRank) && svdRank > 0)) fail(`svdRank must be a positive integer, got ${JSON.stringify(svdRank)}`);
  if (svdClamp !== null && !isSvd) fail(`svdClamp is only used by the *svd combination types, not "${requested}"`);
  if (svdClamp !== null && !(typeof svdClamp === 'number' && svdClamp >= 0 && svdClamp <= 1)) fail(`svdClamp is a quantile and must be in [0, 1], got ${JSON.stringify(svdClamp)}`);
  if (typeof svdFullMatrices !== 'boolean') fail(`svdFullMatrices must be a boolean, got ${JSON.stringify(svdFullMatrices)}`);
  if (density !== null && !DENSITY_TYPES.includes(requested)) fail(`density is only used by ${DENSITY_TYPES.join(', ')}, not "${requested}"`);
  if (density !== null && !(typeof density === 'number' && density >= 0 && Number.isFinite(density))) fail(`density must be a number >= 0 (the fraction of values kept), got ${JSON.stringify(density)}`);
  if (majoritySignMethod !== 'total' && majoritySignMethod !== 'frequency') fail(`majoritySignMethod must be "total" or "frequency", got ${JSON.stringify(majoritySignMethod)}`);

  // If there is only one adapter, PEFT can only use linear merging.
  const combinationType: CombinationType = adapters.length === 1 ? 'linear' : requested;
  if (DENSITY_TYPES.includes(combinationType)) {
    if (density === null) fail(`combination_type "${combinationType}" needs density (the fraction of values kept, in [0, 1])`);
    if (isDare(combinationType) && density === 0) fail(`density 0 with "${combinationType}" divides every kept value by 0 (PEFT returns NaN); use a density > 0`);
  }

  // PEFT: the largest rank of each adapter (rank_pattern included) decides the new rank.
  const ranks = adapters.map((a) => {
    const c = configs.get(a)!;
    return Math.max(c.r, ...Object.values(c.rank_pattern));
  });
  let newRank: number;
  if (ENTRYWISE_TYPES.includes(combinationType)) {
    if (new Set(ranks).size !== 1) fail(`all adapters must have the same r value when using combination_type linear, ties, dare_ties, dare_linear or magnitude_prune; got ${adapters.map((a, i) => `${a}: ${ranks[i]}`).join(', ')} (use "cat" or an *svd type)`);
    newRank = ranks[0]!;
  } else if (combinationType === 'cat') {
    newRank = ranks.reduce((a, b) => a + b, 0);
  } else {
    newRank = svdRank ?? Math.max(...ranks);
  }

  const targets = adapters.map((a) => targetModules(a, configs.get(a)!, layers));
  if (new Set(targets.map((t) => typeof t)).size > 1) {
    fail('all adapter configs should follow the same target modules type. Combining adapters with `target_modules` type being a mix of list/set and string is not supported.');
  }
  const newTargets = typeof targets[0] === 'string' ? targets.map((t) => `(${String(t)})`).join('|') : [...new Set(targets.flat())].sort();

  const config: LoraConfig = {
    ...configs.get(adapters[0]!)!,
    r: newRank,
    lora_alpha: newRank,
    target_modules: newTargets,
    alpha_pattern: {},
    rank_pattern: {},
    // PEFT PR #3449: the sources' scalings are folded into A and B, so the new scaling must be exactly 1.
    use_rslora: false,
  };

  // The layers that get the new adapter are those the config matches (PEFT's inject_adapter); here they must be
  // exactly the layers of the sources, or the combined adapter would load back onto other layers.
  const paths = [...layers].filter(([, l]) => adapters.some((a) => l.adapters.has(a))).map(([p]) => p);
  const targeted = args.hostPaths.filter((p) => isTargetModule(config, p));
  const extra = targeted.filter((p) => !paths.includes(p));
  const missed = paths.filter((p) => !targeted.includes(p));
  if (extra.length || missed.length) {
    fail(
      `the combined config (target_modules ${JSON.stringify(newTargets)} with ${adapters[0]}'s exclude_modules / layers_to_transform) ` +
        `${extra.length ? `would also adapt ${sample(extra)}, which none of ${adapters.join(', ')} adapts` : ''}${extra.length && missed.length ? ', and ' : ''}` +
        `${missed.length ? `would not adapt ${sample(missed)}, which they adapt` : ''}; combine adapters with compatible layer selections`,
    );
  }
  if (ENTRYWISE_TYPES.includes(combinationType)) {
    const off: string[] = [];
    for (const p of paths) for (const a of adapters) if ((layers.get(p)!.adapters.get(a)?.r ?? newRank) !== newRank) off.push(`${a} at ${p} (r ${layers.get(p)!.adapters.get(a)!.r})`);
    if (off.length) fail(`combination_type "${combinationType}" adds A's and B's entry by entry, so every layer's rank must be ${newRank}: ${sample(off)} (rank_pattern); use "cat" or an *svd type`);
  }
  return { combinationType, newRank, config, paths, density, majoritySignMethod, svdClamp, seed };
}

/** One source adapter of one layer: its name, its weight in the combination, its scaling, A [r, in] and B [out, r]. */
export interface WeightedSource {
  name: string;
  weight: number;
  scaling: number;
  r: number;
  a: ArrayLike<number>;
  b: ArrayLike<number>;
}

/** PEFT's merge_utils function for a combination type (the *svd types use the one of their prefix). */
function merger(plan: WeightedAdapterPlan, uniform: Uniform): (tensors: Float64Array[], weights: number[]) => Float64Array {
  const density = plan.density ?? 1;
  const method = plan.majoritySignMethod;
  switch (plan.combinationType.replace(/_svd$/, '')) {
    case 'linear':
    case 'svd':
      return taskArithmetic;
    case 'ties':
      return (t, w) => ties(t, w, density, method);
    case 'dare_linear':
      return (t, w) => dareLinear(t, w, density, uniform);
    case 'dare_ties':
      return (t, w) => dareTies(t, w, density, method, uniform);
    case 'magnitude_prune':
      return (t, w) => magnitudePrune(t, w, density);
    default:
      return fail(`invalid combination_type ${plan.combinationType}`);
  }
}

/** `torch.quantile(values, q)` (linear interpolation between the two nearest ranks of the sorted values). */
export function quantile(values: ArrayLike<number>, q: number): number {
  const sorted = Float64Array.from(values).sort();
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (pos - lo) * (sorted[hi]! - sorted[lo]!);
}

/**
 * The new adapter's A [newRank, in] and B [out, newRank] on one layer (float32), from the sources
 * this layer has (in the order of `adapters`), as PEFT's `add_weighted_adapter` computes them:
 * - `cat`: A = [w₁·s₁·A₁; w₂·s₂·A₂; …], B = [B₁, B₂, …], zero-filled to newRank, so B·A = Σ wᵢ·sᵢ·Bᵢ·Aᵢ.
 * - `linear`, `ties`, `dare_*`, `magnitude_prune` (`_generalized_task_arithmetic_weighted_adapter`):
 *   with cᵢ = wᵢ·sᵢ, the A's are merged with weights sign(cᵢ)·√|cᵢ| and the B's with √|cᵢ|.
 * - `*svd` (`_svd_generalized_task_arithmetic_weighted_adapter`): the deltas sᵢ·Bᵢ·Aᵢ merged with
 *   weights wᵢ (PEFT PR #3111: the scaling is in the delta once), then the SVD truncated to newRank:
 *   B = U·S, A = Vh, clamped to ±quantile(entries of both, svdClamp) when given.
 * A source holding a NaN or an infinity is refused (naming the adapter, layer and entry; PEFT's svd
 * raises on it, its other types would spread it), and so is a result that overflows float32.
 */
export function combineLayer(plan: WeightedAdapterPlan, path: string, sources: readonly WeightedSource[], inFeatures: number, outFeatures: number): { a: Float32Array; b: Float32Array } {
  if (sources.length === 0) fail(`no source adapter at ${path}`);
  for (const s of sources) {
    for (const [key, values, cols] of [['lora_A', s.a, inFeatures], ['lora_B', s.b, s.r]] as const) {
      const i = firstNonFinite(values);
      if (i >= 0) fail(`adapter "${s.name}"'s ${key} of ${path} has a non-finite value (${values[i]}) at [${Math.floor(i / cols)}, ${i % cols}]`);
    }
  }
  const out = combine(plan, path, sources, inFeatures, outFeatures);
  if (firstNonFinite(out.a) >= 0 || firstNonFinite(out.b) >= 0) fail(`the combined A and B of ${path} overflow float32 (weights ${JSON.stringify(sources.map((s) => s.weight))})`);
  return out;
}

/** {@link combineLayer}'s computation, on checked sources. */
function combine(plan: WeightedAdapterPlan, path: string, sources: readonly WeightedSource[], inFeatures: number, outFeatures: number): { a: Float32Array; b: Float32Array } {
  const r = plan.newRank;
  const a = new Float32Array(r * inFeatures);
  const b = new Float32Array(outFeatures * r);
  const type = plan.combinationType;
  if (type === 'cat') {
    let row = 0;
    for (const s of sources) {
      const f = s.weight * s.scaling;
      for (let i = 0; i < s.r * inFeatures; i++) a[row * inFeatures + i] = s.a[i]! * f;
      for (let o = 0; o < outFeatures; o++) for (let j = 0; j < s.r; j++) b[o * r + row + j] = s.b[o * s.r + j]!;
      row += s.r;
    }
    return { a, b };
  }

  const rng = seedrandom(`${String(plan.seed)}:${path}:${type}`);
  const merge = merger(plan, () => rng());
  if (!SVD_TYPES.includes(type)) {
    const c = sources.map((s) => s.weight * s.scaling);
    // Negative weights (PEFT PR #2918): the sign goes on the A side only.
    const wa = c.map((x) => Math.sqrt(Math.abs(x)) * (x >= 0 ? 1 : -1));
    const wb = c.map((x) => Math.sqrt(Math.abs(x)));
    a.set(merge(sources.map((s) => Float64Array.from(s.a)), wa));
    b.set(merge(sources.map((s) => Float64Array.from(s.b)), wb));
    return { a, b };
  }

  const weights = sources.map((s) => s.weight);
  const total = sources.reduce((n, s) => n + s.r, 0);
  let svd: Svd;
  if (type === 'svd' && total < Math.min(inFeatures, outFeatures)) {
    // task_arithmetic of the deltas is itself a product: [w₁s₁B₁, w₂s₂B₂, …]·[A₁; A₂; …].
    const bc = new Float64Array(outFeatures * total);
    const ac = new Float64Array(total * inFeatures);
    let col = 0;
    for (const s of sources) {
      const f = s.weight * s.scaling;
      for (let o = 0; o < outFeatures; o++) for (let j = 0; j < s.r; j++) bc[o * total + col + j] = s.b[o * s.r + j]! * f;
      for (let i = 0; i < s.r * inFeatures; i++) ac[col * inFeatures + i] = s.a[i]!;
      col += s.r;
    }
    svd = lowRankSvd(bc, ac, outFeatures, total, inFeatures);
  } else {
    const deltas = sources.map((s) => matMul(s.b, s.a, outFeatures, s.r, inFeatures).map((x) => x * s.scaling)); // get_delta_weight
    // Only the first r triplets are kept; the merged delta is dominated by a part of rank <= Σ rᵢ.
    svd = truncatedSvd(merge(deltas, weights), outFeatures, inFeatures, r, { block: total + 10 });
  }
  const k = Math.min(r, svd.k);
  const us = new Float64Array(outFeatures * k); // U[:, :k] @ diag(S[:k])
  for (let o = 0; o < outFeatures; o++) for (let j = 0; j < k; j++) us[o * k + j] = svd.u[o * svd.k + j]! * svd.s[j]!;
  const vh = new Float64Array(k * inFeatures); // Vh[:k, :]
  for (let j = 0; j < k; j++) for (let i = 0; i < inFeatures; i++) vh[j * inFeatures + i] = svd.v[i * svd.k + j]!;
  if (plan.svdClamp !== null) {
    const all = new Float64Array(us.length + vh.length);
    all.set(us);
    all.set(vh, us.length);
    const hi = quantile(all, plan.svdClamp);
    const clamp = (x: number) => Math.min(Math.max(x, -hi), hi); // torch.clamp(x, min=-hi, max=hi)
    for (let i = 0; i < us.length; i++) us[i] = clamp(us[i]!);
    for (let i = 0; i < vh.length; i++) vh[i] = clamp(vh[i]!);
  }
  a.set(vh); // rows k.. stay zero
  for (let o = 0; o < outFeatures; o++) for (let j = 0; j < k; j++) b[o * r + j] = us[o * k + j]!;
  return { a, b };
}
