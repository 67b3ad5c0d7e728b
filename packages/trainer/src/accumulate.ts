import * as tf from '@tensorflow/tfjs-core';
import { sumInOrder } from './sum.js';
import type { Trainable } from './types.js';

/** The result of {@link accumulateGradients}. */
export interface AccumulatedGradients {
  /** Σ over micro-batches of ∂(loss sum)/∂v, divided by the window's total token count (keyed by variable name). */
  grads: Record<string, tf.Tensor>;
  /** Σ loss sums / Σ counts: the mean loss per target token over the window (NaN when non-finite). */
  loss: number;
  /** Σ loss sums. */
  lossSum: number;
  /** Σ counts: target tokens in the window. */
  tokens: number;
  /** Whether every loss and every gradient value was finite. */
  finite: boolean;
}

/**
 * Gradients of one accumulation window: for each micro-batch, the gradient of its loss SUM
 * (`tf.variableGrads`), added up; then divided by the total token count of the window. So
 * micro-batches of unequal length give the same update as one batch holding all of them
 * (normalised per target token, not a mean of per-batch means). A window with no tokens gives zero
 * gradients. The caller disposes `grads`.
 */
export async function accumulateGradients<B>(model: Trainable<B>, microBatches: readonly B[], variables: readonly tf.Variable[] = model.trainableVariables()): Promise<AccumulatedGradients> {
  let acc: Record<string, tf.Tensor> | null = null;
  let lossSum = 0;
  let tokens = 0;
  try {
    for (const batch of microBatches) {
      let count = 0;
      const { value, grads } = tf.variableGrads(() => {
        const r = model.lossSum(batch, true);
        count = r.count;
        return r.sum;
      }, variables as tf.Variable[]);
      // Read asynchronously: synchronous reads do not exist on webgpu in Node (no OffscreenCanvas).
      lossSum += (await value.data())[0]!;
      value.dispose();
      tokens += count;
      if (acc === null) {
        acc = grads;
      } else {
        const prev: Record<string, tf.Tensor> = acc;
        const next: Record<string, tf.Tensor> = {};
        for (const name of new Set([...Object.keys(prev), ...Object.keys(grads)])) {
          const a = prev[name];
          const b = grads[name];
          next[name] = a && b ? tf.add(a, b) : (a ?? b)!;
          if (a && b) {
            a.dispose();
            b.dispose();
          }
        }
        acc = next;
      }
    }
  } catch (e) {
    // A later micro-batch failed: the gradients summed so far are freed, not leaked.
    for (const g of Object.values(acc ?? {}) as tf.Tensor[]) g.dispose();
    throw e;
  }
  const summed = acc ?? {};
  const out: Record<string, tf.Tensor> = {};
  for (const [name, g] of Object.entries(summed)) {
    out[name] = tf.tidy(() => (tokens > 0 ? tf.div(g, tf.scalar(tokens)) : tf.zerosLike(g)));
    g.dispose();
  }
  const loss = tokens > 0 ? lossSum / tokens : 0;
  const finite = Number.isFinite(lossSum) && (await allFinite(Object.values(out)));
  return { grads: out, loss: finite ? loss : Number.NaN, lossSum, tokens, finite };
}

/** Whether every value of every tensor is finite (Σ x·0 is 0 exactly when no value is NaN or ±Inf). */
export async function allFinite(tensors: readonly tf.Tensor[]): Promise<boolean> {
  if (tensors.length === 0) return true;
  const probe = tf.tidy(() => sumInOrder(tensors.map((t) => tf.sum(tf.mul(t, tf.scalar(0))))));
  try {
    return Number.isFinite((await probe.data())[0]!);
  } finally {
    probe.dispose();
  }
}
