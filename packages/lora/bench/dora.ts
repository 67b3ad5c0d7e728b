/**
 * DoRA against LoRA: forward + backward time of one layer (r 8) in one run, and DoRA's per-step row norm
 * ‖W + s·B·A‖ computed two ways — factored (what the layer does: ‖W_i‖² cached, A·Wᵀ through the base,
 * r rows) and direct (dequantize W, add s·B·A, norm: PEFT's `get_weight_norm`) — with the factored
 * norm's relative error against a float64 direct norm; and decode steps (one token's row, eval) of LoRA and of
 * DoRA trainable (norm recomputed each forward) or frozen (norm kept, `dora-norm-cache.ts`).
 *   pnpm --filter @conifer/lora bench:dora      (IN=1024 OUT=1024 TOKENS=256 REPS=3 DECODE_STEPS=50; B_SCALE=0.05)
 * B_SCALE sets B's entries (A is Kaiming-uniform): the larger, the further s·B·A moves the norm from ‖W‖.
 * Times are process CPU time (single-threaded tfjs-backend-cpu); wall time is printed too.
 */
import * as tf from '@tensorflow/tfjs-core';
import { directWeightNorm, factoredWeightNorm } from '../src/dora.js';
import { FloatLinear, LoraLinear, type Linear } from '../src/index.js';
import { compare as compareRuns } from './compare.js';
import { registerBenchGradients } from './gradients.js';

const env = (k: string, d: number) => Number(process.env[k] ?? d);
const IN = env('IN', 1024);
const OUT = env('OUT', 1024);
const TOKENS = env('TOKENS', 256);
const REPS = env('REPS', 3);
const B_SCALE = env('B_SCALE', 0.05);
const DECODE_STEPS = env('DECODE_STEPS', 50);
const compare = (cases: Array<[label: string, run: () => void]>) => compareRuns(cases, REPS, 46);

/** Sums a broadcast gradient back to `shape` (tfjs-core's own gradients do this; the CJS bundle has none). */
function unbroadcast(g: tf.Tensor, shape: number[]): tf.Tensor {
  if (`${g.shape}` === `${shape}`) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) if (i < lead || shape[i - lead] === 1) axes.push(i);
  return tf.reshape(tf.sum(g, axes), shape);
}

/** The broadcasting Add/Sub/Mul/Div gradients DoRA's forward needs (registered before the bench's own equal-shape ones). */
function registerBroadcastGradients(): void {
  const reg = (config: tf.GradConfig) => {
    if (!tf.getGradient(config.kernelName)) tf.registerGradient(config);
  };
  const two = (f: (dy: tf.Tensor, a: tf.Tensor, b: tf.Tensor) => [tf.Tensor, tf.Tensor]) => (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
    const [a, b] = saved as [tf.Tensor, tf.Tensor];
    const [ga, gb] = f(dy as tf.Tensor, a, b);
    return { a: () => unbroadcast(ga, a.shape), b: () => unbroadcast(gb, b.shape) };
  };
  reg({ kernelName: 'Add', inputsToSave: ['a', 'b'], gradFunc: two((dy) => [dy, dy]) });
  reg({ kernelName: 'Sub', inputsToSave: ['a', 'b'], gradFunc: two((dy) => [dy, tf.neg(dy)]) });
  reg({ kernelName: 'Multiply', inputsToSave: ['a', 'b'], gradFunc: two((dy, a, b) => [tf.mul(dy, b), tf.mul(dy, a)]) });
  reg({ kernelName: 'RealDiv', inputsToSave: ['a', 'b'], gradFunc: two((dy, a, b) => [tf.div(dy, b), tf.neg(tf.div(tf.mul(dy, a), tf.square(b)))]) });
}

const fwdBwd = (layer: Linear, x: tf.Variable, vars: tf.Variable[]) => () => {
  const { value, grads } = tf.variableGrads(() => tf.sum(layer.apply(x)) as tf.Scalar, [x, ...vars]);
  tf.dispose([value, ...Object.values(grads)]);
};

