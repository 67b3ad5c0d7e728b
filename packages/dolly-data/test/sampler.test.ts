import { describe, expect, it } from 'vitest';
import { BatchSampler, makeRng, type Cursor, type EncodedExample } from '../src';

const rng = makeRng('sampler');
const examples: EncodedExample[] = Array.from({ length: 61 }, (_, i) => {
  const s = 2 + Math.floor(rng() * 40);
  const t = 2 + Math.floor(rng() * 30);
  const src = Int32Array.from({ length: s }, (_, k) => (k === s - 1 ? 1 : 100 + i));
  const tgt = Int32Array.from({ length: t }, (_, k) => (k === t - 1 ? 1 : 200 + i));
  return { sourceIds: src, targetIds: tgt, fullSourceLength: s, fullTargetLength: t, category: 'c' };
});

const order = (s: BatchSampler, from?: Cursor, until?: number) => [...s.batches(from, until)].map((x) => x.batch.indices);

describe.each([
  ['fixed', { kind: 'fixed', batchSize: 4 } as const],
  ['tokenBudget', { kind: 'tokenBudget', maxTokens: 300 } as const],
])('BatchSampler (%s)', (_name, batching) => {
  const sampler = new BatchSampler(examples, { batching, seed: 9 });

  it('an epoch covers every example once', () => {
    expect(order(sampler).flat().sort((a, b) => a - b)).toEqual(examples.map((_, i) => i));
  });

  it('same across runs with the same seed, different with another seed and per epoch', () => {
    const again = new BatchSampler(examples, { batching, seed: 9 });
    expect(order(again, { epoch: 0, position: 0 }, 3)).toEqual(order(sampler, { epoch: 0, position: 0 }, 3));
    expect(order(new BatchSampler(examples, { batching, seed: 10 }))).not.toEqual(order(sampler));
    expect(order(sampler, { epoch: 1, position: 0 })).not.toEqual(order(sampler, { epoch: 0, position: 0 }));
  });

  it('resuming from any cursor continues the same order exactly', () => {
    const all = [...sampler.batches({ epoch: 0, position: 0 }, 3)];
    const stops = [1, 5, all.length - 1, Math.floor(all.length / 2)];
    for (const k of stops) {
      const cursor = all[k - 1]!.next;
      // a fresh sampler (as after a restart) resumes where the old one stopped
      const resumed = [...new BatchSampler(examples, { batching, seed: 9 }).batches(cursor, 3)];
      expect(resumed.map((x) => x.batch.indices)).toEqual(all.slice(k).map((x) => x.batch.indices));
      expect(resumed.map((x) => x.next)).toEqual(all.slice(k).map((x) => x.next));
    }
  });

  it('the cursor after the last batch of an epoch is the start of the next', () => {
    const epoch0 = [...sampler.batches({ epoch: 0, position: 0 })];
    expect(epoch0.at(-1)!.next).toEqual({ epoch: 1, position: 0 });
    expect(epoch0[0]!.next).toEqual({ epoch: 0, position: 1 });
    expect(epoch0).toHaveLength(sampler.batchesPerEpoch(0));
  });

  it('batches carry the examples of their indices', () => {
    for (const { batch } of sampler.batches()) {
      batch.indices.forEach((i, row) => {
        expect(batch.inputIds[row * batch.sourceLength]).toBe(100 + i);
        expect(batch.labels[row * batch.targetLength]).toBe(200 + i);
      });
    }
  });

  it('rejects a cursor outside the epoch', () => {
    expect(() => [...sampler.batches({ epoch: 0, position: 10_000 })]).toThrow(/outside epoch 0/);
    expect(() => [...sampler.batches({ epoch: -1, position: 0 })]).toThrow(RangeError);
  });
});

it('shuffle: false repeats the same order every epoch', () => {
  const s = new BatchSampler(examples, { batching: { kind: 'fixed', batchSize: 5 }, shuffle: false });
  expect(order(s, { epoch: 2, position: 0 })).toEqual(order(s, { epoch: 0, position: 0 }));
  expect(order(s)[0]).toEqual([0, 1, 2, 3, 4]);
});

it('shuffle: false gives the same token-budget plan every epoch', () => {
  // many equal lengths, so ties decide batch membership
  const tied = examples.map((e, i) => ({ ...e, sourceIds: e.sourceIds.subarray(0, 2 + (i % 3)), targetIds: e.targetIds.subarray(0, 2 + (i % 2)) }));
  const s = new BatchSampler(tied, { batching: { kind: 'tokenBudget', maxTokens: 40 }, shuffle: false });
  const p0 = s.plan(0);
  expect(s.plan(1)).toEqual(p0);
  expect(order(s, { epoch: 3, position: 0 })).toEqual(order(s, { epoch: 0, position: 0 }));
  expect(order(s).flat().sort((a, b) => a - b)).toEqual([...tied.keys()]);
});

it('padToMultipleOf: token-budget batches stay within maxTokens after collate rounds them up', () => {
  const s = new BatchSampler(examples, { batching: { kind: 'tokenBudget', maxTokens: 300 }, padToMultipleOf: 16, seed: 9 });
  const batches = [...s.batches({ epoch: 0, position: 0 }, 2)].map((x) => x.batch);
  expect(batches.flatMap((b) => b.indices).sort((a, b) => a - b)).toEqual([...examples.keys(), ...examples.keys()].sort((a, b) => a - b));
  for (const b of batches) {
    expect(b.sourceLength % 16).toBe(0);
    if (b.batchSize > 1) expect(b.batchSize * (b.sourceLength + b.targetLength)).toBeLessThanOrEqual(300);
  }
  expect(batches.some((b) => b.batchSize > 1)).toBe(true);
});

it('passes collate options through (seedCompatLabels)', () => {
  const s = new BatchSampler(examples, { batching: { kind: 'fixed', batchSize: 8 }, seedCompatLabels: true });
  const { batch } = s.batches().next().value!;
  expect(batch.labels.includes(-100)).toBe(false);
});
