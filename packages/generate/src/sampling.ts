import seedrandom from 'seedrandom';
import { softmax } from './logits-process.js';

/** A uniform [0, 1) generator: seeded (reproducible) when `seed` is given, else seeded from entropy. */
export type Rng = () => number;
export function makeRng(seed: number | string | undefined): Rng {
  return seed === undefined ? seedrandom(undefined, { entropy: true }) : seedrandom(`conifer-generate:${String(seed)}`);
}

/** One draw from `softmax(scores)` (`torch.multinomial(probs, 1)`; -inf scores are never drawn). */
export function sampleFromScores(scores: Float32Array, rng: Rng): number {
  // torch.multinomial: "probability tensor contains either `inf`, `nan` or element < 0".
  if (scores.some(Number.isNaN)) throw new Error('cannot sample: a processed score is NaN (as torch.multinomial, which raises)');
  return drawFrom(softmax(scores), rng);
}

/** `k` draws without replacement from `softmax(scores)` (`torch.multinomial(probs, k)`), in draw order. */
export function sampleWithoutReplacement(scores: Float32Array, k: number, rng: Rng): number[] {
  const w = Float64Array.from(softmax(scores));
  const out: number[] = [];
  for (let d = 0; d < k; d++) {
    const i = drawFrom(w, rng);
    out.push(i);
    w[i] = 0;
  }
  return out;
}

function drawFrom(weights: ArrayLike<number>, rng: Rng): number {
  let total = 0;
  let last = -1;
  for (let i = 0; i < weights.length; i++) {
    if ((weights[i] as number) > 0) { total += weights[i] as number; last = i; }
  }
  if (last < 0) throw new Error('cannot sample: every token has probability 0 (all scores are -inf)');
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
