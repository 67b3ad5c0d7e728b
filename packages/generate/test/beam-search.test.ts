import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { generate, topKIndices, type GenerateOptions } from '../src/index.js';
import { hashedLogits, probabilityTable, TableModel, TinyTransformer } from './fakes.js';
import { referenceBeamSearch } from './reference-beam.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// Vocabulary of the hand-made cases: 0 = decoder start = pad, 1 = EOS, 2 = "a", 3 = "b".
// Rows are next-token probabilities [pad, eos, a, b] by decoder prefix; logits = ln p.
const f32 = Math.fround;
const ln = Math.log;
const T5_IDS = { decoderStartTokenId: 0, eosTokenId: 1, padTokenId: 0 } satisfies GenerateOptions;
const FALLBACK = [0.01, 0.97, 0.01, 0.01];
const T1 = {
  '0': [0.05, 0.4, 0.3, 0.25],
  '0,2': [0.05, 0.4, 0.1, 0.45],
  '0,3': [0.02, 0.9, 0.04, 0.04],
  '0,2,3': [0.0025, 0.99, 0.0025, 0.005],
};
const T2 = {
  '0': [0.05, 0.4, 0.3, 0.25],
  '0,2': [0.08, 0.5, 0.12, 0.3],
  '0,3': [0.02, 0.9, 0.04, 0.04],
  '0,2,3': [0.0025, 0.99, 0.0025, 0.005],
  '0,2,2': [0.1, 0.6, 0.2, 0.1],
};
const run = (table: Record<string, number[]>, o: GenerateOptions) =>
  generate(new TableModel(4, probabilityTable(table, FALLBACK)), { inputIds: [[5, 1]] }, { ...T5_IDS, numBeams: 2, maxNewTokens: 3, ...o });

