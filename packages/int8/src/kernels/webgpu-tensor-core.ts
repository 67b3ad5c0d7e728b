/**
 * Tensor-core int8 matmuls for the webgpu backend through Dawn's
 * `chromium-experimental-subgroup-matrix` feature (WGSL `subgroup_matrix_*`).
 *
 * **NOT YET RUN ON HARDWARE.** The subgroup-matrix shaders below use Dawn's templated
 * `subgroupMatrixLoad<T, row_major>(ptr, offset, stride)` form, whose offset and stride count
 * elements of the bound array: 8-bit matrices are read from `array<i32>` four per word, so both
 * are in words (Dawn's SPIR-V expectations, test/tint/builtins/gen/var/subgroupMatrixLoad/
 * b03a09.wgsl.expected.spvasm, index the i32 array with the offset as is; the deprecated
 * `col_major: bool` form counted 8-bit components and is divided by 4 there). Every variant is
 * **compiled by Tint in CI** — Dawn's null backend offers `chromium-experimental-subgroup-matrix`
 * — (test/tensor-core-compile.test.ts), so the WGSL is valid, uniformity included; what no machine
 * here can do is run it. The kernels therefore stay off until {@link prepareTensorCoreKernels} has
 * compiled them on the backend's device and checked them against the tiled kernels on random
 * data; on any compile error or mismatch the next variant is tried, and if none passes the tiled
 * kernels are used.
 *
 * Everything around the subgroup-matrix step is plain WGSL run through the backend
 * (`runWebGPUProgram`) and *is* tested on lavapipe, with a plain-WGSL stand-in for that one step
 * (`path: 'tensor-core-emulated'`):
 *
 * - **LLM.int8 forward** (`x · Wᵀ`, i8 × i8 → i32): outlier columns and row absmax as in the
 *   simple path; x quantized per row and stored *transposed* as int8 `xqᵀ [K, Mp]` (four per
 *   word, outlier columns 0); then `accᵀ [N, Mp] = W [N, K] · xqᵀ` on tensor cores (both operands
 *   row-major: the packed weight is used as is); the kernel's own epilogue writes
 *   `y = (acc · absmax_m/127 + Σ_outliers x · q) · scale[n]` with the outlier columns compacted
 *   into a list first (the stand-in: a separate epilogue pass). Requires K % 32 = 0 (64 staged)
 *   and N % 32·TM = 0 (M is padded).
 * - **input gradient** (`dY · W`, f16 × f16 → f32): each row of `dY · diag(scale)` is divided by
 *   its absmax (so it lies in [-1, 1] — plain fp16 activations overflow in T5) and stored as f16;
 *   the int8 weight is exact in f16; `C = dŶ [Mp, N] · q [N, K]` on tensor cores; the kernel's
 *   epilogue multiplies row m by its absmax. Requires N % 16 = 0 and K % 32·TN = 0. Relative error about
 *   1e-3 (f16 rounding of dY), unlike the float32 kernels' 1e-6.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { Int8MatMulAttrs } from '../kernel-names';
import { packedWidth } from '../pack';
import { optionsMessage, type KnownOptions } from '../unknown-options';
import { kindsProblems, TENSOR_CORE_KINDS, tilesOptionProblems, type TensorCoreKind, type TensorCoreTiles } from './tensor-core-options';
import { outlierColumnsProgram, rowAbsmaxProgram, type WgslProgram } from './webgpu-programs';

export { TENSOR_CORE_KINDS, type TensorCoreKind, type TensorCoreTiles } from './tensor-core-options';

type Uniform = { type: 'int32' | 'uint32' | 'float32'; data: number[] };

/* Minimal structural types of the WebGPU objects used (the package does not depend on @webgpu/types). */
interface GpuPipeline { getBindGroupLayout(i: number): unknown }
interface GpuPass {
  setPipeline(p: GpuPipeline): void; setBindGroup(i: number, g: unknown): void;
  dispatchWorkgroups(x: number, y?: number, z?: number): void; end(): void;
}
export interface GpuDevice {
  features: { has(name: string): boolean };
  createShaderModule(d: { code: string }): { getCompilationInfo(): Promise<{ messages: ReadonlyArray<{ type: string; message: string; lineNum: number }> }> };
  createComputePipelineAsync(d: unknown): Promise<GpuPipeline>;
  createBindGroup(d: unknown): unknown;
  createQuerySet?(d: { type: 'timestamp'; count: number }): unknown;
  pushErrorScope(filter: string): void;
  popErrorScope(): Promise<{ message: string } | null>;
  queue?: { onSubmittedWorkDone(): Promise<void> };
  limits?: { maxComputeWorkgroupStorageSize?: number };
}
/** The part of tfjs-backend-webgpu's `WebGPUBackend` used here (internal fields included). */
interface Backend {
  device: GpuDevice;
  tensorMap: { get(dataId: object): { resource: unknown } | undefined };
  commandEncoder: { beginComputePass(d?: unknown): GpuPass } | null;
  commandQueueOwnedIds: WeakSet<object>;
  /** Set while `backend.time()` records (tfjs's profiler): each timed program pushes its timestamp query here. */
  activeTimers?: Array<{ name: string; query: Promise<number> } | unknown[]> | null;
  supportTimestampQuery?: boolean;
  querySet?: unknown;
  querySetCount?: number;
  getQueryTime?(): Promise<number>;
  makeTensorInfo(shape: number[], dtype: 'float32' | 'int32'): tf.TensorInfo;
  uploadToGPU(dataId: object): void;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  makeUniforms(u: Uniform[]): unknown;
  runWebGPUProgram(program: WgslProgram, inputs: tf.TensorInfo[], dtype: 'float32' | 'int32', uniforms?: Uniform[]): tf.TensorInfo;
  disposeData(dataId: object): void;
}

const FEATURE = 'chromium-experimental-subgroup-matrix';
const int = (v: number): Uniform => ({ type: 'int32', data: [v] });
const roundUp = (v: number, m: number) => Math.ceil(v / m) * m;

interface Kernel { pipeline: GpuPipeline; variant: ShaderVariant; tiles: TensorCoreTiles }
interface Prepared { i8?: Kernel; f16?: Kernel; f16t?: Kernel }
const DEFAULT_TILES: TensorCoreTiles = { TM: 2, TN: 2 };
/**
 * Tile sizes {@link prepareTensorCoreKernels} times when asked to tune (`tiles: 'tune'`): the
 * 2×2, 4×2 and 4×4 of ../shared/device's tc-bench, and 2×4, each direct and staged. All suit the
 * self-check's shapes and every Flan-UL2 projection (multiples of 4096).
 */
export const TENSOR_CORE_TILE_CANDIDATES: readonly TensorCoreTiles[] = [
  { TM: 2, TN: 2 }, { TM: 4, TN: 2 }, { TM: 2, TN: 4 }, { TM: 4, TN: 4 },
  { TM: 2, TN: 2, staged: true }, { TM: 4, TN: 2, staged: true }, { TM: 2, TN: 4, staged: true }, { TM: 4, TN: 4, staged: true },
];
const tileName = (t: TensorCoreTiles) => `${t.TM}×${t.TN}${t.staged ? ' staged' : ''}`;
/** Reduction step of the staged f16 kernels (their reduction length must be a multiple of it). */
const STAGE_K = 32;
/** Reduction step of the staged i8 kernel, in bytes: two 32-deep subgroup-matrix steps per copy. */
const I8_STAGE_K = 64;
const prepared = new WeakMap<object, Prepared>();
let emulate = false;
let tensorCoreDispatches = 0;

