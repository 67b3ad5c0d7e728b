import type * as tf from '@tensorflow/tfjs-core';

/**
 * What the trainer needs from a model (a structural copy of the contract in docs/interfaces.md):
 * a summed loss over a batch's target tokens, and the variables to train.
 */
export interface Trainable<B> {
  /** Sum (not mean) of per-token losses over the batch's non-ignored targets, and their count. */
  lossSum(batch: B, training: boolean): { sum: tf.Scalar; count: number };
  /** The variables the optimizer updates (unique names: checkpoints key them by name). */
  trainableVariables(): tf.Variable[];
  /**
   * Optional: reseeds the model's dropout. When present, the trainer calls it before every
   * optimizer step with a seed drawn from its own seeded RNG, so dropout masks survive a resume.
   */
  setDropoutSeed?(seed: number): void;
}

/** Where the data stands: the epoch and how many of its batches were consumed (JSON-serialisable). */
export interface Cursor {
  epoch: number;
  position: number;
}

/** A batch and the cursor that resumes right after it. */
export interface CursorBatch<B> {
  batch: B;
  /** The cursor after this batch. */
  next: Cursor;
}

/**
 * A resumable source of training batches. `@conifer/dolly-data`'s `BatchSampler` fits as is.
 * `batches(from)` yields the batches of epoch `from.epoch` starting at `from.position`, through
 * the end of that epoch (and no further), each with the cursor after it. The epoch ends where the
 * iterator ends or where a cursor points into the next epoch, whichever comes first (the trainer
 * reads one batch ahead, so either way it knows an epoch's last step before taking it).
 */
export interface DataSource<B> {
  batches(from: Cursor): Iterable<CursorBatch<B>>;
  /** Batches in an epoch: needed for `linear`/`cosine` schedules unless `totalSteps`/`maxSteps` is given, and for the ETA. */
  batchesPerEpoch?(epoch?: number): number;
}

/** Evaluation batches: an iterable (re-iterated each evaluation) or a function returning a fresh one. */
export type EvalData<B> = Iterable<B> | (() => Iterable<B>);
