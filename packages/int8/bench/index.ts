/**
 * pnpm bench: int8 weight-only and LLM.int8 vs plain float32 matMul, same run, per backend.
 *   x [M, 4096] × W [4096 → N] for N ∈ {4096, 16384}.
 * x is uniform in [-1, 1] with 4 outlier columns (|x| up to 10 ≥ the 6.0 threshold), so LLM.int8
 * takes its mixed-precision path.
 * Env: BENCH_BACKENDS (default "wasm,cpu"), BENCH_M_<BACKEND> (rows; wasm 2048, cpu 32: the cpu
 * backend's pure-JS matMul is too slow for 2048 rows on a small machine), BENCH_N (default
 * "4096,16384"), BENCH_REPS (default 2).
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { Int8Linear, measureHeldBytes } from '../src/index';

const K = 4096;
const env = (k: string, d: string) => process.env[k] ?? d;
const backends = env('BENCH_BACKENDS', 'wasm,cpu').split(',');
const Ns = env('BENCH_N', '4096,16384').split(',').map(Number);
const reps = Number(env('BENCH_REPS', '2'));
const defaultM: Record<string, string> = { wasm: '2048', cpu: '32' };

function random(n: number, scale: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (Math.random() * 2 - 1) * scale;
  return a;
}

/**
 * Wall times (ms) of each function, run in interleaved rounds (one warm-up round, then `reps`),
 * reading each result back; the minimum per function, which is the least disturbed by other
 * load on a shared machine.
 */
async function timeInterleaved(fs: Array<() => tf.Tensor>): Promise<number[]> {
  const best = fs.map(() => Infinity);
  for (let r = 0; r <= reps; r++) {
    for (const [i, f] of fs.entries()) {
      const t0 = performance.now();
      const y = f();
      await y.data();
      y.dispose();
      if (r > 0) best[i] = Math.min(best[i] as number, performance.now() - t0);
    }
  }
  return best;
}

const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

async function main(): Promise<void> {
  console.log(`conifer int8 bench — node ${process.version}, ${(await import('node:os')).cpus().length} cores, ${reps} interleaved rounds after a warm-up, minimum per mode`);
  console.log('backend | W [in → out] | mode | M | ms | × float32 (same M) | weight bytes held');
  for (const backend of backends) {
    await tf.setBackend(backend);
    await tf.ready();
    const M = Number(env(`BENCH_M_${backend.toUpperCase()}`, defaultM[backend] ?? '256'));
    for (const N of Ns) {
      const w = random(N * K, 0.05); // [N, K], nn.Linear layout
      const { result: wT, bytes: fBytes } = measureHeldBytes(() => tf.tidy(() => tf.transpose(tf.tensor2d(w, [N, K])))); // [K, N]
      const { result: wo, bytes: qBytes } = measureHeldBytes(() => Int8Linear.fromFloat32(w, [N, K]));
      const llm = Int8Linear.fromQuantized({ packed: await wo.packed.data() as Int32Array, scale: await wo.scale.data() as Float32Array, outFeatures: N, inFeatures: K }, { mode: 'llm-int8' });
      const row = (mode: string, m: number, ms: number, base: number, bytes: number) =>
        console.log(`${backend} | [${K} → ${N}] | ${mode} | ${m} | ${ms.toFixed(0)} | ${(ms / base).toFixed(2)} | ${mb(bytes)}`);
      const xv = random(M * K, 1);
      for (const k of [17, 1000, 2222, 4000]) for (let m = 0; m < M; m++) xv[m * K + k] = (xv[m * K + k] as number) * 10;
      const x = tf.tensor2d(xv, [M, K]);
      const [base, tWo, tLlm] = (await timeInterleaved([() => tf.matMul(x, wT), () => wo.apply(x), () => llm.apply(x)])) as [number, number, number];
      row('float32 matMul', M, base, base, fBytes);
      row('int8 weight-only', M, tWo, base, qBytes);
      row('int8 llm-int8', M, tLlm, base, qBytes);
      x.dispose();
      console.log(`${backend} | [${K} → ${N}] | int8 / float32 bytes | ${(qBytes / fBytes * 100).toFixed(2)} %`);
      wT.dispose();
      wo.dispose();
      llm.dispose();
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