/** How many subgroup-matrix dispatches {@link tensorCoreInt8MatMul} has issued (lets a check prove it ran them). */
export function tensorCoreDispatchCount(): number {
  return tensorCoreDispatches;
}

/** Tests and benchmarks: run the tensor-core pipeline with a plain-WGSL stand-in for the subgroup-matrix step. */
export function setTensorCoreEmulation(on: boolean): void {
  emulate = on;
}

/** True when {@link tensorCoreInt8MatMul} may run on this backend (prepared, or emulated). */
export function tensorCoresReady(backend: object): boolean {
  return emulate || prepared.has(backend);
}

/**
 * Variants tried in order by {@link prepareTensorCoreKernels} until one compiles *and* matches the
 * tiled kernels on the device:
 * - `layout`: `'2x2'` = a workgroup of 128 invocations, 2 × 2 subgroups found by
 *   `@builtin(subgroup_id)` (needs a subgroup size of 32); `'1'` = one subgroup of 32 per workgroup
 *   (no subgroup_id). The subgroup index must be subgroup-uniform for the matrix builtins, so
 *   `local_invocation_index / subgroup_size` is not an option: Tint's uniformity analysis rejects it.
 * - `word`: 8-bit matrices read from `array<i32>` (as Dawn's tests do) or `array<u32>` (tc-bench.mjs).
 */
export interface ShaderVariant { layout: '2x2' | '1'; word: 'i32' | 'u32' }
export const TENSOR_CORE_VARIANTS: readonly ShaderVariant[] = [
  { layout: '2x2', word: 'i32' }, { layout: '1', word: 'i32' },
  { layout: '2x2', word: 'u32' }, { layout: '1', word: 'u32' },
];
const VARIANTS = TENSOR_CORE_VARIANTS;

/** Rows (TM) and columns (TN) of 16 covered by one workgroup: 2 × 2 subgroups or 1. */
function perWorkgroup(v: ShaderVariant): number {
  return v.layout === '2x2' ? 32 : 16;
}

/** The entry point and this subgroup's first row r0 and column c0 of the output. */
function entryPoint(v: ShaderVariant, { TM, TN }: TensorCoreTiles, extra = ''): string {
  return v.layout === '2x2'
    ? `@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wg : vec3u, @builtin(subgroup_id) sg : u32${extra}) {
  let r0 = wg.y * ${32 * TM}u + (sg / 2u) * ${16 * TM}u;
  let c0 = wg.x * ${32 * TN}u + (sg % 2u) * ${16 * TN}u;`
    : `@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wg : vec3u${extra}) {
  let r0 = wg.y * ${16 * TM}u;
  let c0 = wg.x * ${16 * TN}u;`;
}

/** Builtins the folded epilogues need beyond the entry point's own: the invocation's lane in its subgroup, and the subgroup's size. */
const LANE = ', @builtin(subgroup_invocation_id) lane : u32, @builtin(subgroup_size) sgSize : u32';

/**
 * One reduction step of a subgroup's TM × TN result matrices: load its TM left matrices
 * (`loadA`, with `i` = row block), then per column block `j` the right matrix (`loadB`) and
 * multiply-accumulate into `acc[i][j]`.
 */
function mmaStep(TM: number, TN: number, loadA: string, loadB: string, indent: string): string {
  return `${indent}var a : array<TA, ${TM}>;
${indent}for (var i = 0u; i < ${TM}u; i++) {
${indent}  a[i] = ${loadA};
${indent}}
${indent}for (var j = 0u; j < ${TN}u; j++) {
${indent}  let b = ${loadB};
${indent}  for (var i = 0u; i < ${TM}u; i++) { acc[i][j] = subgroupMatrixMultiplyAccumulate(a[i], b, acc[i][j]); }
${indent}}`;
}

/**
 * The i8 kernels' extensions, matrix types, dimensions (`Cᵀ [N, Mp] = W [N, K] · Xᵀ [K, Mp]`; M: rows
 * of the output) and bindings: W (packed int8 words `[N, K/4]`) and Xᵀ as `word` (their element
 * type), the output Y `[M, N]`, and for the folded epilogue ({@link i8Epilogue}) x `[M, K]` (its
 * outlier columns), the weight's scale `[N]`, the rows' absmax `[M]` and the outlier list (count,
 * then columns). The uniform is the last binding.
 */
function i8Prelude(word: string): string {
  return `enable subgroups;
enable chromium_experimental_subgroup_matrix;
alias TA = subgroup_matrix_left<i8, 32, 16>;
alias TB = subgroup_matrix_right<i8, 16, 32>;
alias TC = subgroup_matrix_result<i32, 16, 16>;
struct D { N : u32, Mp : u32, K : u32, M : u32 }
@group(0) @binding(0) var<storage, read> W : array<${word}>;
@group(0) @binding(1) var<storage, read> XT : array<${word}>;
@group(0) @binding(2) var<storage, read_write> Y : array<f32>;
@group(0) @binding(3) var<storage, read> X : array<f32>;
@group(0) @binding(4) var<storage, read> S : array<f32>;
@group(0) @binding(5) var<storage, read> R : array<f32>;
@group(0) @binding(6) var<storage, read> O : array<i32>;
@group(0) @binding(7) var<uniform> d : D;`;
}

/**
 * The LLM.int8 epilogue, folded into the i8 product: each subgroup stores one result matrix of Cᵀ at
 * a time into its 16 × 16 slot of workgroup memory `sC` (i32), and its lanes write the output rows
 * below M, 16 consecutive columns each: y[m, n] = (Cᵀ[n, m] · absmax_m / 127 + Σ over the outlier
 * columns k of x[m, k] · W[n, k]) · scale[n] — no `[N, Mp]` int32 product in a storage buffer and no
 * epilogue pass ({@link foldedEpilogue}). `wordAt(i)` reads packed weight word i as i32.
 */
function i8Epilogue(TM: number, TN: number, v: ShaderVariant, wordAt: (i: string) => string): string {
  // The slot holds Cᵀ's 16 × 16 block [n, m]: entry e reads it transposed, so that the lanes' writes
  // run along n (16 consecutive outputs of row m).
  return `  let count = u32(O[0]);
${foldedEpilogue(TM, TN, v, (slot) => `        let m = c0 + j * 16u + e / 16u;
        if (m < d.M) {
          let n = r0 + i * 16u + e % 16u;
          var f = 0.0;
          for (var o = 1u; o <= count; o++) {
            let k = u32(O[o]);
            f += X[m * d.K + k] * f32(extractBits(${wordAt('n * (d.K / 4u) + k / 4u')}, (k % 4u) * 8u, 8u));
          }
          Y[m * d.N + n] = (f32(sC[${slot} + (e % 16u) * 16u + e / 16u]) * (R[m] / 127.0) + f) * S[n];
        }`)}`;
}

/** The i8 kernels' workgroup slots for {@link i8Epilogue}: one 16 × 16 i32 matrix per subgroup. */
const i8EpilogueSlots = (v: ShaderVariant) => `var<workgroup> sC : array<i32, ${v.layout === '2x2' ? 1024 : 256}>;`;

/**
 * WGSL of the LLM.int8 forward on tensor cores: the i8 × i8 → i32 subgroup-matrix product
 * `Cᵀ [N, Mp] = W [N, K] · Xᵀ [K, Mp]`, written as y `[M, N]` by the folded epilogue
 * ({@link i8Epilogue}). Compiled by Tint in CI; not yet run on hardware.
 */
