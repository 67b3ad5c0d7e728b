import * as tf from '@tensorflow/tfjs-core';
import { accumulateGradients } from './accumulate.js';
import type { Adafactor } from './adafactor.js';
import type { AdamW } from './adamw.js';
import { clipByGlobalNorm, globalNorm } from './clip.js';
import type { Trainable } from './types.js';

/** Thrown when too many optimizer steps in a row had a non-finite loss or gradient. */
export class NonFiniteLossError extends Error {
  constructor(
    readonly step: number,
    readonly badStepsInARow: number,
  ) {
    super(
      `training aborted at optimizer step ${step}: ${badStepsInARow} steps in a row had a NaN/Inf loss or gradient ` +
        `(lower the learning rate, enable gradient clipping (maxGradNorm), or check the data; the limit is maxBadStepsInARow)`,
    );
    this.name = 'NonFiniteLossError';
  }
}

/** What one optimizer step did. */
export interface StepResult {
  /** Mean loss per target token over the window (NaN when skipped for a non-finite value). */
  loss: number;
  /** Target tokens in the window. */
  tokens: number;
  /** Global gradient norm before clipping (NaN when skipped). */
  gradNorm: number;
  /** The learning rate used. */
  lr: number;
  /** True when the update was skipped because the loss or a gradient was NaN/Inf. */
  skipped: boolean;
}

/** Options of {@link optimizerStep}. */
export interface OptimizerStepOptions {
  /** Learning rate for this step (Adafactor with `relativeStep` ignores it, as transformers' does). */
  lr: number;
  /** Clip the global gradient norm to this (default: no clipping; 0 or Infinity: none, as transformers' `max_grad_norm`). */
  maxGradNorm?: number;
}

/**
 * One optimizer step over an accumulation window: token-normalised gradients of the micro-batches,
 * a finiteness check (NaN/Inf → nothing is updated and `skipped` is true), optional global-norm
 * clipping, and the optimizer's update (AdamW or Adafactor). Leaves no tensors behind.
 */
export async function optimizerStep<B>(model: Trainable<B>, optimizer: AdamW | Adafactor, microBatches: readonly B[], options: OptimizerStepOptions): Promise<StepResult> {
  const variables = model.trainableVariables();
  const acc = await accumulateGradients(model, microBatches, variables);
  let grads = acc.grads;
  try {
    if (!acc.finite) return { loss: Number.NaN, tokens: acc.tokens, gradNorm: Number.NaN, lr: options.lr, skipped: true };
    let gradNorm = Number.NaN;
    // transformers clips only `if args.max_grad_norm is not None and args.max_grad_norm > 0`
    if (options.maxGradNorm !== undefined && options.maxGradNorm > 0 && Number.isFinite(options.maxGradNorm)) {
      const c = await clipByGlobalNorm(grads, options.maxGradNorm);
      grads = c.grads;
      gradNorm = c.totalNorm;
    } else {
      gradNorm = await globalNorm(Object.values(grads));
    }
    optimizer.applyGradients(variables, grads, options.lr);
    return { loss: acc.loss, tokens: acc.tokens, gradNorm, lr: options.lr, skipped: false };
  } finally {
    tf.dispose(Object.values(grads));
  }
}
