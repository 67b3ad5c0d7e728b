import * as tf from '@tensorflow/tfjs-core';
import { dropoutAttrs, WGSL_HASH } from '@conifer/dropout';
import { checkOptionArgument, WEBGPU_KERNEL_OPTIONS } from './option-arguments.js';

/**
 * The adapter path `y + scaling · (dropout(x) · Aᵀ) · Bᵀ` as WGSL kernels on webgpu: 2 dispatches
 * forward (down: h = scaling · dropout(x) · Aᵀ, [N, r]; up: y + h · Bᵀ, [N, out]) and 4 backward
 * (dh = dy · B; dB = dyᵀ · h; dx = scaling · mask ⊙ (dh · A); dA = scaling · dhᵀ · dropout(x)),
 * instead of ~7 and ~10 tensor ops. On a GPU a LoRA training step is bound by the host's cost per
 * dispatch (a Flan-UL2 step has 192 adapted projections, each run forward twice with gradient
 * checkpointing); the products themselves are thin (r = 8). The dropout mask is
 * `@conifer/dropout`'s (same seed → same mask as `dropout(x, p, seed)` on any backend), drawn in
 * the shader and drawn again in the backward instead of being kept. Up and dx (r terms per output)
 * run one invocation per output. The four products that sum thousands of terms are tiled
 * (`setWebGPULoraKernels`): down and dh (over in / out) take 4 token rows per workgroup and all r
 * outputs of each, so x (or dy) is read once and A (or B) once per 4 rows; dA and dB (over the N
 * tokens) take 32 columns per workgroup in 8 token groups, all r outputs of each column, so x (or dy)
 * is read once, 32 consecutive floats per load. The first layout ('per-output': a workgroup of 64
 * per output element) read x r times, and in dA and dB a column of x (a stride of `in` floats
 * between neighbouring invocations); it stays selectable, and serves r > 16.
 */
export const LORA_DOWN = 'ConiferLoraDown';
export const LORA_UP = 'ConiferLoraUp';
export const DOWN_DX = 'ConiferLoraDownGradX';
export const DOWN_DA = 'ConiferLoraDownGradA';
export const UP_DH = 'ConiferLoraUpGradH';
export const UP_DB = 'ConiferLoraUpGradB';

/** How the four long reductions (down, dh, dA, dB) are laid out on the GPU. */
export interface WebGPULoraKernelOptions {
  /** 'tiled' (default) or 'per-output' (one workgroup of 64 per output element; always used for r > 16). */
  layout?: 'tiled' | 'per-output';
}
let kernelOptions: Required<WebGPULoraKernelOptions> = { layout: 'tiled' };

/** Chooses the kernel layout for later calls (benchmarks compare them); returns the previous options. */
export function setWebGPULoraKernels(options: WebGPULoraKernelOptions = {}): WebGPULoraKernelOptions {
  checkOptionArgument('setWebGPULoraKernels', options, {
    known: WEBGPU_KERNEL_OPTIONS,
    values: (o) => (o['layout'] === undefined || o['layout'] === 'tiled' || o['layout'] === 'per-output' ? [] : [`layout must be "tiled" or "per-output", not ${JSON.stringify(o['layout'])}`]),
  });
  const prev = { ...kernelOptions };
  kernelOptions = { layout: options.layout ?? 'tiled' };
  return prev;
}

const ROWS = 4; // token rows per workgroup of the row reductions (64 invocations)
const COLS = 32; // columns per workgroup of the column reductions
const GROUPS = 8; // token groups per workgroup (COLS · GROUPS = 256 invocations)
/**
 * Largest r of the tiled layout: both keep r partial sums per row (or column) and invocation in
 * workgroup memory, ROWS·r·64 and GROUPS·r·COLS floats, within WebGPU's default 16 KiB.
 */
const TILED_MAX_R = Math.min(16384 / (4 * ROWS * 64), 16384 / (4 * GROUPS * COLS)); // 16
const tiled = (r: number) => kernelOptions.layout === 'tiled' && r <= TILED_MAX_R;

