import * as tf from '@tensorflow/tfjs-core';
import { Int8Dequantize, Int8MatMul, type Int8DequantizeAttrs, type Int8MatMulAttrs } from '../kernel-names';
import { packedWidth } from '../pack';
import { notAnOptionsObject, optionProblemsMessage, optionsMessage, showValue as shown, unknownOptionProblems, type KnownOptions, type OptionProblems } from '../unknown-options';
import { isPositiveInteger, kindsProblems, shapeProblems, tileProblems, tilesOptionProblems } from './tensor-core-options';
import {
  dequantizeProgram, llmInt8Program, outlierColumnsProgram, rowAbsmaxProgram,
  weightOnlyBackwardProgram, weightOnlyProgram, type WgslProgram,
} from './webgpu-programs';
import { tiledInt8Program, type TiledCols, type TiledRows } from './webgpu-tiled';
import { finishQueuedWork, prepareTensorCoreKernels, tensorCoreInt8MatMul, tensorCoresReady, type TensorCoreKind, type TensorCoreReport, type TensorCoreTiles } from './webgpu-tensor-core';

type Uniform = { type: 'int32' | 'float32'; data: number[] };
/** The part of tfjs-backend-webgpu's `WebGPUBackend` these kernels use. */
export interface WebGPULike {
  runWebGPUProgram(program: WgslProgram, inputs: tf.TensorInfo[], dtype: 'float32', uniforms?: Uniform[]): tf.TensorInfo;
  disposeData(dataId: object): void;
}

const int = (v: number): Uniform => ({ type: 'int32', data: [v] });

/** Which webgpu implementation {@link webgpuInt8MatMul} uses (see {@link setWebGPUInt8Kernels}). */
export interface WebGPUInt8KernelOptions {
  /**
   * `'auto'` (default): the tensor-core kernels where {@link prepareTensorCoreKernels} enabled them for
   * the backend and the shape suits them, else the tiled kernels. `'tiled'`: always the tiled
   * kernels. `'simple'`: the one-invocation-per-output reference programs.
   */
  path: 'auto' | 'tiled' | 'simple';
  /** Rows per invocation of the tiled kernels (tile 64 or 128 rows); `'auto'`: 8 when M ≥ 1024. */
  tiledRows: TiledRows | 'auto';
  /**
   * Columns per invocation of the tiled weight-only kernels (tile 64 or 128 columns; default 4).
   * 8 × 8 per invocation (128 × 128 tiles) is the usual shape of fast f32 GEMMs on large GPUs;
   * which is faster here has not been measured on one (the device bench times both).
   */
  tiledCols: TiledCols;
}

const options: WebGPUInt8KernelOptions = { path: 'auto', tiledRows: 'auto', tiledCols: 4 };
const KERNEL_OPTIONS: KnownOptions<WebGPUInt8KernelOptions> = { path: true, tiledRows: true, tiledCols: true };

/**
 * Chooses the webgpu implementation (for benchmarks and tests); returns the previous options. Unknown keys and
 * values outside those listed are one Error, and leave the options unchanged.
 */
export function setWebGPUInt8Kernels(next: Partial<WebGPUInt8KernelOptions>): WebGPUInt8KernelOptions {
  const allowed: { [K in keyof WebGPUInt8KernelOptions]: readonly WebGPUInt8KernelOptions[K][] } = { path: ['auto', 'tiled', 'simple'], tiledRows: ['auto', 4, 8], tiledCols: [4, 8] };
  const message = optionsMessage('setWebGPUInt8Kernels', next, {
    known: KERNEL_OPTIONS,
    more: (o, p) => {
      for (const key of ['path', 'tiledRows', 'tiledCols'] as const) {
        const v = o[key];
        if (v !== undefined && !(allowed[key] as readonly unknown[]).includes(v)) p.values.push(`${key} must be ${allowed[key].map((a) => shown(a)).join(', ')}, got ${shown(v)}`);
      }
    },
  });
  if (message !== undefined) throw new Error(message);
  const prev = { ...options };
  Object.assign(options, next);
  return prev;
}

