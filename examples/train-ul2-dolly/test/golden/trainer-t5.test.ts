// Cross-package golden test: @conifer/trainer's train() + AdamW driving @conifer/t5-model with
// @conifer/lora against PyTorch + PEFT (three AdamW steps on one fixed batch, lr 1e-2,
// betas 0.9/0.999, eps 1e-8, weight_decay 0.01; fixtures of @conifer/lora: packages/lora/test/fixtures,
// see PROVENANCE.md there and /work/shared/golden/README.md).
//
// NOT RUN in packages/trainer (the trainer must not depend on the model or LoRA packages). Move it to
// the example package's tests (examples/train-ul2-dolly/test/golden/trainer-t5.test.ts), which depends
// on all three. It was run once from packages/trainer/test (vitest's aliases resolve the sibling
// sources) and passed: see the numbers in the comments below.
//
// Written against: T5ForConditionalGeneration.fromPretrained(dir) with model.lossSum(batch, training)
// (a T5Batch of int32 tensors) and model.dispose(); @conifer/lora's loadAdapter(model, dir,
// { isTrainable: true }) with trainableVariables() named by PEFT's saved keys and unload().
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { readFileSync } from 'node:fs';
import { readSafetensorsFile, toFloat32 } from '@conifer/safetensors';
import { T5ForConditionalGeneration } from '@conifer/t5-model';
import { loadAdapter } from '@conifer/lora';
import { AdamW, train, type Cursor, type CursorBatch } from '@conifer/trainer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loraFixture, relL2 } from './helpers.js';


interface LoraCase {
  input_ids: number[][];
  attention_mask: number[][];
  labels: number[][];
  losses: number[];
  optimizer: { lr: number; betas: [number, number]; eps: number; weight_decay: number };
}
const c = JSON.parse(readFileSync(loraFixture('lora-ul2-tiny.json'), 'utf8')) as LoraCase;

const readTensors = async (file: string) => {
  const out = new Map<string, Float32Array>();
  for (const [k, t] of (await readSafetensorsFile(file)).tensors) out.set(k, toFloat32(t.dtype, t.data));
  return out;
};
const int2d = (rows: number[][]) => tf.tensor2d(rows.flat(), [rows.length, rows[0]!.length], 'int32');

interface GoldenBatch {
  inputIds: tf.Tensor2D;
  attentionMask: tf.Tensor2D;
  labels: tf.Tensor2D;
}
let batch: GoldenBatch;
beforeAll(async () => {
  await tf.setBackend('cpu');
  batch = { inputIds: int2d(c.input_ids), attentionMask: int2d(c.attention_mask), labels: int2d(c.labels) };
});
afterAll(() => tf.dispose([batch.inputIds, batch.attentionMask, batch.labels]));

