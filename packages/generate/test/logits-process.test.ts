import { describe, expect, it } from 'vitest';
import {
  logSoftmax, minLength, minNewTokens, noRepeatNgram, processScores, repetitionPenalty, softmax, temperature, topK, topP,
  type ProcessorOptions,
} from '../src/index.js';
import { makeRng, sampleFromScores, sampleWithoutReplacement } from '../src/sampling.js';

const I = -Infinity;
const row = (...v: number[]) => Float32Array.from(v);
const list = (a: Float32Array) => Array.from(a);
const ln = Math.log;

describe('logits processors (transformers logits_process.py formulas)', () => {
  it('RepetitionPenaltyLogitsProcessor: seen tokens, score < 0 ? score * p : score / p', () => {
    // ids [0, 1, 1] (the decoder start token counts): token 0: 2 / 2 = 1; token 1: -1 * 2 = -2; 2, 3 unseen.
    const s = row(2, -1, 0.5, 3);
    repetitionPenalty(s, [0, 1, 1], 2);
    expect(list(s)).toEqual([1, -2, 0.5, 3]);
    // penalty < 1 rewards: 2 / 0.5 = 4, -1 * 0.5 = -0.5
    const r = row(2, -1);
    repetitionPenalty(r, [0, 1], 0.5);
    expect(list(r)).toEqual([4, -0.5]);
  });

  it('repetition penalty and temperature divide / multiply by the scalar cast to float32, as PyTorch tensor-scalar ops do', () => {
    // `score * self.penalty`, `scores / self.temperature`: a float32 tensor with a Python float → the float is cast
    // to float32 and the float32 result correctly rounded. f32(1.3) = 1.2999999523…, so -8.449833869934082 × 1.3
    // rounds to -10.984783172607422 (the float64 product would round to -10.984784126281738).
    const f = Math.fround;
    const s = row(-8.449833869934082, 5.5);
    repetitionPenalty(s, [0, 1], 1.3);
    expect(list(s)).toEqual([-10.984783172607422, f(5.5 / f(1.3))]);
    expect(s[0]).not.toBe(f(-8.449833869934082 * 1.3));
    const xs = Array.from({ length: 64 }, (_, i) => f(Math.sin(i + 1) * 9));
    const t = Float32Array.from(xs);
    temperature(t, 0.7);
    expect(list(t)).toEqual(xs.map((x) => f(x / f(0.7))));
    expect(xs.some((x) => f(x / 0.7) !== f(x / f(0.7)))).toBe(true); // the case is one where it matters
  });

  it('NoRepeatNGramLogitsProcessor: bans tokens that complete an n-gram already present', () => {
    // n 2, ids [0,2,3,2]: bigrams (0,2) (2,3) (3,2); last token 2 was followed by 3 → ban 3.
    const a = row(0, 0, 0, 0);
    noRepeatNgram(a, [0, 2, 3, 2], 2);
    expect(list(a)).toEqual([0, 0, 0, I]);
    // n 3, ids [0,2,3,2,3]: trigrams (0,2,3) (2,3,2) (3,2,3); last two (2,3) were followed by 2 → ban 2.
    const b = row(0, 0, 0, 0);
    noRepeatNgram(b, [0, 2, 3, 2, 3], 3);
    expect(list(b)).toEqual([0, 0, I, 0]);
    // `cur_len + 1 < ngram_size` → nothing banned.
    const c = row(0, 0, 0, 0);
    noRepeatNgram(c, [0, 0], 4);
    expect(list(c)).toEqual([0, 0, 0, 0]);
  });

  it('MinLengthLogitsProcessor / MinNewTokensLengthLogitsProcessor force EOS to -inf', () => {
    // min_length 3 counts the start token: EOS banned while input_ids.shape[-1] < 3.
    const a = row(1, 2, 3);
    minLength(a, 2, 3, [1, 2]);
    expect(list(a)).toEqual([1, I, I]);
    const b = row(1, 2, 3);
    minLength(b, 3, 3, [1]);
    expect(list(b)).toEqual([1, 2, 3]);
    // min_new_tokens 2: new tokens = length - 1 (the start token is the decoder prompt).
    const c = row(1, 2, 3);
    minNewTokens(c, 2, 2, [1]);
    expect(list(c)).toEqual([1, I, 3]);
    const d = row(1, 2, 3);
    minNewTokens(d, 3, 2, [1]);
    expect(list(d)).toEqual([1, 2, 3]);
  });

  it('TemperatureLogitsWarper: scores / temperature', () => {
    const s = row(1, 2, -3);
    temperature(s, 0.5);
    expect(list(s)).toEqual([2, 4, -6]);
  });

  it('TopKLogitsWarper: scores < k-th largest → -inf; ties with the k-th kept; min_tokens_to_keep', () => {
    const a = row(1, 4, 2, 4, 3);
    topK(a, 3); // sorted 4 4 3 2 1: k-th = 3
    expect(list(a)).toEqual([I, 4, I, 4, 3]);
    const b = row(1, 3, 3, 2);
    topK(b, 2); // k-th = 3, both 3s kept
    expect(list(b)).toEqual([I, 3, 3, I]);
    const c = row(1, 3, 2);
    topK(c, 1, 2); // top_k = max(1, min_tokens_to_keep 2)
    expect(list(c)).toEqual([I, 3, 2]);
    const d = row(1, 2);
    topK(d, 50); // top_k = min(50, vocab)
    expect(list(d)).toEqual([1, 2]);
  });

  it('TopPLogitsWarper: ascending cumulative softmax ≤ 1 - top_p removed, the best min_tokens_to_keep kept', () => {
    // probs (token order) .15 .5 .05 .3; ascending .05 .15 .3 .5 → cumulative .05 .2 .5 1.
    const probs = [0.15, 0.5, 0.05, 0.3];
    const at = (p: number, keep = 1) => {
      const s = Float32Array.from(probs, ln);
      topP(s, p, keep);
      return list(s).map((v) => (v === I ? 'x' : 'k'));
    };
    expect(at(0.75)).toEqual(['x', 'k', 'x', 'k']); // remove cum ≤ .25: .05, .2
    expect(at(0.9)).toEqual(['k', 'k', 'x', 'k']); // remove cum ≤ .1: .05
    expect(at(0.4)).toEqual(['x', 'k', 'x', 'x']); // remove cum ≤ .6: .05 .2 .5
    expect(at(0.4, 2)).toEqual(['x', 'k', 'x', 'k']); // keep the best two anyway
    expect(at(1)).toEqual(['k', 'k', 'k', 'k']);
  });

  it('TopPLogitsWarper compares in float32 like PyTorch: a cumulative probability equal to 1 - top_p is removed', () => {
    // `cumulative_probs <= (1 - self.top_p)`: the Python scalar is cast to the tensor's float32, so with ten equal
    // logits (softmax exactly f32(0.1) each) and top_p 0.9 the first cumulative value f32(0.1) ≤ f32(1 - 0.9) =
    // f32(0.1) is removed (9 kept); top_p 0.8: f32(0.2) ≤ f32(0.19999999999999996) = f32(0.2), two removed.
    // (In float64, 0.1000000015 > 0.09999999999999998 and nothing would be removed.)
    const kept = (p: number) => {
      const s = new Float32Array(10).fill(0.5);
      topP(s, p);
      return list(s).filter((v) => v !== I).length;
    };
    expect(kept(0.9)).toBe(9);
    expect(kept(0.8)).toBe(8);
    expect(kept(0.5)).toBe(5);
  });

  it('log_softmax and softmax', () => {
    const l = logSoftmax(row(0, ln(3)));
    expect(l[0]).toBeCloseTo(ln(0.25), 6);
    expect(l[1]).toBeCloseTo(ln(0.75), 6);
    expect(list(softmax(row(0, I, 0)))).toEqual([0.5, 0, 0.5]);
  });

  it('applies them in transformers order: penalties, min lengths, then temperature, top-k, top-p', () => {
    const o: ProcessorOptions = {
      repetitionPenalty: 1, noRepeatNgramSize: 0, minLength: 0, minNewTokens: 0, eosTokenIds: [1],
      doSample: true, temperature: 2, topK: 0, topP: 0.75, minTokensToKeep: 1,
    };
    // probs .5 .3 .15 .05; temperature 2 first → ∝ sqrt(p): .379 .293 .208 .120; top-p .75 removes only .120.
    // (top-p before temperature would also remove .15.)
    const s = Float32Array.from([0.5, 0.3, 0.15, 0.05], ln);
    processScores(s, [0], o);
    expect(list(s).map((v) => v === I)).toEqual([false, false, false, true]);
    // greedy: warpers are not applied
    const g = Float32Array.from([0.5, 0.3, 0.15, 0.05], ln);
    processScores(g, [0], { ...o, doSample: false, minLength: 5 });
    expect(list(g).map((v) => v === I)).toEqual([false, true, false, false]); // only EOS (min length)
  });
});

describe('sampling', () => {
  it('draws from softmax(scores), never a -inf token, reproducibly for a seed', () => {
    const scores = Float32Array.from([0.5, 0.3, 0, 0.2], (p) => (p === 0 ? I : ln(p)));
    const rng = makeRng(7);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[sampleFromScores(scores, rng)]! += 1;
    expect(counts[2]).toBe(0);
    expect(counts[0]! / 4000).toBeCloseTo(0.5, 1);
    expect(counts[1]! / 4000).toBeCloseTo(0.3, 1);
    const draw = (seed: number) => Array.from({ length: 20 }, ((r) => () => sampleFromScores(scores, r))(makeRng(seed)));
    expect(draw(3)).toEqual(draw(3));
    expect(draw(3)).not.toEqual(draw(4));
  });

  it('draws without replacement (torch.multinomial with num_samples > 1)', () => {
    const got = sampleWithoutReplacement(Float32Array.from([1, 2, 3, I]), 3, makeRng(1));
    expect([...got].sort()).toEqual([0, 1, 2]);
  });
});