/** Attributes of the down projection: scaling and the dropout draw (`dropout: false` = none). */
export interface LoraDownAttrs { scaling: number; dropout: boolean; key: number; thr: number; scale: number }

/** Structural copy of tfjs-backend-webgpu's `WebGPUProgram` (the fields used; no dependency on the backend). */
interface WgslProgram {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[]; y?: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  size: boolean;
  uniforms: string;
  getUserCode(): string;
}
type Uniform = { type: 'int32' | 'uint32' | 'float32'; data: number[] };
interface WebGPULike {
  runWebGPUProgram(program: WgslProgram, inputs: tf.TensorInfo[], dtype: 'float32', uniforms: Uniform[]): tf.TensorInfo;
}

/**
 * One invocation per output element of `shape` (2-D dispatch past 65,535 workgroups); `body` sets
 * `v`. `width` is the uniform holding shape[1]: sizes stay out of the WGSL text, whose pipeline
 * tfjs caches by shader key.
 */
function perOutput(key: string, variableNames: string[], shape: [number, number], uniforms: string, width: string, body: string): WgslProgram {
  const size = shape[0] * shape[1];
  const groups = Math.ceil(size / 64);
  const x = groups <= 65535 ? groups : Math.ceil(Math.sqrt(groups));
  return {
    variableNames, outputShape: shape, shaderKey: key, size: true, uniforms,
    dispatchLayout: { x: [0, 1] }, dispatch: [x, Math.ceil(groups / x), 1], workgroupSize: [64, 1, 1],
    getUserCode: () => `${WGSL_HASH}
      fn main(index : i32) {
        if (index < uniforms.size) {
          let row = index / uniforms.${width};
          let col = index - row * uniforms.${width};
          var v = 0.0;
          ${body}
          setOutputAtIndex(index, v);
        }
      }`,
  };
}

const RW = 64; // invocations sharing one output's reduction

/** Workgroups spread over x and y past 65,535; the kernel reads its flat index from both. */
function grid(groups: number): [number, number, number] {
  const x = Math.min(groups, 65535);
  return [x, Math.ceil(groups / x), 1];
}

/**
 * One workgroup of 64 invocations per output element of `shape`, for the long reductions (over
 * `in` or over the N tokens, thousands of terms): invocation `t` sums the terms `t, t + 64, …` of
 * `term(t)` up to the uniform `len`, then the workgroup adds the 64 partial sums. (One invocation
 * per output would leave a GPU mostly idle: these outputs number only N·r or r·in.) Workgroups are
 * spread over x and y past 65,535.
 */
function reduceProgram(
  key: string, variableNames: string[], shape: [number, number], uniforms: string,
  /** Uniforms holding shape[1], shape[0] and the reduction length (sizes stay out of the cached WGSL). */
  u: { width: string; rows: string; len: string },
  /** The two factors of term t (WGSL expressions of row, col, t). */
  term: [string, string],
  finish = 'v',
): WgslProgram {
  const size = shape[0] * shape[1];
  return {
    variableNames, outputShape: shape, shaderKey: key, size: false, uniforms,
    dispatchLayout: { x: [1], y: [0] }, dispatch: grid(size), workgroupSize: [RW, 1, 1],
    getUserCode: () => `${WGSL_HASH}
      var<workgroup> part : array<f32, ${RW}>;
      fn main() {
        let index = i32(workgroupId.y * numWorkgroups.x + workgroupId.x);
        let lid = i32(localId.x);
        let row = index / uniforms.${u.width};
        let col = index - row * uniforms.${u.width};
        let live = row < uniforms.${u.rows};
        var acc = 0.0;
        if (live) {
          for (var t = lid; t < uniforms.${u.len}; t += ${RW}) { acc = fma(${term[0]}, ${term[1]}, acc); }
        }
        part[lid] = acc;
        workgroupBarrier();
        for (var off = ${RW / 2}; off > 0; off = off / 2) {
          if (lid < off) { part[lid] += part[lid + off]; }
          workgroupBarrier();
        }
        if (live && lid == 0) {
          let v = part[0];
          setOutputAtIndex(index, ${finish});
        }
      }`,
  };
}