function simpleInt8MatMul(gpu: WebGPULike, x: tf.TensorInfo, packed: tf.TensorInfo, scale: tf.TensorInfo, a: Int8MatMulAttrs): tf.TensorInfo {
  const M = x.shape[0] as number;
  const N = packed.shape[0] as number;
  const K = a.inFeatures;
  const dims = [int(N), int(K), int(packedWidth(K))];
  if (a.mode === 'weight-only') {
    const prog = a.transposeWeight ? weightOnlyProgram(M, N) : weightOnlyBackwardProgram(M, K);
    return gpu.runWebGPUProgram(prog, [x, packed, scale], 'float32', dims);
  }
  const outlier = gpu.runWebGPUProgram(outlierColumnsProgram(K), [x], 'float32', [int(M), int(K), { type: 'float32', data: [a.threshold] }]);
  const rowAbsmax = gpu.runWebGPUProgram(rowAbsmaxProgram(M), [x, outlier], 'float32', [int(K)]);
  const y = gpu.runWebGPUProgram(llmInt8Program(M, N), [x, packed, scale, outlier, rowAbsmax], 'float32', dims);
  gpu.disposeData(outlier.dataId);
  gpu.disposeData(rowAbsmax.dataId);
  return y;
}

function tiledInt8MatMul(gpu: WebGPULike, x: tf.TensorInfo, packed: tf.TensorInfo, scale: tf.TensorInfo, a: Int8MatMulAttrs): tf.TensorInfo {
  const M = x.shape[0] as number;
  const N = packed.shape[0] as number;
  const K = a.inFeatures;
  const KW = packedWidth(K);
  const [R, C] = a.transposeWeight ? [K, N] : [N, K];
  const dims = [int(M), int(R), int(C), int(KW)];
  if (a.mode === 'weight-only') {
    const rows: TiledRows = options.tiledRows === 'auto' ? (M >= 1024 ? 8 : 4) : options.tiledRows;
    const prog = tiledInt8Program(a.transposeWeight ? 'forward' : 'backward', M, C, rows, options.tiledCols);
    return gpu.runWebGPUProgram(prog, [x, packed, scale], 'float32', dims);
  }
  const outlier = gpu.runWebGPUProgram(outlierColumnsProgram(K), [x], 'float32', [int(M), int(K), { type: 'float32', data: [a.threshold] }]);
  const rowAbsmax = gpu.runWebGPUProgram(rowAbsmaxProgram(M), [x, outlier], 'float32', [int(K)]);
  const y = gpu.runWebGPUProgram(tiledInt8Program('llm-int8', M, C, 4), [x, packed, scale, outlier, rowAbsmax], 'float32', dims);
  gpu.disposeData(outlier.dataId);
  gpu.disposeData(rowAbsmax.dataId);
  return y;
}

/**
 * Int8MatMul on webgpu. Default: tiled kernels that unpack the int8 weight in registers
 * (webgpu-tiled.ts); where {@link prepareTensorCoreKernels} enabled the subgroup-matrix kernels for this
 * backend (a device with `chromium-experimental-subgroup-matrix`; **untested on hardware**) and
 * the shape suits them, those.
 */
export const webgpuInt8MatMul: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const gpu = backend as unknown as WebGPULike;
  const { x, packed, scale } = inputs as { x: tf.TensorInfo; packed: tf.TensorInfo; scale: tf.TensorInfo };
  const a = attrs as unknown as Int8MatMulAttrs;
  if (a.mode === 'llm-int8' && !a.transposeWeight) throw new Error(`${Int8MatMul}: llm-int8 computes x · Wᵀ only (the input gradient uses weight-only)`);
  if (options.path === 'simple') return simpleInt8MatMul(gpu, x, packed, scale, a);
  if (options.path === 'auto' && tensorCoresReady(backend)) {
    const y = tensorCoreInt8MatMul(backend, x, packed, scale, a);
    if (y) return y;
  }
  return tiledInt8MatMul(gpu, x, packed, scale, a);
};

function randomQuantized(N: number, K: number, seed: number): { x: (count: number) => Float32Array; packed: Int32Array; scale: Float32Array } {
  let state = seed >>> 0;
  const next = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const packed = new Int32Array(N * packedWidth(K)).map(() => (next() * 2 ** 32) | 0);
  const scale = new Float32Array(N).map(() => 0.001 + 0.01 * next());
  return { x: (count) => new Float32Array(count).map(() => 4 * next() - 2), packed, scale };
}

let compareCalls = 0;

/**
 * Compares the tensor-core path with the tiled kernels on random data on the current (webgpu)
 * backend: `i8` = LLM.int8 forward (x [100, 256] · W [128, 256]ᵀ, one outlier column), `f16` = the
 * input gradient (dY [100, 128] · W [128, 256]), `f16t` = the weight-only forward (x [100, 256] ·
 * W [128, 256]ᵀ). Returns ‖tc − tiled‖ / ‖tiled‖.
 */
