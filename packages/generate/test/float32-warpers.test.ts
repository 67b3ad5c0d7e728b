// The warpers' boundaries in float32, as PyTorch computes them (transformers generation/logits_process.py:
// MinPLogitsWarper, TypicalLogitsWarper, EpsilonLogitsWarper, EtaLogitsWarper.__call__), and the float32
// helpers they use (src/float32.ts). Expected values are derived line by line from those sources with
// correctly rounded float32 operations (numbers in the comments); each case is one where float64 arithmetic
// keeps a different set of tokens (the code before this change did).
//
// The rows are built from the scores 0, f32(ln ½), f32(ln ¼), f32(ln ⅛): exp(x − max) is then exactly 1, ½, ¼, ⅛ in
// float32 (f32(ln ½) is 1.9e-9 below ln ½, far under half an ulp), the softmax denominator a small exact sum and
// every probability k/S rounded once, whatever the order or kernel PyTorch sums with. Eta's cut needs logs and exps
// that are not exact: its row has two tokens, so its sums are still order-free, but the cut assumes float32 exp and
// log correctly rounded (see there).
import { describe, expect, it } from 'vitest';
import { epsilonCutoff, etaCutoff, minP, softmax, typicalP } from '../src/index.js';
import { categoricalEntropyF32, cumsumF32, logSumExpF32, sumF32 } from '../src/float32.js';

const f = Math.fround;
const I = -Infinity;
const H = f(Math.log(0.5));
const Q = f(Math.log(0.25));
const E = f(Math.log(0.125));
const mask = (s: Float32Array) => Array.from(s, (v) => (v === I ? 'x' : 'k')).join('');
const rep = (n: number, v: number) => new Array<number>(n).fill(v);
const warp = (scores: number[], fn: (s: Float32Array) => void) => {
  const s = Float32Array.from(scores);
  fn(s);
  return mask(s);
};

