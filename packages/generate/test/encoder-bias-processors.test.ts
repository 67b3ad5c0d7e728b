// The processors for transformers' encoder_repetition_penalty, encoder_no_repeat_ngram_size, sequence_bias,
// exponential_decay_length_penalty and renormalize_logits, on hand-made rows. Every expectation is worked out in
// the comments from transformers 5's generation/logits_process.py and `_get_logits_processor` (utils.py).
import { describe, expect, it } from 'vitest';
import {
  argmax, encoderNoRepeatNgram, encoderRepetitionPenalty, exponentialDecayLengthPenalty, processScores, sequenceBias,
  sequenceBiasEntries, type ProcessorOptions,
} from '../src/index.js';

const I = -Infinity;
const f = Math.fround;
const row = (...v: number[]) => Float32Array.from(v);
const list = (a: Float32Array) => Array.from(a);
const mask = (s: Float32Array) => Array.from(s, (v) => (v === I ? 'x' : Number.isNaN(v) ? 'n' : 'k')).join('');

describe('EncoderRepetitionPenaltyLogitsProcessor', () => {
  it('uses 1/penalty on the prompt tokens: score < 0 ? score · (1/p) : score / (1/p), once per token', () => {
    // penalty 2 → `self.penalty = 1 / 2 = 0.5`; prompt [1, 3, 3, 0]: token 0: 2 / 0.5 = 4; token 1: -1 · 0.5 = -0.5;
    // token 3: 3 / 0.5 = 6 (gather/scatter: the repeated 3 writes the same value, it is not penalised twice);
    // tokens 2 and 4 are not in the prompt.
    const s = row(2, -1, 0.5, 3, -4);
    encoderRepetitionPenalty(s, [1, 3, 3, 0], 2);
    expect(list(s)).toEqual([4, -0.5, 0.5, 6, -4]);
    // penalty 0.5 (< 1 penalises the prompt): 1/0.5 = 2: 2 / 2 = 1, -1 · 2 = -2.
    const t = row(2, -1);
    encoderRepetitionPenalty(t, [0, 1], 0.5);
    expect(list(t)).toEqual([1, -2]);
  });

  it('multiplies / divides by float32(1 / penalty), as PyTorch casts the Python scalar', () => {
    const p = f(1 / 1.3);
    const xs = Array.from({ length: 64 }, (_, i) => f(Math.sin(i + 1) * 9));
    const s = Float32Array.from(xs);
    encoderRepetitionPenalty(s, xs.map((_, i) => i), 1.3);
    expect(list(s)).toEqual(xs.map((x) => (x < 0 ? f(x * p) : f(x / p))));
    // the case is one where it matters: dividing by 1/1.3 is not multiplying by 1.3 in float32
    expect(xs.some((x) => x >= 0 && f(x / p) !== f(x * 1.3))).toBe(true);
    expect(() => encoderRepetitionPenalty(new Float32Array(5), [2, 9], 1.5)).toThrow(/prompt token 9 is past the model's vocabulary \(5\)/);
  });
});

describe('EncoderNoRepeatNGramLogitsProcessor', () => {
  const prompt = [5, 6, 7, 5, 6, 8];
  const banned = (ids: number[], n: number, enc = prompt, vocab = 10) => {
    const s = new Float32Array(vocab);
    encoderNoRepeatNgram(s, ids, enc, n);
    return Array.from(s.keys()).filter((i) => s[i] === I);
  };

  it("bans the prompt's continuations of the last n − 1 decoder tokens", () => {
    // `_get_ngrams(3, prompt)`: (5,6)→[7, 8], (6,7)→[5], (7,5)→[6]. ids [0,5,6]: cur_len 3, key ids[1:3] = (5,6) → 7, 8.
    expect(banned([0, 5, 6], 3)).toEqual([7, 8]);
    // key (0,6): not a prompt bigram prefix.
    expect(banned([0, 6], 3)).toEqual([]);
    // n 2: (5,)→[6, 6], (6,)→[7, 8], (7,)→[5]; ids [0,2,5]: key (5,) → 6.
    expect(banned([0, 2, 5], 2)).toEqual([6]);
    // n 1: the key is () at every step: every prompt token.
    expect(banned([0], 1)).toEqual([5, 6, 7, 8]);
    // n 3, ids [0]: start_idx = 1 + 1 - 3 = -1, ids[-1:1] = (0,) is shorter than the keys: nothing.
    expect(banned([0], 3)).toEqual([]);
  });

  it('reads the padded prompt (inputs_tensor, not masked): a T5 prompt padded with 0 bans 0 after the start token 0', () => {
    // prompt [4, 1, 0, 0]: bigrams (4,1) (1,0) (0,0); ids [0]: key (0,) → 0.
    expect(banned([0], 2, [4, 1, 0, 0])).toEqual([0]);
    // A banned token past the vocabulary is PyTorch's index error; one that is not banned is never indexed.
    expect(() => banned([0, 5], 2, [5, 12])).toThrow(/prompt token 12 is past the model's vocabulary \(10\)/);
    expect(banned([0, 6], 2, [5, 12])).toEqual([]);
  });
});

describe('SequenceBiasLogitsProcessor', () => {
  it('a dict of the pairs (first position, last bias); one-token biases always, longer ones when the prefix ends the sequence', () => {
    const pairs: Array<[number[], number]> = [[[2], 1.5], [[3, 4], -2], [[1, 3, 4], 0.5], [[5, 4], 7], [[4, 1, 3, 5], 9], [[2], -1]];
    // `{tuple(ids): bias}`: (2,) keeps its first position and gets the last bias, -1.
    const entries = sequenceBiasEntries(pairs);
    expect(entries).toEqual([[[2], -1], [[3, 4], -2], [[1, 3, 4], 0.5], [[5, 4], 7], [[4, 1, 3, 5], 9]]);
    // ids [4, 1, 3]: length_1_bias[2] = -1; (3,4): ids[-1:] = (3) → bias[4] += -2; (1,3,4): ids[-2:] = (1,3) → bias[4] += 0.5;
    // (5,4): (3) ≠ (5); (4,1,3,5): longer than the 3 ids → skipped (its prefix (4,1,3) would match). scores + bias.
    const s = row(0.5, 0.25, 1, 2, 3, -1);
    sequenceBias(s, [4, 1, 3], entries);
    expect(list(s)).toEqual([0.5, 0.25, 0, 2, 1.5, -1]);
    // The biases are float32 tensors summed in float32 in dict order, then added to the float32 scores:
    // ids [0, 0, 1]: (1,2) and (0,1,2) both complete with token 2.
    const t = row(1, 1, 1);
    sequenceBias(t, [0, 0, 1], [[[1, 2], 0.1], [[0, 1, 2], 0.2]]);
    expect(t[2]).toBe(f(1 + f(f(0.1) + f(0.2))));
    // A case where rounding each bias to float32 first matters: length_1_bias[2] = 1, then (1,2) adds f32(2⁻²⁴ + 2⁻⁵⁰)
    // = 2⁻²⁴; 1 + 2⁻²⁴ is a float32 tie → 1 (adding the float64 bias would round up to 1 + 2⁻²³).
    const v = row(0, 0, 0);
    sequenceBias(v, [0, 1], [[[2], 1], [[1, 2], 2 ** -24 + 2 ** -50]]);
    expect(v[2]).toBe(1);
    // A -inf bias bans (NoBadWordsLogitsProcessor is this processor with -inf).
    const u = row(1, 2, 3);
    sequenceBias(u, [0], [[[2], I]]);
    expect(mask(u)).toBe('kkx');
  });

  it("rejects tokens past the vocabulary, listing them (`_prepare_bias_variables`)", () => {
    expect(() => sequenceBias(new Float32Array(6), [0], [[[2, 7], 1], [[9], 1]]))
      .toThrow('sequenceBias: the model vocabulary size is 6, but the following tokens were being biased: [7, 9]');
  });
});

describe('ExponentialDecayLengthPenalty', () => {
  const decay = (scores: number[], curLen: number, p: [number, number], eos = [1]) => {
    const s = Float32Array.from(scores);
    exponentialDecayLengthPenalty(s, curLen, p, eos);
    return list(s);
  };

  it('adds |eos score| · (factor^(cur_len − start − 1) − 1) once cur_len > start + 1 (the decoder prompt is 1 token)', () => {
    // (2, 1.5): regulation_start = 2 + 1 = 3. cur_len 3: not > 3 → unchanged.
    expect(decay([0.5, -2, 1], 3, [2, 1.5])).toEqual([0.5, -2, 1]);
    // cur_len 4: penalty_idx 1: |−2| · (1.5 − 1) = 1 → −1. cur_len 5: |−2| · (2.25 − 1) = 2.5 → 0.5.
    expect(decay([0.5, -2, 1], 4, [2, 1.5])).toEqual([0.5, -1, 1]);
    expect(decay([0.5, -2, 1], 5, [2, 1.5])).toEqual([0.5, 0.5, 1]);
    // A positive EOS score grows: 2 + 2 · 0.5 = 3. Several EOS ids: each by its own |score|.
    expect(decay([0.5, 2, 1], 4, [2, 1.5])).toEqual([0.5, 3, 1]);
    expect(decay([0.5, 2, -4], 4, [2, 1.5], [1, 2])).toEqual([0.5, 3, -2]);
  });

  it('float32: the Python float pow(factor, idx) − 1 is cast to float32; −inf EOS scores become NaN', () => {
    // 1.1 ** 3 − 1 = 0.3310000000000004 (float64) → float32, times |−2| in float32, added in float32.
    expect(decay([0, -2], 6, [2, 1.1])[1]).toBe(f(-2 + f(2 * f(1.1 ** 3 - 1))));
    // one where the float32 cast of the factor matters (without it: −241.83680725097656)
    const s = -361.489990234375;
    expect(decay([0, s], 6, [2, 1.1])[1]).toBe(f(s + f(-s * f(1.1 ** 3 - 1))));
    expect(decay([0, s], 6, [2, 1.1])[1]).toBe(-241.8367919921875);
    // EOS at −inf (a min length): |−inf| · 0.5 = inf, −inf + inf = NaN; factor 1: inf · 0 = NaN; factor 0.5: −inf stays.
    expect(decay([0, I], 4, [2, 1.5])[1]).toBeNaN();
    expect(decay([0, I], 4, [2, 1])[1]).toBeNaN();
    expect(decay([0, I], 4, [2, 0.5])[1]).toBe(I);
    expect(() => decay([0, 1], 4, [2, 1.5], [5])).toThrow(/EOS token 5 is past the model's vocabulary \(2\)/);
  });

  it('torch.argmax ranks NaN above every number (ATen greater_or_nan), the first NaN on ties', () => {
    expect(argmax(row(1, 5, NaN, 7, NaN))).toBe(2);
    expect(argmax(row(1, 5, 3))).toBe(1);
  });
});

describe("processScores: transformers' order for the new processors", () => {
  const base: ProcessorOptions = {
    repetitionPenalty: 1, noRepeatNgramSize: 0, minLength: 0, minNewTokens: 0, eosTokenIds: [1], doSample: false,
    temperature: 1, topK: 0, topP: 1, minTokensToKeep: 1, maxLength: 20,
  };
  const run = (scores: number[], ids: number[], o: Partial<ProcessorOptions>, r = 0) => {
    const s = Float32Array.from(scores);
    processScores(s, ids, { ...base, ...o }, r);
    return s;
  };

  it('sequence bias first, then the encoder repetition penalty, then the repetition penalty', () => {
    // ids [0, 2], token 2 at 2, bias +2, repetition penalty 2: (2 + 2) / 2 = 2 (penalty first would give 2 / 2 + 2 = 3).
    expect(run([0, 0, 2], [0, 2], { sequenceBias: [[[2], 2]], repetitionPenalty: 2 })[2]).toBe(2);
    // token 2 in the prompt at −1, bias +3, encoder penalty 2 (1/p = 0.5): (−1 + 3) / 0.5 = 4 (penalty first: −0.5 + 3 = 2.5).
    expect(run([0, 0, -1], [0], { sequenceBias: [[[2], 3]], encoderRepetitionPenalty: 2, encoderInputIds: [[2]] })[2]).toBe(4);
  });

  it('the encoder no-repeat n-gram ban comes before the forced BOS token', () => {
    // n 1 bans the prompt's tokens 2 and 3; ForcedBOS (later in the list) sets every score to −inf but token 2's to 0.
    expect(list(run([1, 2, 3, 4], [0], { encoderNoRepeatNgramSize: 1, encoderInputIds: [[2, 3]], forcedBosTokenId: 2 }))).toEqual([I, I, 0, I]);
  });

  it('the exponential decay comes after the min length (NaN) and before suppress_tokens (−inf again)', () => {
    // min_length 5 at cur_len 4 sets EOS to −inf; the decay (0, 1.5) at cur_len 4 > 1 adds +inf: NaN.
    expect(mask(run([0, 1, 2], [0, 2, 2, 2], { minLength: 5, exponentialDecayLengthPenalty: [0, 1.5] }))).toBe('knk');
    // SuppressTokens is after it: EOS back to −inf (suppressing first would have left NaN).
    expect(mask(run([0, 1, 2], [0, 2, 2, 2], { minLength: 5, exponentialDecayLengthPenalty: [0, 1.5], suppressTokens: [1] }))).toBe('kxk');
  });

  it('renormalization is last: a log-softmax after the suppressions and the warpers', () => {
    // probs .5 .3 .15 .05, token 0 suppressed → log_softmax over .3 .15 .05 = ln .6, ln .3, ln .1.
    const a = run([0.5, 0.3, 0.15, 0.05].map(Math.log), [0], { suppressTokens: [0], renormalizeLogits: true });
    expect(a[0]).toBe(I);
    [0.6, 0.3, 0.1].forEach((p, i) => expect(a[i + 1]).toBeCloseTo(Math.log(p), 6));
    // Sampling: top-p .75 on .4 .3 .2 .1 removes .1 (cumulative .1 ≤ .25), then the rest renormalised: .4/.9 .3/.9 .2/.9.
    const b = run([0.4, 0.3, 0.2, 0.1].map(Math.log), [0], { doSample: true, topP: 0.75, renormalizeLogits: true });
    [4 / 9, 3 / 9, 2 / 9].forEach((p, i) => expect(b[i]).toBeCloseTo(Math.log(p), 6));
    expect(b[3]).toBe(I);
  });

  it('encoder rows: the repetition penalty touches score rows 0..batch−1 with prompt = row; the n-gram ban maps row // rows-per-prompt', () => {
    // 2 prompts × 2 beams = 4 score rows. EncoderRepetitionPenalty: gather/scatter with the 2-row `encoder_input_ids`:
    // row 0 with prompt 0 (token 2), row 1 with prompt 1 (token 3!), rows 2 and 3 unchanged. Penalty 2: 1 / 0.5 = 2.
    const o = { encoderRepetitionPenalty: 2, encoderInputIds: [[2], [3]], rowsPerInput: 2 };
    expect([0, 1, 2, 3].map((r) => list(run([1, 1, 1, 1], [0], o, r)))).toEqual([[1, 1, 2, 1], [1, 1, 1, 2], [1, 1, 1, 1], [1, 1, 1, 1]]);
    // EncoderNoRepeatNGram: `num_beams = 4 // 2`, `generated_ngrams[hypo_idx // num_beams]`: rows 0, 1 → prompt 0; 2, 3 → prompt 1.
    const n = { encoderNoRepeatNgramSize: 1, encoderInputIds: [[2], [3]], rowsPerInput: 2 };
    expect([0, 1, 2, 3].map((r) => mask(run([1, 1, 1, 1], [0], n, r)))).toEqual(['kkxk', 'kkxk', 'kkkx', 'kkkx']);
    expect(() => run([1, 1], [0], { encoderNoRepeatNgramSize: 2 })).toThrow(/needs the prompts' token ids/);
  });
});
