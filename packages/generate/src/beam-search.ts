import type { Decoder } from './decoder.js';
import { logSoftmax } from './logits-process.js';
import type { ResolvedOptions } from './options.js';
import { hitsStopString, startRows, type StepRecord } from './sample-search.js';
import { makeRng, sampleWithoutReplacement } from './sampling.js';
import { processRows, userStops } from './user-processors.js';

const f32 = Math.fround;
const NEG = -1e9; // transformers' "very large negative value" (exact in float32)

interface Hyp {
  /** Decoder sequence, start token first. */
  ids: number[];
  /** float32 score: running = summed log-probs; finished = length-penalised. */
  score: number;
  /** Per generated token, the running row (b * numBeams + beam) it was chosen from (transformers' `beam_indices`). */
  beams: number[];
}
interface Finished extends Hyp {
  /** transformers' `is_sent_finished`. */
  done: boolean;
}
interface Candidate extends Hyp {
  /** Flat row (b * numBeams + beam) of the running beam it extends: the cache row to gather. */
  src: number;
  /** `next_token_hits_stopping_criteria`: EOS, max length or a stop string. */
  hits: boolean;
}

/**
 * Indices of the `k` largest values, largest first; equal values in index order (torch.topk leaves the
 * order of ties unspecified).
 */
export function topKIndices(values: ArrayLike<number>, k: number): number[] {
  const idx: number[] = [];
  const val: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (idx.length === k && !(v > (val[k - 1] as number))) continue;
    let pos = idx.length === k ? k - 1 : idx.length;
    while (pos > 0 && v > (val[pos - 1] as number)) pos--;
    idx.splice(pos, 0, i);
    val.splice(pos, 0, v);
    if (idx.length > k) { idx.pop(); val.pop(); }
  }
  return idx;
}

/**
 * Beam search (and beam sampling) as transformers 5's `GenerationMixin._beam_search`, step for step:
 * per input, the `max(2, 1 + len(eos)) * numBeams` best continuations of all beams
 * (`_get_top_k_continuations`), the best `numBeams` of those not hitting a stopping criterion keep running
 * (`_get_running_beams_for_next_iteration`), the ones among the first `numBeams` that hit EOS or the max
 * length compete for the `numBeams` finished slots with score `sum_logprobs / generated_len ** length_penalty`
 * (`_update_finished_beams`), and the loop ends per `_check_early_stop_heuristic` /
 * `_beam_search_has_unfinished_sequences`. The -1e9 masks are applied with the same float32 arithmetic.
 * `decoder` rows are `batch * numBeams` (the encoder state already repeated per beam).
 */
