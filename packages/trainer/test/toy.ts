import * as tf from '@tensorflow/tfjs-core';
import type { Cursor, CursorBatch, DataSource, Trainable } from '../src';

/** A toy batch: rows of features, targets, and how many "tokens" each example counts for. */
export interface ToyBatch {
  x: number[][];
  y: number[];
  counts: number[];
}

/** Weighted linear regression: loss sum = Σ_i counts_i · (w·x_i + b − y_i)², count = Σ counts_i. */
export class ToyModel implements Trainable<ToyBatch> {
  readonly w: tf.Variable;
  readonly b: tf.Variable;
  /** Set to make the next lossSum calls return NaN (NaN injection). */
  poison = 0;
  dropoutSeeds: number[] = [];
  constructor(features = 3, prefix = 'toy') {
    this.w = tf.tidy(() => tf.variable(tf.tensor2d(Array.from({ length: features }, (_, i) => [0.1 * (i + 1)]), [features, 1]), true, `${prefix}.w`));
    this.b = tf.tidy(() => tf.variable(tf.scalar(0.05), true, `${prefix}.b`));
  }
  lossSum(batch: ToyBatch, _training: boolean): { sum: tf.Scalar; count: number } {
    const count = batch.counts.reduce((a, c) => a + c, 0);
    const sum = tf.tidy(() => {
      const x = tf.tensor2d(batch.x);
      const pred = tf.add(tf.reshape(tf.matMul(x, this.w), [-1]), this.b);
      const err = tf.sub(pred, tf.tensor1d(batch.y));
      let s = tf.sum(tf.mul(tf.mul(err, err), tf.tensor1d(batch.counts))) as tf.Scalar;
      if (this.poison > 0) s = tf.mul(s, tf.scalar(Number.NaN)) as tf.Scalar;
      return s;
    });
    if (this.poison > 0) this.poison--;
    return { sum, count };
  }
  trainableVariables(): tf.Variable[] {
    return [this.w, this.b];
  }
  setDropoutSeed(seed: number): void {
    this.dropoutSeeds.push(seed);
  }
  dispose(): void {
    tf.dispose([this.w, this.b]);
  }
}

/** Deterministic toy examples: y = x·[1, −2, 0.5] + 0.3 + noise, counts 1..7. */
export function toyExamples(n: number, features = 3, seed = 1): Array<{ x: number[]; y: number; count: number }> {
  let s = seed;
  const rand = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
  const coef = [1, -2, 0.5, 0.25, -1].slice(0, features);
  return Array.from({ length: n }, () => {
    const x = Array.from({ length: features }, () => rand() * 2 - 1);
    const y = x.reduce((a, xi, i) => a + xi * coef[i]!, 0.3) + 0.05 * (rand() - 0.5);
    return { x, y, count: 1 + Math.floor(rand() * 7) };
  });
}

export function toBatch(examples: ReadonlyArray<{ x: number[]; y: number; count: number }>): ToyBatch {
  return { x: examples.map((e) => e.x), y: examples.map((e) => e.y), counts: examples.map((e) => e.count) };
}

/** Fixed batches (unequal sizes), the same order every epoch, resumable by cursor. */
export class ToyData implements DataSource<ToyBatch> {
  constructor(readonly batchesList: ToyBatch[]) {}
  *batches(from: Cursor): Iterable<CursorBatch<ToyBatch>> {
    for (let p = from.position; p < this.batchesList.length; p++) {
      const next = p + 1 < this.batchesList.length ? { epoch: from.epoch, position: p + 1 } : { epoch: from.epoch + 1, position: 0 };
      yield { batch: this.batchesList[p]!, next };
    }
  }
  batchesPerEpoch(): number {
    return this.batchesList.length;
  }
}

/** n examples cut into batches of sizes cycling through `sizes`. */
export function toyData(n: number, sizes = [3, 5, 2, 4], seed = 1): ToyData {
  const ex = toyExamples(n, 3, seed);
  const out: ToyBatch[] = [];
  let i = 0;
  let k = 0;
  while (i < ex.length) {
    const size = sizes[k++ % sizes.length]!;
    out.push(toBatch(ex.slice(i, i + size)));
    i += size;
  }
  return new ToyData(out);
}

/** The toy batches, but the last batch's cursor stays in its epoch: only the iterator's end ends the epoch. */
export class ToyDataEndsByDone implements DataSource<ToyBatch> {
  constructor(readonly list: ToyBatch[]) {}
  *batches(from: Cursor): Iterable<CursorBatch<ToyBatch>> {
    for (let p = from.position; p < this.list.length; p++) yield { batch: this.list[p]!, next: { epoch: from.epoch, position: p + 1 } };
  }
  batchesPerEpoch(): number {
    return this.list.length;
  }
}

/** A ToyModel whose eval losses follow `script` (the last value repeats); training is the toy's own. */
export function scriptedEval(prefix: string, script: readonly number[]): ToyModel {
  const model = new ToyModel(3, prefix);
  const trainLoss = model.lossSum.bind(model);
  let evals = 0;
  model.lossSum = (b, training) => {
    if (training) return trainLoss(b, true);
    const count = b.counts.reduce((a, c) => a + c, 0);
    return { sum: tf.scalar(script[Math.min(evals++, script.length - 1)]! * count), count };
  };
  return model;
}

/** The variables' values, read back. */
export const valuesOf = async (vars: tf.Variable[]): Promise<number[][]> => Promise.all(vars.map(async (v) => Array.from(await v.data())));