export function int8TensorCoreShader({ TM, TN }: TensorCoreTiles, v: ShaderVariant = VARIANTS[0] as ShaderVariant): string {
  const wordAt = (i: string) => (v.word === 'i32' ? `W[${i}]` : `bitcast<i32>(W[${i}])`);
  return `${i8Prelude(v.word)}
${i8EpilogueSlots(v)}
${entryPoint(v, { TM, TN }, LANE)}
  var acc : array<array<TC, ${TN}>, ${TM}>;
  for (var k = 0u; k < d.K; k += 32u) {
${mmaStep(TM, TN, 'subgroupMatrixLoad<TA, row_major>(&W, ((r0 + i * 16u) * d.K + k) / 4u, d.K / 4u)',
    'subgroupMatrixLoad<TB, row_major>(&XT, (k * d.Mp + c0 + j * 16u) / 4u, d.Mp / 4u)', '    ')}
  }
${i8Epilogue(TM, TN, v, wordAt)}
}`;
}

/**
 * The f16 kernels' extensions, matrix types, dimensions (`C [Mp, K] = A [Mp, N] · B [N, K]`; KW: the
 * packed weight's words per row, for the staged kernels; M: rows of the output; RO: where the row
 * absmax values start in R) and bindings other than A and B: the output Y `[M, K]`, the rows
 * buffer R (A's own buffer, read as f32 for the absmax after the f16 rows) and, for `x · Wᵀ`
 * (`scaled`), the weight's per-row scale S. The uniform is the last binding.
 */
function f16Prelude(A: string, B: string, scaled: boolean): string {
  return `enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
alias TA = subgroup_matrix_left<f16, 16, 16>;
alias TB = subgroup_matrix_right<f16, 16, 16>;
alias TC = subgroup_matrix_result<f32, 16, 16>;
struct D { Mp : u32, N : u32, K : u32, KW : u32, M : u32, RO : u32, p0 : u32, p1 : u32 }
@group(0) @binding(0) var<storage, read> A : ${A};
@group(0) @binding(1) var<storage, read> B : ${B};
@group(0) @binding(2) var<storage, read_write> Y : array<f32>;
@group(0) @binding(3) var<storage, read> R : array<f32>;${scaled ? `
@group(0) @binding(4) var<storage, read> S : array<f32>;` : ''}
@group(0) @binding(${scaled ? 5 : 4}) var<uniform> d : D;`;
}

/**
 * The f16 kernels' epilogue, folded into the product: each subgroup stores one result matrix at a
 * time into its 16 × 16 slot of workgroup memory `sC`, and its lanes write the rows below M to Y
 * scaled by the row's absmax (and, `scaled`, the column's weight scale) — no `[Mp, K]` float32
 * product in a storage buffer and no epilogue pass ({@link foldedEpilogue}).
 */
function f16Epilogue(TM: number, TN: number, v: ShaderVariant, scaled: boolean): string {
  return foldedEpilogue(TM, TN, v, (slot) => `        let m = r0 + i * 16u + e / 16u;
        if (m < d.M) {
          let c = c0 + j * 16u + e % 16u;
          Y[m * d.K + c] = sC[${slot} + e] * R[d.RO + m]${scaled ? ' * S[c]' : ''};
        }`);
}

/**
 * The loops of a folded epilogue: for each of the subgroup's TM × TN result matrices (i, j), store
 * it into the subgroup's 16 × 16 slot of `sC`, and let the lanes handle its entries e (stepping by
 * the subgroup size) with `entry(slot)`. The barriers sit in uniform control flow (loops of constant
 * length), so every invocation of the workgroup reaches each of them.
 */
function foldedEpilogue(TM: number, TN: number, v: ShaderVariant, entry: (slot: string) => string): string {
  const slot = v.layout === '2x2' ? 'sg * 256u' : '0u';
  return `  for (var i = 0u; i < ${TM}u; i++) {
    for (var j = 0u; j < ${TN}u; j++) {
      subgroupMatrixStore<row_major>(&sC, ${slot}, acc[i][j], 16u);
      workgroupBarrier();
      for (var e = lane; e < 256u; e += sgSize) {
${entry(slot)}
      }
      workgroupBarrier();
    }
  }`;
}

/** The f16 kernels' workgroup slots for {@link f16Epilogue}: one 16 × 16 f32 matrix per subgroup. */
const epilogueSlots = (v: ShaderVariant) => `var<workgroup> sC : array<f32, ${v.layout === '2x2' ? 1024 : 256}>;`;

/**
 * WGSL of the f16 × f16 → f32 subgroup-matrix product `C [Mp, K] = A [Mp, N] · B`, B `[N, K]`
 * row-major, or (`transposedB`) B stored as `Bᵀ [K, N]` row-major and loaded column-major — the
 * weight-only forward `x · Wᵀ` reads W as it is stored — written as Y `[M, K]` = C × row absmax
 * (× the weight's scale for `transposedB`) by the folded epilogue ({@link f16Epilogue}). Compiled by
 * Tint in CI; not yet run on hardware.
 */
export function f16TensorCoreShader({ TM, TN }: TensorCoreTiles, v: ShaderVariant = VARIANTS[0] as ShaderVariant, transposedB = false): string {
  const loadB = transposedB
    ? 'subgroupMatrixLoad<TB, col_major>(&B, (c0 + j * 16u) * d.N + n, d.N)'
    : 'subgroupMatrixLoad<TB, row_major>(&B, n * d.K + c0 + j * 16u, d.K)';
  return `${f16Prelude('array<f16>', 'array<f16>', transposedB)}
${epilogueSlots(v)}
${entryPoint(v, { TM, TN }, LANE)}
  var acc : array<array<TC, ${TN}>, ${TM}>;
  for (var n = 0u; n < d.N; n += 16u) {
${mmaStep(TM, TN, 'subgroupMatrixLoad<TA, row_major>(&A, (r0 + i * 16u) * d.N + n, d.N)', loadB, '    ')}
  }
${f16Epilogue(TM, TN, v, transposedB)}
}`;
}

/**
 * A loop in which the workgroup's `T` invocations copy a `rows` × `cols` block (counted in elements of
 * the workgroup array `dst`) from the `vec4<u32>` storage array `src`: vec4 q of block row `row` is
 * `src[first + q]`, and holds `per` elements of `dst`, written by `vals` (w = the vec4, o = the first
 * element's index in `dst`; `$D` stands for `dst`).
 */
function stageCopy(dst: string, src: string, rows: number, cols: number, per: number, T: number, first: string, vals: string): string {
  return `
    for (var t = li; t < ${(rows * cols) / per}u; t += ${T}u) {
      let row = t / ${cols / per}u;
      let q = t % ${cols / per}u;
      let w = ${src}[${first} + q];
      let o = row * ${cols}u + q * ${per}u;
      ${vals.replaceAll('$D', dst)}
    }`;
}

/** The staged kernels' entry point: block origin br, bc (BM × BN per workgroup), this subgroup's r0, c0, and li. */
function stagedEntryPoint(v: ShaderVariant, { TM, TN }: TensorCoreTiles, BM: number, BN: number, extra = ''): string {
  const head = v.layout === '2x2'
    ? `@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wg : vec3u, @builtin(local_invocation_id) lid : vec3u, @builtin(subgroup_id) sg : u32${extra}) {
  let r0 = wg.y * ${BM}u + (sg / 2u) * ${16 * TM}u;
  let c0 = wg.x * ${BN}u + (sg % 2u) * ${16 * TN}u;`
    : `@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wg : vec3u, @builtin(local_invocation_id) lid : vec3u${extra}) {
  let r0 = wg.y * ${BM}u;
  let c0 = wg.x * ${BN}u;`;
  return `${head}
  let li = lid.x;
  let br = wg.y * ${BM}u;
  let bc = wg.x * ${BN}u;`;
}

