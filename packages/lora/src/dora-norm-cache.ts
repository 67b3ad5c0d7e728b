import * as tf from '@tensorflow/tfjs-core';

/**
 * DoRA's weight norm ‖W + s·B·A‖ [out] of one adapter, kept between forwards while its A and B are
 * frozen (generation, evaluation of a loaded adapter): without it every forward recomputes it from W.
 *
 * The kept norm is valid for the A and B tensors it was computed from — the variables' data ids (an
 * `assign`, `setWeights` or a replaced variable gives a new one) — and for the norm mode. Trainable
 * adapters never use it: an optimizer may update a variable in place on its own buffer (the trainer's
 * webgpu AdamW), keeping its data id; the owner drops the kept norm when trainability changes, and
 * {@link DoraNormCache.get} drops it when it sees A or B trainable. The base is frozen (never part of the key).
 */
export class DoraNormCache {
  private entry: { a: object; b: object; mode: string; norm: tf.Tensor1D } | null = null;

  /** The norm of `a` and `b` in `mode`: the kept one when it matches, else `compute()` (kept when both are frozen). */
  get(a: tf.Variable, b: tf.Variable, mode: string, compute: () => tf.Tensor1D): tf.Tensor1D {
    if (a.trainable || b.trainable) {
      this.clear();
      return compute();
    }
    const e = this.entry;
    if (e && e.a === a.dataId && e.b === b.dataId && e.mode === mode && !e.norm.isDisposed) return e.norm;
    this.clear();
    const norm = tf.keep(compute()); // outlives the forward's tidy, until cleared
    this.entry = { a: a.dataId, b: b.dataId, mode, norm };
    return norm;
  }

  /** Whether a norm is kept (tests). */
  get size(): number {
    return this.entry ? 1 : 0;
  }

  /** Frees the kept norm, if any. */
  clear(): void {
    this.entry?.norm.dispose();
    this.entry = null;
  }
}
