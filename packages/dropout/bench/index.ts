/**
 * pnpm bench: @conifer/dropout vs tf.dropout (tfjs-core's: uniform random numbers drawn on the host
 * in JavaScript, then uploaded), same run, per backend, on x [4096, 4096] — Flan-UL2's hidden
 * states at 4096 tokens (the FF activations are 4× that).
 * Prints per backend: the host time until the op returns (what a training step's JavaScript
 * pays; on webgpu the GPU work is queued, not waited for) and the time including the read-back.
 * Env: BENCH_BACKENDS (default "cpu,wasm,webgpu"; webgpu needs a Vulkan driver, lavapipe works),
 * BENCH_ROWS (default 4096), BENCH_REPS (default 3).
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { dropout } from '../src/index';

const env = (k: string, d: string) => process.env[k] ?? d;
const backends = env('BENCH_BACKENDS', 'cpu,wasm,webgpu').split(',');
const rows = Number(env('BENCH_ROWS', '4096'));
const reps = Number(env('BENCH_REPS', '3'));
const cols = 4096;

async function setBackend(name: string): Promise<boolean> {
  if (name === 'webgpu') {
    try {
      const { create, globals } = await import('webgpu');
      Object.assign(globalThis, globals);
      Object.defineProperty(globalThis, 'navigator', { value: { gpu: create([]) }, configurable: true, writable: true });
      await import('@tensorflow/tfjs-backend-webgpu');
    } catch (e) {
      console.log(`webgpu: skipped (${(e as Error).message})`);
      return false;
    }
  }
  return tf.setBackend(name).catch(() => false);
}

/** Best of `reps` (after a warm-up) of: host ms until `f` returns, and ms including `await data()`. */
async function time(f: () => tf.Tensor): Promise<{ host: number; total: number }> {
  let host = Infinity;
  let total = Infinity;
  for (let r = 0; r <= reps; r++) {
    const t0 = performance.now();
    const y = f();
    const t1 = performance.now();
    await y.data();
    const t2 = performance.now();
    y.dispose();
    if (r > 0) {
      host = Math.min(host, t1 - t0);
      total = Math.min(total, t2 - t0);
    }
  }
  return { host, total };
}

console.log(`dropout(x, 0.1, seed) vs tf.dropout(x, 0.1, undefined, seed), x [${rows}, ${cols}] float32, best of ${reps}`);
console.log('| backend | conifer host ms | tf.dropout host ms | host ratio | conifer total ms | tf.dropout total ms | total ratio |');
console.log('|---|---|---|---|---|---|---|');
for (const name of backends) {
  if (!(await setBackend(name))) {
    console.log(`| ${name} | skipped | | | | | |`);
    continue;
  }
  const x = tf.randomUniform([rows, cols], -1, 1, 'float32', 1);
  let seed = 1;
  const ours = await time(() => dropout(x, 0.1, seed++));
  const theirs = await time(() => tf.dropout(x, 0.1, undefined, seed++));
  x.dispose();
  const f = (v: number) => v.toFixed(1);
  console.log(`| ${name} | ${f(ours.host)} | ${f(theirs.host)} | ${(theirs.host / ours.host).toFixed(1)}× | ${f(ours.total)} | ${f(theirs.total)} | ${(theirs.total / ours.total).toFixed(1)}× |`);
}
process.exit(0);
