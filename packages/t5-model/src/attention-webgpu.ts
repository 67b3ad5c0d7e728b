import * as tf from '@tensorflow/tfjs-core';
import { dropoutAttrs, WGSL_HASH } from '@conifer/dropout';
import { registerSoftmaxKernels, rowSoftmax } from './softmax-webgpu.js';
import type { Uniform, WebGPULike, WgslProgram } from './webgpu-program.js';

/**
 * Attention's products on webgpu as strided batched WGSL kernels that read q, k, v in the
 * projections' own layout `[B, S, H·d_kv]` and write the context there too, so no head transposes
 * are dispatched (tfjs: 4 transposes forward, 4 backward per attention). The score kernel adds the
 * bias in its epilogue; the context kernel applies the attention-weight dropout while it reads the
 * weights (the mask of `@conifer/dropout` for the weights' flat index, the one `dropout(weights,
 * rate, seed)` draws on any backend). Per attention: 3 dispatches forward (scores, softmax,
 * context), 5 backward.
 *
 * Both products are one program: `C[b, h, m, n] = Σ_k A(b, h, m, k) · B(b, h, k, n)`, every
 * operand addressed by element strides per (b, h, m|k, k|n) held in uniforms, so the compiled
 * pipelines do not depend on sizes. A workgroup of 16 × 16 computes a 64 × 64 tile, 4 × 4 per
 * invocation, in steps of 16 along k through workgroup memory.
 */
export const ATTN_QK = 'ConiferT5AttnQK';
export const ATTN_PV = 'ConiferT5AttnPV';

interface DropAttrs { dropout: boolean; key: number; thr: number; scale: number }
/** QK: `[B, H, Sq, Sk] = a · bᵀ per head (+ bias) (× mask)`; a [B, Sq, H·dk], b [B, Sk, H·dk]. */
interface QKAttrs extends DropAttrs { heads: number; /** The bias input's shape ([] without one): its gradient needs only that, so the bias is not saved. */ biasShape: number[] }
/** PV: `[B, M, H·dk] = p · v per head`; p [B, H, M, K] or, with `transposeP`, [B, H, K, M]; v [B, K, H·dk]. */
interface PVAttrs extends DropAttrs { heads: number; transposeP: boolean }

const T = 16; // invocations per side of the workgroup
const R = 4; // outputs per invocation per side
const BT = T * R; // 64: output tile side
const BK = 16; // reduction step

/** Operand strides (elements) for b, h, the row (m or k) and the column (k or n). */
type Strides = [number, number, number, number];

interface MatMulSpec {
  /** Load order of the A tile: along k (A contiguous in k) or along m. */
  aAlongK: boolean;
  /** Load order of the B tile: along n (B contiguous in n) or along k. */
  bAlongN: boolean;
  bias: boolean;
  /** Dropout mask of A's element address (A is the attention weights, contiguous). */
  maskA: boolean;
  /** Dropout mask of the output's address (the output is [B, H, Sq, Sk], contiguous). */
  maskC: boolean;
}

const UNIFORMS = 'M : i32, N : i32, K : i32, H : i32, a : vec4<i32>, b : vec4<i32>, c : vec4<i32>, x : vec4<i32>, key : u32, thr : u32, scale : f32,';
const mask = (addr: string) => `select(0.0, uniforms.scale, conifer_bits24(uniforms.key, u32(${addr})) >= uniforms.thr)`;

function declare(): string {
  const lines: string[] = [];
  for (let i = 0; i < R; i++) for (let j = 0; j < R; j++) lines.push(`var acc${i}_${j} = 0.0;`);
  return lines.join(' ');
}

function inner(): string {
  const lines: string[] = [];
  for (let i = 0; i < R; i++) lines.push(`let a${i} = As[ty + ${T * i}][kk];`);
  for (let j = 0; j < R; j++) lines.push(`let b${j} = Bs[kk][tx + ${T * j}];`);
  for (let i = 0; i < R; i++) for (let j = 0; j < R; j++) lines.push(`acc${i}_${j} = fma(a${i}, b${j}, acc${i}_${j});`);
  return lines.join('\n            ');
}