/**
 * out [rows, R] = finish(Σ_k term(n, k, i)) for the R outputs of each row, `len` terms each: a
 * workgroup of 64 takes ROWS rows; invocation l sums k = l, l + 64, … for every row and output, so
 * each row's operand (x) is read once and the shared one (A or B: `wload(i, k)`) once per ROWS rows.
 */
function rowReduceProgram(
  key: string, variableNames: string[], rows: number, R: number, uniforms: string,
  u: { rows: string; len: string },
  /** WGSL of the row operand at (n, k) and of the shared operand at (i, k). */
  xload: (n: string, k: string) => string, wload: (i: string, k: string) => string,
  finish = 'v',
): WgslProgram {
  const P = ROWS * R;
  return {
    variableNames, outputShape: [rows, R], shaderKey: `${key}_${ROWS}rows_r${R}`, size: false, uniforms,
    dispatchLayout: { x: [0], y: [1] }, dispatch: grid(Math.ceil(rows / ROWS)), workgroupSize: [64, 1, 1],
    getUserCode: () => `${WGSL_HASH}
      var<workgroup> part : array<f32, ${P * 64}>;
      fn main() {
        let n0 = i32(workgroupId.y * numWorkgroups.x + workgroupId.x) * ${ROWS};
        let lid = i32(localId.x);
        var acc : array<f32, ${P}>;
        for (var k = lid; k < uniforms.${u.len}; k += 64) {
          var w : array<f32, ${R}>;
          for (var i = 0; i < ${R}; i++) { w[i] = ${wload('i', 'k')}; }
          for (var j = 0; j < ${ROWS}; j++) {
            let n = n0 + j;
            if (n < uniforms.${u.rows}) {
              let xv = ${xload('n', 'k')};
              for (var i = 0; i < ${R}; i++) { acc[j * ${R} + i] = fma(xv, w[i], acc[j * ${R} + i]); }
            }
          }
        }
        for (var p = 0; p < ${P}; p++) { part[p * 64 + lid] = acc[p]; }
        workgroupBarrier();
        // Tree over the 64 invocations, all partial sums at once (neighbouring invocations, neighbouring words).
        for (var off = 32; off > 0; off = off / 2) {
          if (lid < off) {
            for (var p = 0; p < ${P}; p++) { part[p * 64 + lid] += part[p * 64 + lid + off]; }
          }
          workgroupBarrier();
        }
        for (var p = lid; p < ${P}; p += 64) {
          let n = n0 + p / ${R};
          if (n < uniforms.${u.rows}) {
            let v = part[p * 64];
            setOutputAtIndex(n * ${R} + p % ${R}, ${finish});
          }
        }
      }`,
  };
}

/**
 * R outputs per column of a [len, cols] operand, each a sum over its len (= N token) rows:
 * a workgroup of COLS × GROUPS invocations takes COLS consecutive columns; invocation (c, g) sums
 * the rows g, g + GROUPS, … of its column for all R outputs (one coalesced load of the column
 * operand and R of the row's small operand per row), then the GROUPS partial sums are added.
 * `store(i, c)` is the flat output index of output i of column c.
 */
