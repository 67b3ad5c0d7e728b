// A training run in its own process, for the resume test. Args: <checkpointDir> <resume 0|1> <outFile>
// Prints "step N" after each optimizer step (the parent SIGKILLs it at some N), and at the end
// writes the final weights (as hex of the float32 bytes, for bit-exact comparison) and metrics.
import { writeFileSync } from 'node:fs';
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { train } from '../../src/index';
import { ToyModel, toBatch, toyData, toyExamples } from '../toy';

const [dir, resume, out] = process.argv.slice(2);
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
  evalData: [toBatch(toyExamples(5, 3, 11))],
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
});
const hex = (t: tf.Variable) => Buffer.from((t.dataSync() as Float32Array).buffer).toString('hex');
writeFileSync(out!, JSON.stringify({ w: hex(model.w), b: hex(model.b), metrics: res.metrics, step: res.step, resumedFrom: res.resumedFrom, dropoutSeeds: model.dropoutSeeds, adam: Object.fromEntries(Object.entries((await res.optimizer.getState()).m).map(([k, v]) => [k, Buffer.from(v.buffer).toString('hex')])) }));