describe('beam search, hand-computed (transformers 5 _beam_search)', () => {
  it('scores finished hypotheses by sum_logprobs / generated_len ** length_penalty (EOS counted, start token not)', async () => {
    // Step 1 (beam 0 only; the other starts at -1e9): top 2·2 = eos ln.4, a ln.3, b ln.25, pad ln.05.
    //   eos is among the first numBeams → finished, score ln.4 / 1**1 = -0.91629. Running: a, b.
    // Step 2: b+eos = ln.25+ln.9 = -1.49165, a+eos = ln.3+ln.5 = -1.89712, a+b = -2.40794, a+a = -3.32423.
    //   Both EOS are among the first 2 → finished: -1.49165/2 = -0.74583 and -1.89712/2 = -0.94856.
    //   Finished slots keep the best 2: [0,3,1] (-0.74583), [0,1] (-0.91629).
    // Then best running a+b at the current length: -2.40794/2 = -1.20397 < worst finished → stop.
    const out = await run(T2, { lengthPenalty: 1, numReturnSequences: 2 });
    // transformers' fill value is `pad_token_id or eos_token_id[0]`: pad 0 is falsy → EOS fills.
    expect(out.sequences).toEqual([[0, 3, 1], [0, 1, 1]]);
    expect(out.sequencesScores![0]).toBeCloseTo(f32((ln(0.25) + ln(0.9)) / 2), 5);
    expect(out.sequencesScores![1]).toBeCloseTo(f32(ln(0.4)), 5);
  });

  it('length_penalty 0 ranks by summed log-probs: the one-token answer wins', async () => {
    // Finished: [0,1] = -0.91629, [0,3,1] = -1.49165 (not divided); best running -2.40794 < worst → stop.
    const out = await run(T2, { lengthPenalty: 0 });
    expect(out.sequences).toEqual([[0, 1]]);
    expect(out.sequencesScores![0]).toBeCloseTo(ln(0.4), 5);
  });

  it('only EOS among the first numBeams of the 2·numBeams candidates finish', async () => {
    // T1, lp 2, step 2: b+eos -1.49165 (j0), a+b -2.00248 (j1), a+eos -2.12026 (j2), a+a -3.50656 (j3).
    // a+eos is at j2 ≥ numBeams: not added (it would score -0.53007 and beat [0,1]'s -0.91629).
    // earlyStopping true: both finished slots are full after step 2 → stop.
    const out = await run(T1, { lengthPenalty: 2, earlyStopping: true, numReturnSequences: 2 });
    expect(out.sequences).toEqual([[0, 3, 1], [0, 1, 1]]);
    expect(out.sequencesScores![0]).toBeCloseTo(f32((ln(0.25) + ln(0.9)) / 4), 5);
    expect(out.sequencesScores![1]).toBeCloseTo(ln(0.4), 5);
  });

  it('earlyStopping false keeps going while the best running beam at its current length could still win', async () => {
    // After step 2 (T1, lp 2): best running a+b = -2.00248 / (3-1)**2 = -0.50062 > worst finished -0.91629
    // → step 3: a+b+eos = -2.00248 + ln.99 = -2.01253, / 3**2 = -0.22361: the new best.
    const out = await run(T1, { lengthPenalty: 2, earlyStopping: false, numReturnSequences: 2 });
    expect(out.sequences).toEqual([[0, 2, 3, 1], [0, 3, 1, 1]]);
    expect(out.sequencesScores![0]).toBeCloseTo(f32((ln(0.3) + ln(0.45) + ln(0.99)) / 9), 5);
  });

  it('earlyStopping "never" with length_penalty > 0 bounds the running beams at maxLength', async () => {
    // T2, lp 2, after step 2: finished b+eos -0.37291, a+eos -1.89712/4 = -0.47428.
    // false: -2.40794 / 2**2 = -0.60199 < -0.47428 → stop with [0,3,1].
    // "never": -2.40794 / (maxLength 4 - 1)**2 = -0.26755 > -0.47428 → step 3: a+b+eos = -2.41799/9 = -0.26867.
    expect((await run(T2, { lengthPenalty: 2, earlyStopping: false })).sequences).toEqual([[0, 3, 1]]);
    expect((await run(T2, { lengthPenalty: 2, earlyStopping: true })).sequences).toEqual([[0, 3, 1]]);
    const never = await run(T2, { lengthPenalty: 2, earlyStopping: 'never' });
    expect(never.sequences).toEqual([[0, 2, 3, 1]]);
    expect(never.sequencesScores![0]).toBeCloseTo(f32((ln(0.3) + ln(0.3) + ln(0.99)) / 9), 5);
  });

  it('rows that reach maxLength without EOS are finished there (length = max new tokens)', async () => {
    // Never EOS: log-probs of "a" every step; maxNewTokens 2 → the best is [0,2,2] with score 2·ln.7/2.
    const model = new TableModel(4, probabilityTable({}, [0.1, 0, 0.7, 0.2]));
    const out = await generate(model, { inputIds: [[5]] }, { ...T5_IDS, numBeams: 2, maxNewTokens: 2, numReturnSequences: 2 });
    expect(out.sequences).toEqual([[0, 2, 2], [0, 2, 3]]);
    expect(out.sequencesScores![0]).toBeCloseTo(f32((2 * ln(0.7)) / 2), 5);
    expect(out.sequencesScores![1]).toBeCloseTo(f32((ln(0.7) + ln(0.2)) / 2), 5);
  });
});