/**
 * The staged form of {@link int8TensorCoreShader} (LLM.int8 forward, `Cᵀ [N, Mp] = W [N, K] · Xᵀ [K, Mp]`):
 * per step of 64 bytes along K the workgroup copies its W block [BM rows, 16 words] and its Xᵀ block
 * [64 rows, BN / 4 words] into workgroup memory as they are (packed int8 words, 16-byte loads), then
 * each subgroup loads its two 32-deep matrix steps from there. Both operands bound as `array<vec4<u32>>`;
 * the workgroup arrays hold the variant's word type. K must be a multiple of 64. Workgroup memory
 * (BM + BN) · 64 bytes (16 KiB at 4 × 4 with 2 × 2 subgroups) + 4 KiB for the folded epilogue.
 */
export function int8StagedTensorCoreShader({ TM, TN }: TensorCoreTiles, v: ShaderVariant = VARIANTS[0] as ShaderVariant): string {
  const w = perWorkgroup(v);
  const [BM, BN, T] = [w * TM, w * TN, v.layout === '2x2' ? 128 : 32];
  const KW = I8_STAGE_K / 4; // words per W block row
  const words = `for (var i = 0u; i < 4u; i++) { $D[o + i] = ${v.word === 'i32' ? 'bitcast<i32>(w[i])' : 'w[i]'}; }`;
  const copyW = stageCopy('sW', 'W', BM, KW, 4, T, '((br + row) * d.K + k) / 16u', words);
  const copyX = stageCopy('sX', 'XT', I8_STAGE_K, BN / 4, 4, T, '((k + row) * d.Mp + bc) / 16u', words);
  // Packed weight word i of the vec4 array.
  const wordAt = (i: string) => `bitcast<i32>(W[(${i}) / 4u][(${i}) % 4u])`;
  return `${i8Prelude('vec4<u32>')}
var<workgroup> sW : array<${v.word}, ${BM * KW}>;
var<workgroup> sX : array<${v.word}, ${(I8_STAGE_K * BN) / 4}>;
${i8EpilogueSlots(v)}
${stagedEntryPoint(v, { TM, TN }, BM, BN, LANE)}
  var acc : array<array<TC, ${TN}>, ${TM}>;
  for (var k = 0u; k < d.K; k += ${I8_STAGE_K}u) {${copyW}${copyX}
    workgroupBarrier();
    for (var kk = 0u; kk < ${I8_STAGE_K}u; kk += 32u) {
${mmaStep(TM, TN, `subgroupMatrixLoad<TA, row_major>(&sW, (r0 - br + i * 16u) * ${KW}u + kk / 4u, ${KW}u)`,
    `subgroupMatrixLoad<TB, row_major>(&sX, (kk * ${BN}u + c0 - bc + j * 16u) / 4u, ${BN / 4}u)`, '      ')}
    }
    workgroupBarrier();
  }
${i8Epilogue(TM, TN, v, wordAt)}
}`;
}

/**
 * The staged form of {@link f16TensorCoreShader}, reading the weight's **int8** words itself: per step
 * of 32 along the reduction, the workgroup copies its A block [BM, 32] (f16 pairs, 16-byte loads of
 * 8 halves) and its weight block (16-byte loads of 16 int8 values, each made an f16 — exact) into
 * workgroup memory; then each subgroup loads its matrices from there. So no f16 copy of the weight
 * is made (one pass and 2 bytes per weight less per call), and each operand element is read once per
 * workgroup, not once per subgroup that needs it. The weight binding is the packed int8 `[rows, KW]`
 * words (KW in the uniform's 4th field): for `transposedB` (x · Wᵀ) W [cols, red] read column-major,
 * else (dY · W) W [red, cols] row-major. BM × BN = 32·TM × 32·TN (2 × 2 subgroups) or 16·TM × 16·TN;
 * workgroup memory (BM + BN) · 32 halves (16 KiB at 4 × 4 with 2 × 2 subgroups) + 4 KiB for the
 * folded epilogue, as {@link f16TensorCoreShader}'s.
 */
export function f16StagedTensorCoreShader({ TM, TN }: TensorCoreTiles, v: ShaderVariant = VARIANTS[0] as ShaderVariant, transposedB = false): string {
  const w = perWorkgroup(v);
  const [BM, BN, T] = [w * TM, w * TN, v.layout === '2x2' ? 128 : 32];
  const KS = STAGE_K;
  // Block rows × columns in halves; a vec4 holds 8 halves (A) or 16 weight bytes (B).
  const copy = (dst: string, src: string, rows: number, cols: number, per: number, first: string, vals: string) =>
    stageCopy(dst, src, rows, cols, per, T, first, vals);
  // 4 words of f16 pairs → 8 halves; 4 packed words (byte 0 lowest) → 16 signed bytes as f16 (exact).
  const halves = 'for (var i = 0u; i < 4u; i++) { let h = bitcast<vec2<f16>>(w[i]); $D[o + 2u * i] = h.x; $D[o + 2u * i + 1u] = h.y; }';
  const bytes = 'for (var i = 0u; i < 16u; i++) { $D[o + i] = f16(extractBits(bitcast<i32>(w[i / 4u]), (i % 4u) * 8u, 8u)); }';
  const copyA = copy('sA', 'A', BM, KS, 8, '((br + row) * d.N + n) / 8u', halves);
  const copyB = transposedB
    ? copy('sB', 'B', BN, KS, 16, '((bc + row) * d.KW + n / 4u) / 4u', bytes)
    : copy('sB', 'B', KS, BN, 16, '((n + row) * d.KW + bc / 4u) / 4u', bytes);
  const loadB = transposedB
    ? `subgroupMatrixLoad<TB, col_major>(&sB, (c0 - bc + j * 16u) * ${KS}u + kk, ${KS}u)`
    : `subgroupMatrixLoad<TB, row_major>(&sB, kk * ${BN}u + c0 - bc + j * 16u, ${BN}u)`;
  return `${f16Prelude('array<vec4<u32>>', 'array<vec4<u32>>', transposedB)}
var<workgroup> sA : array<f16, ${BM * KS}>;
var<workgroup> sB : array<f16, ${BN * KS}>;
${epilogueSlots(v)}
${stagedEntryPoint(v, { TM, TN }, BM, BN, LANE)}
  var acc : array<array<TC, ${TN}>, ${TM}>;
  for (var n = 0u; n < d.N; n += ${KS}u) {${copyA}${copyB}
    workgroupBarrier();
    for (var kk = 0u; kk < ${KS}u; kk += 16u) {
${mmaStep(TM, TN, `subgroupMatrixLoad<TA, row_major>(&sA, (r0 - br + i * 16u) * ${KS}u + kk, ${KS}u)`, loadB, '      ')}
    }
    workgroupBarrier();
  }
${f16Epilogue(TM, TN, v, transposedB)}
}`;
}

/* ---------- plain-WGSL passes around the subgroup-matrix step (tested on lavapipe) ---------- */

function flat(key: string, variableNames: string[], outputShape: number[], uniforms: string, body: string): WgslProgram {
  const size = outputShape.reduce((a, d) => a * d, 1);
  const groups = Math.ceil(size / 64);
  const x = groups <= 65535 ? groups : Math.ceil(Math.sqrt(groups));
  return {
    variableNames, outputShape, shaderKey: key, uniforms, size: true,
    dispatchLayout: { x: outputShape.map((_, i) => i) },
    dispatch: [x, Math.ceil(groups / x), 1], workgroupSize: [64, 1, 1],
    getUserCode: () => `
      fn byteAt(word : i32, b : i32) -> i32 { return (word << u32(24 - 8 * b)) >> 24u; }
      fn main(index : i32) {
        if (index >= uniforms.size) { return; }
        ${body}
      }`,
  };
}

