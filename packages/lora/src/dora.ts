import * as tf from '@tensorflow/tfjs-core';
import { dropout } from '@conifer/dropout';
import type { DoraNormCache } from './dora-norm-cache.js';
import type { LoraAdapter } from './lora-adapter.js';
import type { Linear } from './types.js';

/**
 * DoRA (weight-decomposed LoRA, PEFT 0.21's `use_dora`): the math of PEFT's `tuners/lora/dora.py`
 * (`DoraLinearLayer.get_weight_norm`, `update_layer`, `forward`) and `tuners/lora/variants.py`
 * (`DoraLinearVariant.forward`, `merge_safe`), on tensors. Written from PEFT's formulas, not copied.
 */

/**
 * How the forward computes DoRA's weight norm ‖W + s·B·A‖ per row (not a PEFT config field):
 * - `'factored'` (default): ‖W_i‖² cached + 2s·Σ B·(A·Wᵀ) + s²·‖B·A‖², with A·Wᵀ through the base — W is
 *   never materialised, but the sum loses relative precision when s·B·A cancels much of W (README);
 * - `'direct'`: PEFT's `get_weight_norm`, ‖W + s·B·A‖ from `base.dequantize()` each forward (W [out, in]
 *   materialised in float32 every call).
 */
export type DoraWeightNorm = 'factored' | 'direct';

/** `value` as a {@link DoraWeightNorm} (undefined → undefined), or one error naming the option and the value. */
export function checkDoraWeightNorm(value: unknown): DoraWeightNorm | undefined {
  if (value === undefined || value === 'factored' || value === 'direct') return value;
  throw new Error(`LoRA: doraWeightNorm must be "factored" or "direct", got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`);
}

/** What DoRA needs from a frozen base, computed once per layer: ‖W_i‖² per output row and the base's bias. */
export interface DoraBaseStats {
  /** ‖W_i‖² [out] (float32, from `dequantize()`). */
  rowNormSq: tf.Tensor1D;
  /** The bias [out], read as base(0); null when the base declares `bias: null`. */
  bias: tf.Tensor1D | null;
}

/** The base's float32 weight, or one error naming the layer when it has no `dequantize()` (DoRA needs W's row norms). */
export function dequantizeForDora(base: Linear, path: string): tf.Tensor2D {
  const deq = base.dequantize?.bind(base);
  if (!deq) throw new Error(`LoRA layer ${path}: use_dora needs a base linear with dequantize() (DoRA rescales each row of W by its norm), and this one has none`);
  return deq();
}

/** ‖W + scaling·B·A‖ per output row, computed directly from W [out, in] (PEFT's `get_weight_norm`). */
export function directWeightNorm(w: tf.Tensor2D, a: LoraAdapter): tf.Tensor1D {
  return tf.tidy(() => rowNorm(tf.add(w, a.deltaWeight())));
}

/** The L2 norm of each row of m [out, in] (`torch.linalg.norm(m, dim=1)`). */
function rowNorm(m: tf.Tensor): tf.Tensor1D {
  return tf.sqrt(tf.sum(tf.square(m), 1)) as tf.Tensor1D;
}

/**
 * The stats of {@link DoraBaseStats} and the initial magnitude of `adapter` — PEFT's `update_layer`:
 * m = ‖W + s·B·A‖ per row with A and B as just initialised (= ‖W‖ when B = 0) — from one `dequantize()`.
 * `stats` given: only the magnitude is computed. Returned tensors are kept (outside any tidy).
 */
export function initDora(base: Linear, path: string, adapter: LoraAdapter, stats: DoraBaseStats | null): { stats: DoraBaseStats; magnitude: tf.Tensor1D } {
  const w = dequantizeForDora(base, path); // [out, in]
  try {
    const magnitude = directWeightNorm(w, adapter);
    if (stats) return { stats, magnitude };
    const rowNormSq = tf.tidy(() => tf.sum(tf.square(w), 1) as tf.Tensor1D); // [out]
    const hasBias = (base as { bias?: unknown }).bias !== null;
    const bias = hasBias ? tf.tidy(() => tf.reshape(base.apply(tf.zeros([1, base.inFeatures])), [base.outFeatures]) as tf.Tensor1D) : null;
    return { stats: { rowNormSq, bias }, magnitude };
  } finally {
    w.dispose();
  }
}