export async function beamSearch<Enc, Cache>(
  decoder: Decoder<Enc, Cache>,
  batch: number,
  o: ResolvedOptions,
  /** Filled per step and running row when given: `scores` the processed log-probs, `logits` the raw logits. */
  record: StepRecord = {},
  /** The prompts' token ids (one row per input), for the encoder processors. */
  encoderInputIds?: readonly (readonly number[])[],
  /** The decoder prefix of each input (`decoderInputIds`, start token first): every beam starts from it. */
  decoderPrefix?: readonly (readonly number[])[],
): Promise<{ sequences: number[][]; scores: number[]; beamIndices: number[][] }> {
  const nb = o.numBeams;
  const eos = new Set(o.eosTokenIds);
  const nEos = o.eosTokenIds.length;
  const keep = Math.max(2, 1 + nEos) * nb; // `beams_to_keep`
  const starts = startRows(o, batch, 1, decoderPrefix);
  // `decoder_prompt_len = input_ids.shape[-1]`: the start token and the caller's prefix.
  const promptLen = (starts[0] as number[]).length;
  const lp = o.lengthPenalty;
  const rng = o.doSample ? makeRng(o.seed) : undefined;
  const proc = { ...o, minTokensToKeep: o.doSample ? (nEos > 0 ? nEos + 1 : 2) : 1, encoderInputIds, rowsPerInput: nb };

  // `running_beam_scores[:, 1:] = -1e9` so the first step expands beam 0 only.
  let running: Hyp[][] = Array.from({ length: batch }, (_, b) =>
    Array.from({ length: nb }, (_, k) => ({ ids: [...(starts[b] as number[])], score: k === 0 ? 0 : NEG, beams: [] })),
  );
  let finished: Finished[][] = Array.from({ length: batch }, (_, b) =>
    Array.from({ length: nb }, () => ({ ids: [...(starts[b] as number[])], score: NEG, done: false, beams: [] })),
  );
  const unsatisfied = new Array<boolean>(batch).fill(true); // `is_early_stop_heuristic_unsatisfied`
  let curLen = promptLen;

  while (true) {
    const logits = await decoder.step(running.flat().map((h) => h.ids));
    record.logits?.push(logits); // `raw_logits += (logits.clone(),)`: never changed below (log_softmax makes new rows)
    // `log_softmax`, then `logits_processor`: the built-in processors, the caller's `logitsProcessor`, the warpers.
    const logProbs = processRows(logits.map((row) => logSoftmax(row)), running.flat().map((h) => h.ids), proc);
    for (const l of logProbs) {
      // torch.topk orders NaN above every number; the beams that would follow are not reproduced here.
      if (l.some(Number.isNaN)) {
        throw new Error('beam search: a processed log-probability is NaN (e.g. exponentialDecayLengthPenalty adding +∞ to an EOS score that minLength set to −∞); transformers would rank it first, which this package does not reproduce');
      }
    }
    record.scores?.push(logProbs.map((l) => l.slice()));
    const vocab = (logProbs[0] as Float32Array).length;
    if (keep > nb * vocab) {
      // transformers: `torch.topk(accumulated_log_probs, k=beams_to_keep)` raises "selected index k out of range"
      // (`torch.multinomial` "cannot sample n_sample > prob_dist.size(-1) samples without replacement" when sampling).
      throw new Error(`beam search takes max(2, 1 + number of EOS ids) × numBeams = ${keep} continuations per input each step, more than the ${nb * vocab} there are (numBeams ${nb} × vocabulary ${vocab})`);
    }
    let allHit = true;
    const nextRunning: Hyp[][] = [];
    const nextFinished: Finished[][] = [];
    const gatherRows: number[] = [];
    const denom = f32((curLen + 1 - promptLen) ** lp);

    // `_get_top_k_continuations` for every input, then `stopping_criteria` on all of them at once.
    const candsOf: Candidate[][] = [];
    for (let b = 0; b < batch; b++) {
      const beams = running[b] as Hyp[];
      // `log_probs + running_beam_scores[:, :, None]`, flattened to (numBeams * vocab).
      const acc = new Float32Array(nb * vocab);
      for (let k = 0; k < nb; k++) {
        const row = logProbs[b * nb + k] as Float32Array;
        const s = (beams[k] as Hyp).score;
        for (let v = 0; v < vocab; v++) acc[k * vocab + v] = (row[v] as number) + s;
      }
      const picked = rng ? sampleWithoutReplacement(acc, keep, rng) : topKIndices(acc, keep);
      const cands: Candidate[] = picked.map((i) => {
        const k = Math.floor(i / vocab);
        const token = i % vocab;
        const ids = [...(beams[k] as Hyp).ids, token];
        // `stopping_criteria` on each continuation: EOS, max length, stop strings (transformers checks all three here).
        const hits = eos.has(token) || ids.length >= o.maxLength || hitsStopString(ids.slice(1), o.stopStrings, o.tokenizer, promptLen - 1, o);
        return { ids, score: acc[i] as number, src: b * nb + k, hits, beams: [...(beams[k] as Hyp).beams, b * nb + k] };
      });
      candsOf.push(cands);
    }
    // The caller's `stoppingCriteria`, after the built-in ones, on every continuation (`batch × beams_to_keep` rows).
    userStops(o.stoppingCriteria, candsOf.flat().map((c) => c.ids))?.forEach((done, j) => {
      if (done) (candsOf[Math.floor(j / keep)]?.[j % keep] as Candidate).hits = true;
    });

    for (let b = 0; b < batch; b++) {
      const cands = candsOf[b] as Candidate[];
      if (!cands.every((c) => c.hits)) allHit = false;

      // Running beams: finished candidates get -1e9, then the best numBeams.
      const runScores = cands.map((c) => f32(c.score + (c.hits ? NEG : 0)));
      const next = topKIndices(runScores, nb).map((j) => {
        const c = cands[j] as Candidate;
        gatherRows.push(c.src);
        return { ids: c.ids, score: runScores[j] as number, beams: c.beams };
      });
      nextRunning.push(next);

      // Finished beams: only the first numBeams candidates may finish; merge with the kept ones.
      const prev = finished[b] as Finished[];
      const full = prev.every((f) => f.done) && o.earlyStopping === true;
      const just = cands.map((c, j) => c.hits && j < nb);
      const finScores = cands.map((c, j) => {
        let s = f32(c.score / denom);
        if (full) s = f32(s + NEG);
        if (!unsatisfied[b]) s = f32(s + NEG);
        if (!just[j]) s = f32(s + NEG);
        return s;
      });
      const merged: Finished[] = [
        ...prev,
        ...cands.map((c, j) => ({ ids: c.ids, score: finScores[j] as number, done: just[j] as boolean, beams: c.beams })),
      ];
      nextFinished.push(topKIndices(merged.map((m) => m.score), nb).map((m) => merged[m] as Finished));
    }
    running = nextRunning;
    finished = nextFinished;
    curLen += 1;

    for (let b = 0; b < batch; b++) {
      if (!unsatisfied[b]) continue;
      const bestLen = o.earlyStopping === 'never' && lp > 0 ? o.maxLength - promptLen : curLen - promptLen;
      const best = f32(((running[b] as Hyp[])[0] as Hyp).score / f32(bestLen ** lp));
      const fin = finished[b] as Finished[];
      const worst = Math.min(...fin.map((f) => f.score));
      unsatisfied[b] = fin.some((f) => best > (f.done ? worst : NEG));
    }
    const improvementPossible = unsatisfied.some(Boolean);
    const existsOpenBeam = !(finished.every((fs) => fs.every((f) => f.done)) && o.earlyStopping === true);
    if (!(improvementPossible && existsOpenBeam && !allHit)) break;
    decoder.reorder(gatherRows);
  }

  // `sequences[:, :num_return_sequences]`, cut to the longest generated length, filled with
  // `output_fill_value` past each row's end.
  const picked = finished.flatMap((fs) => fs.slice(0, o.numReturnSequences));
  const outLen = Math.max(...picked.map((f) => f.ids.length));
  return {
    sequences: picked.map((f) => [...f.ids, ...new Array<number>(outLen - f.ids.length).fill(o.beamFillTokenId)]),
    scores: picked.map((f) => f.score),
    // `beam_indices`: one per generated position, -1 past the row's end.
    beamIndices: picked.map((f) => [...f.beams, ...new Array<number>(outLen - promptLen - f.beams.length).fill(-1)]),
  };
}