describe('beam search on fake models', () => {
  it('equals an independent per-hypothesis reference (transformers 4 BeamSearchScorer, early_stopping=True)', async () => {
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      for (const lengthPenalty of [1, 0, 2, -1]) {
        const fn = hashedLogits(7, seed, 4);
        const inputs = [[3, 4, 5], [6, 2, 1]];
        const o = { numBeams: 3, maxLength: 7, lengthPenalty, eos: 1, start: 0 };
        const want = referenceBeamSearch(fn, inputs, o);
        const got = await generate(new TableModel(7, fn), { inputIds: inputs }, {
          ...T5_IDS, numBeams: 3, maxLength: 7, lengthPenalty, earlyStopping: true,
        });
        got.sequences.forEach((row, b) => {
          const w = want[b]!;
          expect(row.slice(0, w.ids.length), `seed ${seed} lp ${lengthPenalty} row ${b}`).toEqual(w.ids);
          expect(got.sequencesScores![b]).toBeCloseTo(w.score, 4);
        });
      }
    }
  });

  it('reorders the cache with a gather: cached and uncached runs agree (the cache holds the prefix)', async () => {
    for (const seed of [11, 12, 13]) {
      const fn = hashedLogits(9, seed, 3);
      const inputs = { inputIds: [[3, 4, 5, 1], [6, 2, 1, 0]], attentionMask: [[1, 1, 1, 1], [1, 1, 1, 0]] };
      const o = { ...T5_IDS, numBeams: 3, numReturnSequences: 3, maxNewTokens: 8 };
      const cached = new TableModel(9, fn);
      const a = await generate(cached, inputs, o);
      const b = await generate(new TableModel(9, fn), inputs, { ...o, useCache: false });
      expect(a).toEqual(b);
      expect(cached.calls.reorderCache.length).toBeGreaterThan(0);
      expect(cached.calls.decodeWidths.slice(1).every((w) => w === 1)).toBe(true);
      // encoder state repeated per beam, transformers' repeat_interleave order
      expect(cached.calls.reorderEncoder).toEqual([[0, 0, 0, 1, 1, 1]]);
      // each gather picks rows of the same input: b * numBeams + beam
      for (const idx of cached.calls.reorderCache) {
        idx.forEach((v, i) => expect(Math.floor(v / 3)).toBe(Math.floor(i / 3)));
      }
    }
  });

  it('returns numReturnSequences rows per input, input-major, best first, starting with the start id', async () => {
    const m = new TinyTransformer({ seed: 3, eosAfter: 4 });
    const inputs = { inputIds: [[3, 4, 5, 1], [6, 7, 1, 0], [9, 9, 8, 1]], attentionMask: [[1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 1, 1]] };
    const out = await generate(m, inputs, { ...T5_IDS, numBeams: 4, numReturnSequences: 2, maxNewTokens: 10 });
    expect(out.sequences).toHaveLength(6);
    expect(out.sequences.every((r) => r[0] === 0 && r.length === out.sequences[0]!.length)).toBe(true);
    for (let b = 0; b < 3; b++) expect(out.sequencesScores![2 * b]!).toBeGreaterThanOrEqual(out.sequencesScores![2 * b + 1]!);
    // Each input alone gives its own two rows (padding does not leak into the result).
    for (let b = 0; b < 3; b++) {
      const n = inputs.attentionMask[b]!.reduce((s, v) => s + v, 0);
      const alone = await generate(m, { inputIds: [inputs.inputIds[b]!.slice(0, n)] }, { ...T5_IDS, numBeams: 4, numReturnSequences: 2, maxNewTokens: 10 });
      alone.sequences.forEach((row, i) => {
        const full = out.sequences[2 * b + i]!;
        expect(full.slice(0, row.length)).toEqual(row);
        expect(full.slice(row.length).every((t) => t === 1)).toBe(true);
      });
    }
    m.dispose();
  });

  it('beam sampling is reproducible with a seed', async () => {
    const fn = hashedLogits(9, 5, 2);
    const o = { ...T5_IDS, numBeams: 3, doSample: true, seed: 42, maxNewTokens: 8, numReturnSequences: 2 };
    const a = await generate(new TableModel(9, fn), { inputIds: [[3, 4]] }, o);
    const b = await generate(new TableModel(9, fn), { inputIds: [[3, 4]] }, o);
    expect(a).toEqual(b);
  });

  it('topKIndices: largest first, ties in index order', () => {
    expect(topKIndices([1, 5, 3, 5, -Infinity, 2], 3)).toEqual([1, 3, 2]);
    expect(topKIndices([-Infinity, -Infinity], 2)).toEqual([0, 1]);
  });
});
