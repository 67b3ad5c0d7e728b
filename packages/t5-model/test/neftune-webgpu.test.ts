import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { installDawnNavigator, skipWebGPU } from '../../../vitest.webgpu';
import { T5ForConditionalGeneration } from '../src/index.js';
import { tokenLosses } from '../src/loss.js';
import { fixtures, goldenBatch, int2d, loadCase, modelDir, relErr } from './helpers.js';
import { captureStackInputs, noiseBatch } from './neftune-helpers.js';

const skip = await skipWebGPU();

beforeAll(async () => {
  if (skip) return;
  await installDawnNavigator();
  await import('@tensorflow/tfjs-backend-webgpu');
  await tf.setBackend('webgpu');
  await tf.ready();
});

const config = {
  vocab_size: 96, d_model: 64, d_kv: 8, num_heads: 2, d_ff: 32, num_layers: 1, num_decoder_layers: 1,
  feed_forward_proj: 'gated-silu', dropout_rate: 0.1, relative_attention_num_buckets: 8, relative_attention_max_distance: 16,
};
const batch = noiseBatch(3, 40, 12, config.vocab_size);

/** One training lossSum with NEFTune on the current backend: the stacks' inputs, the loss, the kernels run. */
async function noisyRun() {
  const m = T5ForConditionalGeneration.fromConfig(config, { seed: 1, neftuneNoiseAlpha: 5, dropoutSeed: 3 });
  const before = tf.memory().numTensors;
  const cap = captureStackInputs(m);
  const prof = await tf.profile(() => m.lossSum(batch, true).sum);
  cap.restore();
  const sum = prof.result as tf.Tensor;
  const out = {
    enc: Array.from(await cap.enc[0]!.data()),
    dec: Array.from(await cap.dec[0]!.data()),
    loss: (await sum.data())[0]!,
    kernels: prof.kernels.map((k) => k.name),
  };
  sum.dispose();
  cap.dispose();
  const leaked = tf.memory().numTensors - before;
  m.dispose();
  return { ...out, leaked };
}

describe.skipIf(skip)('NEFTune and label smoothing on webgpu (lavapipe here)', () => {
  it('the noisy embeddings equal the cpu backend bit for bit (noise drawn on the device); the loss agrees; no leaks', async () => {
    expect(tf.getBackend()).toBe('webgpu');
    const gpu = await noisyRun();
    expect(gpu.kernels.filter((k) => k === 'ConiferUniformNoise').length).toBe(2); // encoder and decoder, on the device
    await tf.setBackend('cpu');
    const cpu = await noisyRun();
    await tf.setBackend('webgpu');
    expect(gpu.enc).toEqual(cpu.enc);
    expect(gpu.dec).toEqual(cpu.dec);
    expect(Math.abs(gpu.loss - cpu.loss) / cpu.loss).toBeLessThan(1e-4);
    expect([gpu.leaked, cpu.leaked]).toEqual([0, 0]);
  });

  it('label smoothing: the golden lossSum equals LabelSmoother (ε = 0.1)', async () => {
    const ref = JSON.parse(readFileSync(fixtures('label-smoothing/label-smoothing.json'), 'utf8')) as { cases: Array<{ epsilon: number; loss: number }> };
    const m = await T5ForConditionalGeneration.fromPretrained(modelDir('ul2-tiny'), { labelSmoothingFactor: 0.1 });
    const { sum, count } = m.lossSum(goldenBatch(loadCase('ul2-tiny')), false);
    const want = ref.cases.find((c) => c.epsilon === 0.1)!.loss;
    expect(Math.abs((await sum.data())[0]! / count - want) / want).toBeLessThan(1e-5);
    sum.dispose();
    m.dispose();
  });

  it("label smoothing's custom gradient (gather + scatter on the device): wrt the logits equals torch autograd (ε = 0.1); a label V gives 0 and no gradient; no leaks", async () => {
    const ref = JSON.parse(readFileSync(fixtures('label-smoothing/label-smoothing.json'), 'utf8')) as { shape: [number, number, number]; labels: number[][]; grad: { epsilon: number; data: number[] } };
    const z = tf.tensor3d(loadCase('ul2-tiny').logits.data, ref.shape);
    const labels = int2d(ref.labels);
    const bad = ref.labels.map((row) => row.slice());
    bad[0]![3] = ref.shape[2]; // the flat gather would read the next token's first logit
    const badLabels = int2d(bad);
    const before = tf.memory().numTensors;
    const grad = tf.grad((x: tf.Tensor) => tf.div(tf.sum(tokenLosses(x as tf.Tensor3D, labels, ref.grad.epsilon)), 16))(z);
    expect(relErr(await grad.data(), ref.grad.data)).toBeLessThan(1e-5);
    const g2 = tf.grad((x: tf.Tensor) => tf.sum(tokenLosses(x as tf.Tensor3D, badLabels, ref.grad.epsilon)))(z);
    const tok = tokenLosses(z, badLabels, ref.grad.epsilon);
    const row = (await g2.array()) as number[][][];
    expect(row[0]![3]!.every((x) => x === 0)).toBe(true);
    expect(((await tok.array()) as number[][])[0]![3]).toBe(0);
    tf.dispose([grad, g2, tok]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([z, labels, badLabels]);
  });
});
