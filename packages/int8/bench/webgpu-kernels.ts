/**
 * Device script: every webgpu Int8MatMul kernel of @conifer/int8 checked against a CPU reference
 * on random data (relative error over sampled rows) and timed alone (TFLOP/s = 2·M·N·K / time).
 *
 * Shapes: x [M, 4096] · W [N, 4096]ᵀ for N ∈ {4096, 16384}, M = 2048, and the input gradient
 * dY [M, N] · W; on a CPU adapter (lavapipe/llvmpipe/swiftshader) small shapes instead
 * (M = 128, K = 512, N ∈ {512, 2048}). Override with BENCH_M, BENCH_K, BENCH_N (comma list),
 * BENCH_REPS; BENCH_TC=0 skips the tensor-core kernels; BENCH_TILES fixes their subgroup tiles ("4x2",
 * or "2x2,4x4" to tune over those; default: tuned over all candidates at x [M, K] · W [N0, K]ᵀ).
 *
 * The tensor-core rows need a device with `chromium-experimental-subgroup-matrix` (created here
 * with Dawn's `allow_unsafe_apis,vulkan_enable_f16_on_nvidia` toggles); elsewhere they print
 * "feature absent". Those kernels are UNTESTED ON HARDWARE: compile errors or a failed check are
 * printed in the table instead of a time.
 *
 * Run here:   npx tsx packages/int8/bench/webgpu-kernels.ts
 * Bundle:     npx esbuild packages/int8/bench/webgpu-kernels.ts --bundle --platform=node --format=esm \
 *               --external:webgpu --outfile=packages/int8/bench/dist/webgpu-kernels.mjs \
 *               --banner:js="import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);"
 * (then ../shared/device/pack.sh packages/int8/bench/dist/webgpu-kernels.mjs on the GPU machine).
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  Int8MatMul, llmInt8MatMulJs, packedWidth, prepareWebGPUTensorCores, registerInt8Kernels, setWebGPUInt8Kernels,
  type TensorCoreKind, type TensorCoreReport, type TensorCoreTiles, type WebGPUInt8KernelOptions,
} from '../src/index';
import { createBenchDevice } from '../../../scripts/webgpu-bench-device';


const SAMPLE_ROWS = 4;
const env = (k: string) => process.env[k];

interface Row { kernel: string; shape: string; relErr: string; ms: string; tflops: string; note: string }
const rows: Row[] = [];

function rngFactory(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** BENCH_TILES: unset = tune over TENSOR_CORE_TILE_CANDIDATES; "4x2" = fixed; "2x2,4x4s" = the fastest of those (s = staged). */
function tilesFromEnv(v: string | undefined): TensorCoreTiles[] | 'tune' {
  if (!v) return 'tune';
  return v.split(',').map((t) => {
    const staged = t.endsWith('s');
    const [TM, TN] = (staged ? t.slice(0, -1) : t).split('x').map(Number);
    if (!TM || !TN) throw new Error(`BENCH_TILES: "${t}" is not TMxTN or TMxTNs (e.g. 4x2, 4x2s for staged)`);
    return staged ? { TM, TN, staged } : { TM, TN };
  });
}

