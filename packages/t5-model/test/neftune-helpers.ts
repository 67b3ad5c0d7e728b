import * as tf from '@tensorflow/tfjs-core';
import type { T5ForConditionalGeneration } from '../src/index.js';

/** What the encoder and decoder stacks received as their input embeddings, per call (kept copies), and a restore. */
export function captureStackInputs(m: T5ForConditionalGeneration): { enc: tf.Tensor3D[]; dec: tf.Tensor3D[]; restore(): void; dispose(): void } {
  const enc: tf.Tensor3D[] = [];
  const dec: tf.Tensor3D[] = [];
  const wrap = (stack: typeof m.encoder, into: tf.Tensor3D[]) => {
    const original = stack.forward;
    stack.forward = function (embeds, ...rest) {
      into.push(tf.keep(tf.clone(embeds)));
      return original.call(this, embeds, ...rest);
    };
    return () => {
      stack.forward = original;
    };
  };
  const r1 = wrap(m.encoder, enc);
  const r2 = wrap(m.decoder, dec);
  return {
    enc,
    dec,
    restore: () => {
      r1();
      r2();
    },
    dispose: () => tf.dispose([...enc, ...dec]),
  };
}

/** The golden-shaped batch of random ids: `batch` rows of `source` and `target` tokens (row 2 padded). */
export function noiseBatch(batch: number, source: number, target: number, vocab: number) {
  const ids = new Int32Array(batch * source).map((_, i) => 2 + ((i * 7919) % (vocab - 2)));
  const mask = new Int32Array(batch * source).fill(1);
  for (let j = source - 3; j < source; j++) mask[source + j] = 0;
  const labels = new Int32Array(batch * target).map((_, i) => 2 + ((i * 104729) % (vocab - 2)));
  labels[2 * target - 1] = -100;
  return { inputIds: ids, attentionMask: mask, labels, batchSize: batch, sourceLength: source, targetLength: target };
}