export async function compareTensorCoreWithTiled(kind: TensorCoreKind): Promise<number> {
  const [M, N, K] = [100, 128, 256];
  const forward = kind !== 'f16'; // x [M, K] · Wᵀ, else dY [M, N] · W
  // New data on every call: a kernel that leaves outputs unwritten cannot pass on a pooled buffer
  // that still holds an earlier call's right answer.
  const r = randomQuantized(N, K, { i8: 7, f16: 8, f16t: 9 }[kind] + 3 * compareCalls++);
  const x = r.x(M * (forward ? K : N));
  if (kind === 'i8') x[3] = 9; // column 3 is an outlier
  const attrs = { mode: kind === 'i8' ? 'llm-int8' : 'weight-only', threshold: 6, inFeatures: K, transposeWeight: forward };
  const once = async (path: WebGPUInt8KernelOptions['path']) => {
    const prev = setWebGPUInt8Kernels({ path });
    try {
      const y = tf.tidy(() => tf.engine().runKernel('ConiferInt8MatMul', {
        x: tf.tensor2d(x, [M, forward ? K : N]), packed: tf.tensor2d(r.packed, [N, packedWidth(K)], 'int32'), scale: tf.tensor1d(r.scale),
      }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor);
      const v = await y.data();
      y.dispose();
      return v;
    } finally {
      setWebGPUInt8Kernels(prev);
    }
  };
  const tc = await once('auto');
  const tiled = await once('tiled');
  let num = 0;
  let den = 0;
  for (let i = 0; i < tiled.length; i++) {
    num += ((tc[i] as number) - (tiled[i] as number)) ** 2;
    den += (tiled[i] as number) ** 2;
  }
  return Math.sqrt(num / den);
}

/** x `[M, K]` · W `[N, K]`ᵀ (for `f16`: dY `[M, N]` · W): the shape {@link timeInt8MatMul} times by default (a Flan-UL2 projection at 2048 tokens). */
export const TENSOR_CORE_TUNE_SHAPE = { M: 2048, N: 4096, K: 4096 } as const;

/**
 * Milliseconds per `Int8MatMul` call of one kernel kind (`i8` = LLM.int8 `x · Wᵀ`, `f16` = `dY · W`,
 * `f16t` = weight-only `x · Wᵀ`) on the current webgpu backend with `path: 'auto'` (the tensor-core
 * kernel where enabled and suited), random data, one warm-up call, then `reps` calls between two
 * waits for the GPU queue. Pre- and epilogue passes are included: it is what a training step pays.
 */
export async function timeInt8MatMul(kind: TensorCoreKind, shape: { M: number; N: number; K: number } = TENSOR_CORE_TUNE_SHAPE, reps = 5): Promise<number> {
  const { M, N, K } = shape;
  const forward = kind !== 'f16';
  // Filled on the device (no host random numbers, no upload): these kernels' time does not depend on
  // the values (x at 0.5 has no LLM.int8 outlier column, like uniform data in [-1, 1]).
  const x = tf.fill([M, forward ? K : N], 0.5);
  const packed = tf.fill([N, packedWidth(K)], 0x01fe7f81, 'int32'); // bytes -127, 127, -2, 1
  const scale = tf.fill([N], 1e-3);
  const attrs = { mode: kind === 'i8' ? 'llm-int8' : 'weight-only', threshold: 6, inFeatures: K, transposeWeight: forward };
  const prev = setWebGPUInt8Kernels({ path: 'auto' });
  try {
    const call = () => (tf.engine().runKernel(Int8MatMul, { x, packed, scale }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor).dispose();
    call();
    await finishQueuedWork(tf.backend());
    const t0 = performance.now();
    for (let r = 0; r < reps; r++) call();
    await finishQueuedWork(tf.backend());
    return (performance.now() - t0) / reps;
  } finally {
    setWebGPUInt8Kernels(prev);
    tf.dispose([x, packed, scale]);
  }
}

/** Options of {@link prepareWebGPUTensorCores}. */
export interface PrepareWebGPUTensorCoresOptions {
  /**
   * `'tune'` (default): time each of {@link TENSOR_CORE_TILE_CANDIDATES} that compiles and passes the
   * check, per kernel, at `tuneShape`, and keep the fastest; or fixed tiles (or a list tried in order).
   */
  tiles?: TensorCoreTiles | readonly TensorCoreTiles[] | 'tune';
  /** The shape timed when tuning (default {@link TENSOR_CORE_TUNE_SHAPE}); use the model's own. */
  tuneShape?: { M: number; N: number; K: number };
  /** Timed calls per candidate (default 5). */
  tuneReps?: number;
  /** Kernels to prepare (default all); e.g. `['f16', 'f16t']` for weight-only int8, `['i8', 'f16']` for LLM.int8. */
  kinds?: readonly TensorCoreKind[];
}

const PREPARE_OPTIONS: KnownOptions<PrepareWebGPUTensorCoresOptions> = { tiles: true, tuneShape: true, tuneReps: true, kinds: true };

/** The 0.x bare tiles: an object with `TM` or `TN` (one forgotten: named as missing, not as an unknown option). */
const isBareTiles = (options: object): options is TensorCoreTiles => 'TM' in options || 'TN' in options;

/**
 * One Error naming every problem of `prepareWebGPUTensorCores`' argument, before the backend is looked at:
 * for options, unknown keys (of `tiles` and `tuneShape` too, as `tiles.key`), tiles or a `tuneShape` that are not
 * positive integers, an empty tile list, a kind not in `TENSOR_CORE_KINDS`, `tuneReps` not a positive integer;
 * for a bare `TensorCoreTiles` (an object with `TM` or `TN`, the 0.x signature), keys other than TM, TN and staged and
 * their values.
 */
function checkPrepareArgument(options: PrepareWebGPUTensorCoresOptions | TensorCoreTiles): void {
  const wrong = notAnOptionsObject(options);
  if (wrong !== undefined) throw new Error(`prepareWebGPUTensorCores: options must be an object, got ${wrong}`);
  const p: OptionProblems = { unknown: [], values: [] };
  const bare = isBareTiles(options);
  if (bare) {
    tileProblems(options, '', p);
  } else {
    p.unknown.push(...unknownOptionProblems(options, PREPARE_OPTIONS));
    tilesOptionProblems(options.tiles, p);
    shapeProblems(options.tuneShape, 'tuneShape', p);
    if (options.tuneReps !== undefined && !isPositiveInteger(options.tuneReps)) p.values.push(`tuneReps must be a positive integer, got ${shown(options.tuneReps)}`);
    kindsProblems(options.kinds, p);
  }
  const message = optionProblemsMessage(bare ? 'prepareWebGPUTensorCores(tiles)' : 'prepareWebGPUTensorCores', p);
  if (message !== undefined) throw new Error(message);
}

/**
 * Enables the subgroup-matrix (tensor-core) kernels on the current webgpu backend when its device
 * has `chromium-experimental-subgroup-matrix` (create the device with it: tfjs does not request
 * it), after compiling them and checking each against the tiled kernels
 * ({@link compareTensorCoreWithTiled}); by default the subgroup tiles are tuned per kernel
 * ({@link timeInt8MatMul}). **Untested on hardware**: without the feature, or on any compile error
 * or mismatch, the tiled kernels stay in use; the report says why. A bare `TensorCoreTiles`
 * argument (the 0.x signature) fixes the tiles. The argument is checked first, on any backend: every
 * unknown key or bad value (nested ones and the bare tiles' included) is one Error.
 */
export async function prepareWebGPUTensorCores(options: PrepareWebGPUTensorCoresOptions | TensorCoreTiles = {}): Promise<TensorCoreReport> {
  checkPrepareArgument(options);
  if (tf.getBackend() !== 'webgpu') throw new Error(`prepareWebGPUTensorCores: the current backend is ${tf.getBackend()}, not webgpu`);
  const o: PrepareWebGPUTensorCoresOptions = isBareTiles(options) ? { tiles: options } : options;
  return prepareTensorCoreKernels(tf.backend(), {
    ...(o.kinds ? { kinds: o.kinds } : {}),
    tiles: o.tiles ?? 'tune',
    check: compareTensorCoreWithTiled,
    time: (kind) => timeInt8MatMul(kind, o.tuneShape, o.tuneReps),
  });
}

/** Int8Dequantize on webgpu. */
export const webgpuInt8Dequantize: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { packed, scale } = inputs as { packed: tf.TensorInfo; scale: tf.TensorInfo };
  const { inFeatures: K } = attrs as unknown as Int8DequantizeAttrs;
  const N = packed.shape[0] as number;
  return (backend as unknown as WebGPULike).runWebGPUProgram(dequantizeProgram(N, K), [packed, scale], 'float32', [int(K), int(packedWidth(K))]);
};

export function webgpuKernelConfigs(): tf.KernelConfig[] {
  return [
    { kernelName: Int8MatMul, backendName: 'webgpu', kernelFunc: webgpuInt8MatMul },
    { kernelName: Int8Dequantize, backendName: 'webgpu', kernelFunc: webgpuInt8Dequantize },
  ];
}
