import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { Batch } from '@conifer/dolly-data';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseCommandLine } from '../src/args.js';
import { evalBatches, prepareData } from '../src/pipeline/data.js';
import { evaluate } from '../src/pipeline/evaluate.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** A stand-in model whose loss is a fixed number per target token, so the loss per token is known without a model. */
const tokenLoss = {
  lossSum(batch: Batch): { sum: tf.Scalar; count: number } {
    let sum = 0;
    let count = 0;
    for (const id of batch.labels) {
      if (id === -100) continue;
      sum += (id % 13) / 7;
      count++;
    }
    return { sum: tf.scalar(sum), count };
  },
};

const padded = (batches: Batch[]) => batches.reduce((n, b) => n + b.batchSize * (b.sourceLength + b.targetLength), 0);

describe('eval batches (--eval-order)', () => {
  it('length order: every held-out example once, ≤ batch size each, fixed, with far less padding than file order and the same loss per token', async () => {
    const data = await prepareData({ seed: 42, limit: 2000, maxSourceLength: 512, maxTargetLength: 512 });
    const ex = data.test.examples;
    expect(ex.length).toBe(400);
    const byLength = evalBatches(ex, 8, 'length');
    const byFile = evalBatches(ex, 8, 'file');
    expect(byLength.flatMap((b) => b.indices).sort((a, b) => a - b)).toEqual(ex.map((_, i) => i));
    expect(byFile.flatMap((b) => b.indices)).toEqual(ex.map((_, i) => i)); // file order: the split's order
    expect(Math.max(...byLength.map((b) => b.batchSize))).toBe(8);
    expect(byLength.length).toBe(50); // the row cap, not the token budget, cuts the batches
    expect(evalBatches(ex, 8, 'length').map((b) => b.indices)).toEqual(byLength.map((b) => b.indices));
    const real = ex.reduce((n, e) => n + e.sourceIds.length + e.targetIds.length, 0);
    // 400 examples: 1.43× the real tokens, file order 2.37× (the whole split of 3,003: 1.11× and 2.21×)
    expect(padded(byLength) / real).toBeLessThan(1.5);
    expect(padded(byFile) / real).toBeGreaterThan(2);
    const before = tf.memory().numTensors;
    const [a, b] = [await evaluate(tokenLoss, byLength), await evaluate(tokenLoss, byFile)];
    expect(tf.memory().numTensors).toBe(before);
    expect(a.tokens).toBe(b.tokens);
    expect(a.lossPerToken).toBeCloseTo(b.lossPerToken, 6); // float32 sums per batch
    expect(a.sumOfBatchMeans).not.toBeCloseTo(b.sumOfBatchMeans, 3); // that number depends on the batches
  });

  it('--eval-order defaults to length and takes file; anything else is a usage error', () => {
    const train = (...f: string[]) => parseCommandLine(['train', ...f]) as { kind: 'run'; options: { evalOrder: string } };
    expect(train().options.evalOrder).toBe('length');
    expect(train('--eval-order', 'file').options.evalOrder).toBe('file');
    expect((parseCommandLine(['eval', '--eval-order', 'file']) as { options: { evalOrder: string } }).options.evalOrder).toBe('file');
    expect(() => parseCommandLine(['train', '--eval-order', 'random'])).toThrow(/--eval-order must be one of length, file \(got "random"\)/);
  });
});
