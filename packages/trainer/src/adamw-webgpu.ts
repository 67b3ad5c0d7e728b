import * as tf from '@tensorflow/tfjs-core';

/**
 * AdamW's update as three WGSL kernels for tfjs-backend-webgpu (m, then v, then p) instead of
 * ~15 tensor ops, each with its own dispatch, uniform buffer and scalar uploads: on a GPU the
 * optimizer step of a LoRA model (hundreds of small variables) is bound by the host's cost per
 * dispatch, not by arithmetic. Same operation order as the tensor path (adamw.ts); every
 * operation is an f32 operation, but a GPU compiler may fuse a multiply and an add, so results
 * can differ from the cpu path by an ulp.
 */
export const ADAMW_M = 'ConiferAdamWMoment1';
export const ADAMW_V = 'ConiferAdamWMoment2';
export const ADAMW_P = 'ConiferAdamWParam';

/** Structural copy of tfjs-backend-webgpu's `WebGPUProgram` (the fields used; no dependency on the backend). */
interface WgslProgram {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  size: boolean;
  uniforms: string;
  getUserCode(): string;
}
type Uniform = { type: 'float32' | 'int32'; data: number[] };
interface WebGPULike {
  runWebGPUProgram(program: WgslProgram, inputs: tf.TensorInfo[], dtype: 'float32', uniforms: Uniform[]): tf.TensorInfo;
}

function elementwise(key: string, variableNames: string[], shape: number[], uniforms: string, body: string): WgslProgram {
  const size = shape.reduce((a, d) => a * d, 1);
  const groups = Math.ceil(size / 64);
  const x = groups <= 65535 ? groups : Math.ceil(Math.sqrt(groups));
  return {
    variableNames, outputShape: shape, shaderKey: key, size: true, uniforms,
    dispatchLayout: { x: shape.map((_, i) => i) }, dispatch: [x, Math.ceil(groups / x), 1], workgroupSize: [64, 1, 1],
    getUserCode: () => `
      fn main(index : i32) {
        if (index < uniforms.size) {
          ${body}
        }
      }`,
  };
}

const f32 = (...names: string[]) => names.map((n) => `${n} : f32,`).join(' ');
const uniform = (values: number[]): Uniform[] => values.map((v) => ({ type: 'float32', data: [v] }));

/** m ← m + (1−β1)·(g − m). */
const moment1: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { m, g } = inputs as { m: tf.TensorInfo; g: tf.TensorInfo };
  const prog = elementwise('conifer_adamw_m', ['m', 'g'], [...m.shape], f32('oneMinusB1'), `
          let mi = m[index];
          let d = g[index] - mi;
          let s = d * uniforms.oneMinusB1;
          setOutputAtIndex(index, mi + s);`);
  return (backend as unknown as WebGPULike).runWebGPUProgram(prog, [m, g], 'float32', uniform([(attrs as { oneMinusB1: number }).oneMinusB1]));
};

/** v ← v·β2 + ((1−β2)·g)·g. */
const moment2: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { v, g } = inputs as { v: tf.TensorInfo; g: tf.TensorInfo };
  const a = attrs as { b2: number; oneMinusB2: number };
  const prog = elementwise('conifer_adamw_v', ['v', 'g'], [...v.shape], f32('b2', 'oneMinusB2'), `
          let gi = g[index];
          let a = v[index] * uniforms.b2;
          let b = (uniforms.oneMinusB2 * gi) * gi;
          setOutputAtIndex(index, a + b);`);
  return (backend as unknown as WebGPULike).runWebGPUProgram(prog, [v, g], 'float32', uniform([a.b2, a.oneMinusB2]));
};

/** p ← p·(1 − lr·wd) + ((−lr/(1−β1^t))·m) / (√v / √(1−β2^t) + eps), with the new m and v. */
const param: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { p, m, v } = inputs as { p: tf.TensorInfo; m: tf.TensorInfo; v: tf.TensorInfo };
  const a = attrs as { decay: number; bc2: number; eps: number; negStep: number; weightDecay: boolean };
  const prog = elementwise(`conifer_adamw_p${a.weightDecay ? '_wd' : ''}`, ['p', 'm', 'v'], [...p.shape], f32('decay', 'bc2', 'eps', 'negStep'), `
          let decayed = ${a.weightDecay ? 'p[index] * uniforms.decay' : 'p[index]'};
          let denom = sqrt(v[index]) / uniforms.bc2 + uniforms.eps;
          let step = (uniforms.negStep * m[index]) / denom;
          setOutputAtIndex(index, decayed + step);`);
  return (backend as unknown as WebGPULike).runWebGPUProgram(prog, [p, m, v], 'float32', uniform([a.decay, a.bc2, a.eps, a.negStep]));
};

/** Registers the three kernels for `webgpu` where none is registered (idempotent). */
export function registerAdamWWebGPUKernels(): void {
  for (const [kernelName, kernelFunc] of [[ADAMW_M, moment1], [ADAMW_V, moment2], [ADAMW_P, param]] as const) {
    if (!tf.getKernel(kernelName, 'webgpu')) tf.registerKernel({ kernelName, backendName: 'webgpu', kernelFunc });
  }
}

/** The constants of one step, as float32 (the tensor path's scalar operands). */
export interface AdamWStepConstants {
  oneMinusB1: number; b2: number; oneMinusB2: number; decay: number; bc2: number; eps: number; negStep: number; weightDecay: boolean;
}

/** One variable's update through the kernels: three dispatches, the moments and the parameter assigned. */
export function webgpuAdamWUpdate(p: tf.Variable, g: tf.Tensor, m: tf.Variable, v: tf.Variable, c: AdamWStepConstants): void {
  registerAdamWWebGPUKernels();
  const run = (name: string, inputs: tf.NamedTensorMap, attrs: object) => tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
  tf.tidy(() => {
    const m2 = run(ADAMW_M, { m, g }, { oneMinusB1: c.oneMinusB1 });
    const v2 = run(ADAMW_V, { v, g }, { b2: c.b2, oneMinusB2: c.oneMinusB2 });
    const p2 = run(ADAMW_P, { p, m: m2, v: v2 }, { decay: c.decay, bc2: c.bc2, eps: c.eps, negStep: c.negStep, weightDecay: c.weightDecay });
    m.assign(m2);
    v.assign(v2);
    p.assign(p2);
  });
}
