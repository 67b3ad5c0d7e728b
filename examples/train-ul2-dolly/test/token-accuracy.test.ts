// --metric-for-best-model accuracy's metric: the teacher-forced argmax token accuracy, taken from the
// eval loss pass (withTokenAccuracy), on the golden ul2-tiny checkpoint.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { fileURLToPath } from 'node:url';
import type { Batch } from '@conifer/dolly-data';
import { T5ForConditionalGeneration } from '@conifer/t5-model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTokenAccuracy } from '../src/pipeline/token-accuracy.js';

const UL2_TINY = fileURLToPath(new URL('../../../packages/t5-model/test/fixtures/models/ul2-tiny', import.meta.url));
let model: T5ForConditionalGeneration;

beforeAll(async () => {
  await tf.setBackend('cpu');
  model = await T5ForConditionalGeneration.fromPretrained(UL2_TINY);
});
afterAll(() => model.dispose());

/** A Dolly-style batch: labels [b, t] with -100 for padding, decoder inputs = labels shifted right (0 first, -100 → 0). */
function batch(inputIds: number[][], labels: number[][]): Batch {
  const b = inputIds.length;
  const s = inputIds[0]!.length;
  const t = labels[0]!.length;
  const dec = labels.map((row) => [0, ...row.slice(0, -1).map((x) => (x === -100 ? 0 : x))]);
  return {
    inputIds: Int32Array.from(inputIds.flat()), attentionMask: Int32Array.from(inputIds.flat().map((x) => (x === 0 ? 0 : 1))),
    labels: Int32Array.from(labels.flat()), decoderInputIds: Int32Array.from(dec.flat()),
    batchSize: b, sourceLength: s, targetLength: t, numTargetTokens: labels.flat().filter((x) => x !== -100).length, indices: [],
  };
}

/** The accuracy counted in plain JS from the logits of a separate forward: argmax by a loop, ties to the first. */
function jsHits(bt: Batch): number {
  const [b, s, t] = [bt.batchSize, bt.sourceLength, bt.targetLength];
  const logits = tf.tidy(() => model.forward({
    inputIds: tf.tensor2d(bt.inputIds, [b, s], 'int32'), attentionMask: tf.tensor2d(bt.attentionMask, [b, s], 'int32'),
    decoderInputIds: tf.tensor2d(bt.decoderInputIds, [b, t], 'int32'),
  }).logits);
  const v = logits.arraySync();
  logits.dispose();
  let hits = 0;
  for (let i = 0; i < b; i++) {
    for (let j = 0; j < t; j++) {
      const label = bt.labels[i * t + j]!;
      if (label === -100) continue;
      const row = v[i]![j]!;
      let arg = 0;
      for (let k = 1; k < row.length; k++) if (row[k]! > row[arg]!) arg = k;
      if (arg === label) hits++;
    }
  }
  return hits;
}

/** The model's prediction at the first target position (it depends on the source only): a label there that is a hit. */
function firstPrediction(inputIds: number[]): number {
  const probe = batch([inputIds], [[1, 1]]);
  const logits = tf.tidy(() => model.forward({
    inputIds: tf.tensor2d(probe.inputIds, [1, inputIds.length], 'int32'), attentionMask: tf.tensor2d(probe.attentionMask, [1, inputIds.length], 'int32'),
    decoderInputIds: tf.tensor2d([[0]], [1, 1], 'int32'),
  }).logits);
  const arg = tf.tidy(() => tf.argMax(logits, -1).arraySync() as number[][]);
  logits.dispose();
  return arg[0]![0]!;
}

