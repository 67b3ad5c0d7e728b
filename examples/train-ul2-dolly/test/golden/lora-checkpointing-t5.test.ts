// Cross-package: @conifer/lora's adapters (dropout on) inside @conifer/t5-model's gradient
// checkpointing, driven through LoraModel.trainable (what @conifer/trainer trains). Checkpointing
// recomputes each block in the backward pass; LoRA's dropout must draw the same masks there
// (LoraLinear implements t5-model's RandomStateful protocol), so loss and every LoRA gradient are
// equal with and without it. The golden ul2-tiny checkpoint (packages/t5-model/test/fixtures).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { join } from 'node:path';
import { injectLora, type LoraModel, type LoraTrainable } from '@conifer/lora';
import { T5ForConditionalGeneration } from '@conifer/t5-model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { T5_FIXTURES } from './helpers.js';

interface Batch { inputIds: Int32Array; attentionMask: Int32Array; labels: Int32Array; batchSize: number; sourceLength: number; targetLength: number }

// Two rows, right-padded sources, -100-padded labels (ul2-tiny: vocab 256).
const batch: Batch = {
  batchSize: 2, sourceLength: 6, targetLength: 5,
  inputIds: Int32Array.from([5, 17, 42, 9, 77, 1, 8, 3, 250, 1, 0, 0]),
  attentionMask: Int32Array.from([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]),
  labels: Int32Array.from([12, 40, 7, 1, -100, 33, 2, 90, 61, 1]),
};

let model: T5ForConditionalGeneration;
let lora: LoraModel;
let unit: LoraTrainable<Batch>;
beforeAll(async () => {
  await tf.setBackend('cpu');
  model = await T5ForConditionalGeneration.fromPretrained(join(T5_FIXTURES, 'models', 'ul2-tiny'));
  lora = injectLora(model, { r: 4, lora_alpha: 8, lora_dropout: 0.3, target_modules: ['q', 'v', 'wo'], init_lora_weights: false }, { seed: 3 });
  unit = lora.trainable(model);
});
afterAll(() => {
  lora.dispose();
  model.dispose();
});

/** Loss and the gradient of every LoRA variable for `seed`, with checkpointing on or off. */
async function lossAndGrads(seed: number, checkpointing: boolean): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  model.gradientCheckpointing = checkpointing;
  unit.setDropoutSeed(seed);
  const vars = unit.trainableVariables();
  const { value, grads } = tf.variableGrads(() => {
    const { sum, count } = unit.lossSum(batch, true);
    return tf.div(sum, count) as tf.Scalar;
  }, vars);
  const out = new Map<string, Float32Array>();
  for (const v of vars) out.set(v.name, (await grads[v.name]!.data()) as Float32Array);
  const loss = (await value.data())[0]!;
  tf.dispose([value, ...Object.values(grads)]);
  return { loss, grads: out };
}

describe('LoRA dropout under gradient checkpointing (ul2-tiny, q/v/wo, r 4, lora_dropout 0.3)', () => {
  it('loss and every LoRA gradient equal with and without checkpointing; the masks are really random; no leaks', async () => {
    // Warm-up: each frozen float32 linear keeps its transposed weight for the backward on first use.
    await lossAndGrads(1, false);
    await lossAndGrads(1, true);
    const before = tf.memory().numTensors;
    const plain = await lossAndGrads(7, false);
    const ckpt = await lossAndGrads(7, true);
    expect(tf.memory().numTensors).toBe(before);
    // ul2-tiny has 2 encoder and 3 decoder blocks: q, v in 2 + 3·2 attentions, wo in 2 + 3 FFs; A and B each.
    expect(plain.grads.size).toBe(2 * ((2 + 3 * 2) * 2 + (2 + 3)));
    expect(ckpt.loss).toBeCloseTo(plain.loss, 5);
    for (const [name, g] of plain.grads) {
      const h = ckpt.grads.get(name)!;
      let num = 0;
      let den = 0;
      for (let i = 0; i < g.length; i++) {
        num += (g[i]! - h[i]!) ** 2;
        den += g[i]! ** 2;
      }
      expect(den, name).toBeGreaterThan(0);
      expect(Math.sqrt(num / den), name).toBeLessThan(1e-5);
    }
    // Another seed draws other masks (LoRA's and the model's): the equality above is not vacuous.
    const other = await lossAndGrads(8, true);
    expect(Math.abs(other.loss - plain.loss)).toBeGreaterThan(1e-4);
    // The same seed again: the same loss (setDropoutSeed makes a step reproducible, as a resume needs).
    expect((await lossAndGrads(7, true)).loss).toBeCloseTo(plain.loss, 6);
  });

  it('trainable() switches LoRA dropout with the training flag; eval loss does not depend on the seed', async () => {
    const evalLoss = async (seed: number) => {
      unit.setDropoutSeed(seed);
      const { sum, count } = unit.lossSum(batch, false);
      const v = (await sum.data())[0]! / count;
      sum.dispose();
      return v;
    };
    expect(lora.training).toBe(true); // left in training mode by the test above
    const a = await evalLoss(1);
    expect(lora.training).toBe(false);
    expect(await evalLoss(2)).toBeCloseTo(a, 6);
    unit.setDropoutSeed(1);
    const { sum, count } = unit.lossSum(batch, true);
    expect(lora.training).toBe(true);
    expect(Math.abs((await sum.data())[0]! / count - a)).toBeGreaterThan(1e-4);
    sum.dispose();
  });
});