/** xqᵀ `[K, Mp/4]` int8 words: word (k, w) holds rows 4w..4w+3 of column k, quantized per row; outlier columns and padding rows 0. Uniforms: M, K, MW. */
export function quantizeTransposeProgram(K: number, Mp: number): WgslProgram {
  return flat('conifer_int8_tc_qt', ['x', 'outlier', 'rowAbsmax'], [K, Mp / 4], 'M : i32, K : i32, MW : i32,', `
        let k = index / uniforms.MW;
        let w = index - k * uniforms.MW;
        var word = 0;
        if (outlier[k] == 0.0) {
          for (var b = 0; b < 4; b++) {
            let m = 4 * w + b;
            if (m < uniforms.M) {
              let absmax = rowAbsmax[m];
              if (absmax > 0.0) {
                let s = x[m * uniforms.K + k] * (127.0 / absmax);
                let q = i32(sign(s) * floor(abs(s) + 0.5));
                word = word | ((q & 255) << u32(8 * b));
              }
            }
          }
        }
        setOutputAtIndexI32(index, word);`);
}

/** The outlier columns compacted: `[K + 1]`, element 0 the count, then the column indices. Uniforms: K. */
export function outlierListProgram(K: number): WgslProgram {
  return flat('conifer_int8_tc_olist', ['outlier'], [K + 1], 'K : i32,', `
        if (index != 0) { return; }
        var count = 0;
        for (var k = 0; k < uniforms.K; k++) {
          if (outlier[k] != 0.0) { count++; setOutputAtIndexI32(count, k); }
        }
        setOutputAtIndexI32(0, count);`);
}

/**
 * y `[M, N]` = (accᵀ[n, m] · absmax_m/127 + Σ_outliers x[m, k] · q[n, k]) · scale[n], transposing
 * accᵀ `[N, Mp]` through a 16×16 workgroup tile so that reads and writes are both contiguous.
 * Uniforms: M, N, K, KW, Mp.
 */
export function llmInt8EpilogueProgram(M: number, N: number): WgslProgram {
  return {
    variableNames: ['acc', 'x', 'packed', 'scale', 'rowAbsmax', 'olist'],
    outputShape: [M, N], shaderKey: 'conifer_int8_tc_epi', size: false,
    dispatchLayout: { x: [1], y: [0] },
    dispatch: [Math.ceil(M / 16), Math.ceil(N / 16), 1], workgroupSize: [16, 16, 1],
    uniforms: 'M : i32, N : i32, K : i32, KW : i32, Mp : i32,',
    getUserCode: () => `
      var<workgroup> tile : array<array<f32, 17>, 16>;
      fn main() {
        let tx = i32(localId.x);
        let ty = i32(localId.y);
        let m0 = i32(workgroupId.x) * 16;
        let n0 = i32(workgroupId.y) * 16;
        let n = n0 + ty;
        let m = m0 + tx;
        var v = 0.0;
        if (n < uniforms.N && m < uniforms.M) { v = f32(acc[n * uniforms.Mp + m]) * (rowAbsmax[m] / 127.0); }
        tile[ty][tx] = v;
        workgroupBarrier();
        let mw = m0 + ty;
        let nw = n0 + tx;
        if (mw < uniforms.M && nw < uniforms.N) {
          var f = 0.0;
          let count = olist[0];
          for (var j = 1; j <= count; j++) {
            let k = olist[j];
            let word = packed[nw * uniforms.KW + k / 4];
            f += x[mw * uniforms.K + k] * f32((word << u32(24 - 8 * (k % 4))) >> 24u);
          }
          result[mw * uniforms.N + nw] = (tile[tx][ty] + f) * scale[nw];
        }
      }`,
  };
}

/**
 * One pass per row (a workgroup of 64): absmax_m of dY · diag(scale) (`scaled`) or of x, then the
 * row divided by it as f16 pairs. Output int32 `[Mp + ⌈Mp / (N/2)⌉, N/2]`: words `[0, Mp·N/2)` are
 * the f16 matrix `[Mp, N]` the tensor-core product reads (rows ≥ M are 0), word `Mp·N/2 + m` holds
 * absmax_m as f32 bits (for the epilogue). One dispatch where an absmax pass and a conversion pass
 * were two: a training step is bound by the host's cost per dispatch. Inputs: dy (, scale).
 * Uniforms: M, N (the row length), Mp.
 */
export function rowsToF16Program(Mp: number, N: number, scaled = true): WgslProgram {
  const W = N / 2;
  const v = (n: string) => (scaled ? `(dy[m * uniforms.N + ${n}] * scale[${n}])` : `dy[m * uniforms.N + ${n}]`);
  const gx = Math.min(Mp, 65535);
  return {
    variableNames: scaled ? ['dy', 'scale'] : ['dy'], outputShape: [Mp + Math.ceil(Mp / W), W],
    shaderKey: `conifer_int8_tc_rows16${scaled ? '' : '_plain'}`, size: false,
    dispatchLayout: { x: [1], y: [0] }, dispatch: [gx, Math.ceil(Mp / gx), 1], workgroupSize: [64, 1, 1],
    uniforms: 'M : i32, N : i32, Mp : i32,',
    getUserCode: () => `
      var<workgroup> red : array<f32, 64>;
      fn main() {
        let m = i32(workgroupId.y * numWorkgroups.x + workgroupId.x);
        let lid = i32(localId.x);
        let real = m < uniforms.M;
        var a = 0.0;
        if (real) {
          for (var n = lid; n < uniforms.N; n += 64) { a = max(a, abs(${v('n')})); }
        }
        red[lid] = a;
        workgroupBarrier();
        for (var off = 32; off > 0; off = off / 2) {
          if (lid < off) { red[lid] = max(red[lid], red[lid + off]); }
          workgroupBarrier();
        }
        let mx = red[0];
        if (m < uniforms.Mp) {
          let W = uniforms.N / 2;
          var r = 0.0;
          if (real && mx > 0.0) { r = 1.0 / mx; }
          for (var j = lid; j < W; j += 64) {
            var p = vec2<f32>(0.0, 0.0);
            if (real) { p = vec2<f32>(${v('2 * j')} * r, ${v('2 * j + 1')} * r); }
            setOutputAtIndexI32(m * W + j, bitcast<i32>(pack2x16float(p)));
          }
          if (lid == 0) { setOutputAtIndexI32(uniforms.Mp * W + m, bitcast<i32>(mx)); }
        }
      }`,
  };
}

/** The int8 weight as f16 pairs (exact) → int32 `[N, K/2]`. Uniforms: K, KW. */
export function weightToF16Program(N: number, K: number): WgslProgram {
  return flat('conifer_int8_tc_w16', ['packed'], [N, K / 2], 'K : i32, KW : i32,', `
        let n = index / (uniforms.K / 2);
        let k = 2 * (index - n * (uniforms.K / 2));
        let word = packed[n * uniforms.KW + k / 4];
        let v = vec2<f32>(f32(byteAt(word, k % 4)), f32(byteAt(word, k % 4 + 1)));
        setOutputAtIndexI32(index, bitcast<i32>(pack2x16float(v)));`);
}

/**
 * y `[M, N]` = C[m, n] · absmax_m · scale[n] (the weight-only forward's epilogue after the emulated
 * product; the tensor-core kernels fold it in; C is `[Mp, N]`; absmax_m read from
 * {@link rowsToF16Program}'s output at word RO + m). Uniforms: N, RO.
 */