function stores(s: MatMulSpec): string {
  const lines: string[] = [];
  for (let i = 0; i < R; i++) {
    for (let j = 0; j < R; j++) {
      let v = `acc${i}_${j}`;
      if (s.bias) v = `(${v} + bias[xb + gm * uniforms.x.z + gn * uniforms.x.w])`;
      if (s.maskC) v = `(${v} * ${mask('addr')})`;
      lines.push(`{ let gm = m0 + ty + ${T * i}; let gn = n0 + tx + ${T * j};
          if (gm < uniforms.M && gn < uniforms.N) { let addr = cb + gm * uniforms.c.z + gn * uniforms.c.w; result[addr] = ${v}; } }`);
    }
  }
  return lines.join('\n        ');
}

/** `M × N` is one (b, h) product: for QK the output's last two dimensions, for PV `M × d_kv` (one head's slice of `H·d_kv`). */
function matMulProgram(s: MatMulSpec, outputShape: number[], M: number, N: number, batch: number): WgslProgram {
  const aLoad = (i: string) => s.aAlongK ? `let r = ${i} / ${BK}; let c = ${i} - r * ${BK};` : `let c = ${i} / ${BT}; let r = ${i} - c * ${BT};`;
  const bLoad = (i: string) => s.bAlongN ? `let r = ${i} / ${BT}; let c = ${i} - r * ${BT};` : `let c = ${i} / ${BK}; let r = ${i} - c * ${BK};`;
  const aValue = s.maskA ? `a[addr] * ${mask('addr')}` : 'a[addr]';
  const flags = `${s.aAlongK ? 'k' : 'm'}${s.bAlongN ? 'n' : 'k'}${s.bias ? '_bias' : ''}${s.maskA ? '_maskA' : ''}${s.maskC ? '_maskC' : ''}`;
  return {
    variableNames: s.bias ? ['a', 'b', 'bias'] : ['a', 'b'],
    outputShape,
    shaderKey: `conifer_t5_attn_${flags}`,
    dispatchLayout: outputShape.length === 4 ? { x: [3], y: [2], z: [0, 1] } : { x: [2], y: [1], z: [0] },
    dispatch: [Math.ceil(N / BT), Math.ceil(M / BT), batch],
    workgroupSize: [T, T, 1],
    size: false,
    uniforms: UNIFORMS,
    getUserCode: () => `${s.maskA || s.maskC ? WGSL_HASH : ''}
      // Rows padded by one: the tile loads that run along m (A) or k (B) write a column per subgroup,
      // which without the pad would hit one memory bank ${T}-fold.
      var<workgroup> As : array<array<f32, ${BK + 1}>, ${BT}>;
      var<workgroup> Bs : array<array<f32, ${BT + 1}>, ${BK}>;

      fn main() {
        let tx = i32(localId.x);
        let ty = i32(localId.y);
        let tid = ty * ${T} + tx;
        let z = i32(workgroupId.z);
        let bi = z / uniforms.H;
        let hi = z - bi * uniforms.H;
        let m0 = i32(workgroupId.y) * ${BT};
        let n0 = i32(workgroupId.x) * ${BT};
        let ab = bi * uniforms.a.x + hi * uniforms.a.y;
        let bb = bi * uniforms.b.x + hi * uniforms.b.y;
        let cb = bi * uniforms.c.x + hi * uniforms.c.y;
        ${s.bias ? 'let xb = bi * uniforms.x.x + hi * uniforms.x.y;' : ''}
        ${declare()}
        for (var k0 = 0; k0 < uniforms.K; k0 += ${BK}) {
          for (var i = tid; i < ${BT * BK}; i += ${T * T}) {
            ${aLoad('i')}
            let gm = m0 + r;
            let gk = k0 + c;
            var v = 0.0;
            if (gm < uniforms.M && gk < uniforms.K) { let addr = ab + gm * uniforms.a.z + gk * uniforms.a.w; v = ${aValue}; }
            As[r][c] = v;
          }
          for (var i = tid; i < ${BT * BK}; i += ${T * T}) {
            ${bLoad('i')}
            let gk = k0 + r;
            let gn = n0 + c;
            var v = 0.0;
            if (gk < uniforms.K && gn < uniforms.N) { v = b[bb + gk * uniforms.b.z + gn * uniforms.b.w]; }
            Bs[r][c] = v;
          }
          workgroupBarrier();
          for (var kk = 0; kk < ${BK}; kk++) {
            ${inner()}
          }
          workgroupBarrier();
        }
        ${stores(s)}
      }`,
  };
}