async function main(): Promise<void> {
  const { backend, name, cpuAdapter, features, subgroupMatrixConfigs: configs, sync } = await createBenchDevice();
  registerInt8Kernels();

  const M = Number(env('BENCH_M') ?? (cpuAdapter ? 128 : 2048));
  const K = Number(env('BENCH_K') ?? (cpuAdapter ? 512 : 4096));
  const Ns = (env('BENCH_N') ?? (cpuAdapter ? '512,2048' : '4096,16384')).split(',').map(Number);
  const reps = Number(env('BENCH_REPS') ?? (cpuAdapter ? 2 : 10));
  console.log(`adapter: ${name}; features: ${features.join(', ') || 'none'}; subgroup matrix configs: ${configs.join(', ') || 'none'}; node ${process.version}`);
  console.log(`shapes: M = ${M}, K = ${K}, N ∈ {${Ns.join(', ')}}; ${reps} timed runs after a warm-up; error over ${SAMPLE_ROWS} sampled rows vs float64/int JS`);

  // BENCH_TC=0 skips the (untested) tensor-core kernels altogether, e.g. if they take the device down
  const tc: TensorCoreReport = env('BENCH_TC') === '0'
    ? { feature: features.includes('chromium-experimental-subgroup-matrix'), i8: 'skipped (BENCH_TC=0)', f16: 'skipped (BENCH_TC=0)', f16t: 'skipped (BENCH_TC=0)', chosen: {} }
    : await prepareWebGPUTensorCores({ tiles: tilesFromEnv(env('BENCH_TILES')), tuneShape: { M, N: Ns[0] as number, K } });
  for (const kind of ['i8', 'f16', 'f16t'] as const) console.log(`tensor cores ${kind}: ${tc[kind]}`);


  for (const N of Ns) {
    const rand = rngFactory(N);
    const KW = packedWidth(K);
    const packedArr = new Int32Array(N * KW);
    for (let i = 0; i < packedArr.length; i++) packedArr[i] = (rand() * 2 ** 32) | 0;
    // byte value -128 never arises from the quantizer: map it to -127
    const bytes = new Int8Array(packedArr.buffer);
    for (let i = 0; i < bytes.length; i++) if (bytes[i] === -128) bytes[i] = -127;
    const scaleArr = new Float32Array(N).map(() => (0.5 + rand()) / 127 / 20);
    const xArr = new Float32Array(M * K).map(() => 4 * rand() - 2);
    const outlierCols = [7, Math.floor(K / 2) + 3];
    for (let m = 0; m < M; m++) for (const c of outlierCols) xArr[m * K + c] = (m % 2 ? 8 : -8) * (0.8 + 0.4 * rand());
    const dyArr = new Float32Array(M * N).map(() => 2 * rand() - 1);

    const packed = tf.tensor2d(packedArr, [N, KW], 'int32');
    const scale = tf.tensor1d(scaleArr);
    const x = tf.tensor2d(xArr, [M, K]);
    const dy = tf.tensor2d(dyArr, [M, N]);
    const sample = Array.from({ length: SAMPLE_ROWS }, (_, i) => Math.floor((i * (M - 1)) / Math.max(1, SAMPLE_ROWS - 1)));

    // CPU references on the sampled rows (float64; LLM.int8 through llmInt8MatMulJs, whose outlier set
    // equals the full one since the planted columns are the only |x| ≥ 6)
    const refFwd = new Float64Array(SAMPLE_ROWS * N);
    const refBwd = new Float64Array(SAMPLE_ROWS * K);
    const refLlm = new Float32Array(SAMPLE_ROWS * N);
    const xs = new Float32Array(SAMPLE_ROWS * K);
    for (const [i, m] of sample.entries()) {
      xs.set(xArr.subarray(m * K, (m + 1) * K), i * K);
      for (let n = 0; n < N; n++) {
        let s = 0;
        const o = n * 4 * KW;
        for (let k = 0; k < K; k++) s += (xArr[m * K + k] as number) * (bytes[o + k] as number);
        refFwd[i * N + n] = s * (scaleArr[n] as number);
        const d = (dyArr[m * N + n] as number) * (scaleArr[n] as number);
        for (let k = 0; k < K; k++) refBwd[i * K + k] = (refBwd[i * K + k] as number) + d * (bytes[o + k] as number);
      }
    }
    llmInt8MatMulJs(xs, SAMPLE_ROWS, K, packedArr, scaleArr, N, 6, refLlm);

    const relErr = async (y: tf.Tensor, ref: ArrayLike<number>, width: number) => {
      const v = await y.data();
      let num = 0;
      let den = 0;
      for (const [i, m] of sample.entries()) {
        for (let j = 0; j < width; j++) {
          const r = ref[i * width + j] as number;
          num += ((v[m * width + j] as number) - r) ** 2;
          den += r * r;
        }
      }
      return Math.sqrt(num / den);
    };

    type Case = { kernel: string; opts: Partial<WebGPUInt8KernelOptions>; mode: 'weight-only' | 'llm-int8'; fwd: boolean; tcKind?: TensorCoreKind };
    const cases: Case[] = [
      { kernel: 'simple (1 thread/output) x·Wᵀ', opts: { path: 'simple' }, mode: 'weight-only', fwd: true },
      { kernel: 'tiled f32 64×64 x·Wᵀ', opts: { path: 'tiled', tiledRows: 4 }, mode: 'weight-only', fwd: true },
      { kernel: 'tiled f32 128×64 x·Wᵀ', opts: { path: 'tiled', tiledRows: 8 }, mode: 'weight-only', fwd: true },
      { kernel: 'tiled f32 128×128 x·Wᵀ', opts: { path: 'tiled', tiledRows: 8, tiledCols: 8 }, mode: 'weight-only', fwd: true },
      { kernel: 'simple dY·W', opts: { path: 'simple' }, mode: 'weight-only', fwd: false },
      { kernel: 'tiled f32 64×64 dY·W', opts: { path: 'tiled', tiledRows: 4 }, mode: 'weight-only', fwd: false },
      { kernel: 'tiled f32 128×64 dY·W', opts: { path: 'tiled', tiledRows: 8 }, mode: 'weight-only', fwd: false },
      { kernel: 'tiled f32 128×128 dY·W', opts: { path: 'tiled', tiledRows: 8, tiledCols: 8 }, mode: 'weight-only', fwd: false },
      { kernel: 'tiled llm-int8 x·Wᵀ (int32 acc)', opts: { path: 'tiled' }, mode: 'llm-int8', fwd: true },
      { kernel: 'tensor-core i8×i8→i32 llm-int8 x·Wᵀ', opts: { path: 'auto' }, mode: 'llm-int8', fwd: true, tcKind: 'i8' },
      { kernel: 'tensor-core f16×f16→f32 dY·W', opts: { path: 'auto' }, mode: 'weight-only', fwd: false, tcKind: 'f16' },
      { kernel: 'tensor-core f16×f16→f32 weight-only x·Wᵀ', opts: { path: 'auto' }, mode: 'weight-only', fwd: true, tcKind: 'f16t' },
    ];
    for (const c of cases) {
      const shape = c.fwd ? `[${M},${K}]·[${N},${K}]ᵀ` : `[${M},${N}]·[${N},${K}]`;
      if (c.tcKind && !tc[c.tcKind].startsWith('ready')) {
        rows.push({ kernel: c.kernel, shape, relErr: '—', ms: '—', tflops: '—', note: tc[c.tcKind] });
        continue;
      }
      const prev = setWebGPUInt8Kernels(c.opts);
      try {
        const call = () => tf.engine().runKernel(Int8MatMul, { x: c.fwd ? x : dy, packed, scale },
          { mode: c.mode, threshold: 6, inFeatures: K, transposeWeight: c.fwd } as unknown as tf.NamedAttrMap) as tf.Tensor;
        const y = call();
        const err = await relErr(y, c.mode === 'llm-int8' ? refLlm : c.fwd ? refFwd : refBwd, c.fwd ? N : K);
        y.dispose();
        await sync();
        const t0 = performance.now();
        for (let r = 0; r < reps; r++) call().dispose();
        await sync();
        const ms = (performance.now() - t0) / reps;
        const chosen = c.tcKind ? tc.chosen[c.tcKind] : undefined;
        const note = chosen ? `${chosen.variant.layout} ${chosen.variant.word}, tiles ${chosen.tiles.TM}×${chosen.tiles.TN}${chosen.tiles.staged ? ' staged' : ''}` : '';
        rows.push({ kernel: c.kernel, shape, relErr: err.toExponential(2), ms: ms.toFixed(3), tflops: ((2 * M * N * K) / ms / 1e9).toPrecision(3), note });
      } catch (e) {
        rows.push({ kernel: c.kernel, shape, relErr: '—', ms: '—', tflops: '—', note: `error: ${(e as Error).message.slice(0, 200)}` });
      } finally {
        setWebGPUInt8Kernels(prev);
      }
      console.error(JSON.stringify(rows.at(-1)));
    }
    // tfjs-backend-webgpu's own float32 matMul on a float32 W [N, K] (no int8), for comparison
    {
      const w = tf.randomUniform([N, K], -0.01, 0.01, 'float32', 1);
      const call = () => tf.matMul(x, w, false, true);
      call().dispose();
      await sync();
      const t0 = performance.now();
      for (let r = 0; r < reps; r++) call().dispose();
      await sync();
      const ms = (performance.now() - t0) / reps;
      rows.push({ kernel: 'tfjs stock f32 matMul x·Wᵀ (float32 W)', shape: `[${M},${K}]·[${N},${K}]ᵀ`, relErr: '—', ms: ms.toFixed(3), tflops: ((2 * M * N * K) / ms / 1e9).toPrecision(3), note: 'baseline' });
      w.dispose();
    }
    tf.dispose([packed, scale, x, dy]);
  }

  const cols: Array<keyof Row> = ['kernel', 'shape', 'relErr', 'ms', 'tflops', 'note'];
  const header: Row = { kernel: 'kernel', shape: 'shape', relErr: 'rel err', ms: 'ms', tflops: 'TFLOP/s', note: 'note' };
  const width = cols.map((k) => Math.max(header[k].length, ...rows.map((r) => r[k].length)));
  const line = (r: Record<keyof Row, string>) => `| ${cols.map((k, i) => r[k].padEnd(width[i] as number)).join(' | ')} |`;
  console.log(`\nconifer int8 webgpu kernels on ${name} (${new Date().toISOString().slice(0, 10)})`);
  console.log(line(header));
  console.log(`|${width.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
  backend.dispose();
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