/**
 * ‖W + s·B·A‖ per row without materialising W: n² = ‖W_i‖² + 2s·Σ_k B_ik·(A·Wᵀ)_ki + s²·(B·(A·Aᵀ)·Bᵀ)_ii,
 * with A·Wᵀ = base(A) − bias ([r, out]: r rows through the base, whatever its storage) and ‖W_i‖² cached.
 * Clamped at 0 before the square root (float32 cancellation can only make n² slightly negative when
 * W + s·B·A has a row of norm ~0, where DoRA's m/n is meaningless anyway).
 */
export function factoredWeightNorm(base: Linear, stats: DoraBaseStats, a: tf.Tensor2D, b: tf.Tensor2D, scaling: number): tf.Tensor1D {
  return tf.tidy(() => {
    let aw = base.apply(a) as tf.Tensor2D; // A·Wᵀ (+ bias): [r, out]
    if (stats.bias) aw = tf.sub(aw, stats.bias);
    const cross = tf.sum(tf.mul(b, tf.transpose(aw)), 1); // Σ_k B_ik (A·Wᵀ)_ki: [out]
    const gram = tf.matMul(a, a, false, true); // A·Aᵀ: [r, r]
    const quad = tf.sum(tf.mul(tf.matMul(b, gram), b), 1); // ‖(B·A)_i‖²: [out]
    const nsq = tf.add(tf.add(stats.rowNormSq, tf.mul(cross, 2 * scaling)), tf.mul(quad, scaling * scaling));
    return tf.sqrt(tf.relu(nsq)) as tf.Tensor1D;
  });
}

/**
 * ‖W + s·B·A‖ per row with W = `base.dequantize()` materialised (float32), as PEFT's `DoraLinearLayer.get_weight_norm`
 * (`weight + scaling * lora_weight`, `torch.linalg.norm(…, dim=1)`); W is freed before returning.
 */
export function dequantizedWeightNorm(base: Linear, adapter: LoraAdapter): tf.Tensor1D {
  return tf.tidy(() => directWeightNorm(dequantizeForDora(base, adapter.path), adapter)); // [out]
}

/**
 * The weight norm of the adapter's current A and B ({@link factoredWeightNorm} or, with `doraWeightNorm: 'direct'`,
 * {@link directWeightNorm} of `w` — the dequantized W when the caller holds it — or {@link dequantizedWeightNorm}),
 * detached: it gives A and B no gradient (DoRA paper §4.3, PEFT's `weight_norm.detach()`). While A and B are frozen
 * it is computed once and kept by the adapter ({@link DoraNormCache}): generation with a loaded adapter does not
 * recompute it at every token.
 */
function detachedWeightNorm(base: Linear, stats: DoraBaseStats, adapter: LoraAdapter, w: tf.Tensor2D | null): tf.Tensor1D {
  // Ops inside a customGrad's forward are not recorded on the tape; the gradient returned is zero.
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [a, b] = args as [tf.Tensor2D, tf.Tensor2D];
    const value =
      adapter.doraWeightNorm === 'factored'
        ? factoredWeightNorm(base, stats, a, b, adapter.scaling)
        : w
          ? directWeightNorm(w, adapter)
          : dequantizedWeightNorm(base, adapter);
    return { value, gradFunc: () => [tf.zerosLike(a), tf.zerosLike(b)] };
  }) as unknown as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor1D;
  return adapter.normCache.get(adapter.loraA, adapter.loraB, adapter.doraWeightNorm, () => f(adapter.loraA, adapter.loraB));
}

/**
 * x'·Wᵀ (N, out) for d = x' (N, in) and W = `w` [out, in] (dequantized), as PEFT's `F.linear(dropout(x), W)`, with
 * the layouts the rest of the package uses: plain matMuls, forward d·(Wᵀ) and backward dy·W (a `transposeB` matMul
 * over the (N, in) operand is ~10× slower on tfjs-backend-wasm: 392 ms against 38 ms at N 256, 1024², 7 Dec 2026).
 * The backward dequantizes W again and frees it at once, so no float copy of W stays alive from the forward to the
 * backward (the base is frozen: W is the same; no gradient wrt W).
 */