const vec = (v: Strides): Uniform => ({ type: 'int32', data: v });

function uniforms(M: number, N: number, K: number, H: number, a: Strides, b: Strides, c: Strides, x: Strides, d: DropAttrs): Uniform[] {
  return [
    { type: 'int32', data: [M] }, { type: 'int32', data: [N] }, { type: 'int32', data: [K] }, { type: 'int32', data: [H] },
    vec(a), vec(b), vec(c), vec(x),
    { type: 'uint32', data: [d.key] }, { type: 'uint32', data: [d.thr] }, { type: 'float32', data: [d.scale] },
  ];
}

/** Strides of a bias broadcast to [B, H, Sq, Sk] (0 along its size-1 dimensions). */
function biasStrides(shape: number[]): Strides {
  const [b, h, q, k] = shape as [number, number, number, number];
  return [b === 1 ? 0 : h * q * k, h === 1 ? 0 : q * k, q === 1 ? 0 : k, k === 1 ? 0 : 1];
}

const qk: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { a, b, bias } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo; bias?: tf.TensorInfo };
  const at = attrs as unknown as QKAttrs;
  const [B, Sq, inner] = a.shape as [number, number, number];
  const Sk = b.shape[1]!;
  const H = at.heads;
  const dk = inner / H;
  const withBias = bias !== undefined;
  const prog = matMulProgram({ aAlongK: true, bAlongN: false, bias: withBias, maskA: false, maskC: at.dropout }, [B, H, Sq, Sk], Sq, Sk, B * H);
  // A(m = i, k = d) = a[b, i, h·dk + d]; B(k = d, n = j) = b[b, j, h·dk + d]; C [B, H, Sq, Sk].
  const u = uniforms(Sq, Sk, dk, H, [Sq * inner, dk, inner, 1], [Sk * inner, dk, 1, inner], [H * Sq * Sk, Sq * Sk, Sk, 1],
    withBias ? biasStrides(bias!.shape) : [0, 0, 0, 0], at);
  return (backend as WebGPULike).runWebGPUProgram(prog, withBias ? [a, b, bias!] : [a, b], 'float32', u);
};

const pv: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { p, v } = inputs as { p: tf.TensorInfo; v: tf.TensorInfo };
  const at = attrs as unknown as PVAttrs;
  const [B, H, P2, P3] = p.shape as [number, number, number, number];
  const [M, K] = at.transposeP ? [P3, P2] : [P2, P3];
  const inner = v.shape[2]!;
  const dk = inner / H;
  const prog = matMulProgram({ aAlongK: !at.transposeP, bAlongN: true, bias: false, maskA: at.dropout, maskC: false }, [B, M, inner], M, dk, B * H);
  // A(m, k) = p[b, h, m, k] (or p[b, h, k, m]); B(k = j, n = d) = v[b, j, h·dk + d]; C [B, M, H·dk].
  const aStrides: Strides = at.transposeP ? [H * P2 * P3, P2 * P3, 1, P3] : [H * P2 * P3, P2 * P3, P3, 1];
  const u = uniforms(M, dk, K, H, aStrides, [K * inner, dk, inner, 1], [M * inner, dk, inner, 1], [0, 0, 0, 0], at);
  return (backend as WebGPULike).runWebGPUProgram(prog, [p, v], 'float32', u);
};

const run = (name: string, inputs: tf.NamedTensorMap, attrs: object) => tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
const NO_DROP: DropAttrs = { dropout: false, key: 0, thr: 0, scale: 1 };

/** The sum of dy over the dimensions `shape` broadcasts along ([B, H, Sq, Sk] → shape). */
function reduceTo(dy: tf.Tensor, shape: number[]): tf.Tensor {
  const axes = shape.map((d, i) => (d === 1 && dy.shape[i] !== 1 ? i : -1)).filter((i) => i >= 0);
  return axes.length ? tf.sum(dy, axes, true) : dy.clone();
}