function colReduceProgram(
  key: string, variableNames: string[], outputShape: [number, number], cols: number, R: number, uniforms: string,
  u: { cols: string; len: string },
  /** WGSL of the column operand at (n, c) and of the row operand at (n, i). */
  cload: (n: string, c: string) => string, rload: (n: string, i: string) => string,
  store: (i: string, c: string) => string,
  finish = 'v',
): WgslProgram {
  const P = GROUPS * R * COLS;
  return {
    variableNames, outputShape, shaderKey: `${key}_${COLS}x${GROUPS}cols_r${R}`, size: false, uniforms,
    dispatchLayout: { x: [1], y: [0] }, dispatch: grid(Math.ceil(cols / COLS)), workgroupSize: [COLS * GROUPS, 1, 1],
    getUserCode: () => `${WGSL_HASH}
      var<workgroup> part : array<f32, ${P}>;
      fn main() {
        let c0 = i32(workgroupId.y * numWorkgroups.x + workgroupId.x) * ${COLS};
        let lid = i32(localId.x);
        let lc = lid % ${COLS};
        let g = lid / ${COLS};
        let c = c0 + lc;
        var acc : array<f32, ${R}>;
        if (c < uniforms.${u.cols}) {
          for (var n = g; n < uniforms.${u.len}; n += ${GROUPS}) {
            let cv = ${cload('n', 'c')};
            for (var i = 0; i < ${R}; i++) { acc[i] = fma(${rload('n', 'i')}, cv, acc[i]); }
          }
        }
        for (var i = 0; i < ${R}; i++) { part[(g * ${R} + i) * ${COLS} + lc] = acc[i]; }
        workgroupBarrier();
        for (var o = lid; o < ${R * COLS}; o += ${COLS * GROUPS}) {
          let i = o / ${COLS};
          let oc = c0 + o % ${COLS};
          if (oc < uniforms.${u.cols}) {
            var v = 0.0;
            for (var q = 0; q < ${GROUPS}; q++) { v += part[(q * ${R} + i) * ${COLS} + o % ${COLS}]; }
            setOutputAtIndex(${store('i', 'oc')}, ${finish});
          }
        }
      }`,
  };
}

const DROP_UNIFORMS = 'rows : i32, inF : i32, r : i32, scaling : f32, key : u32, thr : u32, scale : f32,';
/** x[n, k] after dropout (the mask of element n·in + k), as `@conifer/dropout` computes it. */
const dropped = (a: LoraDownAttrs, n: string, k: string) =>
  a.dropout ? `(x[${n} * uniforms.inF + ${k}] * select(0.0, uniforms.scale, conifer_bits24(uniforms.key, u32(${n} * uniforms.inF + ${k})) >= uniforms.thr))` : `x[${n} * uniforms.inF + ${k}]`;

function dropUniforms(rows: number, inF: number, r: number, a: LoraDownAttrs): Uniform[] {
  return [
    { type: 'int32', data: [rows] }, { type: 'int32', data: [inF] }, { type: 'int32', data: [r] }, { type: 'float32', data: [a.scaling] },
    { type: 'uint32', data: [a.key] }, { type: 'uint32', data: [a.thr] }, { type: 'float32', data: [a.scale] },
  ];
}

const run = (backend: unknown, prog: WgslProgram, inputs: tf.TensorInfo[], uniforms: Uniform[]) =>
  (backend as WebGPULike).runWebGPUProgram(prog, inputs, 'float32', uniforms);

/** h [N, r] = scaling · Σ_k dropout(x)[n, k] · A[i, k]. */
const down: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, a } = inputs as { x: tf.TensorInfo; a: tf.TensorInfo };
  const at = attrs as unknown as LoraDownAttrs;
  const [N, inF] = x.shape as [number, number];
  const r = a.shape[0] as number;
  const prog = tiled(r)
    ? rowReduceProgram(`conifer_lora_down_${at.dropout}`, ['x', 'a'], N, r, DROP_UNIFORMS, { rows: 'rows', len: 'inF' },
      (n, k) => dropped(at, n, k), (i, k) => `a[${i} * uniforms.inF + ${k}]`, 'v * uniforms.scaling')
    : reduceProgram(`conifer_lora_down_${at.dropout}`, ['x', 'a'], [N, r], DROP_UNIFORMS, { width: 'r', rows: 'rows', len: 'inF' },
      [dropped(at, 'row', 't'), 'a[col * uniforms.inF + t]'], 'v * uniforms.scaling');
  return run(backend, prog, [x, a], dropUniforms(N, inF, r, at));
};

