import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { installDawnNavigator, skipWebGPU } from '../../../vitest.webgpu';
import { T5ForConditionalGeneration } from '../src/index.js';
import { goldenBatch, greedy, int2d, loadCase, modelDir, relErr } from './helpers.js';
import { AdapterLinear } from './lora-like.js';

const skip = await skipWebGPU();

beforeAll(async () => {
  if (skip) return;
  await installDawnNavigator();
  await import('@tensorflow/tfjs-backend-webgpu');
  await tf.setBackend('webgpu');
  await tf.ready();
});

describe.skipIf(skip)('webgpu backend (lavapipe here)', () => {
  it('ul2-tiny golden forward and loss; a few greedy steps', async () => {
    expect(tf.getBackend()).toBe('webgpu');
    const c = loadCase('ul2-tiny');
    const m = await T5ForConditionalGeneration.fromPretrained(modelDir('ul2-tiny'));
    const [ids, mask, labels] = [int2d(c.input_ids), int2d(c.attention_mask), int2d(c.labels)];
    const out = m.forward({ inputIds: ids, attentionMask: mask, labels });
    expect(relErr(await out.logits.data(), c.logits.data)).toBeLessThan(1e-4);
    expect(Math.abs((await out.loss!.data())[0]! - c.loss) / c.loss).toBeLessThan(1e-4);
    tf.dispose([out.logits, out.encoderLastHiddenState, out.loss!, out.lossSum!, out.tokenLoss!, out.tokenCount!]);
    // Labels that live on the GPU (computed there): forward reads nothing back (a dataSync here
    // throws in Node), and the loss and token count are the same.
    const before = tf.memory().numTensors;
    // tfjs-webgpu runs small ops on the CPU when their inputs are there: force the GPU for this add.
    const handoff = tf.env().get('WEBGPU_CPU_HANDOFF_SIZE_THRESHOLD');
    tf.env().set('WEBGPU_CPU_HANDOFF_SIZE_THRESHOLD', 0);
    const gpuLabels = tf.add(labels, tf.scalar(0, 'int32')) as tf.Tensor2D;
    tf.env().set('WEBGPU_CPU_HANDOFF_SIZE_THRESHOLD', handoff);
    expect(() => gpuLabels.dataSync()).toThrow(); // it lives on the GPU: no synchronous read in Node
    const out2 = m.forward({ inputIds: ids, attentionMask: mask, labels: gpuLabels });
    expect(Math.abs((await out2.loss!.data())[0]! - c.loss) / c.loss).toBeLessThan(1e-4);
    expect((await out2.tokenCount!.data())[0]).toBe(c.labels.flat().filter((l) => l !== -100).length);
    // lossSum's count is a number: with GPU labels it says so in one error instead of tfjs's read failure.
    const gpuBatch = { inputIds: ids, attentionMask: mask, labels: gpuLabels };
    expect(() => m.lossSum(gpuBatch, false)).toThrow(/lossSum: labels are a tensor on the 'webgpu' backend.*pass labels as an Int32Array/);
    tf.dispose([gpuLabels, out2.logits, out2.encoderLastHiddenState, out2.loss!, out2.lossSum!, out2.tokenLoss!, out2.tokenCount!]);
    expect(tf.memory().numTensors).toBe(before + 1); // + the scalar 0
    tf.dispose([ids, mask, labels]);
    expect(await greedy(m, c, 4)).toEqual(c.greedy.output.map((r) => r.slice(0, 5)));

    // Gradients run on webgpu; checkpointing gives the same ones.
    const vars: tf.Variable[] = [];
    for (const [path, lin] of m.listLinears()) {
      if (!/decoder.*\.(q|v)$/.test(path)) continue;
      const a = new AdapterLinear(lin, 2, vars.length + 1);
      m.replaceLinear(path, a);
      vars.push(...a.variables());
    }
    const batch = goldenBatch(c);
    const grads = async (ckpt: boolean) => {
      m.gradientCheckpointing = ckpt;
      const { value, grads } = tf.variableGrads(() => m.lossSum(batch, true).sum, vars);
      const g = await Promise.all(vars.map(async (v) => (await grads[v.name]!.data()).slice()));
      tf.dispose([value, ...Object.values(grads)]);
      return g;
    };
    const off = await grads(false);
    const on = await grads(true);
    on.forEach((g, i) => {
      expect(g.every(Number.isFinite)).toBe(true);
      expect(relErr(g, off[i]!)).toBeLessThan(1e-4);
    });
    m.dispose();
  });
});
