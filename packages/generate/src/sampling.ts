import seedrandom from 'seedrandom';
import { softmax } from './float32.js';

/** A uniform [0, 1) generator: seeded (reproducible) when `seed` is given, else seeded from entropy. */
export type Rng = () => number;
export function makeRng(seed: number | string | undefined): Rng {
  return seed === undefined ? seedrandom(undefined, { entropy: true }) : seedrandom(`conifer-generate:${String(seed)}`);
}

/**
 * One draw from `softmax(scores)` (`torch.multinomial(probs, 1)`; -inf scores are never drawn). Where PyTorch's
 * probabilities hold NaN (a NaN or +inf score, or every score -inf) `torch.multinomial` raises ("probability tensor
 * contains either `inf`, `nan` or element < 0"); so does this, saying which.
 */
export function sampleFromScores(scores: Float32Array, rng: Rng): number {
  unsampleable(scores, 'token');
  return drawFrom(softmax(scores), rng);
}

/**
 * `k` draws without replacement from `softmax(scores)` (`torch.multinomial(probs, k)`), in draw order. PyTorch draws
 * these as the `k` largest `probs / q` with `q ~ Exp(1)` (Distributions.cpp, `multinomial`: `topk(probs / q, k)`):
 * the positive probabilities in a weighted random order (the same law as drawing one at a time), then, when fewer
 * than `k` are positive, the probability-0 (-inf) entries, whose order among themselves torch leaves unspecified:
 * index order here. `k` above the number of entries is refused as torch refuses it.
 */
export function sampleWithoutReplacement(scores: Float32Array, k: number, rng: Rng): number[] {
  if (k > scores.length) {
    throw new Error(`cannot draw ${k} without replacement from ${scores.length} entries (torch.multinomial: "cannot sample n_sample > prob_dist.size(-1) samples without replacement")`);
  }
  unsampleable(scores, 'continuation');
  const w = Float64Array.from(softmax(scores));
  const out: number[] = [];
  while (out.length < k && w.some((v) => v > 0)) {
    const i = drawFrom(w, rng);
    out.push(i);
    w[i] = -1; // drawn
  }
  for (let i = 0; out.length < k; i++) if (w[i] === 0) out.push(i);
  return out;
}

/** Throws the reason `softmax(scores)` would be NaN (torch.multinomial raises on it). */
function unsampleable(scores: Float32Array, what: string): void {
  if (scores.some(Number.isNaN)) throw new Error('cannot sample: a processed score is NaN (as torch.multinomial, which raises)');
  if (scores.includes(Infinity)) {
    throw new Error('cannot sample: a processed score is +Infinity, so softmax is NaN (as torch.multinomial, which raises); e.g. a temperature so small that score / temperature overflows float32');
  }
  if (scores.every((s) => s === -Infinity)) {
    throw new Error(`cannot sample: every ${what}'s processed score is -Infinity (all were removed, e.g. by suppressTokens or badWordsIds); softmax is NaN and torch.multinomial raises`);
  }
}

/**
 * One draw from a probability vector (`torch.multinomial(p, 1)`; entries ≤ 0 are never drawn). Speculative
 * sampling draws from its adjusted distribution `max(p − q, 0)` with it. Refused, as torch raises, when no entry is
 * positive.
 */
export function sampleFromProbabilities(probs: ArrayLike<number>, rng: Rng): number {
  let positive = false;
  for (let i = 0; i < probs.length && !positive; i++) positive = (probs[i] as number) > 0;
  if (!positive) throw new Error('cannot sample: no probability is positive (torch.multinomial raises)');
  return drawFrom(probs, rng);
}

/** One index drawn with probability ∝ its positive weight (the rest are never drawn); at least one weight must be positive. */
function drawFrom(weights: ArrayLike<number>, rng: Rng): number {
  let total = 0;
  let last = -1;
  for (let i = 0; i < weights.length; i++) {
    if ((weights[i] as number) > 0) { total += weights[i] as number; last = i; }
  }
  const u = rng() * total;
  let acc = 0;
  for (let i = 0; i < weights.length; i++) {
    const wi = weights[i] as number;
    if (wi <= 0) continue;
    acc += wi;
    if (u < acc) return i;
  }
  return last;
}
