import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { randomStatefulIn, T5ForConditionalGeneration, T5LMHead, trainableVariablesIn } from '../src/index.js';
import { goldenBatch, int2d, loadCase, modelDir, relErr, useBackend } from './helpers.js';
import { addAdapters as addAdaptersTo, AutodiffLinear, DropoutAdapterLinear } from './lora-like.js';

beforeAll(async () => {
  await useBackend('cpu');
});

const c = loadCase('ul2-tiny');
const batch = () => goldenBatch(c);

const addAdapters = (m: T5ForConditionalGeneration, targets = /\.(q|v)$/) => addAdaptersTo(m, targets, 4, 3);

function grads(m: T5ForConditionalGeneration, vars: tf.Variable[], training: boolean) {
  const { value, grads } = tf.variableGrads(() => m.lossSum(batch(), training).sum, vars);
  const out = { loss: value.dataSync()[0]!, grads: vars.map((v) => grads[v.name]!.dataSync().slice()) };
  tf.dispose([value, ...Object.values(grads)]);
  return out;
}

describe('loss and gradients', () => {
  it('lossSum matches the golden loss; count = non-ignored labels', async () => {
    const m = await T5ForConditionalGeneration.fromPretrained(modelDir('ul2-tiny'));
    const { sum, count } = m.lossSum(batch(), false);
    expect(count).toBe(16);
    expect(Math.abs(sum.dataSync()[0]! / count - c.loss) / c.loss).toBeLessThan(1e-5);
    sum.dispose();
    m.dispose();
  });

  it('gradients through the custom-gradient float linears and head equal tfjs autodiff', async () => {
    const ours = await T5ForConditionalGeneration.fromPretrained(modelDir('ul2-tiny'));
    const ref = await T5ForConditionalGeneration.fromPretrained(modelDir('ul2-tiny'), {
      makeLinear: (spec) => new AutodiffLinear(tf.tensor2d(new Float32Array(spec.weight.data.slice().buffer), spec.weight.shape as [number, number])),
    });
    const v1 = addAdapters(ours);
    const v2 = addAdapters(ref);
    v2.forEach((v, i) => v.assign(v1[i]!));
    const a = grads(ours, v1, false);
    const b = grads(ref, v2, false);
    expect(Math.abs(a.loss - b.loss) / b.loss).toBeLessThan(1e-5);
    a.grads.forEach((g, i) => expect(relErr(g, b.grads[i]!)).toBeLessThan(1e-4));
    ours.dispose();
    ref.dispose();
  });

  it('lm_head custom gradient: dh = dy · W', () => {
    const w = tf.randomNormal([7, 3], 0, 1, 'float32', 3) as tf.Tensor2D; // (V, d)
    const head = new T5LMHead(tf.transpose(w), w);
    const h = tf.randomNormal([2, 5, 3], 0, 1, 'float32', 4) as tf.Tensor3D;
    const g1 = tf.grad((x: tf.Tensor) => tf.sum(tf.square(head.forward(x as tf.Tensor3D))))(h);
    const g2 = tf.grad((x: tf.Tensor) => tf.sum(tf.square(tf.matMul(tf.reshape(x, [10, 3]), w, false, true))))(h);
    expect(relErr(g1.dataSync(), g2.dataSync())).toBeLessThan(1e-6);
    tf.dispose([w, h, g1, g2]);
    head.dispose();
  });

  it('gradient checkpointing gives the same loss and gradients (with dropout, same seeds)', () => {
    const config = {
      vocab_size: 64, d_model: 16, d_kv: 4, num_heads: 4, d_ff: 32, num_layers: 2, num_decoder_layers: 3,
      feed_forward_proj: 'gated-gelu', dropout_rate: 0.2, relative_attention_num_buckets: 8, relative_attention_max_distance: 16,
    };
    const m = T5ForConditionalGeneration.fromConfig(config, { seed: 5 });
    const vars = addAdapters(m, /\.(q|v|wo)$/);
    expect(trainableVariablesIn(m.encoder.block[0]).length).toBe(6); // q, v, wo × (A, B)
    const small = {
      inputIds: Int32Array.from([5, 6, 7, 8, 1, 9, 10, 1, 0, 0]),
      attentionMask: Int32Array.from([1, 1, 1, 1, 1, 1, 1, 1, 0, 0]),
      labels: Int32Array.from([3, 4, 1, 11, 1, -100]),
      batchSize: 2, sourceLength: 5, targetLength: 3,
    };
    const run = (checkpointing: boolean, training: boolean) => {
      m.gradientCheckpointing = checkpointing;
      m.setDropoutSeed(42);
      const { value, grads } = tf.variableGrads(() => m.lossSum(small, training).sum, vars);
      const out = { loss: value.dataSync()[0]!, grads: vars.map((v) => grads[v.name]!.dataSync().slice()) };
      tf.dispose([value, ...Object.values(grads)]);
      return out;
    };
    const off = run(false, true);
    const on = run(true, true);
    expect(Math.abs(on.loss - off.loss)).toBeLessThan(1e-5 * Math.abs(off.loss));
    on.grads.forEach((g, i) => {
      expect(g.some((x) => x !== 0)).toBe(true);
      expect(relErr(g, off.grads[i]!)).toBeLessThan(1e-5);
    });
    // Dropout is active in training (the loss differs from eval) and seeded (same seed → same loss).
    const evalLoss = run(false, false).loss;
    expect(Math.abs(evalLoss - off.loss)).toBeGreaterThan(1e-4);
    expect(run(false, true).loss).toBe(off.loss);
    // Checkpointing really recomputes: each block runs twice per gradient computation.
    const block = m.encoder.block[1]!;
    const original = block.forward.bind(block);
    let calls = 0;
    block.forward = (...args) => {
      calls++;
      return original(...args);
    };
    run(true, true);
    expect(calls).toBe(2);
    calls = 0;
    run(false, true);
    expect(calls).toBe(1);
    block.forward = original;
    // No leaks with checkpointing either (after a warm-up that creates the cached W for the backward).
    const before = tf.memory().numTensors;
    run(true, true);
    run(false, true);
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });

  it('checkpointing replays the randomness of replaced linears that expose get/setRandomState', async () => {
    const m = await T5ForConditionalGeneration.fromPretrained(modelDir('ul2-tiny'));
    const adapters: DropoutAdapterLinear[] = [];
    for (const [path, lin] of m.listLinears()) {
      if (!/\.(q|v)$/.test(path)) continue;
      const a = new DropoutAdapterLinear(lin, 4, adapters.length * 2 + 1, 0.3);
      m.replaceLinear(path, a);
      adapters.push(a);
    }
    expect(randomStatefulIn(m.decoder.block[2])).toHaveLength(4);
    const vars = adapters.flatMap((a) => a.variables());
    const start = adapters.map((a) => a.getRandomState());
    const run = (checkpointing: boolean) => {
      m.gradientCheckpointing = checkpointing;
      adapters.forEach((a, i) => a.setRandomState(start[i]));
      return grads(m, vars, true);
    };
    const off = run(false);
    const on = run(true);
    expect(Math.abs(on.loss - off.loss)).toBeLessThan(1e-5 * off.loss);
    on.grads.forEach((g, i) => expect(relErr(g, off.grads[i]!)).toBeLessThan(1e-5));
    // The states advanced as in the forward alone (restored after the recomputation).
    const afterOn = adapters.map((a) => JSON.stringify(a.getRandomState()));
    run(false);
    expect(adapters.map((a) => JSON.stringify(a.getRandomState()))).toEqual(afterOn);
    m.dispose();
  });

  it('no tensor leaks: forward with labels, loss + gradient', async () => {
    const m = await T5ForConditionalGeneration.fromPretrained(modelDir('ul2-tiny'));
    const vars = addAdapters(m);
    grads(m, vars, true); // warm-up: the float linears cache W for the backward on first use
    const ids = int2d(c.input_ids);
    const mask = int2d(c.attention_mask);
    const labels = int2d(c.labels);
    const before = tf.memory().numTensors;
    const out = m.forward({ inputIds: ids, attentionMask: mask, labels });
    tf.dispose([out.logits, out.encoderLastHiddenState, out.loss!, out.lossSum!, out.tokenLoss!, out.tokenCount!]);
    expect(tf.memory().numTensors).toBe(before);
    grads(m, vars, true);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([ids, mask, labels]);
    m.dispose();
  });
});
