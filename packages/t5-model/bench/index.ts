/**
 * Forward+backward tokens/s of a flan-t5-small-shaped model (d_model 512, 8+8 layers, 6 heads × 64,
 * d_ff 1024, gated-gelu, vocab 32128; random weights from fromConfig) with LoRA-like adapters
 * (r 8 on q and v, the only trainable variables), beside the backend's plain matMul GFLOP/s measured
 * in the same run, and the fraction of it the model reaches.
 *
 *   pnpm bench                         # cpu and wasm
 *   pnpm bench -- --backends wasm      # one backend
 *   pnpm bench -- --backends wasm --shape 1,256,64 --attention batched   # batch,source,target; attention products
 *
 * Model FLOPs per step = 2 × (forward matMul FLOPs): the backward of frozen weights computes only
 * the input gradients, which cost what the forward costs (adapters and elementwise ops not counted).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { setAttentionMatMul, T5ForConditionalGeneration, type AttentionMatMulMode, type Linear } from '../src/index.js';
import { registerGradients } from './gradients.js';

await registerGradients();

const CONFIG = {
  vocab_size: 32128, d_model: 512, d_kv: 64, num_heads: 6, d_ff: 1024, num_layers: 8, num_decoder_layers: 8,
  feed_forward_proj: 'gated-gelu', dropout_rate: 0, tie_word_embeddings: false, scale_decoder_outputs: false,
};
/** Per backend: batch, source and target lengths, timed steps (cpu is ~40× slower than wasm). */
const SHAPES: Record<string, { b: number; s: number; t: number; steps: number }> = {
  wasm: { b: 2, s: 64, t: 64, steps: 2 },
  cpu: { b: 1, s: 16, t: 16, steps: 1 },
};

class Adapter implements Linear {
  A: tf.Variable;
  B: tf.Variable;
  constructor(readonly base: Linear, r: number, seed: number) {
    this.A = tf.variable(tf.randomNormal([base.inFeatures, r], 0, 0.02, 'float32', seed));
    this.B = tf.variable(tf.zeros([r, base.outFeatures]));
  }
  get inFeatures() {
    return this.base.inFeatures;
  }
  get outFeatures() {
    return this.base.outFeatures;
  }
  apply(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const x2 = tf.reshape(x, [-1, this.inFeatures]);
      const y = tf.add(this.base.apply(x2), tf.matMul(tf.matMul(x2, this.A), this.B));
      return tf.reshape(y, [...x.shape.slice(0, -1), this.outFeatures]);
    });
  }
}

function forwardFlops(b: number, s: number, t: number): number {
  const { d_model: d, d_ff: ff, num_heads: h, d_kv: dk, vocab_size: v } = CONFIG;
  const inner = h * dk;
  const enc = b * s * (2 * (3 * d * inner + inner * d + 3 * d * ff)) + 2 * 2 * b * h * s * s * dk;
  const dec =
    b * t * 2 * (4 * d * inner + 2 * d * inner + 3 * d * ff) + // self q,k,v,o; cross q,o; ff
    b * s * 2 * (2 * d * inner) + // cross k, v over the encoder states
    2 * 2 * b * h * (t * t + t * s) * dk; // attention products
  return CONFIG.num_layers * enc + CONFIG.num_decoder_layers * dec + 2 * b * t * d * v;
}

async function plainMatMulGflops(n: number): Promise<number> {
  const a = tf.randomNormal([n, 512]);
  const w = tf.randomNormal([512, 1024]);
  const once = async () => {
    const y = tf.matMul(a, w);
    await y.data();
    y.dispose();
  };
  await once();
  const reps = tf.getBackend() === 'cpu' ? 2 : 10;
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) await once();
  const secs = (performance.now() - t0) / 1000 / reps;
  tf.dispose([a, w]);
  return (2 * n * 512 * 1024) / secs / 1e9;
}

async function bench(backend: string) {
  await tf.setBackend(backend);
  await tf.ready();
  const { b, s, t, steps } = shapeArg ? { ...shapeArg, steps: 1 } : SHAPES[backend]!;
  const t0 = performance.now();
  const model = T5ForConditionalGeneration.fromConfig(CONFIG, { seed: 0 });
  const vars: tf.Variable[] = [];
  for (const [path, lin] of model.listLinears()) {
    if (!/\.(q|v)$/.test(path)) continue;
    const a = new Adapter(lin, 8, vars.length + 1);
    model.replaceLinear(path, a);
    vars.push(a.A, a.B);
  }
  const initSecs = (performance.now() - t0) / 1000;
  const rnd = (n: number) => Int32Array.from({ length: n }, (_, i) => 2 + ((i * 7919) % 32000));
  const batch = {
    inputIds: rnd(b * s), attentionMask: new Int32Array(b * s).fill(1), labels: rnd(b * t),
    batchSize: b, sourceLength: s, targetLength: t,
  };
  const step = async () => {
    const { value, grads } = tf.variableGrads(() => model.lossSum(batch, true).sum, vars);
    await value.data();
    tf.dispose([value, ...Object.values(grads)]);
  };
  const plainBefore = await plainMatMulGflops(b * s);
  await step(); // warm-up (kernels, the W copies the backward keeps)
  const t1 = performance.now();
  for (let i = 0; i < steps; i++) await step();
  const secs = (performance.now() - t1) / 1000 / steps;
  const modelGflops = (2 * forwardFlops(b, s, t)) / secs / 1e9;
  // Plain matMul [B·S, 512]·[512, 1024] before and after (the machine may be shared): the mean.
  const plain = (plainBefore + (await plainMatMulGflops(b * s))) / 2;
  model.dispose();
  vars.forEach((v) => v.dispose());
  return {
    backend, attention: option('--attention') ?? 'auto', batch: `${b}×(${s}+${t})`, init_s: +initSecs.toFixed(1), step_s: +secs.toFixed(2),
    'tokens/s (src+tgt)': +((b * (s + t)) / secs).toFixed(2),
    'model GFLOP/s': +modelGflops.toFixed(2), 'plain matMul GFLOP/s': +plain.toFixed(2),
    fraction: `${((100 * modelGflops) / plain).toFixed(0)} %`,
  };
}

const option = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const backends = option('--backends')?.split(',') ?? ['cpu', 'wasm'];
const shape = option('--shape')?.split(',').map(Number);
const shapeArg = shape ? { b: shape[0]!, s: shape[1]!, t: shape[2]! } : null;
setAttentionMatMul((option('--attention') ?? 'auto') as AttentionMatMulMode);
const rows = [];
for (const be of backends) {
  rows.push(await bench(be));
  console.log(rows[rows.length - 1]);
}
console.table(rows);
