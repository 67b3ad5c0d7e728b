import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { getAttentionMatMul, setAttentionMatMul, T5ForConditionalGeneration } from '../src/index.js';
import { greedy, int2d, loadCase, modelDir, relErr, useBackend } from './helpers.js';
import { addAdapters } from './lora-like.js';

beforeAll(async () => {
  await useBackend('wasm');
});

describe('wasm backend', () => {
  it('ul2-tiny golden forward, loss and greedy; checkpointed gradients; no leaks', async () => {
    expect(tf.getBackend()).toBe('wasm');
    const c = loadCase('ul2-tiny');
    const m = await T5ForConditionalGeneration.fromPretrained(modelDir('ul2-tiny'));
    const [ids, mask, labels] = [int2d(c.input_ids), int2d(c.attention_mask), int2d(c.labels)];
    const out = m.forward({ inputIds: ids, attentionMask: mask, labels });
    expect(relErr(out.encoderLastHiddenState.dataSync(), c.encoder_last_hidden_state.data)).toBeLessThan(1e-4);
    expect(relErr(out.logits.dataSync(), c.logits.data)).toBeLessThan(1e-4);
    expect(Math.abs(out.loss!.dataSync()[0]! - c.loss) / c.loss).toBeLessThan(1e-4);
    tf.dispose([out.logits, out.encoderLastHiddenState, out.loss!, out.lossSum!, out.tokenLoss!, out.tokenCount!]);
    expect(await greedy(m, c, c.greedy.max_new_tokens)).toEqual(c.greedy.output);

    const vars = addAdapters(m, /\.(q|v)$/, 2, 1);
    const batch = { inputIds: ids, attentionMask: mask, labels };
    const grads = (ckpt: boolean) => {
      m.gradientCheckpointing = ckpt;
      const { value, grads } = tf.variableGrads(() => m.lossSum(batch, true).sum, vars);
      const g = vars.map((v) => grads[v.name]!.dataSync().slice());
      tf.dispose([value, ...Object.values(grads)]);
      return g;
    };
    const off = grads(false);
    const on = grads(true); // also warms up the W copies the float linears keep for their backward
    const before = tf.memory().numTensors;
    grads(true);
    grads(false);
    expect(tf.memory().numTensors).toBe(before);
    on.forEach((g, i) => expect(relErr(g, off[i]!)).toBeLessThan(1e-5));
    // The per-head attention products (wasm default) equal tfjs's BatchMatMul, values and gradients.
    // (auto uses them only from 128 × 128 outputs per head: force them at these tiny sizes).
    expect(getAttentionMatMul()).toBe('auto');
    setAttentionMatMul('per-head');
    const perHead = grads(false);
    setAttentionMatMul('auto');
    perHead.forEach((g, i) => expect(relErr(g, off[i]!)).toBeLessThan(1e-5));
    tf.dispose([ids, mask, labels]);
    m.dispose();
  });
});
