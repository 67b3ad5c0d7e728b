/**
 * ROUGE as `evaluate.load("rouge")` computes it with its defaults: google-research's `rouge_score`
 * (`RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=False)`), its F-measures
 * averaged over the examples. Each function here is one step of `rouge_scorer.py` / `tokenize.py` /
 * `scoring.py`, with the same arithmetic, so the scores are the same doubles.
 *
 * One difference, on purpose: `evaluate` (with its default `use_aggregator=True`) reports
 * `BootstrapAggregator`'s `mid`, the median of 1,000 bootstrap means (numpy's global generator, which the
 * Trainer's `set_seed` seeds: it repeats from run to run, but is not the mean); {@link rouge} reports the mean itself
 * (what `use_aggregator=False` gives, averaged).
 */

export const ROUGE_TYPES = ['rouge1', 'rouge2', 'rougeL', 'rougeLsum'] as const;
export type RougeType = (typeof ROUGE_TYPES)[number];

/** `scoring.Score`. */
export interface RougeScore {
  precision: number;
  recall: number;
  fmeasure: number;
}

/**
 * `tokenize.tokenize(text, stemmer=None)`: lowercase (Unicode, as Python's `str.lower`), every run of
 * characters outside `[a-z0-9]` becomes a space, split; so punctuation, accents and non-Latin scripts
 * separate tokens and are dropped (`"Café"` → `caf`; `"日本"` → nothing).
 */
export function rougeTokenize(text: string): string[] {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, ' ').split(' ').filter((t) => t !== '');
}

/** `scoring.fmeasure`: the harmonic mean, 0 when both are 0. */
function fmeasure(precision: number, recall: number): number {
  return precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
}

const ZERO: RougeScore = { precision: 0, recall: 0, fmeasure: 0 };

/** `_create_ngrams`: n-gram counts (tokens are `[a-z0-9]+`, so joined with a space they cannot collide). */
function ngrams(tokens: readonly string[], n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= tokens.length; i++) {
    const key = tokens.slice(i, i + n).join(' ');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** `_score_ngrams`: clipped n-gram overlap over the prediction's (precision) and the target's (recall) n-gram counts. */
function scoreNgrams(target: Map<string, number>, prediction: Map<string, number>): RougeScore {
  let overlap = 0;
  let targetCount = 0;
  let predictionCount = 0;
  for (const [gram, c] of target) {
    overlap += Math.min(c, prediction.get(gram) ?? 0);
    targetCount += c;
  }
  for (const c of prediction.values()) predictionCount += c;
  const precision = overlap / Math.max(predictionCount, 1);
  const recall = overlap / Math.max(targetCount, 1);
  return { precision, recall, fmeasure: fmeasure(precision, recall) };
}

/** `_lcs_table`: rows = `ref` (+1), columns = `can` (+1). */
function lcsTable(ref: readonly string[], can: readonly string[]): Int32Array[] {
  const t = Array.from({ length: ref.length + 1 }, () => new Int32Array(can.length + 1));
  for (let i = 1; i <= ref.length; i++) {
    for (let j = 1; j <= can.length; j++) {
      t[i]![j] = ref[i - 1] === can[j - 1] ? t[i - 1]![j - 1]! + 1 : Math.max(t[i - 1]![j]!, t[i]![j - 1]!);
    }
  }
  return t;
}

/** `_score_lcs` (rougeL): LCS length over the prediction's and the target's token counts. */
function scoreLcs(target: readonly string[], prediction: readonly string[]): RougeScore {
  if (target.length === 0 || prediction.length === 0) return ZERO;
  const lcs = lcsTable(target, prediction)[target.length]![prediction.length]!;
  const precision = lcs / prediction.length;
  const recall = lcs / target.length;
  return { precision, recall, fmeasure: fmeasure(precision, recall) };
}

/** `lcs_ind` (`_backtrack_norec`): the `ref` indices of one LCS, the one this backtrack picks (ties step back in `ref`). */
function lcsIndices(ref: readonly string[], can: readonly string[]): number[] {
  const t = lcsTable(ref, can);
  const out: number[] = [];
  let i = ref.length;
  let j = can.length;
  while (i > 0 && j > 0) {
    if (ref[i - 1] === can[j - 1]) {
      out.push(i - 1);
      i--;
      j--;
    } else if (t[i]![j - 1]! > t[i - 1]![j]!) j--;
    else i--;
  }
  return out.reverse();
}

function countTokens(sentences: readonly string[][]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const s of sentences) for (const t of s) counts.set(t, (counts.get(t) ?? 0) + 1);
  return counts;
}

