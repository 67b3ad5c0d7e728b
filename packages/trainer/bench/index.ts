// Bench: AdamW step time on Flan-UL2's LoRA size (12,582,912 parameters: r 8 on q and v of its 96
// attention blocks (192 linears), so 384 variables, A [8, 4096] and B [4096, 8]), and the
// training loop's overhead per step against a bare variableGrads + AdamW on a toy model.
// Run: pnpm --filter @conifer/trainer bench   (= tsx --import ../../scripts/tfjs-esm-hook.mjs bench/index.ts;
// the hook lets Node load tfjs-core's ESM gradient files, which the sources import and tsup bundles)
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Adafactor, AdamW, train, type CursorBatch, type Cursor } from '../src/index';

const ms = (f: () => void, reps: number) => {
  f(); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) f();
  return (performance.now() - t0) / reps;
};

async function main() {
  await tf.setBackend(process.env.TF_BACKEND ?? 'cpu');
  console.log(`backend ${tf.getBackend()}, node ${process.version}`);

  // 1. AdamW on Flan-UL2's LoRA (PEFT's T5 defaults: q and v; 32 encoder layers × 1 + 32 decoder layers × 2
  // attention blocks = 96 blocks × {q, v} = 192 linears 4096 → 4096, r 8): 384 variables of 32,768 values
  const vars: tf.Variable[] = [];
  const grads: Record<string, tf.Tensor> = {};
  for (let i = 0; i < 384; i++) {
    const shape = i % 2 === 0 ? [8, 4096] : [4096, 8];
    vars.push(tf.tidy(() => tf.variable(tf.randomNormal(shape, 0, 0.02), true, `lora.${i}`)));
    grads[`lora.${i}`] = tf.randomNormal(shape, 0, 1e-3);
  }
  const params = vars.reduce((s, v) => s + v.size, 0);
  const opt = new AdamW({ lr: 1e-4 });
  const adamMs = ms(() => opt.applyGradients(vars, grads), 5);
  console.log(`AdamW step (fused: ${opt.fused}): ${params.toLocaleString('en')} parameters in ${vars.length} variables: ${adamMs.toFixed(1)} ms/step`);
  const slow = new AdamW({ lr: 1e-4, fused: false });
  const slowMs = ms(() => slow.applyGradients(vars, grads), 1);
  console.log(`AdamW step (tensor ops, fused: false): ${slowMs.toFixed(1)} ms/step`);
  slow.dispose();
  await opt.getState(); // warm-up
  const tState = performance.now();
  for (let i = 0; i < 2; i++) await opt.getState();
  const stateMs = (performance.now() - tState) / 2;
  console.log(`AdamW getState (m, v to Float32Arrays): ${stateMs.toFixed(1)} ms`);
  opt.dispose();
  // Adafactor as transformers' Trainer builds it (tensor ops on every backend), and with a first moment
  for (const [beta1, fused] of [[null, 'auto'], [0.9, 'auto'], [null, false]] as const) {
    const af = new Adafactor({ lr: 1e-4, relativeStep: false, scaleParameter: false, beta1, fused });
    const afMs = ms(() => af.applyGradients(vars, grads), fused ? 3 : 1);
    const floats = Object.values((await af.getState()).slots).reduce((s, x) => s + Object.values(x).reduce((a, t) => a + t!.length, 0), 0);
    console.log(`Adafactor step (beta1 ${beta1}, fused: ${fused}): ${afMs.toFixed(1)} ms/step; state ${floats.toLocaleString('en')} floats (AdamW: ${(2 * params).toLocaleString('en')})`);
    af.dispose();
  }
  tf.dispose([...vars, ...Object.values(grads)]);

  // 2. loop overhead on a toy model: train() vs bare variableGrads + AdamW
  const w = tf.tidy(() => tf.variable(tf.randomNormal([64, 64], 0, 0.1), true, 'toy.w'));
  const x = tf.randomNormal([32, 64]);
  const model = {
    trainableVariables: () => [w],
    lossSum: () => ({ sum: tf.tidy(() => tf.sum(tf.square(tf.matMul(x, w))) as tf.Scalar), count: 32 }),
  };
  const steps = 300;
  const bareOpt = new AdamW({ lr: 1e-3 });
  const bareMs = ms(() => {
    const { value, grads: g } = tf.variableGrads(() => tf.div(model.lossSum().sum, 32) as tf.Scalar, [w]);
    bareOpt.applyGradients([w], g);
    tf.dispose([value, ...Object.values(g)]);
  }, steps);
  bareOpt.dispose();
  const data = {
    *batches(from: Cursor): Iterable<CursorBatch<number>> {
      for (let p = from.position; p < steps; p++) yield { batch: p, next: p + 1 < steps ? { epoch: from.epoch, position: p + 1 } : { epoch: from.epoch + 1, position: 0 } };
    },
  };
  const t0 = performance.now();
  const r = await train({ model, data, lr: 1e-3, logger: false });
  const loopMs = (performance.now() - t0) / r.step;
  r.optimizer.dispose();
  console.log(`toy step (32×64 · 64×64): bare variableGrads + AdamW ${bareMs.toFixed(3)} ms, train() ${loopMs.toFixed(3)} ms → loop overhead ${(loopMs - bareMs).toFixed(3)} ms/step`);
  tf.dispose([w, x]);
}

void main();
