// encoder_repetition_penalty, encoder_no_repeat_ngram_size, sequence_bias, exponential_decay_length_penalty and
// renormalize_logits through generate / streamGenerate on TableModel (logits = a function of the unpadded prompt and
// the decoder prefix). Expected tokens and scores are worked out by hand in the comments from transformers 5's
// `_get_logits_processor`, its processors and `_sample` / `_beam_search`.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { generate, streamGenerate, type GenerateOptions } from '../src/index.js';
import { TableModel, type LogitsFn } from './fakes.js';

const T5 = { decoderStartTokenId: 0, eosTokenId: 1, padTokenId: 0 } satisfies GenerateOptions;
const f = Math.fround;
/** float64 log-softmax of a logits row, computed by hand (the reference for beam scores, to ~1e-6). */
const logSoftmax64 = (l: number[]) => {
  const lse = Math.log(l.reduce((a, x) => a + Math.exp(x), 0));
  return l.map((x) => x - lse);
};
const sumExp = (r: Float32Array) => Array.from(r).reduce((a, x) => a + Math.exp(x), 0);

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('encoderRepetitionPenalty through generate', () => {
  // Step 1: token 2 at 2.0, token 5 at 1.8, EOS −5; then EOS at 5.
  const pick: LogitsFn = (_input, prefix) => (prefix.length === 1 ? [-5, -5, 2, -5, -5, 1.8, -5, -5] : [0, 5, 0, 0, 0, 0, 0, 0]);

  it('greedy: a prompt token wins once raised (1.8 / f32(1/1.5) ≈ 2.7 > 2); tensor inputs are read back and freed', async () => {
    const m = new TableModel(8, pick);
    const o = { ...T5, maxNewTokens: 4 };
    expect((await generate(m, { inputIds: [[5, 6, 1]] }, o)).sequences).toEqual([[0, 2, 1]]);
    expect((await generate(m, { inputIds: [[5, 6, 1]] }, { ...o, encoderRepetitionPenalty: 1.5 })).sequences).toEqual([[0, 5, 1]]);
    // 5 not in the prompt: unchanged.
    expect((await generate(m, { inputIds: [[6, 1]] }, { ...o, encoderRepetitionPenalty: 1.5 })).sequences).toEqual([[0, 2, 1]]);
    const before = tf.memory().numTensors;
    const ids = tf.tensor2d([[5, 6, 1]], undefined, 'int32');
    expect((await generate(m, { inputIds: ids, attentionMask: [[1, 1, 1]] }, { ...o, encoderRepetitionPenalty: 1.5 })).sequences).toEqual([[0, 5, 1]]);
    ids.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('beam search: log-probs raised in score rows 0..batch−1 only, row i with prompt i (transformers gathers with the unexpanded prompts)', async () => {
    const L = [0, -1, 1, 0.5, 0, 0.2, 0.3, 0];
    const lp = logSoftmax64(L);
    const m = new TableModel(8, () => L);
    // 2 prompts × 2 beams; the first step's 4 rows all have the same log-probs `lp` before the processors.
    const { scores } = await generate(m, { inputIds: [[5, 1], [6, 1]] }, { ...T5, numBeams: 2, maxNewTokens: 1, outputScores: true, encoderRepetitionPenalty: 1.5 });
    const rows = scores![0]!;
    // Log-probs are < 0: `score * (1 / 1.5)`. Row 0 (input 0, beam 0): prompt 0's tokens 5 and 1; row 1 (input 0,
    // beam 1): prompt 1's tokens 6 and 1; rows 2 and 3 (input 1): untouched.
    expect(rows[0]![5]).toBeCloseTo(lp[5]! / 1.5, 5);
    expect(rows[0]![1]).toBeCloseTo(lp[1]! / 1.5, 5);
    expect(rows[0]![6]).toBeCloseTo(lp[6]!, 5);
    expect(rows[1]![6]).toBeCloseTo(lp[6]! / 1.5, 5);
    expect(rows[1]![5]).toBeCloseTo(lp[5]!, 5);
    for (const r of [2, 3]) for (const t of [1, 5, 6]) expect(rows[r]![t]).toBeCloseTo(lp[t]!, 5);
  });
});

describe('encoderNoRepeatNgramSize through generate', () => {
  // Copies the prompt (the token at the prefix's position gets 3), token 9 is the runner-up (1), EOS after the prompt.
  const copy: LogitsFn = (input, prefix) => {
    const l = new Array<number>(10).fill(0);
    l[9] = 1;
    l[input[prefix.length - 1] ?? 1] = 3;
    return l;
  };

  it('greedy and streamed: a copied bigram of the prompt is broken', async () => {
    const m = new TableModel(10, copy);
    const o = { ...T5, maxNewTokens: 8 };
    expect((await generate(m, { inputIds: [[4, 5, 6, 1]] }, o)).sequences).toEqual([[0, 4, 5, 6, 1]]);
    // n 2, prompt bigrams (4,5) (5,6) (6,1). ids [0]: key (0) → nothing: 4. [0,4]: key (4) bans 5 → 9. [0,4,9]: the
    // copy target is 6, key (9) → 6. [0,4,9,6]: key (6) bans EOS 1, the target → 9. [..,9]: key (9), target EOS → 1.
    const n2 = { ...o, encoderNoRepeatNgramSize: 2 };
    expect((await generate(m, { inputIds: [[4, 5, 6, 1]] }, n2)).sequences).toEqual([[0, 4, 9, 6, 9, 1]]);
    const streamed: number[] = [];
    for await (const t of streamGenerate(m, { inputIds: [[4, 5, 6, 1]] }, n2)) streamed.push(t);
    expect(streamed).toEqual([4, 9, 6, 9, 1]);
  });

  it("reads the padded prompts: the padding's (0, 0) bigram bans 0 after the start token 0", async () => {
    // Step 1 prefers 0 (3) then 2 (1); then EOS.
    const m = new TableModel(8, (_input, prefix) => (prefix.length === 1 ? [3, 0, 1, 0, 0, 0, 0, 0] : [0, 3, 0, 0, 0, 0, 0, 0]));
    const inputs = { inputIds: [[4, 5, 6, 1], [7, 1, 0, 0]], attentionMask: [[1, 1, 1, 1], [1, 1, 0, 0]] };
    // Prompt 0 has no bigram starting with 0: 0 stays. Prompt 1 = [7, 1, 0, 0] (inputs_tensor, padding included): key (0,) → 0 banned → 2.
    expect((await generate(m, inputs, { ...T5, maxNewTokens: 3, encoderNoRepeatNgramSize: 2 })).sequences).toEqual([[0, 0, 1], [0, 2, 1]]);
  });

  it('beam search with 2 prompts: beams 0, 1 follow prompt 0 and beams 2, 3 prompt 1 (hypo // num_beams)', async () => {
    // Every step: token 2 at 2, 3 at 1.5, 4 at 1, EOS at 0.5. n 1 bans prompt 0's 2 in input 0's beams and prompt 1's 3 in input 1's.
    const m = new TableModel(5, () => [0, 0.5, 2, 1.5, 1]);
    const { sequences } = await generate(m, { inputIds: [[2, 1], [3, 1]] }, { ...T5, numBeams: 2, numReturnSequences: 2, maxNewTokens: 3, encoderNoRepeatNgramSize: 1 });
    // (EOS is in both prompts, so banned too: the beams run to the maximum length.)
    expect(sequences.slice(0, 2).flat()).not.toContain(2);
    expect(sequences.slice(2).flat()).not.toContain(3);
    expect(sequences.slice(0, 2).flat()).toContain(3);
    expect(sequences.slice(2).flat()).toContain(2);
  });

  it('sampling with 2 returned sequences per prompt: rows 0, 1 follow prompt 0 and rows 2, 3 prompt 1 (hypo // num_beams)', async () => {
    const m = new TableModel(6, () => [0, 0, 0, 0, 0, 0]);
    // n 1 bans every token of the row's own prompt (EOS 1 included, so rows run to the maximum length).
    const { sequences } = await generate(m, { inputIds: [[2, 3, 1], [4, 5, 1]] }, {
      ...T5, doSample: true, seed: 5, numReturnSequences: 2, maxNewTokens: 12, encoderNoRepeatNgramSize: 1,
    });
    const gen = sequences.map((r) => r.slice(1));
    expect(gen.slice(0, 2).flat().some((t) => [1, 2, 3].includes(t))).toBe(false);
    expect(gen.slice(2).flat().some((t) => [1, 4, 5].includes(t))).toBe(false);
    // and not every prompt's tokens: rows of prompt 0 do draw 4 or 5
    expect(gen.slice(0, 2).flat().some((t) => t === 4 || t === 5)).toBe(true);
  });
});

describe('sequenceBias through generate', () => {
  // Step 1: token 2 at 2, token 3 at 1.5; step 2: EOS at 2; then EOS at 3.
  const m = new TableModel(6, (_input, prefix) => (prefix.length === 1 ? [0, -5, 2, 1.5, 0, 0] : prefix.length === 2 ? [0, 2, 0, 0, 0, 0] : [0, 3, 0, 0, 0, 0]));

  it('greedy: a one-token bias and a two-token bias completing after its prefix', async () => {
    const o = { ...T5, maxNewTokens: 5 };
    expect((await generate(m, { inputIds: [[2, 1]] }, o)).sequences).toEqual([[0, 2, 1]]);
    // (2,): 2 − 1 = 1 < 1.5 → 3; ids [0, 3]: (3, 4) completes → token 4 at 0 + 5 > EOS 2 → 4; then EOS.
    expect((await generate(m, { inputIds: [[2, 1]] }, { ...o, sequenceBias: [[[2], -1], [[3, 4], 5]] })).sequences).toEqual([[0, 3, 4, 1]]);
  });

  it('beam search: added to the log-probs; sampling: a −∞ bias is never drawn', async () => {
    const lp = logSoftmax64([0, -5, 2, 1.5, 0, 0]);
    const { scores } = await generate(m, { inputIds: [[2, 1]] }, { ...T5, numBeams: 2, maxNewTokens: 1, outputScores: true, sequenceBias: [[[2], -1]] });
    expect(scores![0]![0]![2]).toBeCloseTo(lp[2]! - 1, 5);
    expect(scores![0]![0]![3]).toBeCloseTo(lp[3]!, 5);
    const uniform = new TableModel(5, () => [0, -9, 0, 0, 0]);
    const o = { ...T5, doSample: true, seed: 3, numReturnSequences: 3, maxNewTokens: 15 };
    const plain = (await generate(uniform, { inputIds: [[2, 1]] }, o)).sequences.flat();
    const banned = (await generate(uniform, { inputIds: [[2, 1]] }, { ...o, sequenceBias: [[[3], -Infinity]] })).sequences.flat();
    expect(plain).toContain(3);
    expect(banned).not.toContain(3);
  });
});

describe('exponentialDecayLengthPenalty through generate', () => {
  // Token 2 at 3, EOS at −2, every step.
  const m = new TableModel(4, () => [0, -2, 3, 0]);
  const o = { ...T5, maxNewTokens: 10 };

  it('greedy: EOS = −2 + 2 · (2^k − 1) overtakes 3 at k = 2', async () => {
    expect((await generate(m, { inputIds: [[2, 1]] }, o)).sequences).toEqual([[0, ...new Array<number>(10).fill(2)]]);
    // (1, 2): regulation_start 2; cur_len 3: k 1 → EOS 0 < 3; cur_len 4: k 2 → EOS 4 > 3.
    expect((await generate(m, { inputIds: [[2, 1]] }, { ...o, exponentialDecayLengthPenalty: [1, 2] })).sequences).toEqual([[0, 2, 2, 2, 1]]);
    // (0, 2): regulation_start 1; cur_len 3 is k 2.
    expect((await generate(m, { inputIds: [[2, 1]] }, { ...o, exponentialDecayLengthPenalty: [0, 2] })).sequences).toEqual([[0, 2, 2, 1]]);
  });

  it('with a min length: −∞ + ∞ = NaN, which torch.argmax picks (EOS before minNewTokens); beams and sampling refuse', async () => {
    // min_new_tokens 5 keeps EOS at −inf; (0, 2) at cur_len 2 adds |−inf| · (2 − 1) = inf → NaN → argmax = EOS.
    const nan = { ...o, minNewTokens: 5, exponentialDecayLengthPenalty: [0, 2] as [number, number] };
    const greedy = await generate(m, { inputIds: [[2, 1]] }, { ...nan, outputScores: true });
    expect(greedy.sequences).toEqual([[0, 2, 1]]);
    expect(greedy.scores![1]![0]![1]).toBeNaN();
    await expect(generate(m, { inputIds: [[2, 1]] }, { ...nan, numBeams: 2 })).rejects.toThrow(/NaN/);
    await expect(generate(m, { inputIds: [[2, 1]] }, { ...nan, doSample: true, seed: 1 })).rejects.toThrow(/NaN/);
  });

  it('beam search: applied to the log-probs (−lp + |lp| · (2¹ − 1) = 0 at the second step)', async () => {
    const lp = logSoftmax64([0, -2, 3, 0]);
    const { scores } = await generate(m, { inputIds: [[2, 1]] }, { ...T5, numBeams: 2, maxNewTokens: 3, outputScores: true, exponentialDecayLengthPenalty: [0, 2] });
    // step 0: cur_len 1, not > 1: the EOS log-prob as is; step 1: cur_len 2, k 1: lp + |lp| · 1 = 0 in both beams.
    expect(scores![0]![0]![1]).toBeCloseTo(lp[1]!, 5);
    expect(scores![1]!.map((r) => r[1])).toEqual([0, 0]);
  });
});

describe('renormalizeLogits through generate', () => {
  const L = [0, 1, 3, 2];
  const m = new TableModel(4, () => L);

  it('greedy: every returned score row is a log-softmax (Σ exp = 1), after the suppression; the tokens are unchanged', async () => {
    const o = { ...T5, maxNewTokens: 3, suppressTokens: [2], outputScores: true };
    const raw = await generate(m, { inputIds: [[2, 1]] }, o);
    const norm = await generate(m, { inputIds: [[2, 1]] }, { ...o, renormalizeLogits: true });
    expect(norm.sequences).toEqual(raw.sequences);
    expect(sumExp(raw.scores![0]![0]!)).toBeCloseTo(1 + Math.E + Math.exp(2), 4); // raw logits with token 2 at −inf
    for (const step of norm.scores!) expect(sumExp(step[0]!)).toBeCloseTo(1, 5);
  });

  it('beam search: the finished scores are sums of renormalised log-probs', async () => {
    // One step (max length), beam 0 expands: after suppressing 2, tokens 3, 1, 0 remain with logits 2, 1, 0.
    // Renormalised: lp(3) = 2 − ln(1 + e + e²), lp(1) = 1 − ln(1 + e + e²); generated_len 1, length penalty 1.
    // Without renormalising they keep the full normaliser ln(1 + e + e³ + e²).
    const o = { ...T5, numBeams: 2, numReturnSequences: 2, maxNewTokens: 1, suppressTokens: [2] };
    const z = Math.log(1 + Math.E + Math.exp(2));
    const z0 = Math.log(1 + Math.E + Math.exp(3) + Math.exp(2));
    const norm = await generate(m, { inputIds: [[2, 1]] }, { ...o, renormalizeLogits: true });
    expect(norm.sequences).toEqual([[0, 3], [0, 1]]);
    expect(norm.sequencesScores![0]).toBeCloseTo(2 - z, 5);
    expect(norm.sequencesScores![1]).toBeCloseTo(1 - z, 5);
    const raw = await generate(m, { inputIds: [[2, 1]] }, o);
    expect(raw.sequencesScores![0]).toBeCloseTo(2 - z0, 5);
    expect(f(raw.sequencesScores![0]!)).not.toBeCloseTo(2 - z, 3);
  });
});