/**
 * `_summary_level_lcs` (rougeLsum, Lin 2004 §3.2): for each target sentence, the union of its LCS
 * positions with every prediction sentence; its tokens count as hits while both texts still have that
 * token left (ROUGE-1.5.5's guard against double counting).
 */
function summaryLevelLcs(targetSents: readonly string[][], predictionSents: readonly string[][]): RougeScore {
  if (targetSents.length === 0 || predictionSents.length === 0) return ZERO;
  const m = targetSents.reduce((a, s) => a + s.length, 0);
  const n = predictionSents.reduce((a, s) => a + s.length, 0);
  if (n === 0 || m === 0) return ZERO;
  const leftR = countTokens(targetSents);
  const leftC = countTokens(predictionSents);
  let hits = 0;
  for (const r of targetSents) {
    const union = new Set<number>();
    for (const c of predictionSents) for (const i of lcsIndices(r, c)) union.add(i);
    for (const i of [...union].sort((a, b) => a - b)) {
      const tok = r[i]!;
      if ((leftC.get(tok) ?? 0) > 0 && (leftR.get(tok) ?? 0) > 0) {
        hits++;
        leftC.set(tok, leftC.get(tok)! - 1);
        leftR.set(tok, leftR.get(tok)! - 1);
      }
    }
  }
  const recall = hits / m;
  const precision = hits / n;
  return { precision, recall, fmeasure: fmeasure(precision, recall) };
}

/** rougeLsum's sentences: the text split on `"\n"` (only), empty lines dropped (a line of spaces stays, with no tokens). */
function sentences(text: string): string[][] {
  return text.split('\n').filter((s) => s.length > 0).map(rougeTokenize);
}

/** `RougeScorer.score(target, prediction)` for the four types (argument order as there: the reference first). */
export function rougeScore(target: string, prediction: string): Record<RougeType, RougeScore> {
  const t = rougeTokenize(target);
  const p = rougeTokenize(prediction);
  return {
    rouge1: scoreNgrams(ngrams(t, 1), ngrams(p, 1)),
    rouge2: scoreNgrams(ngrams(t, 2), ngrams(p, 2)),
    rougeL: scoreLcs(t, p),
    rougeLsum: summaryLevelLcs(sentences(target), sentences(prediction)),
  };
}

/**
 * `evaluate.load("rouge").compute(predictions, references)` with `use_stemmer=False`: each type's
 * F-measure, the plain mean over the examples (not the bootstrap `mid`: see the module comment).
 * No examples: every score is NaN.
 */
export function rouge(predictions: readonly string[], references: readonly string[]): Record<RougeType, number> {
  if (predictions.length !== references.length) throw new RangeError(`rouge: ${predictions.length} predictions for ${references.length} references`);
  const sums: Record<RougeType, number> = { rouge1: 0, rouge2: 0, rougeL: 0, rougeLsum: 0 };
  for (let i = 0; i < predictions.length; i++) {
    const s = rougeScore(references[i]!, predictions[i]!);
    for (const k of ROUGE_TYPES) sums[k] += s[k].fmeasure;
  }
  const n = predictions.length;
  return { rouge1: sums.rouge1 / n, rouge2: sums.rouge2 / n, rougeL: sums.rougeL / n, rougeLsum: sums.rougeLsum / n };
}
