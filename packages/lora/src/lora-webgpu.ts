import * as tf from '@tensorflow/tfjs-core';
import { dropoutAttrs, WGSL_HASH } from '@conifer/dropout';

/**
 * The adapter path `y + scaling · (dropout(x) · Aᵀ) · Bᵀ` as WGSL kernels on webgpu: 2 dispatches
 * forward (down: h = scaling · dropout(x) · Aᵀ, [N, r]; up: y + h · Bᵀ, [N, out]) and 4 backward
 * (dh = dy · B; dB = dyᵀ · h; dx = scaling · mask ⊙ (dh · A); dA = scaling · dhᵀ · dropout(x)),
 * instead of ~7 and ~10 tensor ops. On a GPU a LoRA training step is bound by the host's cost per
 * dispatch (a Flan-UL2 step has 192 adapted projections, each run forward twice with gradient
 * checkpointing); the products themselves are thin (r = 8). The dropout mask is
 * `@conifer/dropout`'s (same seed → same mask as `dropout(x, p, seed)` on any backend), drawn in
 * the shader and drawn again in the backward instead of being kept. The four products that sum
 * thousands of terms (down, dh, dA, dB) give each output a workgroup of 64 invocations; up and dx
 * (r terms each) one invocation per output.
 */
export const LORA_DOWN = 'ConiferLoraDown';
export const LORA_UP = 'ConiferLoraUp';
const DOWN_DX = 'ConiferLoraDownGradX';
const DOWN_DA = 'ConiferLoraDownGradA';
const UP_DH = 'ConiferLoraUpGradH';
const UP_DB = 'ConiferLoraUpGradB';

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
  const gx = Math.min(size, 65535);
  return {
    variableNames, outputShape: shape, shaderKey: key, size: false, uniforms,
    dispatchLayout: { x: [1], y: [0] }, dispatch: [gx, Math.ceil(size / gx), 1], workgroupSize: [RW, 1, 1],
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
  const prog = reduceProgram(`conifer_lora_down_${at.dropout}`, ['x', 'a'], [N, r], DROP_UNIFORMS, { width: 'r', rows: 'rows', len: 'inF' },
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
  const prog = reduceProgram(`conifer_lora_down_da_${at.dropout}`, ['dh', 'x'], [r, inF], DROP_UNIFORMS, { width: 'inF', rows: 'r', len: 'rows' },
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
  const prog = reduceProgram('conifer_lora_up_dh', ['dy', 'b'], [N, r], UP_UNIFORMS, { width: 'r', rows: 'rows', len: 'outF' },
    ['dy[row * uniforms.outF + t]', 'b[t * uniforms.r + col]']);
  return run(backend, prog, [dy, b], upUniforms(N, outF, r));
};

/** dB [out, r] = Σ_n dy[n, o] · h[n, i]. */
const upGradB: tf.KernelFunc = ({ inputs, backend }) => {
  const { dy, h } = inputs as { dy: tf.TensorInfo; h: tf.TensorInfo };
  const [N, outF] = dy.shape as [number, number];
  const r = h.shape[1] as number;
  const prog = reduceProgram('conifer_lora_up_db', ['dy', 'h'], [outF, r], UP_UNIFORMS, { width: 'r', rows: 'outF', len: 'rows' },
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
