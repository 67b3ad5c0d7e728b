import * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';
import type { Linear, LinearHost } from '../src/index.js';

/** A LoRA-like test linear: base(x) + (x·A)·B with A, B trainable variables held in a nested field. */
export class AdapterLinear implements Linear {
  readonly adapter: { A: tf.Variable; B: tf.Variable };
  constructor(
    readonly base: Linear,
    r: number,
    seed: number,
  ) {
    this.adapter = {
      A: tf.variable(tf.randomNormal([base.inFeatures, r], 0, 0.3, 'float32', seed), true),
      B: tf.variable(tf.randomNormal([r, base.outFeatures], 0, 0.3, 'float32', seed + 1), true),
    };
  }
  get inFeatures() {
    return this.base.inFeatures;
  }
  get outFeatures() {
    return this.base.outFeatures;
  }
  apply(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const x2 = tf.reshape(x, [-1, this.inFeatures]);
      const y = tf.add(this.base.apply(x2), tf.matMul(tf.matMul(x2, this.adapter.A), this.adapter.B));
      return tf.reshape(y, [...x.shape.slice(0, -1), this.outFeatures]);
    });
  }
  variables(): tf.Variable[] {
    return [this.adapter.A, this.adapter.B];
  }
  dispose() {
    this.adapter.A.dispose();
    this.adapter.B.dispose();
  }
}

/**
 * Wraps every projection whose path matches `targets` in an `AdapterLinear` of rank `r` (the k-th
 * with seed `firstSeed + 2k`), as `@conifer/lora` does through `LinearHost`; returns the adapters' variables.
 */
export function addAdapters(m: LinearHost, targets: RegExp, r: number, firstSeed: number): tf.Variable[] {
  const vars: tf.Variable[] = [];
  for (const [path, lin] of m.listLinears()) {
    if (!targets.test(path)) continue;
    const a = new AdapterLinear(lin, r, firstSeed + vars.length);
    m.replaceLinear(path, a);
    vars.push(...a.variables());
  }
  return vars;
}

/** A float linear differentiated by tfjs itself (no custom gradient): the reference for Float32Linear. */
export class AutodiffLinear implements Linear {
  constructor(readonly w: tf.Tensor2D /* (out, in) */) {}
  get inFeatures() {
    return this.w.shape[1];
  }
  get outFeatures() {
    return this.w.shape[0];
  }
  apply(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const y = tf.matMul(tf.reshape(x, [-1, this.inFeatures]), this.w, false, true);
      return tf.reshape(y, [...x.shape.slice(0, -1), this.outFeatures]);
    });
  }
  dispose() {
    this.w.dispose();
  }
}

/** AdapterLinear with dropout on the adapter's input, its seeds drawn from its own PRNG (replayable state). */
export class DropoutAdapterLinear extends AdapterLinear {
  private rng: seedrandom.StatefulPRNG<seedrandom.State.Arc4>;
  constructor(base: Linear, r: number, seed: number, readonly p: number) {
    super(base, r, seed);
    this.rng = seedrandom(`drop-${seed}`, { state: true });
  }
  override apply(x: tf.Tensor): tf.Tensor {
    const seed = this.rng.int32();
    return tf.tidy(() => {
      const x2 = tf.reshape(x, [-1, this.inFeatures]);
      const d = tf.dropout(x2, this.p, undefined, seed);
      const y = tf.add(this.base.apply(x2), tf.matMul(tf.matMul(d, this.adapter.A), this.adapter.B));
      return tf.reshape(y, [...x.shape.slice(0, -1), this.outFeatures]);
    });
  }
  getRandomState(): unknown {
    return this.rng.state();
  }
  setRandomState(state: unknown): void {
    this.rng = seedrandom('', { state: state as seedrandom.State.Arc4 });
  }
}
