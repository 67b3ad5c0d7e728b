/**
 * `cropCache` (transformers' `DynamicCache.crop`) and multi-token `decodeStep` on a cache: what assisted
 * decoding in @conifer/generate relies on. Against the golden ul2-tiny case: teacher-forced logits and the
 * greedy path.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installDawnNavigator, skipWebGPU } from '../../../vitest.webgpu';
import { T5ForConditionalGeneration, type T5DecoderCache, type T5EncoderState } from '../src/index.js';
import { int2d, loadCase, modelDir, relErr, useBackend } from './helpers.js';

const skipGPU = await skipWebGPU();

let m: T5ForConditionalGeneration;
const c = loadCase('ul2-tiny');

beforeAll(async () => {
  await useBackend('cpu');
  m = await T5ForConditionalGeneration.fromPretrained(modelDir('ul2-tiny'));
});
afterAll(() => m.dispose());

/** Runs `tokens` (one row per batch row) through decodeStep on `cache`; returns the logits as arrays. */
function step(tokens: number[][], enc: T5EncoderState, cache: T5DecoderCache | null): { logits: number[][][]; cache: T5DecoderCache } {
  const t = int2d(tokens);
  const r = m.decodeStep(t, enc, cache);
  const logits = r.logits.arraySync();
  tf.dispose([t, r.logits]);
  return { logits, cache: r.cache };
}

const argmax = (row: number[]) => row.reduce((best, v, i) => (v > (row[best] as number) ? i : best), 0);

