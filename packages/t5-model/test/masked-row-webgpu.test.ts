// A batch row whose attention mask is all zero (e.g. a prompt of pad ids only) on webgpu: with the mask at
// float32's lowest value (transformers' finfo.min), tfjs-webgpu's own softmax starts its max above it and
// gives 0/0 for such a row; decodeStep's attention must use the model's row softmax, as forward does.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { installDawnNavigator, skipWebGPU } from '../../../vitest.webgpu';
import { T5ForConditionalGeneration } from '../src/index.js';
import { int2d, modelDir, relErr, useBackend } from './helpers.js';

const skip = await skipWebGPU();

/** encode + one 3-token decodeStep and the same through forward, for a batch whose second row is fully masked. */
async function run(backend: 'cpu' | 'webgpu'): Promise<{ step: Float32Array; forward: Float32Array }> {
  if (backend === 'cpu') await useBackend('cpu');
  else {
    await installDawnNavigator();
    await import('@tensorflow/tfjs-backend-webgpu');
    await tf.setBackend('webgpu');
    await tf.ready();
  }
  const m = await T5ForConditionalGeneration.fromPretrained(modelDir('ul2-tiny'));
  const before = tf.memory().numTensors;
  const ids = int2d([[37, 8, 19, 1], [0, 0, 0, 0]]);
  const mask = int2d([[1, 1, 1, 1], [0, 0, 0, 0]]);
  const dec = int2d([[0, 12, 5], [0, 12, 5]]);
  const enc = m.encode(ids, mask);
  const r = m.decodeStep(dec, enc, null);
  const step = (await r.logits.data()) as Float32Array;
  const f = m.forward({ inputIds: ids, attentionMask: mask, decoderInputIds: dec });
  const forward = (await f.logits.data()) as Float32Array;
  m.disposeCache(r.cache);
  m.disposeEncoder(enc);
  tf.dispose([ids, mask, dec, r.logits, f.logits, f.encoderLastHiddenState]);
  expect(tf.memory().numTensors).toBe(before);
  m.dispose();
  return { step, forward };
}

describe.skipIf(skip)('a fully masked batch row on webgpu (lavapipe here)', () => {
  it('decodeStep and forward give finite logits equal to the cpu backend (uniform attention over the masked keys)', async () => {
    try {
      const cpu = await run('cpu');
      const gpu = await run('webgpu');
      expect(cpu.step.every(Number.isFinite)).toBe(true);
      expect(gpu.step.every(Number.isFinite)).toBe(true);
      expect(gpu.forward.every(Number.isFinite)).toBe(true);
      expect(relErr(gpu.step, cpu.step)).toBeLessThan(1e-4);
      expect(relErr(gpu.forward, cpu.forward)).toBeLessThan(1e-4);
      expect(relErr(cpu.step, cpu.forward)).toBeLessThan(1e-4);
    } finally {
      await tf.setBackend('cpu');
    }
  }, 120_000);
});
