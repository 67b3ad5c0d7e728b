import * as tf from '@tensorflow/tfjs-core';
import { dropoutAttrs, WGSL_HASH } from '@conifer/dropout';
import type { Uniform, WebGPULike, WgslProgram } from './webgpu-program.js';

/**
 * The gated feed-forward's middle, `dropout(act(a) · g)` (a = wi_0(x), g = wi_1(x)), as one WGSL
 * kernel on webgpu for `silu` (Flan-UL2's gated-silu) and the tanh GELU (`gelu_new`, Flan-T5's
 * gated-gelu), and two for its gradients (da, dg), instead of ~4–11 tensor ops forward and ~7–17
 * backward: on a GPU a training step is bound by the host's cost per dispatch. The dropout mask
 * is `@conifer/dropout`'s for the same seed (the one `dropout(act(a)·g, rate, seed)` draws on any
 * backend), drawn in the shader. Other activations and backends keep the tensor ops.
 */
export const GATED_ACT = 'ConiferT5GatedAct';
const GRAD_A = 'ConiferT5GatedActGradA';
const GRAD_G = 'ConiferT5GatedActGradG';

/** Activations with a kernel. */
export const FUSED_GATED_ACTIVATIONS = ['silu', 'swish', 'gelu_new', 'gelu_pytorch_tanh', 'gelu_fast'] as const;

interface Attrs { act: 'silu' | 'gelu_new'; dropout: boolean; key: number; thr: number; scale: number }


/** act(a) and act'(a) in WGSL (tanh's argument clamped to ±20, where it is ±1 in f32 anyway). */
const ACT_WGSL = `
fn conifer_silu(a : f32) -> vec2<f32> {
  let s = 1.0 / (1.0 + exp(-a));
  return vec2<f32>(a * s, s * (1.0 + a * (1.0 - s)));
}
fn conifer_gelu_new(a : f32) -> vec2<f32> {
  let c = 0.7978845608028654;
  let u = clamp(c * (a + 0.044715 * a * a * a), -20.0, 20.0);
  let t = tanh(u);
  return vec2<f32>(0.5 * a * (1.0 + t), 0.5 * (1.0 + t) + 0.5 * a * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * a * a));
}`;

function program(key: string, variableNames: string[], shape: number[], at: Attrs, body: string): WgslProgram {
  const size = shape.reduce((x, d) => x * d, 1);
  const groups = Math.ceil(size / 64);
  const x = groups <= 65535 ? groups : Math.ceil(Math.sqrt(groups));
  const mask = at.dropout ? 'select(0.0, uniforms.scale, conifer_bits24(uniforms.key, u32(index)) >= uniforms.thr)' : '1.0';
  return {
    variableNames, outputShape: shape, shaderKey: `${key}_${at.act}_${at.dropout}`, size: true,
    uniforms: 'key : u32, thr : u32, scale : f32,',
    dispatchLayout: { x: shape.map((_, i) => i) }, dispatch: [x, Math.ceil(groups / x), 1], workgroupSize: [64, 1, 1],
    getUserCode: () => `${WGSL_HASH}${ACT_WGSL}
      fn main(index : i32) {
        if (index < uniforms.size) {
          let f = conifer_${at.act}(a[index]);
          let m = ${mask};
          ${body}
        }
      }`,
  };
}

function runProgram(backend: unknown, prog: WgslProgram, inputs: tf.TensorInfo[], at: Attrs): tf.TensorInfo {
  const u: Uniform[] = [{ type: 'uint32', data: [at.key] }, { type: 'uint32', data: [at.thr] }, { type: 'float32', data: [at.scale] }];
  return (backend as WebGPULike).runWebGPUProgram(prog, inputs, 'float32', u);
}

/** y = act(a) · g · mask (the order of the tensor ops: (act(a) · g) · mask). */
const forward: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { a, g } = inputs as { a: tf.TensorInfo; g: tf.TensorInfo };
  const at = attrs as unknown as Attrs;
  return runProgram(backend, program('conifer_t5_gated', ['a', 'g'], [...a.shape], at, 'setOutputAtIndex(index, (f.x * g[index]) * m);'), [a, g], at);
};

/** da = dy · mask · g · act'(a). */
const gradA: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, a, g } = inputs as { dy: tf.TensorInfo; a: tf.TensorInfo; g: tf.TensorInfo };
  const at = attrs as unknown as Attrs;
  return runProgram(backend, program('conifer_t5_gated_da', ['dy', 'a', 'g'], [...a.shape], at, 'setOutputAtIndex(index, dy[index] * m * g[index] * f.y);'), [dy, a, g], at);
};

/** dg = dy · mask · act(a). */
const gradG: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, a } = inputs as { dy: tf.TensorInfo; a: tf.TensorInfo };
  const at = attrs as unknown as Attrs;
  return runProgram(backend, program('conifer_t5_gated_dg', ['dy', 'a'], [...a.shape], at, 'setOutputAtIndex(index, dy[index] * m * f.x);'), [dy, a], at);
};

const run = (name: string, inputs: tf.NamedTensorMap, attrs: object) => tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;

const gradConfig: tf.GradConfig = {
  kernelName: GATED_ACT,
  inputsToSave: ['a', 'g'],
  gradFunc: (dy, saved, attrs) => {
    const [a, g] = saved as [tf.Tensor, tf.Tensor];
    return { a: () => run(GRAD_A, { dy: dy as tf.Tensor, a, g }, attrs), g: () => run(GRAD_G, { dy: dy as tf.Tensor, a }, attrs) };
  },
};

/** Registers the webgpu kernels and the gradient where none is registered (idempotent). */
export function registerGatedActKernels(): void {
  for (const [kernelName, kernelFunc] of [[GATED_ACT, forward], [GRAD_A, gradA], [GRAD_G, gradG]] as const) {
    if (!tf.getKernel(kernelName, 'webgpu')) tf.registerKernel({ kernelName, backendName: 'webgpu', kernelFunc });
  }
  if (!tf.getGradient(GATED_ACT)) tf.registerGradient(gradConfig);
}

/** Whether {@link gatedActKernel} applies: webgpu, float32, an activation with a kernel. */
export function hasGatedActKernel(act: string, x: tf.Tensor): boolean {
  return tf.getBackend() === 'webgpu' && x.dtype === 'float32' && (FUSED_GATED_ACTIVATIONS as readonly string[]).includes(act);
}

/** dropout(act(a) · g, draw) through the kernel (webgpu; check {@link hasGatedActKernel} first). */
export function gatedActKernel<T extends tf.Tensor>(act: string, a: T, g: T, draw: { rate: number; seed: number } | null): T {
  registerGatedActKernels();
  const kind = act === 'silu' || act === 'swish' ? 'silu' : 'gelu_new';
  const d = draw && draw.rate > 0 ? { dropout: true, ...dropoutAttrs(draw.rate, draw.seed) } : { dropout: false, key: 0, thr: 0, scale: 1 };
  return run(GATED_ACT, { a, g }, { act: kind, ...d }) as T;
}