describe('withTokenAccuracy (--metric-for-best-model accuracy)', () => {
  let seen: Batch;
  let unseen: Batch;
  beforeAll(() => {
    // each row's first label is the model's own prediction (a hit), the rest arbitrary ids of the 512-token vocabulary
    const src = [[37, 19, 5, 1], [8, 64, 1, 0], [100, 200, 300, 1]];
    const first = src.map(firstPrediction);
    seen = batch(src.slice(0, 2), [[first[0]!, 7, 1], [first[1]!, 1, -100]]);
    unseen = batch(src.slice(2), [[first[2]!, 6, 1, -100]]);
  });

  it('the eval loss pass gives model.lossSum’s loss and count; computeMetrics the argmax accuracy over the non-ignored labels; nothing leaks', async () => {
    let evalModeCalls = 0;
    const base = { lossSum: (b: Batch, training: boolean) => model.lossSum(b, training), trainableVariables: () => [] };
    const { trainable, computeMetrics } = withTokenAccuracy(model, base, () => evalModeCalls++);
    const before = tf.memory().numTensors;
    const expected = model.lossSum(seen, false);
    const got = tf.tidy(() => trainable.lossSum(seen, false)); // as @conifer/trainer's evaluate calls it
    expect(got.count).toBe(5);
    expect(got.count).toBe(expected.count);
    expect((await got.sum.data())[0]).toBeCloseTo((await expected.sum.data())[0]!, 4);
    tf.dispose([got.sum, expected.sum]);
    expect(evalModeCalls).toBe(1);
    // `unseen` was not in the loss pass: computed once more. 5 + 3 target tokens.
    const hits = jsHits(seen) + jsHits(unseen);
    expect(hits).toBeGreaterThanOrEqual(3); // the three first positions at least
    expect(hits).toBeLessThan(8);
    const ctx = { batches: [seen, unseen], model: trainable, step: 0, epoch: 0, eval: { loss: 0, sumOfBatchMeans: 0, meanOfBatchMeans: 0, tokens: 8, batches: 2 } };
    const metrics = await computeMetrics(ctx);
    expect(metrics).toEqual({ accuracy: hits / 8 });
    expect(evalModeCalls).toBe(2);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('two evaluations on the same batch objects, metrics in another order, a batch twice, a loss pass skipped: each counted once per occurrence, one extra pass only for the skipped one, nothing leaks', async () => {
    let passes = 0;
    const base = { lossSum: (b: Batch, training: boolean) => model.lossSum(b, training), trainableVariables: () => [] };
    const { trainable, computeMetrics } = withTokenAccuracy(model, base, () => passes++);
    const before = tf.memory().numTensors;
    const lossPass = async (batches: Batch[]) => {
      for (const b of batches) {
        const r = tf.tidy(() => trainable.lossSum(b, false));
        await r.sum.data();
        r.sum.dispose();
      }
    };
    const ctx = (batches: Batch[]) => ({ batches, model: trainable, step: 0, epoch: 0, eval: { loss: 0, sumOfBatchMeans: 0, meanOfBatchMeans: 0, tokens: 0, batches: batches.length } });
    const [hs, hu] = [jsHits(seen), jsHits(unseen)];
    // evaluation 1: `seen` twice in the loss pass (the second capture replaces the first), read in reverse order
    await lossPass([seen, unseen, seen]);
    expect(passes).toBe(3);
    expect(await computeMetrics(ctx([seen, unseen, seen].reverse()))).toEqual({ accuracy: (2 * hs + hu) / (5 + 3 + 5) });
    expect(passes).toBe(4); // the second `seen` of the metrics pass: its capture was taken by the first
    // evaluation 2 on the same objects, `unseen` skipped by the loss pass: run once more for the metric
    await lossPass([seen]);
    expect(await computeMetrics(ctx([unseen, seen]))).toEqual({ accuracy: (hs + hu) / 8 });
    expect(passes).toBe(6);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('training steps go to the base lossSum', () => {
    const calls: boolean[] = [];
    const base = { lossSum: (b: Batch, training: boolean) => (calls.push(training), model.lossSum(b, training)), trainableVariables: () => [] };
    const { trainable } = withTokenAccuracy(model, base, () => {});
    const r = trainable.lossSum(seen, true);
    r.sum.dispose();
    expect(calls).toEqual([true]);
  });
});
