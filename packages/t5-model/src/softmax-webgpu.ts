import * as tf from '@tensorflow/tfjs-core';
import type { Uniform, WebGPULike, WgslProgram } from './webgpu-program.js';

/**
 * Softmax over the last dimension as one WGSL kernel on webgpu, and its gradient
 * `dx = y · (dy − Σ dy·y)` as one more (tfjs: 4 tensor ops). One workgroup of 64 invocations per
 * row, rows spread over x and y past 65,535 workgroups (attention weights have B·H·Sq rows: 65,536
 * for 4096 tokens × 16 heads). tfjs's Softmax is one kernel too; this one exists for its gradient.
 */
export const ROW_SOFTMAX = 'ConiferT5Softmax';
const ROW_SOFTMAX_GRAD = 'ConiferT5SoftmaxGrad';

const WG = 64;

/** A row reduction: `name` = the fold of `term` (a WGSL expression of `base + c`) over the row with `op`, from `init`. */
interface Pass { name: string; init: string; op: (x: string, y: string) => string; term: string }
/** From float32's lowest value (the attention mask's), so a row of masked scores has that max and a uniform softmax, not 0/0. */
const maxPass = (term: string, name: string): Pass => ({ name, init: '-3.4028234663852886e+38', op: (a, b) => `max(${a}, ${b})`, term });
const sumPass = (term: string, name: string): Pass => ({ name, init: '0.0', op: (a, b) => `${a} + ${b}`, term });

/** One workgroup per row: the `passes` in order (each may use the earlier ones' results), then `body` per column. */
function rowProgram(key: string, variableNames: string[], shape: number[], passes: Pass[], body: string): WgslProgram {
  const D = shape[shape.length - 1]!;
  const rows = shape.reduce((a, d) => a * d, 1) / D;
  const gx = Math.min(rows, 65535);
  const reduce = (p: Pass) => `
        var ${p.name}Acc = ${p.init};
        for (var c = lid; c < width; c += ${WG}) { ${p.name}Acc = ${p.op(`${p.name}Acc`, p.term)}; }
        part[lid] = ${p.name}Acc;
        workgroupBarrier();
        for (var off = ${WG / 2}; off > 0; off = off / 2) {
          if (lid < off) { part[lid] = ${p.op('part[lid]', 'part[lid + off]')}; }
          workgroupBarrier();
        }
        let ${p.name} = part[0];
        workgroupBarrier();`;
  return {
    variableNames, outputShape: shape, shaderKey: key, size: false, uniforms: 'rows : i32, D : i32,',
    dispatchLayout: { x: [shape.length - 1], y: shape.slice(0, -1).map((_, i) => i) },
    dispatch: [gx, Math.ceil(rows / gx), 1], workgroupSize: [WG, 1, 1],
    // No early return for the rows past the end (tfjs's workgroupId is a private copy, which WGSL's
    // uniformity analysis does not treat as uniform): they reduce an empty row instead.
    getUserCode: () => `
      var<workgroup> part : array<f32, ${WG}>;
      fn main() {
        let row = i32(workgroupId.y * numWorkgroups.x + workgroupId.x);
        let width = select(0, uniforms.D, row < uniforms.rows);
        let lid = i32(localId.x);
        let base = row * uniforms.D;
        ${passes.map(reduce).join('\n')}
        for (var c = lid; c < width; c += ${WG}) { ${body} }
      }`,
  };
}

const uniforms = (shape: number[]): Uniform[] => {
  const D = shape[shape.length - 1]!;
  return [{ type: 'int32', data: [shape.reduce((a, d) => a * d, 1) / D] }, { type: 'int32', data: [D] }];
};

/** y = exp(x − max) / Σ exp(x − max) per row. */
const forward: tf.KernelFunc = ({ inputs, backend }) => {
  const { x } = inputs as { x: tf.TensorInfo };
  const prog = rowProgram('conifer_t5_softmax', ['x'], [...x.shape], [maxPass('x[base + c]', 'mx'), sumPass('exp(x[base + c] - mx)', 'sm')],
    'result[base + c] = exp(x[base + c] - mx) / sm;');
  return (backend as WebGPULike).runWebGPUProgram(prog, [x], 'float32', uniforms(x.shape));
};

/** dx = y · (dy − Σ_c dy·y). */
const gradX: tf.KernelFunc = ({ inputs, backend }) => {
  const { dy, y } = inputs as { dy: tf.TensorInfo; y: tf.TensorInfo };
  const prog = rowProgram('conifer_t5_softmax_dx', ['dy', 'y'], [...y.shape], [sumPass('dy[base + c] * y[base + c]', 'dot')],
    'result[base + c] = y[base + c] * (dy[base + c] - dot);');
  return (backend as WebGPULike).runWebGPUProgram(prog, [dy, y], 'float32', uniforms(y.shape));
};

const gradConfig: tf.GradConfig = {
  kernelName: ROW_SOFTMAX,
  outputsToSave: [true],
  gradFunc: (dy, saved) => {
    const [y] = saved as [tf.Tensor];
    return { x: () => tf.engine().runKernel(ROW_SOFTMAX_GRAD, { dy: dy as tf.Tensor, y }) as tf.Tensor };
  },
};

/** Registers the webgpu kernels and the gradient where none is registered (idempotent). */
export function registerSoftmaxKernels(): void {
  for (const [kernelName, kernelFunc] of [[ROW_SOFTMAX, forward], [ROW_SOFTMAX_GRAD, gradX]] as const) {
    if (!tf.getKernel(kernelName, 'webgpu')) tf.registerKernel({ kernelName, backendName: 'webgpu', kernelFunc });
  }
  if (!tf.getGradient(ROW_SOFTMAX)) tf.registerGradient(gradConfig);
}

/** Softmax over the last dimension through the kernel (webgpu, float32). */
export function rowSoftmax<T extends tf.Tensor>(x: T): T {
  registerSoftmaxKernels();
  return tf.engine().runKernel(ROW_SOFTMAX, { x }) as T;
}
