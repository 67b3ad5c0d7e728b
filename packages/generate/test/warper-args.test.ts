// The warpers exported one by one refuse the arguments transformers' constructors refuse (TemperatureLogitsWarper,
// TopKLogitsWarper, TopPLogitsWarper, RepetitionPenaltyLogitsProcessor raise ValueError): before, temperature(row, 0)
// divided by zero (every score ±Infinity or NaN), topK(row, 0) kept one token, topP(row, 1.5) did nothing and
// repetitionPenalty(row, ids, 0) made the repeated scores ±Infinity, each without a word. The row is left unchanged.
import { describe, expect, it } from 'vitest';
import { processScores, repetitionPenalty, temperature, topK, topP, type ProcessorOptions } from '../src';

const row = () => Float32Array.from([2, 1, 0, -1]);

describe('exported warpers: transformers\' argument checks', () => {
  it('temperature 0 / NaN / negative, topK 0 / 1.5, topP > 1 / < 0 / NaN, minTokensToKeep 0, penalty 0 are one RangeError each; the row is untouched', () => {
    const cases: Array<[(r: Float32Array) => void, RegExp]> = [
      [(r) => temperature(r, 0), /^temperature: `temperature` must be a finite number > 0 \(for greedy decoding, do not sample\) \(got 0\), as transformers' TemperatureLogitsWarper requires$/],
      [(r) => temperature(r, Number.NaN), /^temperature: `temperature` must be .* \(got NaN\)/],
      [(r) => temperature(r, -0.5), /^temperature: `temperature` must be .* \(got -0\.5\)/],
      [(r) => topK(r, 0), /^topK: `k` must be an integer > 0 \(leave the warper out for no top-k\) \(got 0\), as transformers' TopKLogitsWarper requires$/],
      [(r) => topK(r, 1.5), /^topK: `k` must be an integer > 0 .*\(got 1\.5\)/],
      [(r) => topP(r, 1.5), /^topP: `p` must be a number in \[0, 1\] \(got 1\.5\), as transformers' TopPLogitsWarper requires$/],
      [(r) => topP(r, -0.1), /^topP: `p` must be a number in \[0, 1\] \(got -0\.1\)/],
      [(r) => topP(r, Number.NaN), /^topP: `p` must be a number in \[0, 1\] \(got NaN\)/],
      [(r) => topP(r, 0.5, 0), /^topP: `minTokensToKeep` must be an integer >= 1 \(got 0\)/],
      [(r) => repetitionPenalty(r, [0, 1], 0), /^repetitionPenalty: `penalty` must be a finite number > 0 \(got 0\), as transformers' RepetitionPenaltyLogitsProcessor requires$/],
    ];
    for (const [call, message] of cases) {
      const r = row();
      expect(() => call(r)).toThrow(message);
      expect(Array.from(r)).toEqual([2, 1, 0, -1]);
    }
  });

  it('the edge values transformers accepts still work: topP 1 and 0, topK past the vocabulary, a tiny temperature', () => {
    const a = row();
    topP(a, 1);
    expect(Array.from(a)).toEqual([2, 1, 0, -1]);
    const b = row();
    topP(b, 0); // keeps min_tokens_to_keep = 1: the best
    expect(Array.from(b)).toEqual([2, -Infinity, -Infinity, -Infinity]);
    const c = row();
    topK(c, 10);
    expect(Array.from(c)).toEqual([2, 1, 0, -1]);
    const d = row();
    temperature(d, 0.5);
    expect(Array.from(d)).toEqual([4, 2, 0, -2]);
  });

  it('processScores with hand-made options refuses them too (generate itself never passes them: topK 0 there means no warper)', () => {
    const base: ProcessorOptions = { repetitionPenalty: 1, noRepeatNgramSize: 0, minLength: 0, minNewTokens: 0, eosTokenIds: [1], doSample: true, temperature: 1, topK: 0, topP: 1, minTokensToKeep: 1 };
    const ok = row();
    processScores(ok, [0], base); // topK 0: no warper
    expect(Array.from(ok)).toEqual([2, 1, 0, -1]);
    expect(() => processScores(row(), [0], { ...base, topK: -1 })).toThrow(/^topK: `k` must be an integer > 0/);
    expect(() => processScores(row(), [0], { ...base, temperature: 0 })).toThrow(/^temperature: `temperature` must be a finite number > 0/);
  });
});
