import { softmax } from './float32.js';
import { sampleFromProbabilities, type Rng } from './sampling.js';

/**
 * transformers' `_speculative_sampling` (generation/utils.py; algorithm 1 of https://arxiv.org/abs/2211.17192) for one
 * row. `candidates` (γ tokens) were drawn by the assistant from its processed scores `assistantScores` (q, one row per
 * candidate); `targetScores(i)` is the model's processed scores at candidate position i (p, rows 0..γ). Candidate i is
 * kept while `r_i ≤ p_i / q_i` (`r_i ~ U[0, 1)`), up to the first rejection (n = the number kept). Then:
 * - when the candidates end in a stop (`isDoneCandidate`) and all were kept: n − 1 matches and the candidates as they
 *   are ("Ensure we don't generate beyond max_len or an EOS token");
 * - else one more token drawn from `max(p_n − q_n, 0)` renormalised when a candidate was rejected (n < γ), from p_γ
 *   when all were kept: the kept candidates then that token.
 * The output follows the model's own sampling distribution whatever the assistant proposes.
 */
export function speculativeSampling(
  candidates: readonly number[],
  assistantScores: readonly Float32Array[],
  targetScores: (position: number) => Float32Array,
  isDoneCandidate: boolean,
  rng: Rng,
): { tokens: number[]; numMatches: number } {
  const gamma = candidates.length;
  const q = assistantScores.map((s) => softmax(s));
  const p: Float32Array[] = [];
  const pAt = (i: number): Float32Array => (p[i] ??= softmax(targetScores(i)));
  let n = 0;
  // `is_accepted = r_i <= probability_ratio`; `n_matches = ((~is_accepted).cumsum(dim=-1) < 1).sum()`
  while (n < gamma) {
    const t = candidates[n] as number;
    const ratio = (pAt(n)[t] as number) / ((q[n] as Float32Array)[t] as number);
    if (!(rng() <= ratio)) break;
    n++;
  }
  if (isDoneCandidate && n === gamma) return { tokens: [...candidates], numMatches: n - 1 };
  const pn = pAt(n);
  let next: ArrayLike<number> = pn;
  if (n < gamma) {
    // `p_prime = torch.clamp((p_n_plus_1 - q_n_plus_1), min=0); p_prime.div_(p_prime.sum())`
    const qn = q[n] as Float32Array;
    const diff = Float64Array.from(pn, (v, i) => Math.max(v - (qn[i] as number), 0));
    next = diff; // multinomial normalises; the division changes nothing but rounding
  }
  const t = sampleFromProbabilities(next, rng);
  return { tokens: [...candidates.slice(0, n), t], numMatches: n };
}