describe('float32 boundaries of the sampling warpers (PyTorch arithmetic)', () => {
  it('EpsilonLogitsWarper: `probabilities < self.epsilon` casts the Python float to float32', () => {
    // Twelve tokens at 0 and one at ln ½: S = 12.5, probabilities 0.08 (×12) and f32(0.5 / 12.5) = f32(0.04)
    // = 0.03999999910593033. PyTorch: 0.0399999991 < f32(0.04) is false, so all 13 stay. In float64
    // 0.0399999991 < 0.04 and the last token would go.
    const scores = [...rep(12, 0), H];
    expect(softmax(Float32Array.from(scores))[12]).toBe(f(0.04));
    expect(warp(scores, (s) => epsilonCutoff(s, 0.04))).toBe('kkkkkkkkkkkkk');
    // Just above the boundary it goes (and never the best: `scores < topk(scores, 1)[0][..., -1]`).
    expect(warp(scores, (s) => epsilonCutoff(s, 0.0400001))).toBe('kkkkkkkkkkkkx');
  });

  it('MinPLogitsWarper: `self.min_p * top_probs` is a float32 product of f32(min_p)', () => {
    // [0, ln ½ ×3]: S = 2.5, probabilities f32(0.4) = 0.4000000059604645 and f32(0.2) = 0.20000000298023224 (×3).
    // min_p 0.50000002 is f32 0.5, so scaled_min_p = f32(0.5 · f32(0.4)) = f32(0.2): `0.2 < 0.2` is false and all
    // four stay. In float64 0.50000002 · 0.4000000060 = 0.2000000110 rounds up to 0.20000001788 and the three go.
    expect(f(0.50000002)).toBe(0.5);
    expect(warp([0, H, H, H], (s) => minP(s, 0.50000002))).toBe('kkkk');
    expect(warp([0, H, H, H], (s) => minP(s, 0.5000001))).toBe('kxxx'); // f32 0.50000012: above the boundary
  });

  it('TypicalLogitsWarper: `cumulative_probs < self.mass` casts the mass to float32', () => {
    // [0 ×2, ln ½ ×3, ln ¼ ×6]: S = 5, probabilities 0.2 (×2), 0.1 (×3), 0.05 (×6). float32 entropy 2.2332702;
    // |−log p − ent|: 0.0693150 (p 0.1), 0.6238322 (p 0.2), 0.7624621 (p 0.05), so the sorted order is the three
    // 0.1s, the two 0.2s, the six 0.05s. cumsum (double accumulator, float32 outputs): 0.1, 0.2, 0.30000001,
    // 0.5, f32(0.70000001043) = 0.69999998808 = f32(0.7), 0.75, … PyTorch: `0.69999998808 < f32(0.7)` is false,
    // last_ind = 4 (a 0.2 token), and the six 0.05 tokens (shifted 0.762 > 0.624) go. In float64
    // 0.69999998808 < 0.7 counts one more, last_ind = 5 (a 0.05 token) and nothing goes.
    const scores = [0, 0, H, H, H, ...rep(6, Q)];
    expect(warp(scores, (s) => typicalP(s, 0.7))).toBe('kkkkkxxxxxx');
    expect(warp(scores, (s) => typicalP(s, 0.70001))).toBe('kkkkkkkkkkk');
  });

  it('TypicalLogitsWarper: `cumsum` accumulates in double on the CPU, stores float32', () => {
    // [0, ln ½ ×9, ln ¼ ×2]: S = 6, probabilities f32(1/6), f32(1/12) = 0.0833333358168602 (×9), f32(1/24). The nine
    // 1/12 tokens are the most typical (shifted 0.0578 against 0.6354 and 0.7509) and come first; the ninth
    // cumulative value is f32(9 · 0.0833333358) = f32(0.75000002235) = 0.75, not < f32(0.75), so last_ind = 8 and
    // every other token goes. A float32 running sum drifts to 0.74999994 (counted): last_ind 9 keeps the 1/6 token.
    const scores = [0, ...rep(9, H), Q, Q];
    expect(cumsumF32(rep(9, f(1 / 12)))[8]).toBe(0.75);
    expect(warp(scores, (s) => typicalP(s, 0.75))).toBe('xkkkkkkkkkxx');
  });

  it('EtaLogitsWarper: eta = min(ε, √ε · exp(−entropy)) in float32, with the float32 entropy of Categorical(logits)', () => {
    // Two tokens [0, f32(−0.05)], so every sum has two terms and is one float32 rounding in any order (PyTorch sums
    // in float32, in an order set by its SIMD width: with more terms its last bit is not reproducible; see float32.ts).
    // Categorical: exp → 1, 0.951229453086853; logsumexp = f32(ln 1.951229453086853) = 0.6684596538543701; logits
    // −0.6684596538543701, −0.7184596657752991; their softmax 0.5124974250793457, 0.4875026047229767; products
    // −0.34258386492729187, −0.3502509593963623; entropy 0.6928348541259766 (exact: 0.69283477818).
    // ε = 0.95004153 is the float32 0.9500415325164795, √ε = 0.9747007489204407, exp(−H) = 0.5001561641693115, their
    // float32 product eta = 0.4875025749206543 — equal to the second token's probability (scores.softmax:
    // 0.4875025749206543), so `probabilities < eta` is false and it stays. With the float64 entropy or a float64
    // √ε · exp(−H) (the code before this change) eta is 0.48750264 and it goes. Like any eta cut this close, it assumes
    // float32 exp and log correctly rounded (PyTorch's SLEEF kernels are within 1 ulp): an exp(−H) one ulp higher drops it.
    const row = [0, f(-0.05)];
    expect(categoricalEntropyF32(Float32Array.from(row))).toBe(0.6928348541259766);
    expect(softmax(Float32Array.from(row))[1]).toBe(0.4875025749206543);
    expect(warp(row, (s) => etaCutoff(s, 0.95004153))).toBe('kk');
    expect(warp(row, (s) => etaCutoff(s, 0.9500417))).toBe('kx'); // ε three float32 steps up: eta one ulp above it
    // Far from the boundary: [0, 0, ln ½, ln ½, ln ¼, ln ⅛] (probabilities 8/27 ×2, 4/27 ×2, 2/27, 1/27, entropy 1.60148)
    // with ε 0.2 → eta = min(0.2, 0.4472 · 0.2016 = 0.0902): only 2/27 and 1/27 go.
    expect(warp([0, 0, H, H, Q, E], (s) => etaCutoff(s, 0.2))).toBe('kkkkxx');
  });

  it('EtaLogitsWarper: when ε is the smaller, eta is `self.epsilon`, the float32 tensor', () => {
    // [0 ×3, ln ⅛]: S = 3.125, probabilities 0.32 (×3) and f32(0.125 / 3.125) = f32(0.04); entropy 1.2225, so
    // √0.04 · e^−1.2225 = 0.0589 > 0.04 and eta = f32(0.04): `0.0399999991 < 0.0399999991` is false, all stay.
    // (Compared with the Python float 0.04 the last token would go.)
    expect(warp([0, 0, 0, E], (s) => etaCutoff(s, 0.04))).toBe('kkkk');
    expect(warp([0, 0, 0, E], (s) => etaCutoff(s, 0.0400001))).toBe('kkkx');
  });
});

