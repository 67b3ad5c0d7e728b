import * as tf from '@tensorflow/tfjs-core';
import { showValue } from './unknown-options.js';

/** Labels equal to this are ignored (PyTorch's cross-entropy `ignore_index`). */
export const IGNORE_INDEX = -100;

/** Checks a label smoothing factor: finite, 0 ≤ ε < 1 (transformers' `label_smoothing_factor`). */
export function checkLabelSmoothingFactor(epsilon: number): number {
  const problem = labelSmoothingFactorProblem(epsilon);
  if (problem !== undefined) throw new RangeError(problem);
  return epsilon;
}

/** What is wrong with a `labelSmoothingFactor`, or undefined. */
export function labelSmoothingFactorProblem(epsilon: unknown): string | undefined {
  if (typeof epsilon === 'number' && Number.isFinite(epsilon) && epsilon >= 0 && epsilon < 1) return undefined;
  return `labelSmoothingFactor must be a finite number in [0, 1), got ${showValue(epsilon)}`;
}

/**
 * Per-token loss [B, T] (0 where the label is -100, or any other value outside [0, V)): the cross-entropy −log p[label], or with
 * `epsilon` > 0 transformers' label smoothing per token, (1 − ε)·(−log p[label]) + ε·mean over the
 * vocabulary of −log p — `LabelSmoother.__call__` (trainer_pt_utils.py) sums the nll and the smoothed
 * terms over the active tokens and divides them by `active` and `active · vocab`: this, summed over
 * the tokens and divided by their count. See {@link smoothedCrossEntropy} for the memory it takes.
 */
export function tokenLosses(logits: tf.Tensor3D, labels: tf.Tensor2D, epsilon = 0): tf.Tensor2D {
  return tf.tidy(() => {
    const [b, t, v] = logits.shape;
    const flat = tf.reshape(tf.cast(labels, 'int32'), [b * t]);
    // A token counts when its label is a token id: -100 is ignored, and so is any other label outside
    // [0, V) (lossSum refuses those first; forward reads nothing back), which the flat gather below
    // would otherwise read from another token's row — as the one-hot pick did, it gets 0 and no gradient.
    const keep = tf.logicalAnd(tf.greaterEqual(flat, tf.scalar(0, 'int32')), tf.less(flat, tf.scalar(v, 'int32')));
    const target = tf.where(keep, flat, tf.zerosLike(flat)) as tf.Tensor1D; // -100 (or out of range) → 0, masked below
    const loss = smoothedCrossEntropy(tf.reshape(logits, [b * t, v]), target, tf.cast(keep, 'float32') as tf.Tensor1D, epsilon); // (N,)
    return tf.reshape(loss, [b, t]);
  });
}

/**
 * loss[n] = keep[n] · ((1 − ε)·(−log p[n, target[n]]) + (ε / V)·Σ_v −log p[n, v]) for logits [N, V],
 * with the gradient written out (a `tf.customGrad`): dlogits = keep·dy·(softmax − (1 − ε)·onehot − ε/V).
 * The label's log-probability is a gather from the flat log-softmax, not a product with a one-hot
 * matrix, so the forward keeps one [N, V] tensor (the log-softmax, saved for the backward) where
 * autodiff of `sum(logp · onehot)` kept three (log-softmax, one-hot, its float copy); the backward
 * holds at most three [N, V] tensors at once (softmax · dy, the scattered label term, their
 * difference), with or without smoothing. N · V must stay below 2³¹ (int32 flat indices).
 */
export function smoothedCrossEntropy(logits: tf.Tensor2D, target: tf.Tensor1D, keep: tf.Tensor1D, epsilon: number): tf.Tensor1D {
  const [n, v] = logits.shape;
  if (n * v >= 2 ** 31) throw new RangeError(`tokenLosses: ${n} tokens × ${v} vocabulary entries exceed int32 indexing (2³¹); use smaller batches`);
  const op = tf.customGrad(((z: tf.Tensor2D, save: tf.GradSaveFunc) => {
    const logp = tf.logSoftmax(z); // (N, V)
    const flatIndex = tf.add(tf.mul(tf.range(0, n, 1, 'int32'), tf.scalar(v, 'int32')), target); // (N,) n·V + target
    const nll = tf.neg(tf.gather(tf.reshape(logp, [n * v]), flatIndex)); // (N,)
    const perToken = epsilon > 0 ? tf.sub(tf.mul(nll, 1 - epsilon), tf.mul(tf.sum(logp, 1), epsilon / v)) : nll;
    save([logp, flatIndex, keep]);
    return {
      value: tf.mul(perToken, keep),
      gradFunc: (dy: tf.Tensor1D, saved: tf.Tensor[]) => {
        const [logpS, indexS, keepS] = saved as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
        return tf.tidy(() => {
          const g = tf.mul(dy, keepS); // (N,)
          const p = tf.exp(logpS); // (N, V) softmax
          let a: tf.Tensor = tf.mul(p, tf.reshape(g, [n, 1]));
          p.dispose();
          if (epsilon > 0) {
            const shifted = tf.sub(a, tf.reshape(tf.mul(g, epsilon / v), [n, 1]));
            a.dispose();
            a = shifted;
          }
          const label = tf.scatterND(tf.reshape(indexS, [n, 1]), tf.mul(g, 1 - epsilon), [n * v]); // (N·V) (1 − ε)·g at the labels
          return tf.sub(a, tf.reshape(label, [n, v]));
        });
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as (z: tf.Tensor2D) => tf.Tensor1D;
  return op(logits);
}