describe('cropCache', () => {
  it('decode 6, crop to 3, decode the rest in one step: the golden teacher-forced logits, cross keys/values kept', () => {
    const before = tf.memory().numTensors;
    const ids = int2d(c.input_ids);
    const mask = int2d(c.attention_mask);
    const enc = m.encode(ids, mask);
    const rows = c.decoder_input_ids;
    const first = step(rows.map((r) => r.slice(0, 6)), enc, null);
    const cross = first.cache.layers.map((l) => l.cross.k);
    const cropped = m.cropCache(first.cache, 3);
    expect(cropped.length).toBe(3);
    expect(cropped.layers[0]!.self.k.shape).toEqual([2, 4, 3, 16]); // (B, H, length, dk)
    expect(cropped.layers[2]!.self.v.shape).toEqual([2, 4, 3, 16]);
    expect(cropped.layers.map((l) => l.cross.k)).toEqual(cross); // the same tensors, untouched
    // Positions 3..8 on the cropped cache (T = 6 new tokens) give the golden logits for those positions.
    const rest = step(rows.map((r) => r.slice(3)), enc, cropped);
    expect(rest.cache.length).toBe(9);
    const want = rows.map((_, b) => c.logits.data.slice((b * 9 + 3) * 512, (b * 9 + 9) * 512));
    expect(relErr(rest.logits.flat(2), want.flat())).toBeLessThan(1e-4);
    m.disposeCache(rest.cache);
    m.disposeEncoder(enc);
    tf.dispose([ids, mask]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('greedy with rejected guesses: T new tokens on a cropped cache pick the golden greedy tokens, as T single steps do', () => {
    const before = tf.memory().numTensors;
    const ids = int2d(c.input_ids.slice(0, 1));
    const mask = int2d(c.attention_mask.slice(0, 1));
    const enc = m.encode(ids, mask);
    const golden = c.greedy.output[0]!; // [0, 10, 2, 11, …, 1]
    // Feed the start token plus 4 wrong guesses, keep only the start position, then the golden prefix in one step.
    let r = step([[golden[0]!, 7, 7, 7, 7]], enc, null);
    let cache = m.cropCache(r.cache, 1);
    expect(cache.length).toBe(1);
    r = step([golden.slice(1, 6)], enc, cache); // positions 1..5: T = 5
    const multi = r.logits[0]!;
    expect(multi.map(argmax)).toEqual(golden.slice(2, 7));
    // The same positions one at a time, from the cache cropped back to 1, give the same logits.
    cache = m.cropCache(r.cache, 1);
    const single: number[][] = [];
    for (let i = 1; i < 6; i++) {
      r = step([[golden[i]!]], enc, cache);
      cache = r.cache;
      single.push(r.logits[0]![0]!);
    }
    expect(relErr(single.flat(), multi.flat())).toBeLessThan(1e-5);
    m.disposeCache(cache);
    m.disposeEncoder(enc);
    tf.dispose([ids, mask]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a length outside [0, cache.length] throws naming it and allocates nothing; length = cache.length keeps the cache', () => {
    const ids = int2d(c.input_ids.slice(0, 1));
    const mask = int2d(c.attention_mask.slice(0, 1));
    const enc = m.encode(ids, mask);
    const r = step([[0, 10, 2]], enc, null);
    const before = tf.memory().numTensors;
    for (const bad of [4, -1, 1.5, Number.NaN]) {
      expect(() => m.cropCache(r.cache, bad)).toThrow(/cropCache: `length` must be an integer in \[0, 3\]/);
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(m.cropCache(r.cache, 3)).toBe(r.cache);
    const empty = m.cropCache(r.cache, 0);
    expect(empty.layers[0]!.self.k.shape).toEqual([1, 4, 0, 16]);
    m.disposeCache(empty);
    m.disposeEncoder(enc);
    tf.dispose([ids, mask]);
  });
});

describe.skipIf(skipGPU)('cropCache and multi-token decodeStep on webgpu (lavapipe here)', () => {
  it('crop, then T new tokens on the cropped cache: the golden logits and greedy argmaxes, no leak, nothing read synchronously', async () => {
    await installDawnNavigator();
    await import('@tensorflow/tfjs-backend-webgpu');
    await tf.setBackend('webgpu');
    await tf.ready();
    try {
      expect(tf.getBackend()).toBe('webgpu');
      const g = await T5ForConditionalGeneration.fromPretrained(modelDir('ul2-tiny'));
      const before = tf.memory().numTensors;
      /** decodeStep read back asynchronously (Node's webgpu has no synchronous read). */
      const stepGPU = async (tokens: number[][], enc: T5EncoderState, cache: T5DecoderCache | null) => {
        const t = int2d(tokens);
        const r = g.decodeStep(t, enc, cache);
        const logits = Array.from(await r.logits.data());
        tf.dispose([t, r.logits]);
        return { logits, cache: r.cache };
      };
      const ids = int2d(c.input_ids);
      const mask = int2d(c.attention_mask);
      const enc = g.encode(ids, mask);
      const rows = c.decoder_input_ids;
      // Both rows: 6 positions, crop to 3 (the relative-position bias of the next pass starts at offset 3), 6 more.
      const first = await stepGPU(rows.map((r) => r.slice(0, 6)), enc, null);
      const cropped = g.cropCache(first.cache, 3);
      expect(cropped.layers[0]!.self.k.shape).toEqual([2, 4, 3, 16]); // (B, H, length, dk)
      const rest = await stepGPU(rows.map((r) => r.slice(3)), enc, cropped);
      const want = rows.flatMap((_, b) => c.logits.data.slice((b * 9 + 3) * 512, (b * 9 + 9) * 512));
      expect(relErr(rest.logits, want)).toBeLessThan(1e-4);
      g.disposeCache(rest.cache);
      g.disposeEncoder(enc);
      tf.dispose([ids, mask]);
      // One row: the start token and 4 wrong guesses, crop to 1, then 5 golden tokens in one pass (T = 5): the golden
      // greedy tokens, and the logits of 5 one-token passes on the cache cropped back to 1.
      const ids1 = int2d(c.input_ids.slice(0, 1));
      const mask1 = int2d(c.attention_mask.slice(0, 1));
      const enc1 = g.encode(ids1, mask1);
      const golden = c.greedy.output[0]!;
      let r = await stepGPU([[golden[0]!, 7, 7, 7, 7]], enc1, null);
      let cache = g.cropCache(r.cache, 1);
      r = await stepGPU([golden.slice(1, 6)], enc1, cache);
      const multi = r.logits;
      const rowsOf = (flat: number[]) => Array.from({ length: flat.length / 512 }, (_, i) => flat.slice(i * 512, (i + 1) * 512));
      expect(rowsOf(multi).map(argmax)).toEqual(golden.slice(2, 7));
      cache = g.cropCache(r.cache, 1);
      const single: number[] = [];
      for (let i = 1; i < 6; i++) {
        r = await stepGPU([[golden[i]!]], enc1, cache);
        cache = r.cache;
        single.push(...r.logits);
      }
      expect(relErr(single, multi)).toBeLessThan(1e-4);
      g.disposeCache(cache);
      g.disposeEncoder(enc1);
      tf.dispose([ids1, mask1]);
      expect(tf.memory().numTensors).toBe(before);
      g.dispose();
    } finally {
      await tf.setBackend('cpu');
    }
  });
});