const qkGrad: tf.GradConfig = {
  kernelName: ATTN_QK,
  inputsToSave: ['a', 'b'],
  gradFunc: (dy, saved, attrs) => {
    const [a, b] = saved as [tf.Tensor, tf.Tensor];
    const at = attrs as unknown as QKAttrs;
    if (at.dropout) throw new Error(`${ATTN_QK}: no gradient for the masked product (it is itself a gradient)`);
    const heads = at.heads;
    const grads: Record<string, () => tf.Tensor> = {
      // dA[b, i, h·dk + d] = Σ_j dy[b, h, i, j] · B[b, j, h·dk + d]; dB = the same with dyᵀ and A.
      a: () => run(ATTN_PV, { p: dy as tf.Tensor, v: b }, { heads, transposeP: false, ...NO_DROP }),
      b: () => run(ATTN_PV, { p: dy as tf.Tensor, v: a }, { heads, transposeP: true, ...NO_DROP }),
    };
    if (at.biasShape.length) grads.bias = () => reduceTo(dy as tf.Tensor, at.biasShape);
    return grads;
  },
};

const pvGrad: tf.GradConfig = {
  kernelName: ATTN_PV,
  inputsToSave: ['p', 'v'],
  gradFunc: (dy, saved, attrs) => {
    const [p, v] = saved as [tf.Tensor, tf.Tensor];
    const at = attrs as unknown as PVAttrs;
    if (at.transposeP) throw new Error(`${ATTN_PV}: no gradient for the transposed product (it is itself a gradient)`);
    const drop: DropAttrs = { dropout: at.dropout, key: at.key, thr: at.thr, scale: at.scale };
    return {
      // dp[b, h, i, j] = mask · Σ_d dy[b, i, h·dk + d] · v[b, j, h·dk + d];  dv = dropout(p)ᵀ · dy per head.
      p: () => run(ATTN_QK, { a: dy as tf.Tensor, b: v }, { heads: at.heads, biasShape: [], ...drop }),
      v: () => run(ATTN_PV, { p, v: dy as tf.Tensor }, { heads: at.heads, transposeP: true, ...drop }),
    };
  },
};

/** Registers the webgpu kernels and their gradients where none is registered (idempotent). */
export function registerAttentionKernels(): void {
  for (const [kernelName, kernelFunc] of [[ATTN_QK, qk], [ATTN_PV, pv]] as const) {
    if (!tf.getKernel(kernelName, 'webgpu')) tf.registerKernel({ kernelName, backendName: 'webgpu', kernelFunc });
  }
  for (const g of [qkGrad, pvGrad]) if (!tf.getGradient(g.kernelName)) tf.registerGradient(g);
  registerSoftmaxKernels();
}

/** Whether {@link fusedAttention} applies: the webgpu backend and float32 operands. */
export function hasAttentionKernels(x: tf.Tensor): boolean {
  return tf.getBackend() === 'webgpu' && x.dtype === 'float32';
}

/**
 * `dropout(softmax(q·kᵀ + bias)) · v` per head, q [B, Sq, H·dk], k/v [B, Sk, H·dk] (the
 * projections' outputs), bias broadcasting to [B, H, Sq, Sk]; → [B, Sq, H·dk], ready for `o`.
 * Webgpu only (check {@link hasAttentionKernels}).
 */
export function fusedAttention(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, bias: tf.Tensor4D, heads: number, draw: { rate: number; seed: number } | null): tf.Tensor3D {
  registerAttentionKernels();
  const drop: DropAttrs = draw && draw.rate > 0 ? { dropout: true, ...dropoutAttrs(draw.rate, draw.seed) } : NO_DROP;
  return tf.tidy(() => {
    const scores = run(ATTN_QK, { a: q, b: k, bias }, { heads, biasShape: bias.shape, ...NO_DROP }); // (B, H, Sq, Sk)
    const weights = rowSoftmax(scores);
    return run(ATTN_PV, { p: weights, v }, { heads, transposeP: false, ...drop }) as tf.Tensor3D; // (B, Sq, H·dk)
  });
}
