import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { Decoder } from '../src/decoder.js';
import type { Seq2Seq } from '../src/index.js';

/** A model whose `decodeStep` returns logits of `rows` × `t` positions whatever it is fed; its cache is a scalar. */
const badModel = (rows: number, t: number): Seq2Seq<null, tf.Tensor> =>
  ({
    encode: () => null,
    decodeStep: () => ({ logits: tf.zeros([rows, t, 4]) as tf.Tensor3D, cache: tf.scalar(0) }),
    reorderCache: (c: tf.Tensor) => c,
    reorderEncoder: (e: null) => e,
    disposeCache: (c: tf.Tensor) => c.dispose(),
    disposeEncoder: () => {},
  }) as unknown as Seq2Seq<null, tf.Tensor>;

describe('Decoder logits shape checks', () => {
  it('step: logits for another number of rows is one clear error, and the logits are freed', async () => {
    const before = tf.memory().numTensors;
    const d = new Decoder(badModel(3, 1), null, true);
    await expect(d.step([[0], [0]])).rejects.toThrow('decodeStep returned logits for 3 rows, expected 2');
    d.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('feed: logits for another number of positions is one clear error, and the logits are freed', async () => {
    const before = tf.memory().numTensors;
    const d = new Decoder(badModel(1, 2), null, true);
    await expect(d.feed([0, 5, 6])).rejects.toThrow('decodeStep returned logits [1,2,4] for 3 tokens of one row');
    d.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