/** dx [N, in] = mask ⊙ scaling · Σ_i dh[n, i] · A[i, k] (the dropout's own scale included). */
const downGradX: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { dh, a } = inputs as { dh: tf.TensorInfo; a: tf.TensorInfo };
  const at = attrs as unknown as LoraDownAttrs;
  const [N, r] = dh.shape as [number, number];
  const inF = a.shape[1] as number;
  const mask = at.dropout ? ' * select(0.0, uniforms.scale, conifer_bits24(uniforms.key, u32(index)) >= uniforms.thr)' : '';
  const prog = perOutput(`conifer_lora_down_dx_${at.dropout}`, ['dh', 'a'], [N, inF], DROP_UNIFORMS, 'inF', `
          for (var i = 0; i < uniforms.r; i++) { v = fma(dh[row * uniforms.r + i], a[i * uniforms.inF + col], v); }
          v = v * uniforms.scaling${mask};`);
  return run(backend, prog, [dh, a], dropUniforms(N, inF, r, at));
};

/** dA [r, in] = scaling · Σ_n dh[n, i] · dropout(x)[n, k]. */
const downGradA: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { dh, x } = inputs as { dh: tf.TensorInfo; x: tf.TensorInfo };
  const at = attrs as unknown as LoraDownAttrs;
  const [N, r] = dh.shape as [number, number];
  const inF = x.shape[1] as number;
  const prog = tiled(r)
    ? colReduceProgram(`conifer_lora_down_da_${at.dropout}`, ['dh', 'x'], [r, inF], inF, r, DROP_UNIFORMS, { cols: 'inF', len: 'rows' },
      (n, c) => dropped(at, n, c), (n, i) => `dh[${n} * ${r} + ${i}]`, (i, c) => `${i} * uniforms.inF + ${c}`, 'v * uniforms.scaling')
    : reduceProgram(`conifer_lora_down_da_${at.dropout}`, ['dh', 'x'], [r, inF], DROP_UNIFORMS, { width: 'inF', rows: 'r', len: 'rows' },
      ['dh[t * uniforms.r + row]', dropped(at, 't', 'col')], 'v * uniforms.scaling');
  return run(backend, prog, [dh, x], dropUniforms(N, inF, r, at));
};

const UP_UNIFORMS = 'rows : i32, outF : i32, r : i32,';
const upUniforms = (rows: number, outF: number, r: number): Uniform[] => [rows, outF, r].map((v) => ({ type: 'int32', data: [v] }));

/** y [N, out] + Σ_i h[n, i] · B[o, i]. */
const up: tf.KernelFunc = ({ inputs, backend }) => {
  const { y, h, b } = inputs as { y: tf.TensorInfo; h: tf.TensorInfo; b: tf.TensorInfo };
  const [N, outF] = y.shape as [number, number];
  const r = h.shape[1] as number;
  const prog = perOutput('conifer_lora_up', ['y', 'h', 'b'], [N, outF], UP_UNIFORMS, 'outF', `
          for (var i = 0; i < uniforms.r; i++) { v = fma(h[row * uniforms.r + i], b[col * uniforms.r + i], v); }
          v = y[index] + v;`);
  return run(backend, prog, [y, h, b], upUniforms(N, outF, r));
};

/** dh [N, r] = Σ_o dy[n, o] · B[o, i]. */
const upGradH: tf.KernelFunc = ({ inputs, backend }) => {
  const { dy, b } = inputs as { dy: tf.TensorInfo; b: tf.TensorInfo };
  const [N, outF] = dy.shape as [number, number];
  const r = b.shape[1] as number;
  const prog = tiled(r)
    ? rowReduceProgram('conifer_lora_up_dh', ['dy', 'b'], N, r, UP_UNIFORMS, { rows: 'rows', len: 'outF' },
      (n, k) => `dy[${n} * uniforms.outF + ${k}]`, (i, k) => `b[${k} * ${r} + ${i}]`)
    : reduceProgram('conifer_lora_up_dh', ['dy', 'b'], [N, r], UP_UNIFORMS, { width: 'r', rows: 'rows', len: 'outF' },
      ['dy[row * uniforms.outF + t]', 'b[t * uniforms.r + col]']);
  return run(backend, prog, [dy, b], upUniforms(N, outF, r));
};

