// T5EncoderModel on webgpu (lavapipe in CI): the golden encoder_last_hidden_state (transformers 5.17),
// and the same numbers as the cpu backend.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { installDawnNavigator, skipWebGPU } from '../../../vitest.webgpu';
import { T5EncoderModel } from '../src/index.js';
import { int2d, loadCase, modelDir, relErr, useBackend } from './helpers.js';

const skip = await skipWebGPU();
const c = loadCase('flan-t5-tiny');
let onCpu: Float32Array;

beforeAll(async () => {
  if (skip) return;
  await useBackend('cpu');
  const m = await T5EncoderModel.fromPretrained(modelDir('flan-t5-tiny'));
  const [ids, mask] = [int2d(c.input_ids), int2d(c.attention_mask)];
  const y = m.forward({ inputIds: ids, attentionMask: mask }).lastHiddenState;
  onCpu = (await y.data()) as Float32Array;
  tf.dispose([ids, mask, y]);
  m.dispose();
  await installDawnNavigator();
  await import('@tensorflow/tfjs-backend-webgpu');
  await tf.setBackend('webgpu');
  await tf.ready();
}, 120_000);

describe.skipIf(skip)('T5EncoderModel on webgpu', () => {
  it('flan-t5-tiny: last_hidden_state equals the golden and the cpu backend; no leaks, dispose frees all', async () => {
    expect(tf.getBackend()).toBe('webgpu');
    const start = tf.memory().numTensors;
    const m = await T5EncoderModel.fromPretrained(modelDir('flan-t5-tiny'));
    const before = tf.memory().numTensors;
    const [ids, mask] = [int2d(c.input_ids), int2d(c.attention_mask)];
    const y = m.forward({ inputIds: ids, attentionMask: mask }).lastHiddenState;
    const got = await y.data();
    expect(y.shape).toEqual(c.encoder_last_hidden_state.shape);
    expect(relErr(got, c.encoder_last_hidden_state.data)).toBeLessThan(1e-4);
    expect(relErr(got, onCpu)).toBeLessThan(1e-5);
    tf.dispose([ids, mask, y]);
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });
});
