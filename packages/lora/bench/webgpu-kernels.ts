/**
 * Each webgpu kernel of the LoRA adapter path timed alone at a Flan-UL2 projection's shape, and
 * checked against the tensor ops on the cpu backend (relative L2 error):
 *   down  h = s·dropout(x)·Aᵀ [N, r]        up   y + h·Bᵀ [N, out]
 *   dh    dy·B [N, r]                       dB   dyᵀ·h [out, r]
 *   dx    s·mask⊙(dh·A) [N, in]             dA   s·dhᵀ·dropout(x) [r, in]
 * Shapes: N = 4096 tokens, in = out = 4096, r = 8, dropout 0.1; on a CPU adapter (lavapipe) N = 512.
 * Override with LORA_N, LORA_IN, LORA_OUT, LORA_R, LORA_REPS; LORA_LAYOUTS=tiled,per-output (default:
 * both) times each kernel layout of `setWebGPULoraKernels` in the same run.
 *
 * Run here:  npx tsx packages/lora/bench/webgpu-kernels.ts     (benchmarks/gpu/build.sh bundles it for the GPU)
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { DOWN_DA, DOWN_DX, LORA_DOWN, LORA_UP, registerLoraWebGPUKernels, setWebGPULoraKernels, UP_DB, UP_DH, type LoraDownAttrs, type WebGPULoraKernelOptions } from '../src/lora-webgpu.js';
import { createBenchDevice } from '../../../scripts/webgpu-bench-device';

const env = (k: string) => process.env[k];

function values(n: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    out[i] = a / 2 ** 31 - 1;
  }
  return out;
}

function relL2(a: Float32Array, b: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) { num += (a[i]! - b[i]!) ** 2; den += b[i]! ** 2; }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

type T = Record<'x' | 'a' | 'b' | 'y' | 'h' | 'dy' | 'dh', tf.Tensor>;
interface Dims { N: number; IN: number; OUT: number; R: number }
const run = (name: string, inputs: tf.NamedTensorMap, attrs: object = {}) => tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;

/** The six kernels: webgpu call, tensor-op reference without dropout (cpu), output shape, bytes of the operands. */
function kernels(): Array<{ name: string; run(t: T, a: LoraDownAttrs): tf.Tensor; reference(t: T, a: LoraDownAttrs): tf.Tensor; shape(d: Dims): string; bytes(d: Dims): number }> {
  return [
    { name: 'down', run: (t, a) => run(LORA_DOWN, { x: t.x, a: t.a }, a), reference: (t, a) => tf.mul(tf.matMul(t.x, t.a, false, true), a.scaling), shape: (d) => `[${d.N}, ${d.R}]`, bytes: (d) => 4 * (d.N * d.IN + d.R * d.IN + d.N * d.R) },
    { name: 'up', run: (t) => run(LORA_UP, { y: t.y, h: t.h, b: t.b }), reference: (t) => tf.add(t.y, tf.matMul(t.h, t.b, false, true)), shape: (d) => `[${d.N}, ${d.OUT}]`, bytes: (d) => 4 * (2 * d.N * d.OUT + d.N * d.R + d.OUT * d.R) },
    { name: 'dh', run: (t) => run(UP_DH, { dy: t.dy, b: t.b }), reference: (t) => tf.matMul(t.dy, t.b), shape: (d) => `[${d.N}, ${d.R}]`, bytes: (d) => 4 * (d.N * d.OUT + d.OUT * d.R + d.N * d.R) },
    { name: 'dB', run: (t) => run(UP_DB, { dy: t.dy, h: t.h }), reference: (t) => tf.matMul(t.dy, t.h, true, false), shape: (d) => `[${d.OUT}, ${d.R}]`, bytes: (d) => 4 * (d.N * d.OUT + d.N * d.R + d.OUT * d.R) },
    { name: 'dx', run: (t, a) => run(DOWN_DX, { dh: t.dh, a: t.a }, a), reference: (t, a) => tf.mul(tf.matMul(t.dh, t.a), a.scaling), shape: (d) => `[${d.N}, ${d.IN}]`, bytes: (d) => 4 * (d.N * d.R + d.R * d.IN + d.N * d.IN) },
    { name: 'dA', run: (t, a) => run(DOWN_DA, { dh: t.dh, x: t.x }, a), reference: (t, a) => tf.mul(tf.matMul(t.dh, t.x, true, false), a.scaling), shape: (d) => `[${d.R}, ${d.IN}]`, bytes: (d) => 4 * (d.N * d.R + d.N * d.IN + d.R * d.IN) },
  ];
}

