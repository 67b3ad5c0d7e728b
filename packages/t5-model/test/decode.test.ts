import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { T5ForConditionalGeneration, type T5DecoderCache } from '../src/index.js';
import { int2d, loadCase, modelDir, relErr, useBackend } from './helpers.js';

let m: T5ForConditionalGeneration;
const c = loadCase('ul2-tiny');

beforeAll(async () => {
  await useBackend('cpu');
  m = await T5ForConditionalGeneration.fromPretrained(modelDir('ul2-tiny'));
});
afterAll(() => m.dispose());

/** Logits of the golden decoder_input_ids through decodeStep, `chunks` tokens at a time. */
function stepwise(chunks: number[]): { logits: number[][][]; cache: T5DecoderCache } {
  const ids = int2d(c.input_ids);
  const mask = int2d(c.attention_mask);
  const enc = m.encode(ids, mask);
  let cache: T5DecoderCache | null = null;
  const rows = c.decoder_input_ids;
  const parts: number[][][][] = [];
  let at = 0;
  for (const n of chunks) {
    const tokens = int2d(rows.map((r) => r.slice(at, at + n)));
    const r = m.decodeStep(tokens, enc, cache);
    cache = r.cache;
    parts.push(r.logits.arraySync());
    tf.dispose([tokens, r.logits]);
    at += n;
  }
  m.disposeEncoder(enc);
  tf.dispose([ids, mask]);
  const logits = rows.map((_, b) => parts.flatMap((p) => p[b]!));
  return { logits, cache: cache! };
}

describe('Seq2Seq decode path', () => {
  it('decodeStep one token at a time equals the golden teacher-forced logits', () => {
    const { logits, cache } = stepwise(new Array(9).fill(1));
    expect(cache.length).toBe(9);
    expect(cache.layers).toHaveLength(3);
    expect(cache.layers[0]!.self.k.shape).toEqual([2, 4, 9, 16]); // (B, H, L, dk)
    expect(cache.layers[0]!.cross.k.shape).toEqual([2, 4, 13, 16]); // (B, H, S, dk)
    expect(relErr(logits.flat(2), c.logits.data)).toBeLessThan(1e-4);
    m.disposeCache(cache);
  });

  it('a multi-token first step, then single steps, gives the same logits', () => {
    const { logits, cache } = stepwise([4, 1, 3, 1]);
    expect(relErr(logits.flat(2), c.logits.data)).toBeLessThan(1e-4);
    m.disposeCache(cache);
  });

  it('reorderCache / reorderEncoder pick rows: decoding row 1 twice equals row 1', () => {
    const ids = int2d(c.input_ids);
    const mask = int2d(c.attention_mask);
    const enc = m.encode(ids, mask);
    const idx = tf.tensor1d([1, 1, 0], 'int32');
    const enc2 = m.reorderEncoder(enc, idx);
    expect(enc2.lastHiddenState.shape).toEqual([3, 13, 64]);
    const t0 = int2d([[0], [0]]);
    const first = m.decodeStep(t0, enc, null);
    const cache = m.reorderCache(first.cache, idx);
    expect(first.cache.layers[0]!.self.k.isDisposed).toBe(true); // consumed
    const t1 = int2d([[c.decoder_input_ids[1]![1]!], [c.decoder_input_ids[1]![1]!], [c.decoder_input_ids[0]![1]!]]);
    const second = m.decodeStep(t1, enc2, cache);
    const got = second.logits.arraySync();
    // Reference: the teacher-forced logits at position 1 of rows 1, 1, 0.
    const full = tf.tidy(() => {
      const out = m.forward({ inputIds: ids, attentionMask: mask, decoderInputIds: int2d(c.decoder_input_ids) });
      return tf.keep(out.logits);
    });
    const ref = full.arraySync();
    expect(relErr(got[0]![0]!, ref[1]![1]!)).toBeLessThan(1e-5);
    expect(relErr(got[1]![0]!, ref[1]![1]!)).toBeLessThan(1e-5);
    expect(relErr(got[2]![0]!, ref[0]![1]!)).toBeLessThan(1e-5);
    m.disposeCache(second.cache);
    m.disposeEncoder(enc);
    m.disposeEncoder(enc2);
    tf.dispose([ids, mask, idx, t0, t1, first.logits, second.logits, full]);
  });

  it('no tensor leaks: encode + decode steps + reorder + dispose', () => {
    const ids = int2d(c.input_ids);
    const mask = int2d(c.attention_mask);
    const idx = tf.tensor1d([1, 0], 'int32');
    const tok = int2d([[0], [5]]);
    const before = tf.memory().numTensors;
    const enc = m.encode(ids, mask);
    let r = m.decodeStep(tok, enc, null);
    r.logits.dispose();
    r = m.decodeStep(tok, enc, r.cache);
    r.logits.dispose();
    const cache = m.reorderCache(r.cache, idx);
    const enc2 = m.reorderEncoder(enc, idx);
    r = m.decodeStep(tok, enc2, cache);
    r.logits.dispose();
    m.disposeCache(r.cache);
    m.disposeEncoder(enc);
    m.disposeEncoder(enc2);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([ids, mask, idx, tok]);
  });
});
