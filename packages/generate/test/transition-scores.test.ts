/**
 * `computeTransitionScores` against transformers' `GenerationMixin.compute_transition_scores` (a torch 1.13
 * transcription run on fixed score rows: fixtures/user-processors/), and the identity the README states on real
 * outputs: beam transition scores summed through `beamIndices`, over the generated length ** lengthPenalty, are
 * `sequencesScores`.
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeTransitionScores, generate, logSoftmax, type GenerateOptions } from '../src/index.js';
import { TinyTransformer } from './fakes.js';

type Num = number | 'inf' | '-inf' | 'nan';
const dec = (v: Num): number => (v === 'inf' ? Infinity : v === '-inf' ? -Infinity : v === 'nan' ? NaN : v);
const rows = (m: Num[][]): Float32Array[] => m.map((r) => Float32Array.from(r, dec));
const plain = (m: Num[][]): number[][] => m.map((r) => r.map(dec));

interface Ref {
  vocab: number;
  greedy: { scores: Num[][][]; sequences: number[][]; raw: Num[][]; normalized: Num[][] };
  beam: { scores: Num[][][]; sequences: number[][]; beamIndices: number[][]; raw: Num[][]; normalized: Num[][]; cutBeamIndices: number[][]; cutRaw: Num[][] };
}
const REF = JSON.parse(readFileSync(new URL('./fixtures/user-processors/reference.json', import.meta.url), 'utf8')) as Ref;
const asArrays = (x: Float32Array[]): number[][] => x.map((r) => Array.from(r));

const T5 = { decoderStartTokenId: 0, eosTokenId: 1, padTokenId: 0 } satisfies GenerateOptions;
const INPUTS = { inputIds: [[3, 4, 5, 9, 1], [6, 7, 1, 0, 0]], attentionMask: [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]] };
/** Beams that end at many different lengths (2 to 10 tokens) with these prompts. */
const BEAM_INPUTS = {
  inputIds: [[3, 4, 5, 9, 1], [6, 7, 1, 0, 0], [12, 2, 8, 1, 0]],
  attentionMask: [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0]],
};
let model: TinyTransformer;
let beamModel: TinyTransformer;
beforeAll(async () => {
  await tf.setBackend('cpu');
  model = new TinyTransformer({ seed: 7, eosAfter: 3 });
  beamModel = new TinyTransformer({ seed: 3, eosAfter: 2 });
});
afterAll(() => { model.dispose(); beamModel.dispose(); });

describe('computeTransitionScores = transformers (torch transcription)', () => {
  it('without beam indices (greedy): row i reads row i of every step; normalizeLogits log-softmaxes first', () => {
    const out = { sequences: REF.greedy.sequences, scores: REF.greedy.scores.map(rows) };
    expect(asArrays(computeTransitionScores(out))).toEqual(plain(REF.greedy.raw));
    expect(asArrays(computeTransitionScores(out, { normalizeLogits: true }))).toEqual(plain(REF.greedy.normalized));
  });

  it('with beam indices: through each row, -1 positions are 0, and the positions are cut to the longest beam', () => {
    const scores = REF.beam.scores.map(rows);
    const out = { sequences: REF.beam.sequences, scores, beamIndices: REF.beam.beamIndices };
    expect(asArrays(computeTransitionScores(out))).toEqual(plain(REF.beam.raw));
    expect(asArrays(computeTransitionScores(out, { normalizeLogits: true }))).toEqual(plain(REF.beam.normalized));
    const cut = computeTransitionScores({ ...out, beamIndices: REF.beam.cutBeamIndices });
    expect(cut.map((r) => r.length)).toEqual([2, 2, 2]);
    expect(asArrays(cut)).toEqual(plain(REF.beam.cutRaw));
  });

  it('refuses an output without scores, and a token outside the vocabulary', () => {
    expect(() => computeTransitionScores({ sequences: [[0, 2]] })).toThrow('outputScores: true');
    const scores = [[Float32Array.from([0, 0, 0])]];
    expect(() => computeTransitionScores({ sequences: [[0, 5]], scores })).toThrow('not in the vocabulary');
  });
});

describe('computeTransitionScores on generate outputs', () => {
  it("beam search: Σ transition scores / generatedLength ** lengthPenalty = sequencesScores (README's identity)", async () => {
    for (const lengthPenalty of [1, 0.5, 2]) {
      const before = tf.memory().numTensors;
      const o = { ...T5, maxNewTokens: 12, numBeams: 3, numReturnSequences: 3, lengthPenalty, repetitionPenalty: 1.3, outputScores: true };
      const out = await generate(beamModel, BEAM_INPUTS, o);
      expect(tf.memory().numTensors).toBe(before);
      const ts = computeTransitionScores(out);
      const lengths = out.beamIndices!.map((r) => r.filter((b) => b >= 0).length);
      expect(new Set(lengths).size, 'rows of several lengths, so the -1 masking matters').toBeGreaterThan(1);
      for (const [i, row] of ts.entries()) {
        // transformers' docstring: output_length = (transition_scores < 0).sum(); the masked positions are 0.
        expect(Array.from(row).filter((s) => s < 0)).toHaveLength(lengths[i]!);
        const sum = Array.from(row).reduce((a, b) => a + b, 0);
        expect(sum / lengths[i]! ** lengthPenalty, `row ${i}, lengthPenalty ${lengthPenalty}`).toBeCloseTo(out.sequencesScores![i]!, 5);
      }
    }
  });

  it('greedy: the chosen token’s processed score each step; normalized, its log-probability; assisted the same', async () => {
    const o = { ...T5, maxNewTokens: 6, repetitionPenalty: 1.4, outputScores: true };
    const out = await generate(model, INPUTS, o);
    const ts = computeTransitionScores(out);
    const norm = computeTransitionScores(out, { normalizeLogits: true });
    for (const [i, seq] of out.sequences.entries()) {
      for (let t = 0; t < seq.length - 1; t++) {
        const row = out.scores![t]![i]!;
        expect(ts[i]![t]).toBe(row[seq[t + 1]!]);
        expect(norm[i]![t]).toBe(logSoftmax(row)[seq[t + 1]!]);
        // the argmax was picked: its processed score is the row's largest
        expect(ts[i]![t]).toBe(Math.max(...row));
      }
    }
    const one = { inputIds: [INPUTS.inputIds[0]!] };
    const greedy = await generate(model, one, o);
    const assisted = await generate(model, one, { ...o, promptLookupNumTokens: 2 });
    expect(asArrays(computeTransitionScores(assisted))).toEqual(asArrays(computeTransitionScores(greedy)));
  });
});
