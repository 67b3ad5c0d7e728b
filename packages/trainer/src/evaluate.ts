import * as tf from '@tensorflow/tfjs-core';
import type { EvalData, Trainable } from './types.js';

/** The result of {@link evaluate}. */
export interface EvalResult {
  /** Mean loss per target token over the whole set: Σ loss sums / Σ tokens. */
  loss: number;
  /** The original project's figure: Σ over batches of each batch's mean loss. */
  sumOfBatchMeans: number;
  /** `sumOfBatchMeans / batches`. */
  meanOfBatchMeans: number;
  tokens: number;
  batches: number;
}

/** Loss of `model` over an evaluation set (`training` false, no gradients, no tensors left). */
export async function evaluate<B>(model: Trainable<B>, data: EvalData<B>): Promise<EvalResult> {
  const batches = typeof data === 'function' ? data() : data;
  let sum = 0;
  let tokens = 0;
  let sumOfBatchMeans = 0;
  let n = 0;
  for (const batch of batches) {
    const r = tf.tidy(() => model.lossSum(batch, false));
    const s = (await r.sum.data())[0]!;
    const count = r.count;
    r.sum.dispose();
    sum += s;
    tokens += count;
    if (count > 0) sumOfBatchMeans += s / count;
    n++;
  }
  return { loss: tokens > 0 ? sum / tokens : Number.NaN, sumOfBatchMeans, meanOfBatchMeans: n > 0 ? sumOfBatchMeans / n : Number.NaN, tokens, batches: n };
}