export function forwardEpilogueProgram(M: number, N: number): WgslProgram {
  return flat('conifer_int8_tc_fepi', ['c', 'rows', 'scale'], [M, N], 'N : i32, RO : i32,', `
        let m = index / uniforms.N;
        setOutputAtIndex(index, c[index] * bitcast<f32>(rows[uniforms.RO + m]) * scale[index - m * uniforms.N]);`);
}

/** dX `[M, K]` = C[m, k] · absmax_m (absmax_m at word RO + m of the rows buffer), after the emulated product. Uniforms: K, RO. */
export function backwardEpilogueProgram(M: number, K: number): WgslProgram {
  return flat('conifer_int8_tc_bepi', ['c', 'rows'], [M, K], 'K : i32, RO : i32,', `
        let m = index / uniforms.K;
        setOutputAtIndex(index, c[index] * bitcast<f32>(rows[uniforms.RO + m]));`);
}

/** Plain-WGSL stand-in for the i8 subgroup-matrix step: Cᵀ `[N, Mp]` int32. Uniforms: K, KW, MW. */
export function int8ProductEmulationProgram(N: number, Mp: number): WgslProgram {
  return flat('conifer_int8_tc_emu_i8', ['packed', 'xqt'], [N, Mp], 'K : i32, KW : i32, MW : i32,', `
        let n = index / (uniforms.MW * 4);
        let m = index - n * uniforms.MW * 4;
        var acc = 0;
        for (var k = 0; k < uniforms.K; k++) {
          acc += byteAt(packed[n * uniforms.KW + k / 4], k % 4) * byteAt(xqt[k * uniforms.MW + m / 4], m % 4);
        }
        setOutputAtIndexI32(index, acc);`);
}

/** Plain-WGSL stand-in for the f16 subgroup-matrix step: C `[Mp, K]` f32 (`transposedB`: b is `[K, N]`). Uniforms: N, K. */
export function f16ProductEmulationProgram(Mp: number, K: number, transposedB = false): WgslProgram {
  const bIndex = transposedB ? 'k * uniforms.N + n' : 'n * uniforms.K + k';
  return flat(`conifer_int8_tc_emu_f16${transposedB ? 't' : ''}`, ['a', 'b'], [Mp, K], 'N : i32, K : i32,', `
        let m = index / uniforms.K;
        let k = index - m * uniforms.K;
        var acc = 0.0;
        for (var n = 0; n < uniforms.N; n++) {
          let av = unpack2x16float(bitcast<u32>(a[(m * uniforms.N + n) / 2]))[n % 2];
          let bi = ${bIndex};
          let bv = unpack2x16float(bitcast<u32>(b[bi / 2]))[bi % 2];
          acc = fma(av, bv, acc);
        }
        setOutputAtIndex(index, acc);`);
}

/* ---------- running a raw (non-tfjs) compute pipeline inside the backend's command stream ---------- */

function bufferOf(b: Backend, t: tf.TensorInfo): unknown {
  b.uploadToGPU(t.dataId);
  return b.tensorMap.get(t.dataId)?.resource;
}

