import { describe, expect, it } from 'vitest';
import { collate, IGNORE_INDEX, type EncodedExample } from '../src';

const ex = (src: number[], tgt: number[]): EncodedExample => ({
  sourceIds: Int32Array.from(src),
  targetIds: Int32Array.from(tgt),
  fullSourceLength: src.length,
  fullTargetLength: tgt.length,
  category: 'c',
});
const examples = [ex([10, 11, 1], [20, 1]), ex([12, 1], [21, 22, 23, 1]), ex([13, 14, 15, 16, 1], [1])];

describe('collate', () => {
  it('pads dynamically to the longest row, labels with -100, decoder inputs shifted right', () => {
    const b = collate(examples, [0, 1]);
    expect([b.batchSize, b.sourceLength, b.targetLength]).toEqual([2, 3, 4]);
    // prettier-ignore
    expect(Array.from(b.inputIds)).toEqual([
      10, 11, 1,
      12, 1, 0,
    ]);
    // prettier-ignore
    expect(Array.from(b.attentionMask)).toEqual([
      1, 1, 1,
      1, 1, 0,
    ]);
    // prettier-ignore
    expect(Array.from(b.labels)).toEqual([
      20, 1, -100, -100,
      21, 22, 23, 1,
    ]);
    // labels shifted right, 0 first, -100 → 0
    // prettier-ignore
    expect(Array.from(b.decoderInputIds)).toEqual([
      0, 20, 1, 0,
      0, 21, 22, 23,
    ]);
    expect(b.numTargetTokens).toBe(6);
    expect(b.indices).toEqual([0, 1]);
    expect(b.inputIds).toBeInstanceOf(Int32Array);
  });

  it('seedCompatLabels pads labels with the pad id, so padding counts as targets', () => {
    const b = collate(examples, [0, 1], { seedCompatLabels: true });
    expect(Array.from(b.labels)).toEqual([20, 1, 0, 0, 21, 22, 23, 1]);
    expect(b.numTargetTokens).toBe(8);
    expect(Array.from(b.decoderInputIds)).toEqual([0, 20, 1, 0, 0, 21, 22, 23]);
    expect(b.labels.includes(IGNORE_INDEX)).toBe(false);
  });

  it('padToMultipleOf rounds both lengths up; the batch keeps the given order', () => {
    const b = collate(examples, [2, 0], { padToMultipleOf: 4 });
    expect([b.sourceLength, b.targetLength]).toEqual([8, 4]);
    expect(Array.from(b.inputIds.subarray(0, 8))).toEqual([13, 14, 15, 16, 1, 0, 0, 0]);
    expect(Array.from(b.attentionMask.subarray(8, 16))).toEqual([1, 1, 1, 0, 0, 0, 0, 0]);
    expect(b.indices).toEqual([2, 0]);
    expect(b.numTargetTokens).toBe(3);
  });

  it('rejects a padToMultipleOf that is not an integer >= 1, naming it (as tokenBudgetPlan does)', () => {
    // 0, -8 and NaN used to fail inside Int32Array.set ("offset is out of bounds"); 2.5 gave targetLength 2.5
    for (const bad of [0, -8, 2.5, Number.NaN]) {
      expect(() => collate(examples, [0, 1], { padToMultipleOf: bad })).toThrow(`padToMultipleOf must be an integer >= 1, got ${bad}`);
    }
  });

  it('rejects an empty batch and a bad index', () => {
    expect(() => collate(examples, [])).toThrow(/at least one/);
    expect(() => collate(examples, [5])).toThrow(/index 5 out of range/);
  });
});
