import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { installDawnNavigator, skipWebGPU } from '../../../vitest.webgpu';
import { T5ForConditionalGeneration } from '../src/index.js';
import { greedy, int2d, loadCase, modelDir, relErr } from './helpers.js';
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
    tf.dispose([ids, mask, labels, out.logits, out.encoderLastHiddenState, out.loss!, out.lossSum!, out.tokenLoss!]);
    expect(await greedy(m, c, 4)).toEqual(c.greedy.output.map((r) => r.slice(0, 5)));

    // Gradients run on webgpu; checkpointing gives the same ones.
    const vars: tf.Variable[] = [];
    for (const [path, lin] of m.listLinears()) {
      if (!/decoder.*\.(q|v)$/.test(path)) continue;
      const a = new AdapterLinear(lin, 2, vars.length + 1);
      m.replaceLinear(path, a);
      vars.push(...a.variables());
    }
    const batch = {
      inputIds: Int32Array.from(c.input_ids.flat()), attentionMask: Int32Array.from(c.attention_mask.flat()),
      labels: Int32Array.from(c.labels.flat()), batchSize: 2, sourceLength: 13, targetLength: 9,
    };
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