function weightBaseTerm(base: Linear, path: string, d: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x] = args as [tf.Tensor2D];
    return {
      value: tf.matMul(x, tf.transpose(w)), // (N, in)·(in, out)
      gradFunc: (dy: tf.Tensor) => tf.tidy(() => tf.matMul(dy, dequantizeForDora(base, path))), // (N, out)·(out, in)
    };
  }) as unknown as (x: tf.Tensor2D) => tf.Tensor2D;
  return f(d);
}

/**
 * `y2` (N, out) — the layer's running result: the base output plus the adapters before this one, as
 * PEFT's `Linear.forward` passes `result` — plus one DoRA adapter's term on x2 (N, in)
 * (PEFT's `DoraLinearVariant.forward` + `DoraLinearLayer.forward`):
 *
 *   g = m / ‖W + s·B·A‖ (per row, detached),  result + (g − 1)·base_term + g·s·x'·Aᵀ·Bᵀ
 *
 * with x' = dropout(x) when dropout is on (p > 0: training), and then base_term = x'·Wᵀ computed anew on the
 * dropped input: with `doraWeightNorm: 'direct'` as PEFT's `F.linear(dropout(x), W)`, W = `base.dequantize()`
 * (the W of the norm too), with `'factored'` as base(x') − bias (no float copy of W; an `llm-int8` base then
 * quantizes x' as it quantizes activations). Otherwise x' = x and base_term = result − bias, the result already
 * computed (PEFT's `base_result`; no second base run). Differentiable wrt x, A, B and m; the mask is drawn from
 * `seed` (@conifer/dropout), so a replay with the same seed (gradient checkpointing) gets the same x'.
 */
export function addDoraDelta(base: Linear, stats: DoraBaseStats, y2: tf.Tensor2D, x2: tf.Tensor2D, adapter: LoraAdapter, p: number, seed: number): tf.Tensor2D {
  const m = adapter.magnitude;
  if (!m) throw new Error(`LoRA layer ${adapter.path}: adapter "${adapter.name}" is not a DoRA adapter`);
  return tf.tidy(() => {
    const d = p > 0 ? (dropout(x2, p, seed) as tf.Tensor2D) : x2; // x' (N, in)
    const w = p > 0 && adapter.doraWeightNorm === 'direct' ? dequantizeForDora(base, adapter.path) : null; // W [out, in]
    let baseTerm: tf.Tensor2D; // x'·Wᵀ (N, out)
    if (w) baseTerm = weightBaseTerm(base, adapter.path, d, w);
    else {
      const baseOut = p > 0 ? (tf.reshape(base.apply(d), [-1, base.outFeatures]) as tf.Tensor2D) : y2; // (N, out)
      baseTerm = stats.bias ? tf.sub(baseOut, stats.bias) : baseOut;
    }
    const g = tf.div(m, detachedWeightNorm(base, stats, adapter, w)); // m / n: [out]
    const lora = adapter.adapterPath(d, adapter.loraA, adapter.loraB); // s·x'·Aᵀ·Bᵀ (N, out)
    return tf.add(y2, tf.add(tf.mul(tf.sub(g, 1), baseTerm), tf.mul(g, lora))) as tf.Tensor2D;
  });
}

/**
 * PEFT's `DoraLinearVariant.merge_safe`: (m / ‖W + ΔW‖) · (W + ΔW) per row, ΔW = s·B·A, with W the
 * weight as merged so far (`orig_weight`: the base plus the adapters merged before this one).
 */
export function doraMergedWeight(w: tf.Tensor2D, adapter: LoraAdapter): tf.Tensor2D {
  const m = adapter.magnitude;
  if (!m) throw new Error(`LoRA layer ${adapter.path}: adapter "${adapter.name}" is not a DoRA adapter`);
  return tf.tidy(() => {
    const merged = tf.add(w, adapter.deltaWeight()); // W + ΔW [out, in]
    const factor = tf.div(m, rowNorm(merged)); // [out]
    return tf.mul(tf.reshape(factor, [-1, 1]), merged) as tf.Tensor2D;
  });
}

/** Frees the stats' tensors. */
export function disposeDoraStats(stats: DoraBaseStats | null): void {
  stats?.rowNormSq.dispose();
  stats?.bias?.dispose();
}
