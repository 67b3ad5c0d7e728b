/**
 * An independent reference for beam search, written in the older, per-hypothesis style of transformers 4.x
 * (`BeamSearchScorer.process` / `BeamHypotheses.add` / `is_done` / `finalize`), in float64 over a plain JS
 * logits function: no tensors, no cache, no code shared with src/. transformers 5's
 * vectorised `_beam_search` is a re-implementation of the same algorithm; with `early_stopping=True` the
 * two choose the same best hypothesis (they differ in `is_done`'s bound for `False`, and in how they fill
 * rows after EOS), which is what the tests compare.
 */
import type { LogitsFn } from './fakes.js';

interface Hyp { score: number; ids: number[] }

class BeamHypotheses {
  beams: Hyp[] = [];
  worst = 1e9;
  constructor(private readonly numBeams: number, private readonly lengthPenalty: number) {}
  /** `score = sum_logprobs / (generated_len ** length_penalty)`; keep the best numBeams. */
  add(ids: number[], sumLogprobs: number, generatedLen: number): void {
    const score = sumLogprobs / generatedLen ** this.lengthPenalty;
    if (this.beams.length < this.numBeams || score > this.worst) {
      this.beams.push({ score, ids });
      if (this.beams.length > this.numBeams) {
        const sorted = this.beams.map((b, i) => [b.score, i] as const).sort((a, b) => a[0] - b[0]);
        this.beams.splice(sorted[0]![1], 1);
        this.worst = sorted[1]![0];
      } else {
        this.worst = Math.min(score, this.worst);
      }
    }
  }
  /** early_stopping=True: done once numBeams hypotheses are in. */
  isDone(): boolean {
    return this.beams.length >= this.numBeams;
  }
}

const logSoftmax = (x: number[]) => {
  const m = Math.max(...x);
  const lse = m + Math.log(x.reduce((s, v) => s + Math.exp(v - m), 0));
  return x.map((v) => v - lse);
};

/** Best hypothesis (generated ids, EOS included) per input; early_stopping=True, single EOS id. */
export function referenceBeamSearch(
  fn: LogitsFn,
  inputs: number[][],
  o: { numBeams: number; maxLength: number; lengthPenalty: number; eos: number; start: number },
): Array<{ ids: number[]; score: number }> {
  const nb = o.numBeams;
  return inputs.map((input) => {
    const hyps = new BeamHypotheses(nb, o.lengthPenalty);
    let beams: Hyp[] = [{ ids: [o.start], score: 0 }, ...Array.from({ length: nb - 1 }, () => ({ ids: [o.start], score: -1e9 }))];
    let done = false;
    while (true) {
      const curLen = (beams[0] as Hyp).ids.length + 1;
      const cands: Array<{ score: number; beam: number; token: number }> = [];
      beams.forEach((b, k) => logSoftmax(fn(input, b.ids)).forEach((lp, token) => cands.push({ score: b.score + lp, beam: k, token })));
      cands.sort((a, b) => b.score - a.score || a.beam * 1e6 + a.token - (b.beam * 1e6 + b.token));
      const top = cands.slice(0, 2 * nb);
      const next: Hyp[] = [];
      for (const [rank, c] of top.entries()) {
        const prev = beams[c.beam] as Hyp;
        if (c.token === o.eos) {
          if (rank >= nb) continue;
          hyps.add([...prev.ids, c.token], c.score, curLen - 1);
        } else {
          next.push({ ids: [...prev.ids, c.token], score: c.score });
        }
        if (next.length === nb) break;
      }
      done = done || hyps.isDone();
      beams = next;
      if (done || curLen >= o.maxLength) break;
    }
    if (!done) for (const b of beams) hyps.add(b.ids, b.score, b.ids.length - 1);
    const best = [...hyps.beams].sort((a, b) => b.score - a.score)[0] as Hyp;
    return { ids: best.ids, score: best.score };
  });
}