function dispatchRaw(b: Backend, pipeline: GpuPipeline, tensors: tf.TensorInfo[], dims: number[], groups: [number, number], name: string): void {
  const entries = tensors.map((t, i) => ({ binding: i, resource: { buffer: bufferOf(b, t) } }));
  // tfjs's makeUniforms packs fields of at most 6 values: 4 per field here, each at a 16-byte offset.
  const fields: Uniform[] = [];
  for (let i = 0; i < dims.length; i += 4) fields.push({ type: 'uint32', data: dims.slice(i, i + 4) });
  entries.push({ binding: tensors.length, resource: b.makeUniforms(fields) as { buffer: unknown } });
  const bindGroup = b.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
  b.ensureCommandEncoderReady();
  b.endComputePassEncoder();
  // Under tfjs's profiler (`backend.time()`), time this pass as tfjs times its own programs.
  const timed = b.activeTimers != null && b.supportTimestampQuery === true && typeof b.getQueryTime === 'function';
  if (timed && b.querySet == null) b.querySet = b.device.createQuerySet?.({ type: 'timestamp', count: b.querySetCount ?? 2 });
  const pass = (b.commandEncoder as NonNullable<Backend['commandEncoder']>).beginComputePass(
    timed ? { timestampWrites: { querySet: b.querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : undefined,
  );
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(groups[0], groups[1], 1);
  pass.end();
  for (const t of tensors) b.commandQueueOwnedIds.add(t.dataId);
  if (timed) b.activeTimers!.push({ name, query: b.getQueryTime!() });
}

/** Submits everything the backend has queued and waits until the GPU has run it (for timing). */
export async function finishQueuedWork(backend: object): Promise<void> {
  const b = backend as Backend;
  b.ensureCommandEncoderReady();
  b.endComputePassEncoder();
  b.submitQueue();
  await b.device.queue?.onSubmittedWorkDone();
}

/**
 * Int8MatMul through the tensor-core pipeline, or null when the shape does not suit it (the caller
 * then uses the tiled kernels). **The subgroup-matrix step is untested on hardware.**
 */
export function tensorCoreInt8MatMul(backend: object, x: tf.TensorInfo, packed: tf.TensorInfo, scale: tf.TensorInfo, a: Int8MatMulAttrs): tf.TensorInfo | null {
  const b = backend as Backend;
  const p = prepared.get(backend);
  const M = x.shape[0] as number;
  const N = packed.shape[0] as number;
  const K = a.inFeatures;
  const KW = packedWidth(K);
  const temps: tf.TensorInfo[] = [];
  const run = (prog: WgslProgram, inputs: tf.TensorInfo[], dtype: 'float32' | 'int32', u: Uniform[]) => {
    const t = b.runWebGPUProgram(prog, inputs, dtype, u);
    temps.push(t);
    return t;
  };
  const done = (y: tf.TensorInfo) => {
    for (const t of temps) b.disposeData(t.dataId);
    return y;
  };
  // Y [M, cols] = a16 [Mp, red] · (W as f16 [red, cols], or for f16t [cols, red] read column-major),
  // × the row absmax stored after a16's rows (× the weight's scale for f16t). The staged kernels read
  // the packed int8 weight themselves, the others an f16 copy made first; both scale in their own
  // epilogue. The emulated stand-in writes C [Mp, cols] and a separate epilogue pass scales it.
  const f16Product = (kind: 'f16' | 'f16t', a16: tf.TensorInfo, Mp: number, red: number, cols: number) => {
    const w16 = () => run(weightToF16Program(N, K), [packed], 'int32', [int(K), int(KW)]);
    const rowsOffset = (Mp * red) / 2;
    if (emulate) {
      const c = run(f16ProductEmulationProgram(Mp, cols, kind === 'f16t'), [a16, w16()], 'float32', [int(red), int(cols)]);
      return kind === 'f16t'
        ? b.runWebGPUProgram(forwardEpilogueProgram(M, cols), [c, a16, scale], 'float32', [int(cols), int(rowsOffset)])
        : b.runWebGPUProgram(backwardEpilogueProgram(M, cols), [c, a16], 'float32', [int(cols), int(rowsOffset)]);
    }
    const kernel = p![kind]!;
    const weight = kernel.tiles.staged ? packed : w16();
    const y = b.makeTensorInfo([M, cols], 'float32');
    const w = perWorkgroup(kernel.variant);
    dispatchRaw(
      b, kernel.pipeline, [a16, weight, y, a16, ...(kind === 'f16t' ? [scale] : [])], [Mp, red, cols, kernel.tiles.staged ? KW : 0, M, rowsOffset, 0, 0],
      [cols / (w * kernel.tiles.TN), Mp / (w * kernel.tiles.TM)], `conifer_int8_tc_${kind}`,
    );
    tensorCoreDispatches++;
    return y;
  };
  // Each kernel's own tiles (prepare may have tuned them per kind); the emulated stand-ins: 2 × 2.
  const tilesOf = (kind: TensorCoreKind) => (emulate ? DEFAULT_TILES : p?.[kind]?.tiles ?? DEFAULT_TILES);
  if (a.mode === 'llm-int8' && a.transposeWeight) {
    if (!emulate && !p?.i8) return null;
    const { TM, TN, staged } = tilesOf('i8');
    if (K % (staged ? I8_STAGE_K : 32) !== 0 || N % (32 * TM) !== 0) return null;
    const Mp = roundUp(M, 32 * TN);
    const outlier = run(outlierColumnsProgram(K), [x], 'float32', [int(M), int(K), { type: 'float32', data: [a.threshold] }]);
    const rowAbsmax = run(rowAbsmaxProgram(M), [x, outlier], 'float32', [int(K)]);
    const xqt = run(quantizeTransposeProgram(K, Mp), [x, outlier, rowAbsmax], 'int32', [int(M), int(K), int(Mp / 4)]);
    const olist = run(outlierListProgram(K), [outlier], 'int32', [int(K)]);
    if (emulate) {
      // The stand-in writes Cᵀ [N, Mp] and a separate pass applies the epilogue.
      const acc = run(int8ProductEmulationProgram(N, Mp), [packed, xqt], 'int32', [int(K), int(KW), int(Mp / 4)]);
      return done(b.runWebGPUProgram(llmInt8EpilogueProgram(M, N), [acc, x, packed, scale, rowAbsmax, olist], 'float32', [int(M), int(N), int(K), int(KW), int(Mp)]));
    }
    const y = b.makeTensorInfo([M, N], 'float32');
    const w = perWorkgroup(p!.i8!.variant);
    dispatchRaw(b, p!.i8!.pipeline, [packed, xqt, y, x, scale, rowAbsmax, olist], [N, Mp, K, M], [Mp / (w * TN), N / (w * TM)], 'conifer_int8_tc_i8');
    tensorCoreDispatches++;
    return done(y);
  }
  if (a.mode === 'weight-only' && !a.transposeWeight) {
    // dX [M, K] = dY [M, N] · W [N, K]
    if (!emulate && !p?.f16) return null;
    const { TM, TN, staged } = tilesOf('f16');
    if (N % (staged ? STAGE_K : 16) !== 0 || K % (32 * TN) !== 0) return null;
    const Mp = roundUp(M, 32 * TM);
    const dy16 = run(rowsToF16Program(Mp, N), [x, scale], 'int32', [int(M), int(N), int(Mp)]); // + absmax per row
    return done(f16Product('f16', dy16, Mp, N, K));
  }
  if (a.mode === 'weight-only' && a.transposeWeight) {
    // y [M, N] = x [M, K] · Wᵀ: x rows scaled into [-1, 1] as f16, W [N, K] as f16 (exact) read
    // column-major as the right matrix, the product on tensor cores, × absmax_m × scale[n] in its epilogue.
    if (!emulate && !p?.f16t) return null;
    const { TM, TN, staged } = tilesOf('f16t');
    if (K % (staged ? STAGE_K : 16) !== 0 || N % (32 * TN) !== 0) return null;
    const Mp = roundUp(M, 32 * TM);
    const x16 = run(rowsToF16Program(Mp, K, false), [x], 'int32', [int(M), int(K), int(Mp)]); // + absmax per row
    return done(f16Product('f16t', x16, Mp, K, N));
  }
  return null;
}

/** What {@link prepareTensorCoreKernels} found. */
export interface TensorCoreReport {
  /** false: the device lacks `chromium-experimental-subgroup-matrix` (or `shader-f16` for f16). */
  feature: boolean;
  /** 'ready …', or why that kernel stays off (compile errors, a failed check). */
  i8: string;
  f16: string;
  f16t: string;
  /** The kernels enabled: shader variant, tiles, relative error of the check, time per call when tuned. */
  chosen: Partial<Record<TensorCoreKind, { variant: ShaderVariant; tiles: TensorCoreTiles; relErr?: number; ms?: number }>>;
}

/** Compiles one compute shader (entry point `main`) into a pipeline on `device`, or returns its errors (Tint's messages, validation). */
export async function compileComputeShader(device: GpuDevice, code: string): Promise<GpuPipeline | string> {
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code });
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === 'error').map((m) => `line ${m.lineNum}: ${m.message}`);
  let pipeline: GpuPipeline | null = null;
  if (!errors.length) {
    try {
      pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  const scoped = await device.popErrorScope();
  if (scoped) errors.push(scoped.message);
  return errors.length || !pipeline ? errors.join('; ').slice(0, 600) || 'no pipeline' : pipeline;
}

/** The shader of one kernel kind for one variant. */
export function tensorCoreShader(kind: TensorCoreKind, tiles: TensorCoreTiles, v: ShaderVariant): string {
  if (kind === 'i8') return tiles.staged ? int8StagedTensorCoreShader(tiles, v) : int8TensorCoreShader(tiles, v);
  return tiles.staged ? f16StagedTensorCoreShader(tiles, v, kind === 'f16t') : f16TensorCoreShader(tiles, v, kind === 'f16t');
}

/**
 * Bytes of workgroup memory one kernel's shader declares: the staged blocks ((BM + BN) × 64 bytes
 * per copy step for every kind) and the folded epilogue's 16 × 16 slot (f32, or i32 for i8) per
 * subgroup: the same for every kind at equal tiles. WebGPU guarantees 16 KiB; NVIDIA's Vulkan driver offers 48 KiB.
 */
export function tensorCoreWorkgroupBytes(_kind: TensorCoreKind, { TM, TN, staged }: TensorCoreTiles, v: ShaderVariant): number {
  const w = perWorkgroup(v);
  const blocks = staged ? (w * TM + w * TN) * 64 : 0; // i8: 64 bytes along K; f16: 32 halves
  const slots = (v.layout === '2x2' ? 4 : 1) * 256 * 4;
  return blocks + slots;
}

/** Relative-error tolerance of each kernel kind against the tiled kernels (f16 rounds dY or x). */
const TOLERANCE: Record<TensorCoreKind, number> = { i8: 1e-4, f16: 5e-3, f16t: 5e-3 };

/** Options of {@link prepareTensorCoreKernels}. */
export interface PrepareTensorCoreOptions {
  /**
   * Subgroup tiles: one (default 2 × 2), several to try in order (the first that compiles and passes
   * the check is kept, or with `time` the fastest of those that pass), or `'tune'` =
   * {@link TENSOR_CORE_TILE_CANDIDATES} (needs `time`).
   */
  tiles?: TensorCoreTiles | readonly TensorCoreTiles[] | 'tune';
  /** Compares the kernel now enabled for `kind` with the tiled kernels; returns the relative error. */
  check?: (kind: TensorCoreKind) => Promise<number>;
  /**
   * Milliseconds per call of the kernel now enabled for `kind` (with `tiles`); called only for
   * candidates that compiled and passed the check, when there is more than one candidate.
   */
  time?: (kind: TensorCoreKind, tiles: TensorCoreTiles) => Promise<number>;
  /** Kernels to prepare (default all, {@link TENSOR_CORE_KINDS}); e.g. leave out `f16t` to keep the float32 weight-only forward. */
  kinds?: readonly TensorCoreKind[];
  /** Variants to try, in order (default {@link TENSOR_CORE_VARIANTS}). */
  variants?: readonly ShaderVariant[];
  /**
   * Tests: rewrite each shader before compiling (e.g. into plain WGSL that emulates the
   * subgroup-matrix builtins); the feature check is then skipped.
   */
  shaderTransform?: (code: string) => string;
}

const PREPARE_OPTIONS: KnownOptions<PrepareTensorCoreOptions> = { tiles: true, check: true, time: true, kinds: true, variants: true, shaderTransform: true };

interface Candidate { kernel: Kernel; relErr?: number; ms?: number }

/**
 * One Error naming every problem of `prepareTensorCoreKernels`' options: unknown keys (of `tiles` too, as
 * `tiles.key`), tiles that are not positive integers, an empty tile list, a kind not in {@link TENSOR_CORE_KINDS},
 * `'tune'` without `time`.
 */
function checkPrepareTensorCoreOptions(options: PrepareTensorCoreOptions): void {
  const message = optionsMessage('prepareTensorCoreKernels', options, {
    known: PREPARE_OPTIONS,
    more: (o, p) => {
      tilesOptionProblems(o['tiles'], p);
      if (o['tiles'] === 'tune' && !o['time']) p.values.push("tiles 'tune' needs a time function");
      kindsProblems(o['kinds'], p);
    },
  });
  if (message !== undefined) throw new Error(message);
}

/**
 * Compiles the subgroup-matrix kernels on the backend's device (it must have been created with
 * `chromium-experimental-subgroup-matrix` and `shader-f16`; tfjs does not request them itself) and
 * enables them for this backend. For each kernel the variants ({@link TENSOR_CORE_VARIANTS}) are
 * tried in order, and within a variant the tile candidates: a candidate counts if it compiles and,
 * when `check` is given (recommended; the bench and `prepareWebGPUTensorCores` pass one), matches
 * the tiled kernels on random data within tolerance. Without `time` the first such candidate is
 * kept; with `time` and several tiles, every candidate of the first variant that has one is timed
 * and the fastest is kept. The report says which, with every candidate's compile error, check
 * result or time. **Not yet run on hardware** (the shaders are compiled by Tint in CI).
 */
export async function prepareTensorCoreKernels(backend: object, options: PrepareTensorCoreOptions = {}): Promise<TensorCoreReport> {
  checkPrepareTensorCoreOptions(options);
  const b = backend as Backend;
  const device = b.device;
  const candidates: readonly TensorCoreTiles[] = options.tiles === 'tune' ? TENSOR_CORE_TILE_CANDIDATES
    : Array.isArray(options.tiles) ? options.tiles : [(options.tiles as TensorCoreTiles | undefined) ?? DEFAULT_TILES];
  const timing = !!options.time && candidates.length > 1;
  const hasTc = !!device?.features?.has(FEATURE);
  const transform = options.shaderTransform ?? ((code: string) => code);
  const report: TensorCoreReport = { feature: hasTc, i8: 'feature absent', f16: 'feature absent', f16t: 'feature absent', chosen: {} };
  prepared.delete(backend);
  if (!hasTc && !options.shaderTransform) return report;
  const entry: Prepared = {};
  prepared.set(backend, entry);
  for (const kind of TENSOR_CORE_KINDS) {
    if (!(options.kinds ?? TENSOR_CORE_KINDS).includes(kind)) {
      report[kind] = 'not requested';
      continue;
    }
    if (kind !== 'i8' && !device.features.has('shader-f16') && !options.shaderTransform) {
      report[kind] = 'shader-f16 absent';
      continue;
    }
    // f16 matrices are read from array<f16>: the word type does not apply.
    const all = options.variants ?? VARIANTS;
    const variants = kind === 'i8' ? all : all.filter((v) => v.word === 'i32');
    if (!variants.length) {
      report[kind] = 'no variant to try';
      continue;
    }
    const kindTiming = timing && candidates.length > 1;
    const notes: string[] = [];
    for (const variant of variants) {
      const name = `${variant.layout} ${variant.word}`;
      const label = (t: TensorCoreTiles) => (candidates.length > 1 ? `${name} ${tileName(t)}` : name);
      const passed: Candidate[] = [];
      const tried: string[] = [];
      for (const tiles of candidates) {
        const c = await tryCandidate(device, entry, kind, { variant, tiles }, transform, options, kindTiming);
        if (typeof c === 'string') {
          (kindTiming ? tried : notes).push(`${label(tiles)}: ${c}`);
          continue;
        }
        passed.push(c);
        tried.push(`${tileName(tiles)} ${c.ms?.toFixed(3)} ms`);
        if (!kindTiming) break;
      }
      const best = passed.reduce<Candidate | null>((x, c) => (!x || (c.ms ?? Infinity) < (x.ms ?? Infinity) ? c : x), null);
      if (!best) {
        if (kindTiming) notes.push(tried.join(' | '));
        continue;
      }
      entry[kind] = best.kernel;
      report.chosen[kind] = { variant, tiles: best.kernel.tiles, ...(best.relErr !== undefined ? { relErr: best.relErr } : {}), ...(best.ms !== undefined ? { ms: best.ms } : {}) };
      const checked = best.relErr === undefined ? 'unchecked' : `relative error ${best.relErr.toExponential(2)} vs tiled`;
      const tuned = kindTiming ? `; tiles ${tileName(best.kernel.tiles)}, fastest of: ${tried.join(', ')}` : '';
      report[kind] = `ready (${checked}; ${name}${tuned})`;
      break;
    }
    if (!entry[kind]) report[kind] = notes.join(' | ').slice(0, 2000);
  }
  if (!entry.i8 && !entry.f16 && !entry.f16t) prepared.delete(backend);
  return report;
}

/**
 * Compiles one kernel kind at one variant and tiles, enables it, checks it (and times it when
 * `timing`), and disables it again; returns what it measured, or why it does not count.
 */
async function tryCandidate(
  device: GpuDevice, entry: Prepared, kind: TensorCoreKind, { variant, tiles }: { variant: ShaderVariant; tiles: TensorCoreTiles },
  transform: (code: string) => string, options: PrepareTensorCoreOptions, timing: boolean,
): Promise<Candidate | string> {
  const bytes = tensorCoreWorkgroupBytes(kind, tiles, variant);
  const limit = device.limits?.maxComputeWorkgroupStorageSize ?? 16384;
  if (bytes > limit) return `needs ${bytes / 1024} KiB of workgroup memory, the device offers ${limit / 1024} KiB`;
  const pipeline = await compileComputeShader(device, transform(tensorCoreShader(kind, tiles, variant)));
  if (typeof pipeline === 'string') return `compile error ${pipeline}`;
  const kernel: Kernel = { pipeline, variant, tiles };
  entry[kind] = kernel;
  try {
    const c: Candidate = { kernel };
    if (options.check) {
      const before = tensorCoreDispatches;
      const err = await options.check(kind);
      if (tensorCoreDispatches === before) return 'check did not reach the tensor-core kernel (shape unsuited to these tiles?)';
      if (!(err <= TOLERANCE[kind])) return `check failed, relative error ${err} > ${TOLERANCE[kind]}`;
      c.relErr = err;
    }
    if (timing && options.time) {
      const before = tensorCoreDispatches;
      try {
        c.ms = await options.time(kind, tiles);
      } catch (e) {
        return `timing threw ${(e as Error).message.slice(0, 300)}`;
      }
      if (tensorCoreDispatches === before) return 'timing did not reach the tensor-core kernel (shape unsuited to these tiles?)';
    }
    return c;
  } catch (e) {
    return `check threw ${(e as Error).message.slice(0, 300)}`;
  } finally {
    delete entry[kind];
  }
}

/** Turns the tensor-core kernels off for this backend. */
export function disableTensorCoreKernels(backend: object): void {
  prepared.delete(backend);
}
