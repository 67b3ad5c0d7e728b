/**
 * PyTorch's float32 arithmetic on the CPU, for the warpers' boundary computations (the scores are float32:
 * transformers casts the logits with `.to(dtype=torch.float32)`).
 *
 * - An elementwise op is one float32 rounding: `Math.fround` of the float64 result. That is exact for + − × ÷
 *   and √ (float64 has more than 2 × 24 + 2 bits, so the double rounding is harmless) and the correctly rounded
 *   value for exp and log, which PyTorch's vectorised kernels (SLEEF, ≤ 1 ulp) give almost always.
 * - A Python float meeting a float32 tensor (`t < 0.1`, `0.1 * t`) is cast to float32 first: a Python scalar
 *   does not promote a tensor of the same kind (`torch.result_type(float32 tensor, 0.1)` is float32).
 * - Reductions (`sum`, `nansum`, softmax's denominator) are summed in float64 and rounded once: the correctly
 *   rounded float32 sum, the same in any order. PyTorch accumulates them in float32 (SumKernel.cpp's `cascade_sum`
 *   uses `at::acc_type<float, true>`, i.e. float; softmax's `vec::reduce_all` too) in an order set by the SIMD width
 *   (a row shorter than one vector: four interleaved partial sums), so its last bit can differ from this one, and a
 *   cut resting on that bit with it: Categorical's entropy of [0, 0, ln ½, ln ½, ln ¼, ln ⅛] is 1.6014773 in
 *   PyTorch's order and 1.6014771 here, which puts eta_cutoff 0.54003 on either side of the two 4/27 tokens.
 *   No port can follow every machine's order. `cumsum` is exact: PyTorch's CPU kernel accumulates in double.
 */

export const f32 = Math.fround;

/** `torch.softmax(x, -1)` as PyTorch's CPU kernel computes it in float32: `e = exp(x - max)` (each rounded),
 *  `inv = 1 / sum(e)`, `e * inv`. A row of -inf (or NaN) only is all NaN, as in PyTorch (`-inf - -inf`). */
export function softmax(scores: Float32Array): Float32Array {
  const max = rowMax(scores);
  if (max === -Infinity) return new Float32Array(scores.length).fill(NaN);
  const out = Float32Array.from(scores, (s) => Math.exp(f32(s - max))); // stored as float32
  const inv = f32(1 / sumF32(out));
  for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) * inv;
  return out;
}

/** `torch.log_softmax(x, -1)` as PyTorch's CPU kernel computes it in float32:
 *  `(x - max) - log(sum(exp(x - max)))`. */
export function logSoftmax(scores: Float32Array): Float32Array {
  const max = rowMax(scores);
  const shifted = Float32Array.from(scores, (s) => s - max); // float32 x - max
  const lse = f32(Math.log(sumF32(Array.from(shifted, (v) => f32(Math.exp(v))))));
  return Float32Array.from(shifted, (v) => v - lse);
}

/** `t.sum(-1)` of float32 values (`skipNaN`: `t.nansum(-1)`, NaN terms left out), as a float32. */
export function sumF32(values: ArrayLike<number>, skipNaN = false): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (!(skipNaN && Number.isNaN(v))) s += v;
  }
  return f32(s);
}

/** `t.cumsum(-1)` of float32 values on the CPU: the kernel accumulates in `at::acc_type<float, false>` (double)
 *  and stores each partial sum as float32, so the k-th value is the float64 running sum rounded once. */
export function cumsumF32(values: ArrayLike<number>): Float32Array {
  const out = new Float32Array(values.length);
  let acc = 0;
  for (let i = 0; i < values.length; i++) {
    acc += values[i] as number;
    out[i] = acc;
  }
  return out;
}

/** `torch.logsumexp(x, -1)` (ReduceOps.cpp `logsumexp_out_impl`): `maxes = amax(x)`; `maxes_squeezed.masked_fill_(
 *  maxes_squeezed.abs() == INFINITY, 0)`, which is `maxes` itself or a view of it, so an infinite max is 0 in both
 *  `sum(exp(x - maxes)).log()` and the `+ maxes` after it: all -inf gives log(0) = -inf, a +inf gives +inf. */
export function logSumExpF32(x: Float32Array): number {
  const max = rowMax(x);
  const m = Math.abs(max) === Infinity ? 0 : max;
  const exps = Array.from(x, (v) => f32(Math.exp(f32(v - m))));
  return f32(f32(Math.log(sumF32(exps))) + m);
}

/** The largest value, NaN left out (-inf when there is none). */
function rowMax(x: Float32Array): number {
  let max = -Infinity;
  for (const v of x) if (v > max) max = v;
  return max;
}

/** The smallest float32 (`torch.finfo(torch.float32).min`). */
const F32_MIN = -3.4028234663852886e38;

/**
 * `torch.distributions.Categorical(logits=x).entropy()` in float32: the constructor normalises
 * `logits = x - x.logsumexp(-1)` and `probs = softmax(logits)`; `entropy()` clamps the logits to
 * `finfo.min` (so a -inf logit times its 0 probability is 0, not NaN) and returns `-(logits * probs).sum(-1)`.
 * A row that is all -inf, or holds +inf or NaN, has NaN logits: PyTorch's argument validation raises there, this
 * returns NaN (and eta then cuts nothing: sampling the row is refused anyway).
 */
export function categoricalEntropyF32(x: Float32Array): number {
  const lse = logSumExpF32(x);
  const logits = Float32Array.from(x, (v) => v - lse); // float32 subtraction (stored rounded)
  const probs = softmax(logits);
  return -sumF32(Array.from(logits, (l, i) => f32(Math.max(l, F32_MIN) * (probs[i] as number))));
}
