import { dropout, dropoutAdd } from '@conifer/dropout';
import * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';
import type { NeftuneNoise } from './neftune.js';

/** A seeded stream of integer seeds (one per dropout call), so training runs are reproducible. */
export class SeedStream {
  private readonly rng: seedrandom.PRNG;
  constructor(seed: number | string) {
    this.rng = seedrandom.alea(String(seed));
  }
  next(): number {
    return this.rng.int32() >>> 0;
  }
}

/**
 * What a forward pass needs besides tensors: training mode, the dropout seeds and NEFTune's noise.
 * Dropout is the identity unless `training` and `rate > 0`; the noise unless `training` and α > 0.
 */
export class ForwardContext {
  constructor(
    readonly training: boolean,
    readonly rate: number,
    private readonly seeds: SeedStream | null,
    private readonly neftune: NeftuneNoise | null = null,
  ) {}

  /** The input embedding's output as the stacks see it: plus NEFTune's noise in training (transformers' `neftune_post_forward_hook` on `shared`). */
  embedded(embeds: tf.Tensor3D): tf.Tensor3D {
    return this.training && this.neftune ? this.neftune.apply(embeds) : embeds;
  }

  static inference(): ForwardContext {
    return new ForwardContext(false, 0, null);
  }

  get active(): boolean {
    return this.training && this.rate > 0 && this.seeds !== null;
  }

  /** torch.nn.Dropout: zero with probability `rate`, scale the rest by 1 / (1 − rate). */
  dropout<T extends tf.Tensor>(x: T): T {
    if (!this.active) return x;
    return dropout(x, this.rate, this.seeds!.next()); // the mask is drawn on the device (@conifer/dropout)
  }

  /** A residual connection after dropout, `h + dropout(x)`: one kernel on webgpu (@conifer/dropout's dropoutAdd), the same draw as {@link dropout}. */
  addDropout<T extends tf.Tensor>(h: T, x: T): T {
    if (!this.active) return tf.add(h, x) as T;
    return dropoutAdd(h, x, this.rate, this.seeds!.next());
  }

  /**
   * The draw {@link dropout} would make next (its rate and seed), consumed from the stream, for
   * kernels that apply the mask themselves; null when dropout is off.
   */
  nextDraw(): { rate: number; seed: number } | null {
    return this.active ? { rate: this.rate, seed: this.seeds!.next() } : null;
  }

  /** A context whose seeds derive from one number: a block recomputed in the backward gets the same masks. */
  fork(): { seed: number; make: () => ForwardContext } {
    const seed = this.active ? this.seeds!.next() : 0;
    return { seed, make: () => (this.active ? new ForwardContext(true, this.rate, new SeedStream(seed)) : this) };
  }
}
