// src/pipeline/rouge.ts against test/fixtures/rouge/cases.json: rouge_score's tokenizer and scores
// (evaluate.load("rouge") defaults, no stemmer) transcribed in Python and run on real Dolly responses
// with perturbed predictions (see the fixture's generate.py and PROVENANCE.md).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ROUGE_TYPES, rouge, rougeScore, rougeTokenize, type RougeScore, type RougeType } from '../src/pipeline/rouge.js';

interface Case {
  name: string;
  reference: string;
  prediction: string;
  tokens: { reference: string[]; prediction: string[] };
  scores: Record<RougeType, RougeScore>;
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/rouge/cases.json', import.meta.url), 'utf8')) as { cases: Case[]; mean_fmeasure: Record<RougeType, number> };

const close = (got: number, want: number) => Math.abs(got - want) <= 1e-12;

describe('rouge (rouge_score transcribed, on Dolly responses)', () => {
  it('tokenizes as rouge_score: lowercase, non-[a-z0-9] runs are separators', () => {
    for (const c of fixture.cases) {
      expect(rougeTokenize(c.reference), c.name).toEqual(c.tokens.reference);
      expect(rougeTokenize(c.prediction), c.name).toEqual(c.tokens.prediction);
    }
  });

  it('precision, recall and F-measure of each type, each case, to 1e-12', () => {
    expect(fixture.cases.length).toBeGreaterThan(100);
    const bad: string[] = [];
    for (const c of fixture.cases) {
      const got = rougeScore(c.reference, c.prediction);
      for (const k of ROUGE_TYPES) {
        for (const f of ['precision', 'recall', 'fmeasure'] as const) {
          if (!close(got[k][f], c.scores[k][f])) bad.push(`${c.name} ${k}.${f}: ${got[k][f]} vs ${c.scores[k][f]}`);
        }
      }
    }
    expect(bad).toEqual([]);
  });

  it('the cases exercise what differs between the types (else the test above could pass with one of them wrong)', () => {
    const differ = (a: RougeType, b: RougeType) => fixture.cases.some((c) => c.scores[a].fmeasure !== c.scores[b].fmeasure);
    expect(differ('rougeL', 'rougeLsum')).toBe(true);
    expect(differ('rouge1', 'rougeL')).toBe(true);
    expect(fixture.cases.some((c) => c.prediction === '' && c.scores.rouge1.fmeasure === 0)).toBe(true);
  });

  it('the mean F-measure over the examples (not a bootstrap estimate)', () => {
    const got = rouge(fixture.cases.map((c) => c.prediction), fixture.cases.map((c) => c.reference));
    for (const k of ROUGE_TYPES) expect(close(got[k], fixture.mean_fmeasure[k]), `${k}: ${got[k]} vs ${fixture.mean_fmeasure[k]}`).toBe(true);
    expect(() => rouge(['a'], [])).toThrow(/1 predictions for 0 references/);
  });
});