/** dB [out, r] = Σ_n dy[n, o] · h[n, i]. */
const upGradB: tf.KernelFunc = ({ inputs, backend }) => {
  const { dy, h } = inputs as { dy: tf.TensorInfo; h: tf.TensorInfo };
  const [N, outF] = dy.shape as [number, number];
  const r = h.shape[1] as number;
  const prog = tiled(r)
    ? colReduceProgram('conifer_lora_up_db', ['dy', 'h'], [outF, r], outF, r, UP_UNIFORMS, { cols: 'outF', len: 'rows' },
      (n, c) => `dy[${n} * uniforms.outF + ${c}]`, (n, i) => `h[${n} * ${r} + ${i}]`, (i, c) => `${c} * ${r} + ${i}`)
    : reduceProgram('conifer_lora_up_db', ['dy', 'h'], [outF, r], UP_UNIFORMS, { width: 'r', rows: 'outF', len: 'rows' },
      ['dy[t * uniforms.outF + row]', 'h[t * uniforms.r + col]']);
  return run(backend, prog, [dy, h], upUniforms(N, outF, r));
};

const kernel = (name: string, x: tf.NamedTensorMap, attrs: object = {}) => tf.engine().runKernel(name, x, attrs as tf.NamedAttrMap) as tf.Tensor;

const grads: tf.GradConfig[] = [
  {
    kernelName: LORA_DOWN,
    inputsToSave: ['x', 'a'],
    gradFunc: (dh, saved, attrs) => {
      const [x, a] = saved as [tf.Tensor, tf.Tensor];
      return { x: () => kernel(DOWN_DX, { dh: dh as tf.Tensor, a }, attrs), a: () => kernel(DOWN_DA, { dh: dh as tf.Tensor, x }, attrs) };
    },
  },
  {
    kernelName: LORA_UP,
    inputsToSave: ['h', 'b'],
    gradFunc: (dy, saved) => {
      const [h, b] = saved as [tf.Tensor, tf.Tensor];
      const g = dy as tf.Tensor;
      return { y: () => tf.reshape(g, g.shape), h: () => kernel(UP_DH, { dy: g, b }), b: () => kernel(UP_DB, { dy: g, h }) };
    },
  },
];

/** Registers the webgpu kernels and their gradients where none is registered (idempotent). */
export function registerLoraWebGPUKernels(): void {
  const funcs: Array<[string, tf.KernelFunc]> = [[LORA_DOWN, down], [LORA_UP, up], [DOWN_DX, downGradX], [DOWN_DA, downGradA], [UP_DH, upGradH], [UP_DB, upGradB]];
  for (const [kernelName, kernelFunc] of funcs) {
    if (!tf.getKernel(kernelName, 'webgpu')) tf.registerKernel({ kernelName, backendName: 'webgpu', kernelFunc });
  }
  for (const g of grads) if (!tf.getGradient(g.kernelName)) tf.registerGradient(g);
}

/**
 * `y + scaling · (dropout(x2, p, seed) · Aᵀ) · Bᵀ` through the kernels: x2 [N, in], y [N, out],
 * A [r, in], B [out, r]. Only on the webgpu backend.
 */
export function loraDeltaWebGPU(y: tf.Tensor2D, x2: tf.Tensor2D, a: tf.Tensor2D, b: tf.Tensor2D, scaling: number, p: number, seed: number): tf.Tensor2D {
  registerLoraWebGPUKernels();
  const drop = p > 0 ? dropoutAttrs(p, seed) : { key: 0, thr: 0, scale: 1 };
  const h = kernel(LORA_DOWN, { x: x2, a }, { scaling, dropout: p > 0, ...drop });
  return kernel(LORA_UP, { y, h, b }) as tf.Tensor2D;
}