async function main(): Promise<void> {
  const { device, name, cpuAdapter, sync } = await createBenchDevice();
  tf.env().set('WEBGPU_CPU_FORWARD', false);

  const N = Number(env('LORA_N') ?? (cpuAdapter ? 512 : 4096));
  const IN = Number(env('LORA_IN') ?? 4096);
  const OUT = Number(env('LORA_OUT') ?? 4096);
  const R = Number(env('LORA_R') ?? 8);
  const reps = Number(env('LORA_REPS') ?? (cpuAdapter ? 2 : 20));
  const layouts = (env('LORA_LAYOUTS') ?? 'tiled,per-output').split(',') as Array<WebGPULoraKernelOptions['layout']>;
  // Checked without dropout (the tensor-op reference has no mask; the masked path is checked against
  // @conifer/dropout in the package tests), timed with dropout 0.1 as in training.
  const plain: LoraDownAttrs = { scaling: 2, dropout: false, key: 0, thr: 0, scale: 1 };
  const attrs: LoraDownAttrs = { scaling: 2, dropout: true, key: 12345, thr: Math.round(0.1 * 2 ** 24), scale: 1 / 0.9 };
  console.log(`adapter: ${name}; node ${process.version}`);
  console.log(`LoRA webgpu kernels: N ${N} tokens, in ${IN}, out ${OUT}, r ${R}, dropout 0.1; ${reps} timed runs after a warm-up`);

  const host = {
    x: values(N * IN, 1), a: values(R * IN, 2), b: values(OUT * R, 3), y: values(N * OUT, 4),
    h: values(N * R, 5), dy: values(N * OUT, 6), dh: values(N * R, 7),
  };
  const shapes = { x: [N, IN], a: [R, IN], b: [OUT, R], y: [N, OUT], h: [N, R], dy: [N, OUT], dh: [N, R] } as const;
  const tensors = (): Record<keyof typeof host, tf.Tensor> =>
    Object.fromEntries(Object.entries(host).map(([k, v]) => [k, tf.tensor(v, shapes[k as keyof typeof shapes] as unknown as number[])])) as never;

  registerLoraWebGPUKernels();
  await tf.setBackend('cpu');
  const list = kernels();
  const cpuT = tensors();
  const refs: Record<string, Float32Array> = {};
  for (const k of list) {
    const r = k.reference(cpuT, plain);
    refs[k.name] = (await r.data()) as Float32Array;
    r.dispose();
  }
  tf.dispose(Object.values(cpuT));
  await tf.setBackend('webgpu');

  const gpuT = tensors();
  const rows: string[][] = [];
  for (const layout of layouts) {
    setWebGPULoraKernels({ layout });
    for (const k of list) {
      const y = k.run(gpuT, plain);
      const err = relL2((await y.data()) as Float32Array, refs[k.name]!);
      y.dispose();
      k.run(gpuT, attrs).dispose(); // compiles the dropout variant
      await sync();
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) k.run(gpuT, attrs).dispose();
      await sync();
      const ms = (performance.now() - t0) / reps;
      const gbs = k.bytes({ N, IN, OUT, R }) / ms / 1e6;
      rows.push([layout ?? 'tiled', k.name, k.shape({ N, IN, OUT, R }), err.toExponential(2), ms.toFixed(3), gbs.toFixed(1)]);
      console.error(JSON.stringify(rows.at(-1)));
    }
  }
  setWebGPULoraKernels({});
  tf.dispose(Object.values(gpuT));
  const header = ['layout', 'kernel', 'output', 'rel err', 'ms', 'GB/s (operands once)'];
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(w[i]!)).join(' | ')} |`;
  console.log(`\nconifer LoRA webgpu kernels on ${name} (${new Date().toISOString().slice(0, 10)})`);
  console.log(line(header));
  console.log(`|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
  // What the adapters cost per training step of Flan-UL2 with LoRA on q and v: 192 adapters of this
  // shape (4096 → 4096), each run forward twice (gradient checkpointing) and backward once.
  const perCall: Record<string, number> = { down: 2, up: 2, dh: 1, dB: 1, dx: 1, dA: 1 };
  for (const layout of layouts) {
    const ms = rows.filter((r) => r[0] === (layout ?? 'tiled')).reduce((a, r) => a + perCall[r[1]!]! * Number(r[4]), 0);
    console.log(`${layout} layout: ≈ ${(192 * ms).toFixed(1)} ms of LoRA kernels per Flan-UL2 training step at ${N} tokens per block (192 adapters × (2 down + 2 up + dh + dB + dx + dA))`);
  }
  device.destroy();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
