/**
 * Sampling with assisted decoding. `speculativeSampling` (transformers' `_speculative_sampling`) on hand-made
 * distributions with a scripted random source; then through `generate`: with an assistant whose distribution differs
 * from the model's, the sampled sequences follow the model's own distribution (algorithm 1 of the speculative
 * decoding paper guarantees it); prompt lookup with sampling draws each position from the model's scores.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { generate, type GenerateOptions } from '../src/index.js';
import { speculativeSampling } from '../src/speculative-sampling.js';
import { probabilityTable, TableModel } from './fakes.js';

const T5 = { decoderStartTokenId: 0, eosTokenId: 1, padTokenId: 0 } satisfies GenerateOptions;
const logs = (probs: number[]) => Float32Array.from(probs, (v) => Math.log(v));
/** A random source that returns `values` in order. */
const scripted = (values: number[]) => () => {
  const v = values.shift();
  if (v === undefined) throw new Error('rng called once too often');
  return v;
};

describe('speculativeSampling (hand-computed)', () => {
  // Vocabulary of 4. Candidates [3, 0]; q (assistant) and p (model) per position.
  const q = [logs([0.1, 0.2, 0.2, 0.5]), logs([0.4, 0.2, 0.1, 0.3])];
  const p = [logs([0.1, 0.1, 0.2, 0.6]), logs([0.1, 0.2, 0.3, 0.4]), logs([0.25, 0.25, 0.25, 0.25])];
  const at = (i: number) => p[i] as Float32Array;

  it('keeps candidates while r ≤ p/q, then draws from max(p − q, 0) at the first rejection', () => {
    // Position 0: p/q = 0.6/0.5 = 1.2 ≥ r = 0.99: kept. Position 1: 0.1/0.4 = 0.25 < r = 0.3: rejected.
    // max(p1 − q1, 0) = [0, 0, 0.2, 0.1]: u = 0.5 → 0.5 · 0.3 = 0.15 < 0.2 → token 2; u = 0.8 → 0.24 → token 3.
    expect(speculativeSampling([3, 0], q, at, false, scripted([0.99, 0.3, 0.5]))).toEqual({ tokens: [3, 2], numMatches: 1 });
    expect(speculativeSampling([3, 0], q, at, false, scripted([0.99, 0.3, 0.8]))).toEqual({ tokens: [3, 3], numMatches: 1 });
    // Rejected at 0 (r above 1.2 is impossible, so use a candidate with p/q < 1: token 1, 0.1/0.2 = 0.5 < r = 0.6):
    // max(p0 − q0, 0) = [0, 0, 0, 0.1] (up to float32 noise on the equal entries): u = 0.5 draws token 3.
    expect(speculativeSampling([1, 0], q, at, false, scripted([0.6, 0.5]))).toEqual({ tokens: [3], numMatches: 0 });
  });

  it('all kept: one more token from the model at position γ; unless the candidates end in a stop', () => {
    // Position 1 kept with r = 0.2 ≤ 0.25; then p2 uniform: u = 0.6 → token 2.
    expect(speculativeSampling([3, 0], q, at, false, scripted([0.5, 0.2, 0.6]))).toEqual({ tokens: [3, 0, 2], numMatches: 2 });
    expect(speculativeSampling([3, 0], q, at, true, scripted([0.5, 0.2]))).toEqual({ tokens: [3, 0], numMatches: 1 });
  });
});

describe('sampling through generate', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  // Vocabulary 4 (EOS 1 never likely); the model's and the assistant's next-token probabilities differ.
  const targetTable = probabilityTable({ '0': [0.01, 0.01, 0.3, 0.68], '0,2': [0.01, 0.01, 0.58, 0.4], '0,3': [0.01, 0.01, 0.1, 0.88] }, [0.25, 0.25, 0.25, 0.25]);
  // The assistant's most likely first token (2, 0.55) is not the model's (3): an assistant that proposed its argmax
  // instead of a draw from q would give P(first = 2) = 0.3 / 0.55 ≈ 0.55 instead of 0.3.
  const assistantTable = probabilityTable({ '0': [0.01, 0.01, 0.55, 0.43], '0,2': [0.01, 0.01, 0.2, 0.78], '0,3': [0.01, 0.01, 0.49, 0.49] }, [0.25, 0.25, 0.25, 0.25]);
  const exact: Record<string, number> = { '2,2': 0.3 * 0.58, '2,3': 0.3 * 0.4, '3,2': 0.68 * 0.1, '3,3': 0.68 * 0.88 };

  it('with an assistant of another distribution, the two-token sequences follow the model\'s distribution', async () => {
    const target = new TableModel(4, targetTable);
    const assistant = new TableModel(4, assistantTable);
    const n = 1500;
    const counts: Record<string, number> = {};
    let targetPasses = 0;
    const before = tf.memory().numTensors;
    for (let seed = 0; seed < n; seed++) {
      target.calls.decodeWidths.length = 0;
      const out = await generate(target, { inputIds: [[2, 1]] }, { ...T5, maxNewTokens: 2, doSample: true, seed, assistantModel: assistant, assistantConfidenceThreshold: 0 });
      const key = out.sequences[0]!.slice(1).join(',');
      counts[key] = (counts[key] ?? 0) + 1;
      targetPasses += target.calls.decodeWidths.length;
    }
    expect(tf.memory().numTensors).toBe(before);
    for (const [key, prob] of Object.entries(exact)) {
      // 4 binomial standard deviations: √(p (1 − p) / 1500) ≤ 0.013.
      expect(Math.abs((counts[key] ?? 0) / n - prob), key).toBeLessThan(4 * Math.sqrt((prob * (1 - prob)) / n));
    }
    const first2 = ((counts['2,2'] ?? 0) + (counts['2,3'] ?? 0)) / n;
    expect(Math.abs(first2 - 0.3)).toBeLessThan(4 * Math.sqrt(0.21 / n));
    // Candidates were accepted often enough to save passes (2 tokens per call; plain sampling: 2 passes).
    expect(targetPasses / n).toBeLessThan(2);
  });

  it('prompt lookup with sampling: seeded reproducible, and top-k 1 gives greedy', async () => {
    const cycling = () => new TableModel(8, (_input, prefix) => Array.from({ length: 8 }, (_, t) => (t === 2 + ((prefix.length - 1) % 3) ? 4 : 0)));
    const o = { ...T5, maxNewTokens: 9, doSample: true, seed: 11, promptLookupNumTokens: 3 };
    const a = await generate(cycling(), { inputIds: [[2, 1]] }, o);
    expect((await generate(cycling(), { inputIds: [[2, 1]] }, o)).sequences).toEqual(a.sequences);
    const greedy = await generate(cycling(), { inputIds: [[2, 1]] }, { ...T5, maxNewTokens: 9 });
    const model = cycling();
    expect((await generate(model, { inputIds: [[2, 1]] }, { ...o, topK: 1 })).sequences).toEqual(greedy.sequences);
    expect(Math.max(...model.calls.decodeWidths)).toBeGreaterThan(1);
  });
});