async function main(): Promise<void> {
  await import('@tensorflow/tfjs-backend-cpu');
  await tf.setBackend('cpu');
  registerBroadcastGradients();
  registerBenchGradients();
  console.log(`backend ${tf.getBackend()}, x [${TOKENS}, ${IN}] → [${TOKENS}, ${OUT}], r 8, B entries ±${B_SCALE}, mean of ${REPS} run(s)`);
  const w = tf.randomUniform([OUT, IN], -0.02, 0.02, 'float32', 1) as tf.Tensor2D;
  const make = (useDora: boolean) => {
    const l = new LoraLinear(new FloatLinear(tf.clone(w)), { path: `bench.${useDora ? 'dora' : 'lora'}`, r: 8, loraAlpha: 16, useDora });
    l.setWeights(l.loraA.dataSync() as Float32Array, tf.randomUniform([OUT, 8], -B_SCALE, B_SCALE, 'float32', 4).dataSync() as Float32Array);
    return l;
  };
  const lora = make(false);
  const dora = make(true);
  const x = tf.variable(tf.randomNormal([TOKENS, IN], 0, 1, 'float32', 2), true, 'bench.x');
  const a = dora.adapter('default');
  const [tLora, tDora] = compare([
    ['LoRA linear (r 8), forward + backward', fwdBwd(lora, x, [lora.loraA, lora.loraB])],
    ['DoRA linear (r 8), forward + backward', fwdBwd(dora, x, a.variables)],
  ]);
  console.log(`ratio DoRA / LoRA (cpu time): ${(tDora! / tLora!).toFixed(3)}`);

  // A decode step (generation): one token's row through the layer, eval mode, no gradient. A trainable DoRA
  // adapter recomputes its norm each forward; a frozen one (a loaded adapter) keeps it (dora-norm-cache.ts).
  const row1 = tf.randomNormal([1, IN], 0, 1, 'float32', 3);
  const steps = (layer: Linear) => () => {
    for (let i = 0; i < DECODE_STEPS; i++) layer.apply(row1).dispose();
  };
  const decode = (mode: 'factored' | 'direct', frozen: boolean) => () => {
    a.doraWeightNorm = mode;
    a.trainable = !frozen;
    steps(dora)();
  };
  const tDecode = compare([
    [`decode, LoRA (${DECODE_STEPS} rows of 1 token)`, steps(lora)],
    ['decode, DoRA factored, trainable', decode('factored', false)],
    ['decode, DoRA factored, frozen (norm kept*)', decode('factored', true)],
    ['decode, DoRA direct, trainable', decode('direct', false)],
    ['decode, DoRA direct, frozen (norm kept*)', decode('direct', true)],
  ]);
  console.log(
    `decode / LoRA's (cpu time): DoRA factored trainable ${(tDecode[1]! / tDecode[0]!).toFixed(2)}, frozen ${(tDecode[2]! / tDecode[0]!).toFixed(2)}; ` +
      `direct trainable ${(tDecode[3]! / tDecode[0]!).toFixed(2)}, frozen ${(tDecode[4]! / tDecode[0]!).toFixed(2)}`,
  );
  console.log('* computed on the first of the rows: the trainable case before it cleared the kept norm');
  a.doraWeightNorm = 'factored';
  a.trainable = true;
  row1.dispose();

  const stats = (dora as unknown as { doraStats: Parameters<typeof factoredWeightNorm>[1] }).doraStats;
  const [tFactored, tDirect] = compare([
    ['row norm, factored (r rows through the base)', () => factoredWeightNorm(dora.base, stats, a.loraA, a.loraB, a.scaling).dispose()],
    ['row norm, direct (dequantize W + s·B·A)', () => tf.tidy(() => directWeightNorm(dora.base.dequantize!(), a)).dispose()],
  ]);
  console.log(`direct / factored (cpu time): ${(tDirect! / tFactored!).toFixed(1)}`);

  // float64 reference of ‖W + s·B·A‖ from the float32 values
  const [W, A, B] = [w.dataSync(), a.loraA.dataSync(), a.loraB.dataSync()];
  const ref = new Float64Array(OUT);
  const row = new Float64Array(IN);
  for (let o = 0; o < OUT; o++) {
    for (let i = 0; i < IN; i++) row[i] = W[o * IN + i]!;
    for (let k = 0; k < 8; k++) {
      const bk = a.scaling * B[o * 8 + k]!;
      for (let i = 0; i < IN; i++) row[i]! += bk * A[k * IN + i]!;
    }
    ref[o] = Math.sqrt(row.reduce((s, v) => s + v * v, 0));
  }
  const rel = (t: tf.Tensor) => {
    const v = t.dataSync() as Float32Array;
    t.dispose();
    return v.reduce((m, x, o) => Math.max(m, Math.abs(x - ref[o]!) / ref[o]!), 0);
  };
  const wNorm = tf.tidy(() => tf.sqrt(tf.sum(tf.square(w), 1)));
  const shift = (wNorm.dataSync() as Float32Array).reduce((m, v, o) => Math.max(m, Math.abs(ref[o]! - v) / ref[o]!), 0);
  wNorm.dispose();
  console.log(`max relative change of the norm by s·B·A: ${shift.toExponential(2)}`);
  console.log(`max relative error vs float64: factored ${rel(factoredWeightNorm(dora.base, stats, a.loraA, a.loraB, a.scaling)).toExponential(2)}, direct (PEFT's, float32) ${rel(tf.tidy(() => directWeightNorm(dora.base.dequantize!(), a))).toExponential(2)}`);
  tf.dispose([x, w]);
  lora.dispose();
  dora.dispose();
}

void main();
