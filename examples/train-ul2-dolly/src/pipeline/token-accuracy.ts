import type { Batch } from '@conifer/dolly-data';
import type { ComputeMetrics, Trainable } from '@conifer/trainer';
import type { T5ForConditionalGeneration } from '@conifer/t5-model';
import * as tf from '@tensorflow/tfjs-core';

const IGNORE_INDEX = -100;

/** `--metric-for-best-model accuracy`'s metric: reported as `eval_accuracy` (transformers' prefix), greater is better. */
export const TOKEN_ACCURACY = 'accuracy';

/**
 * Token accuracy of the teacher-forced argmax on the eval batches (the share of target tokens, labels
 * ≠ -100, whose most likely next token given the true prefix is the label — what transformers'
 * `compute_metrics` examples compute from `EvalPrediction` with `np.argmax(logits, -1) == labels`),
 * taken from the evaluation's own forward pass, so it costs no second pass over the eval set:
 * the returned `trainable` computes the eval loss (`training` false) with `model.forward`, which gives
 * the logits beside the summed token loss, and keeps each batch's count of correct tokens on the
 * device; `computeMetrics` (called by the trainer right after that loss pass) reads them. A batch
 * the loss pass did not see is run once more. Training steps go to `base` unchanged.
 */
export function withTokenAccuracy(model: T5ForConditionalGeneration, base: Trainable<Batch>, evalMode: () => void): { trainable: Trainable<Batch>; computeMetrics: ComputeMetrics<Batch> } {
  const correct = new Map<Batch, tf.Scalar>();
  const evalPass = (batch: Batch): { sum: tf.Scalar; count: number; hits: tf.Scalar } => {
    evalMode(); // LoRA dropout off, as base.lossSum(batch, false) does
    const { batchSize: b, sourceLength: s, targetLength: t } = batch;
    let count = 0;
    for (const l of batch.labels) if (l !== IGNORE_INDEX) count++;
    const out = tf.tidy(() => {
      const labels = tf.tensor2d(batch.labels, [b, t], 'int32'); // (B, T)
      const inputs = { inputIds: tf.tensor2d(batch.inputIds, [b, s], 'int32'), attentionMask: tf.tensor2d(batch.attentionMask, [b, s], 'int32'), decoderInputIds: tf.tensor2d(batch.decoderInputIds, [b, t], 'int32'), labels };
      const { logits, lossSum } = model.forward(inputs, { training: false }); // logits (B, T, V), as model.lossSum computes them
      const hit = tf.logicalAnd(tf.equal(tf.argMax(logits, -1), labels), tf.notEqual(labels, tf.scalar(IGNORE_INDEX, 'int32'))); // (B, T)
      return { sum: lossSum!, hits: tf.sum(tf.cast(hit, 'int32')) as tf.Scalar };
    });
    return { sum: out.sum, count, hits: out.hits };
  };
  const trainable: Trainable<Batch> = {
    ...base,
    lossSum: (batch, training) => {
      if (training) return base.lossSum(batch, true);
      const { sum, count, hits } = evalPass(batch);
      correct.get(batch)?.dispose();
      correct.set(batch, tf.keep(hits)); // the trainer's evaluate runs lossSum inside tf.tidy, which would dispose it
      return { sum, count };
    },
  };
  const computeMetrics: ComputeMetrics<Batch> = async ({ batches }) => {
    let hits = 0;
    let tokens = 0;
    try {
      for (const batch of batches) {
        let h = correct.get(batch);
        correct.delete(batch);
        if (!h) {
          const extra = evalPass(batch);
          extra.sum.dispose();
          h = extra.hits;
        }
        hits += (await h.data())[0]!;
        h.dispose();
        for (const l of batch.labels) if (l !== IGNORE_INDEX) tokens++;
      }
    } finally {
      for (const h of correct.values()) h.dispose();
      correct.clear();
    }
    return { [TOKEN_ACCURACY]: tokens > 0 ? hits / tokens : 0 };
  };
  return { trainable, computeMetrics };
}
