import { describe, expect, it } from 'vitest';
import { BatchSampler, type BatchSamplerOptions, type EncodedExample } from '../src';

const ex: EncodedExample = { sourceIds: Int32Array.of(5, 1), targetIds: Int32Array.of(1), fullSourceLength: 2, fullTargetLength: 1, category: '' };

describe('BatchSampler: batching.kind', () => {
  it('an unknown kind is one error naming it, from the constructor (not "maxTokens must be > 0" later)', () => {
    const bad = (batching: unknown) => () => new BatchSampler([ex], { batching } as BatchSamplerOptions);
    expect(bad({ kind: 'fixedSize', batchSize: 2 })).toThrow(new RangeError(`BatchSampler: batching.kind must be 'fixed' or 'tokenBudget', got "fixedSize"`));
    expect(bad({ batchSize: 2 })).toThrow(/batching\.kind must be 'fixed' or 'tokenBudget', got undefined/);
    expect(bad(undefined)).toThrow(/got undefined/);
  });

  it('the two kinds still work', () => {
    expect(new BatchSampler([ex, ex], { batching: { kind: 'fixed', batchSize: 2 } }).batchesPerEpoch()).toBe(1);
    expect(new BatchSampler([ex, ex], { batching: { kind: 'tokenBudget', maxTokens: 3 } }).batchesPerEpoch()).toBe(2);
  });
});