describe('float32 helpers (src/float32.ts)', () => {
  it('Categorical entropy: the float32 products summed once rounded (not in PyTorch\'s float32 order)', () => {
    // [0, 0, ln ½, ln ½, ln ¼, ln ⅛]: products (float32) −0.36041346, −0.36041346, −0.28289521, −0.28289521,
    // −0.19279183, −0.12206803; their exact sum rounded once is 1.6014771461486816. PyTorch's CPU sum of these six
    // (SumKernel.cpp `row_sum`: float accumulators, partials x0+x4+x5, x1, x2, x3 then added in turn) gives
    // 1.6014772653579712, one ulp more: enough to move eta_cutoff 0.54003's cut across the two 4/27 tokens
    // (eta 0.14814816 here, 0.14814813 there). The documented limit of float32.ts, pinned so it stays known.
    expect(categoricalEntropyF32(Float32Array.from([0, 0, H, H, Q, E]))).toBe(1.6014771461486816);
  });

  it('Categorical entropy clamps -inf logits to finfo.min (0, not NaN); logsumexp masks an infinite max to 0', () => {
    // [0, 0, -inf]: logsumexp = f32(ln 2); logits [-ln 2, -ln 2, -inf]; probs [½, ½, 0]. `torch.clamp(logits,
    // min=finfo.min)` turns -inf · 0 = NaN into finfo.min · 0 = -0, so the entropy is f32(ln 2).
    expect(categoricalEntropyF32(Float32Array.from([0, 0, I]))).toBe(f(Math.log(2)));
    // ReduceOps.cpp `logsumexp_out_impl`: `maxes_squeezed.masked_fill_(maxes_squeezed.abs() == INFINITY, 0)` fills
    // `maxes` itself (keepdim, or a squeeze view of it) before `(self - maxes).exp_()`: all -inf is log(0) = -inf,
    // not NaN, and a +inf element gives +inf.
    expect(logSumExpF32(Float32Array.from([I, I]))).toBe(I);
    expect(logSumExpF32(Float32Array.from([Infinity, 0]))).toBe(Infinity);
    expect(logSumExpF32(Float32Array.from([0, H]))).toBe(f(f(Math.log(1.5)) + 0));
  });

  it('sums: one float32 rounding (nansum skips NaN); cumsum: float32 outputs of a double running sum', () => {
    expect(sumF32([f(0.1), f(0.2), NaN], true)).toBe(f(f(0.1) + f(0.2)));
    expect(sumF32([1, NaN])).toBeNaN();
    expect(Array.from(cumsumF32([f(0.1), f(0.2), f(0.4)]))).toEqual([f(0.1), f(f(0.1) + f(0.2)), f(f(0.1) + f(0.2) + f(0.4))]);
  });

  it("softmax as PyTorch's CPU kernel: float32 exp(x − max), times the float32 reciprocal of their sum", () => {
    // [0, ln ½ ×3]: exp → 1, ½, ½, ½ (exact), sum 2.5, inv = f32(0.4), outputs f32(0.4) and f32(0.4)/2.
    expect(Array.from(softmax(Float32Array.from([0, H, H, H])))).toEqual([f(0.4), f(0.2), f(0.2), f(0.2)]);
    // The rounding of exp before the sum shows here: 3 · f32(e^-1) in float32 vs e^-1 in float64.
    const s = Float32Array.from([1, 0, 0, 0]);
    const e1 = f(Math.exp(-1));
    const inv = f(1 / f(1 + 3 * e1));
    expect(Array.from(softmax(s))).toEqual([inv, f(e1 * inv), f(e1 * inv), f(e1 * inv)]);
  });
});
