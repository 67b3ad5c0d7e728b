import { uniformNoise } from '@conifer/dropout';
import * as tf from '@tensorflow/tfjs-core';
import { SeedStream } from './dropout.js';
import { showValue } from './unknown-options.js';

/** Checks a NEFTune alpha: finite and ≥ 0 (0 = off; transformers' `neftune_noise_alpha`). */
export function checkNeftuneNoiseAlpha(alpha: number): number {
  const problem = neftuneNoiseAlphaProblem(alpha);
  if (problem !== undefined) throw new RangeError(problem);
  return alpha;
}

/** What is wrong with a `neftuneNoiseAlpha`, or undefined. */
export function neftuneNoiseAlphaProblem(alpha: unknown): string | undefined {
  if (typeof alpha === 'number' && Number.isFinite(alpha) && alpha >= 0) return undefined;
  return `neftuneNoiseAlpha must be a finite number ≥ 0 (0 = off), got ${showValue(alpha)}`;
}

/**
 * The bound of NEFTune's noise for an embedding output [B, L, d]: α / √(L · d), as
 * transformers' `neftune_post_forward_hook` (trainer_utils.py) computes `mag_norm` from
 * `output.size(1) * output.size(2)` — the padded sequence length of that call, not the real tokens.
 */
export function neftuneMagnitude(alpha: number, seqLength: number, dModel: number): number {
  return alpha / Math.sqrt(seqLength * dModel);
}

/**
 * NEFTune (transformers' `Trainer(neftune_noise_alpha=α)`): uniform noise in [−α/√(L·d), α/√(L·d)]
 * added to each output of the input embedding in training. Seeds come from their own stream (derived
 * from the model's dropout seed), so turning NEFTune on does not change the dropout masks; the noise is
 * drawn on the device by `@conifer/dropout`'s `uniformNoise` (the same values on every backend).
 */
export class NeftuneNoise {
  private seeds: SeedStream;
  /** α (0 = off); the model checks it ({@link checkNeftuneNoiseAlpha}) before setting it. */
  alpha = 0;

  constructor(dropoutSeed: number) {
    this.seeds = NeftuneNoise.stream(dropoutSeed);
  }

  /** The noise seeds for a dropout seed: a stream apart from dropout's (seedrandom's alea of `neftune:<seed>`). */
  static stream(dropoutSeed: number): SeedStream {
    return new SeedStream(`neftune:${dropoutSeed}`);
  }

  reseed(dropoutSeed: number): void {
    this.seeds = NeftuneNoise.stream(dropoutSeed);
  }

  /** embeds [B, L, d] + noise (a new tensor); `embeds` itself when α is 0. */
  apply(embeds: tf.Tensor3D): tf.Tensor3D {
    if (this.alpha === 0) return embeds;
    const [, l, d] = embeds.shape;
    const seed = this.seeds.next();
    return tf.tidy(() => tf.add(embeds, uniformNoise(embeds.shape, neftuneMagnitude(this.alpha, l, d), seed))) as tf.Tensor3D;
  }
}
