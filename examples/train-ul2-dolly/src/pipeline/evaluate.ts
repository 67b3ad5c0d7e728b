import type { Batch } from '@conifer/dolly-data';
import * as tf from '@tensorflow/tfjs-core';

/** Anything with the `Trainable`-style summed loss (a T5 model with or without LoRA). */
export interface LossModel {
  lossSum(batch: Batch, training: boolean): { sum: tf.Scalar; count: number };
}

export interface EvalResult {
  /** Mean cross-entropy per target token over the whole split (what we report). */
  lossPerToken: number;
  /** The original project's number: the sum over eval batches of each batch's mean loss. */
  sumOfBatchMeans: number;
  tokens: number;
  batches: number;
}

/** Eval loss over `batches` (no dropout, no gradients; read asynchronously, so webgpu in Node works). */
export async function evaluate(model: LossModel, batches: readonly Batch[]): Promise<EvalResult> {
  let total = 0;
  let tokens = 0;
  let sumOfMeans = 0;
  for (const batch of batches) {
    const { sum, count } = model.lossSum(batch, false);
    const s = (await sum.data())[0]!;
    sum.dispose();
    total += s;
    tokens += count;
    if (count > 0) sumOfMeans += s / count;
  }
  return { lossPerToken: tokens > 0 ? total / tokens : NaN, sumOfBatchMeans: sumOfMeans, tokens, batches: batches.length };
}
