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

  it('mistakes at both levels are ONE error naming every problem, outer keys first', () => {
    const f = (options: unknown) => () => new BatchSampler([ex], options as BatchSamplerOptions);
    // a known kind: its own keys; an unknown kind: keys of neither kind (batchSize is fixed's, so it is not named)
    expect(f({ batching: { kind: 'fixed', batchSize: 2, drop_last: true }, sede: 1, padToMultipleOf: 0 })).toThrow(
      new RangeError(
        "BatchSampler: unknown option `sede` (did you mean `seed`?); batching (kind 'fixed'): unknown option `drop_last` (did you mean `dropLast`?); padToMultipleOf must be an integer >= 1, got 0",
      ),
    );
    expect(f({ batching: { kind: 'fixedSize', batchSize: 2, max_tokens: 9, bucketwidth: 0.1 }, pad_token_id: 0 })).toThrow(
      new RangeError(
        "BatchSampler: unknown option `pad_token_id` (did you mean `padId`?); batching.kind must be 'fixed' or 'tokenBudget', got \"fixedSize\"; batching: unknown options `max_tokens` (did you mean `maxTokens`?), `bucketwidth` (did you mean `bucketWidth`?)",
      ),
    );
    expect(() => new BatchSampler([], { batching: { kind: 'tokenBudget', maxTokens: 8, batchSize: 2 } as never })).toThrow(
      new RangeError("BatchSampler: no examples; batching (kind 'tokenBudget'): unknown option `batchSize`"),
    );
    expect(f(undefined)).toThrow(new RangeError('BatchSampler: options must be an object with `batching`, got undefined'));
    expect(f(undefined)).toThrow(RangeError);
    expect(f([])).toThrow(new RangeError('BatchSampler: options must be an object with `batching`, got an array'));
    expect(f('fixed')).toThrow(new RangeError('BatchSampler: options must be an object with `batching`, got a string "fixed"'));
    // batching itself not an object: said so (not "batching.kind … got undefined"), with the outer problems
    expect(f({ batching: 'fixed', sede: 1 })).toThrow(
      new RangeError("BatchSampler: unknown option `sede` (did you mean `seed`?); batching must be an object ({ kind: 'fixed' | 'tokenBudget', … }), got a string \"fixed\""),
    );
    expect(f({ batching: [] })).toThrow(/batching must be an object .*, got an array$/);
  });

  it('the two kinds still work', () => {
    expect(new BatchSampler([ex, ex], { batching: { kind: 'fixed', batchSize: 2 } }).batchesPerEpoch()).toBe(1);
    expect(new BatchSampler([ex, ex], { batching: { kind: 'tokenBudget', maxTokens: 3 } }).batchesPerEpoch()).toBe(2);
  });
});
