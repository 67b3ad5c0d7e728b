/**
 * Forward + backward time of a LoRA linear (r 8) against its bare base linear.
 *   pnpm --filter @conifer/lora bench      (IN=4096 OUT=4096 TOKENS=256 REPS=1 BACKEND=cpu; ~2 min on a free core)
 * BACKEND=wasm uses @tensorflow/tfjs-backend-wasm from the workspace root (not a dependency of this package).
 * The backward takes gradients wrt the input (as inside a network) and, for LoRA, wrt A and B.
 * Warm-up runs use 8 tokens. Times are the process's CPU time (tfjs-backend-cpu is single-threaded
 * JavaScript), which a busy shared machine disturbs far less than wall time; both are printed.
 */
import * as tf from '@tensorflow/tfjs-core';
import { FloatLinear, LoraLinear, type Linear } from '../src/index.js';
import { compare as compareRuns } from './compare.js';
import { registerBenchGradients } from './gradients.js';

const env = (k: string, d: number) => Number(process.env[k] ?? d);
const IN = env('IN', 4096);
const OUT = env('OUT', 4096);
const TOKENS = env('TOKENS', 256);
const REPS = env('REPS', 1);
const BACKEND = process.env.BACKEND ?? 'cpu';
const compare = (cases: Array<[label: string, run: () => void, warmUp: () => void]>) => compareRuns(cases, REPS);

function fwdBwd(layer: Linear, x: tf.Variable, vars: tf.Variable[]): () => void {
  return () => {
    const { value, grads } = tf.variableGrads(() => tf.sum(layer.apply(x)) as tf.Scalar, [x, ...vars]);
    tf.dispose([value, ...Object.values(grads)]);
  };
}

async function main(): Promise<void> {
  if (BACKEND === 'wasm') await import('@tensorflow/tfjs-backend-wasm' as string);
  else await import('@tensorflow/tfjs-backend-cpu');
  await tf.setBackend(BACKEND);
  await tf.ready();
  registerBenchGradients();
  console.log(`backend ${tf.getBackend()}, x [${TOKENS}, ${IN}] → [${TOKENS}, ${OUT}], r 8, mean of ${REPS} run(s)`);
  const base = new FloatLinear(tf.randomUniform([OUT, IN], -0.02, 0.02, 'float32', 1) as tf.Tensor2D);
  const lora = new LoraLinear(base, { path: 'bench.q', r: 8, loraAlpha: 16, initLoraWeights: false });
  const x = tf.variable(tf.randomNormal([TOKENS, IN], 0, 1, 'float32', 2), true, 'bench.x');
  const xs = tf.variable(tf.randomNormal([8, IN], 0, 1, 'float32', 3), true, 'bench.xSmall');
  const ab = [lora.loraA, lora.loraB];

  const [tBase, tLora] = compare([
    ['base linear, forward + backward', fwdBwd(base, x, []), fwdBwd(base, xs, [])],
    ['LoRA linear (r 8), forward + backward', fwdBwd(lora, x, ab), fwdBwd(lora, xs, ab)],
  ]);
  console.log(`ratio LoRA / base (cpu time): ${(tLora! / tBase!).toFixed(3)}`);

  // The adapter path alone, forward + backward: the layer's hand-written gradient (plain matMuls only)
  // against autodiff of matMul(x, A, false, true) / matMul(h, B, false, true).
  const autodiffPath = (xx: tf.Variable) => () => {
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.matMul(tf.mul(tf.matMul(xx, lora.loraA, false, true), lora.scaling), lora.loraB, false, true)) as tf.Scalar, [xx, ...ab]);
    tf.dispose([value, ...Object.values(grads)]);
  };
  const adapterOnly = new LoraLinear(new FloatLinear(tf.zeros([OUT, IN]) as tf.Tensor2D), { path: 'bench.adapter', r: 8, loraAlpha: 16, initLoraWeights: false });
  const customPath = (xx: tf.Variable) => () => {
    // the adapter's own path (LoraAdapter.adapterPath), called directly: no base matMul
    const path = adapterOnly.adapter('default');
    const { value, grads } = tf.variableGrads(() => tf.sum(path.adapterPath(xx, path.loraA, path.loraB)) as tf.Scalar, [xx, path.loraA, path.loraB]);
    tf.dispose([value, ...Object.values(grads)]);
  };
  const [tCustom, tAuto] = compare([
    ['adapter path, hand-written gradient', customPath(x), customPath(xs)],
    ['adapter path, autodiff of transposeB', autodiffPath(x), autodiffPath(xs)],
  ]);
  console.log(`autodiff / hand-written (cpu time): ${(tAuto! / tCustom!).toFixed(3)}`);
  adapterOnly.dispose();
  tf.dispose([x, xs]);
  lora.dispose();
}

void main();
