// A training run in its own process, for the resume test. Args: <checkpointDir> <resume 0|1> <outFile> [metrics|adafactor]
// Prints "step N" after each optimizer step (the parent SIGKILLs it at some N), and at the end
// writes the final weights (as hex of the float32 bytes, for bit-exact comparison) and metrics.
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { train, type TrainOptions } from '../../src/index';
import { ToyModel, toBatch, toyData, toyExamples, type ToyBatch } from '../toy';

const [dir, resume, out, mode] = process.argv.slice(2);
const evalData = [toBatch(toyExamples(5, 3, 11))];
// With "metrics": a computed metric (how far the eval set's mean absolute error, from the weights, is
// from 1: falls, then rises) picks the best, stops early and decides onSave (saveStrategy 'best',
// each save appended to saves.txt).
const metrics: Partial<TrainOptions<ToyBatch>> =
  mode === 'metrics'
    ? {
        computeMetrics: async () => {
          const [w, b] = [await model.w.data(), (await model.b.data())[0]!];
          let sum = 0;
          for (const e of toyExamples(5, 3, 11)) sum += Math.abs(e.x.reduce((a, x, i) => a + x * w[i]!, b) - e.y);
          return { mae_gap: Math.abs(sum / 5 - 1) };
        },
        metricForBestModel: 'mae_gap',
        greaterIsBetter: false,
        loadBestModelAtEnd: true,
        saveStrategy: 'best',
        onSave: (i) => appendFileSync(join(dir!, 'saves.txt'), `${i.reason}@${i.step}\n`),
        earlyStopping: { patience: 2, threshold: 0.01 },
      }
    : mode === 'adafactor'
      ? // transformers' Trainer with optim="adafactor" (the schedule and clipping still apply), plus a first moment and weight decay
        { optim: 'adafactor', weightDecay: 0.01, adafactor: { beta1: 0.9 } }
      : {};
await tf.setBackend('cpu');
const model = new ToyModel(3, 'resume');
const pause = new Int32Array(new SharedArrayBuffer(4));
const res = await train({
  model,
  data: toyData(60), // 17 batches an epoch
  epochs: 3,
  gradientAccumulationSteps: 2, // 9 steps an epoch (the last window has 1 micro-batch)
  lr: 0.05,
  schedule: 'cosine',
  warmupSteps: 3,
  maxGradNorm: 0.5,
  evalData,
  evalEvery: 4,
  checkpointDir: dir!,
  checkpointEvery: 1,
  keepLast: 2,
  resume: resume === '1',
  seed: 7,
  logger: {
    onStep: (s) => {
      console.log(`step ${s.step}`);
      Atomics.wait(pause, 0, 0, 25); // give the parent time to SIGKILL between steps
    },
    onEval() {},
    onEpoch() {},
    log() {},
  },
  ...metrics,
});
const hex = (t: tf.Variable) => Buffer.from((t.dataSync() as Float32Array).buffer).toString('hex');
// AdamW's first moments, or every Adafactor slot (`<slot>.<name>`)
const state = await res.optimizer.getState();
const slots = 'slots' in state ? Object.entries(state.slots).flatMap(([n, s]) => Object.entries(s).map(([k, v]) => [`${k}.${n}`, v] as const)) : Object.entries(state.m);
const adam = Object.fromEntries(slots.map(([k, v]) => [k, Buffer.from(v!.buffer).toString('hex')]));
writeFileSync(out!, JSON.stringify({ w: hex(model.w), b: hex(model.b), metrics: res.metrics, step: res.step, resumedFrom: res.resumedFrom, stopReason: res.stopReason, best: res.best, dropoutSeeds: model.dropoutSeeds, adam }));