describe('@conifer/trainer on ul2-tiny + LoRA (r 4, q/v) against torch.optim.AdamW + PEFT', () => {
  it('train(): three steps on the golden batch give the golden losses (≤ 1e-4 rel) and adamw_after_step{1,3}', async () => {
    const model = await T5ForConditionalGeneration.fromPretrained(loraFixture('ul2-tiny'));
    const lora = await loadAdapter(model, loraFixture('ul2-tiny-qv-r4'), { isTrainable: true });
    const trainable = {
      lossSum: (b: GoldenBatch, training: boolean) => model.lossSum(b, training),
      trainableVariables: () => lora.trainableVariables(),
    };
    // one epoch of the same batch three times: three optimizer steps
    const data = {
      *batches(from: Cursor): Iterable<CursorBatch<GoldenBatch>> {
        for (let p = from.position; p < 3; p++) yield { batch, next: p < 2 ? { epoch: 0, position: p + 1 } : { epoch: 1, position: 0 } };
      },
      batchesPerEpoch: () => 3,
    };
    const snapshots = new Map<number, Map<string, Float32Array>>();
    const { lr, betas, eps, weight_decay: weightDecay } = c.optimizer;
    const result = await train({
      model: trainable,
      data,
      epochs: 1,
      lr,
      betas,
      eps,
      weightDecay,
      schedule: 'constant',
      saveEvery: 1,
      onSave: ({ step, variables }) => {
        snapshots.set(step, new Map(variables.map((v) => [v.name, Float32Array.from(v.dataSync())])));
      },
      logger: false,
      handleSigint: false,
    });
    // Measured (tfjs-backend-cpu): losses 18.220173, 16.304714, 14.807617 vs PyTorch's 18.220173,
    // 16.304712, 14.807619 (≤ 1.3e-7 rel); adapter vs PyTorch worst rel L2 per tensor 8.9e-6 after
    // step 1 and 9.4e-6 after step 3.
    expect(result.step).toBe(3);
    const losses = result.metrics.filter((r) => r.type === 'train').map((r) => (r as { loss: number }).loss);
    console.log('train() losses', losses, 'golden', c.losses);
    for (let i = 0; i < 3; i++) expect(Math.abs(losses[i]! - c.losses[i]!) / c.losses[i]!).toBeLessThan(1e-4);
    for (const [step, file] of [[1, 'adamw_after_step1.safetensors'], [3, 'adamw_after_step3.safetensors']] as const) {
      const want = await readTensors(loraFixture(file));
      const got = snapshots.get(step)!;
      expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
      let worst = 0;
      for (const [k, w] of want) worst = Math.max(worst, relL2(got.get(k)!, w));
      console.log(`train(): adapter after step ${step} vs PyTorch, worst rel L2 per tensor ${worst.toExponential(2)}`);
      expect(worst).toBeLessThan(1e-5);
    }
    result.optimizer.dispose();
    lora.unload();
    model.dispose();
  });

  it('AdamW alone with the model\'s own gradients: the error after step 3 is the gradients\' error, not the optimizer\'s', async () => {
    const model = await T5ForConditionalGeneration.fromPretrained(loraFixture('ul2-tiny'));
    const lora = await loadAdapter(model, loraFixture('ul2-tiny-qv-r4'), { isTrainable: true });
    const vars = lora.trainableVariables();
    const { lr, betas, eps, weight_decay: weightDecay } = c.optimizer;
    const opt = new AdamW({ lr, betas, eps, weightDecay });
    const goldenGrads0 = await readTensors(loraFixture('grads_step0.safetensors'));
    let gradErr = 0;
    for (let step = 1; step <= 3; step++) {
      const { value, grads } = tf.variableGrads(() => {
        const { sum, count } = model.lossSum(batch, true);
        return tf.div(sum, count) as tf.Scalar;
      }, vars);
      expect(Math.abs(value.dataSync()[0]! - c.losses[step - 1]!) / c.losses[step - 1]!).toBeLessThan(1e-4);
      if (step === 1) for (const [k, g] of goldenGrads0) gradErr = Math.max(gradErr, relL2(grads[k]!.dataSync(), g));
      opt.applyGradients(vars, grads);
      tf.dispose([value, ...Object.values(grads)]);
    }
    const want = await readTensors(loraFixture('adamw_after_step3.safetensors'));
    let worstL2 = 0;
    let worstElem = 0;
    for (const v of vars) {
      const got = v.dataSync();
      const w = want.get(v.name)!;
      worstL2 = Math.max(worstL2, relL2(got, w));
      for (let i = 0; i < w.length; i++) worstElem = Math.max(worstElem, Math.abs(got[i]! - w[i]!) / Math.max(Math.abs(w[i]!), 1e-2));
    }
    // Measured (tfjs-backend-cpu): step-0 gradients vs PyTorch's worst rel L2 per tensor 1.0e-5 (the
    // model port's float32 differences); after step 3, worst rel L2 per tensor 9.4e-6 and worst
    // elementwise 6.6e-4 (a few elements whose gradient is tiny, where Adam's m/√v amplifies it).
    // With PyTorch's own gradients the optimizer alone is within 1.1e-7 elementwise after step 1
    // (packages/trainer/test/adamw.test.ts): the elementwise 1e-6 bound of the issue is reachable
    // only with those gradients, not with this port's.
    console.log(`step-0 gradients vs PyTorch: worst rel L2 ${gradErr.toExponential(2)}; after step 3: worst rel L2 ${worstL2.toExponential(2)}, worst elementwise ${worstElem.toExponential(2)}`);
    expect(gradErr).toBeLessThan(5e-5);
    expect(worstL2).toBeLessThan(2e-5);
    opt.dispose();
    lora.unload();
    model.dispose();
  });
});
