/**
 * The seq2seq model's tensor inputs are checked before any op runs: a mask, decoder ids or labels of
 * another shape than the ids they go with is one error naming both shapes (tfjs would fail deep inside
 * with "Size(256) must match the product of shape 4,2,16", or broadcast a one-row mask over the batch
 * silently), and nothing is allocated.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { T5ForConditionalGeneration } from '../src/index.js';
import { int2d, useBackend } from './helpers.js';

let model: T5ForConditionalGeneration;

beforeAll(async () => {
  await useBackend('cpu');
  model = T5ForConditionalGeneration.fromConfig({ vocab_size: 32, d_model: 8, d_kv: 2, num_heads: 2, d_ff: 16, num_layers: 1, num_decoder_layers: 1 }, { seed: 3 });
});

afterAll(() => model.dispose());

/** Runs `f` on fresh inputs and expects `message`, with no tensor left but the inputs (disposed after). */
function refuses(make: () => tf.Tensor[], f: (t: tf.Tensor[]) => unknown, message: string | RegExp): void {
  const inputs = make();
  const before = tf.memory().numTensors;
  expect(() => f(inputs)).toThrow(message);
  expect(tf.memory().numTensors).toBe(before);
  tf.dispose(inputs);
}

const ids2 = () => int2d([[5, 6, 1], [7, 1, 0]]);
const mask2 = () => int2d([[1, 1, 1], [1, 1, 0]]);

describe('forward / encode / decodeStep / lossSum refuse mismatched inputs, naming them', () => {
  it('an attentionMask of another batch size (would broadcast silently) or length', () => {
    refuses(() => [ids2(), int2d([[1, 1, 1]]), int2d([[0, 4], [0, 5]])], ([i, m, d]) => model.forward({ inputIds: i as tf.Tensor2D, attentionMask: m as tf.Tensor2D, decoderInputIds: d as tf.Tensor2D }),
      'forward: attentionMask [1, 3] does not match inputIds [2, 3]');
    refuses(() => [ids2(), int2d([[1, 1], [1, 1]])], ([i, m]) => model.encode(i as tf.Tensor2D, m as tf.Tensor2D), 'encode: attentionMask [2, 2] does not match inputIds [2, 3]');
  });

  it('decoderInputIds or labels of another batch size; both given with different lengths', () => {
    refuses(() => [ids2(), mask2(), int2d([[0, 4]])], ([i, m, d]) => model.forward({ inputIds: i as tf.Tensor2D, attentionMask: m as tf.Tensor2D, decoderInputIds: d as tf.Tensor2D }),
      'forward: decoderInputIds [1, 2] has another batch size than inputIds [2, 3]');
    refuses(() => [ids2(), mask2(), int2d([[4, 1]])], ([i, m, l]) => model.forward({ inputIds: i as tf.Tensor2D, attentionMask: m as tf.Tensor2D, labels: l as tf.Tensor2D }),
      'forward: labels [1, 2] has another batch size than inputIds [2, 3]');
    refuses(() => [ids2(), mask2(), int2d([[0], [0]]), int2d([[4, 1], [5, 1]])],
      ([i, m, d, l]) => model.forward({ inputIds: i as tf.Tensor2D, attentionMask: m as tf.Tensor2D, decoderInputIds: d as tf.Tensor2D, labels: l as tf.Tensor2D }),
      'forward: decoderInputIds [2, 1] and labels [2, 2] must have one shape (a label per decoder position)');
    refuses(() => [ids2(), mask2(), int2d([[4, 1]])],
      ([i, m, l]) => model.lossSum({ inputIds: i as tf.Tensor2D, attentionMask: m as tf.Tensor2D, labels: l as tf.Tensor2D }, false),
      'lossSum: labels [1, 2] has another batch size than inputIds [2, 3]');
  });

  it('ids that are not [batch, length] integers', () => {
    refuses(() => [tf.tensor1d([5, 6, 1], 'int32'), tf.tensor1d([1, 1, 1], 'int32'), int2d([[0]])],
      ([i, m, d]) => model.forward({ inputIds: i as tf.Tensor2D, attentionMask: m as tf.Tensor2D, decoderInputIds: d as tf.Tensor2D }),
      'forward: inputIds must be [batch, length], got [3]');
    refuses(() => [tf.tensor2d([[true, false]], [1, 2], 'bool'), int2d([[1, 1]])], ([i, m]) => model.encode(i as tf.Tensor2D, m as tf.Tensor2D),
      'encode: inputIds must be int32 token ids, got bool');
  });

  it('decodeStep: tokens of another batch size than the encoder state', () => {
    const [i, m] = [ids2(), mask2()];
    const enc = model.encode(i, m);
    refuses(() => [int2d([[0]])], ([t]) => model.decodeStep(t as tf.Tensor2D, enc, null), 'decodeStep: tokens [1, 1] has another batch size than the encoder state [2, 3, 8]');
    model.disposeEncoder(enc);
    tf.dispose([i, m]);
  });

  it('well-formed inputs still run (float32 ids and a bool mask accepted, as tfjs users write them), without leaks', () => {
    const before = tf.memory().numTensors;
    const [i, m, l] = [tf.tensor2d([[5, 6, 1], [7, 1, 0]]), tf.tensor2d([[true, true, true], [true, true, false]], [2, 3], 'bool'), int2d([[4, 1], [5, -100]])];
    const out = model.forward({ inputIds: i, attentionMask: m, labels: l });
    expect(out.logits.shape).toEqual([2, 2, 32]);
    expect(Number.isFinite(out.loss!.dataSync()[0])).toBe(true);
    tf.dispose([i, m, l, out.logits, out.encoderLastHiddenState, out.loss!, out.lossSum!, out.tokenLoss!, out.tokenCount!]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
