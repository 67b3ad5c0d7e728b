import * as tf from '@tensorflow/tfjs-core';
import type { Uniform, WebGPULike, WgslProgram } from './webgpu-program.js';

/**
 * T5's RMS norm `y = x · rsqrt(mean(x², -1) + eps) · weight` as one WGSL kernel on webgpu (and its
 * input gradient as one more), instead of ~6 tensor ops forward and ~12 backward: a training step
 * of a 32 + 32-block model runs 162 norms forward, again in the checkpoint recomputation, and
 * backward, and on a GPU that step is bound by the host's cost per dispatch. One workgroup of 128
 * invocations per row reduces the row in workgroup memory. Other backends keep the tensor ops.
 */
export const RMS_NORM = 'ConiferT5RmsNorm';
export const RMS_NORM_GRAD = 'ConiferT5RmsNormGradX';


const WG = 128;

/** One workgroup per row (rows spread over x and y past 65,535); `body` runs after the row's sums are in `s1[0]` (Σx²) and `s2[0]`. */
function rowProgram(key: string, variableNames: string[], shape: number[], secondSum: string | null, body: string): WgslProgram {
  const D = shape[shape.length - 1] as number;
  const rows = shape.reduce((a, d) => a * d, 1) / D;
  const gx = Math.min(rows, 65535);
  const sums = secondSum ? ['s1', 's2'] : ['s1'];
  return {
    variableNames, outputShape: shape, shaderKey: key, size: false, uniforms: 'rows : i32, D : i32, eps : f32,',
    dispatchLayout: { x: [shape.length - 1], y: shape.slice(0, -1).map((_, i) => i) },
    dispatch: [gx, Math.ceil(rows / gx), 1], workgroupSize: [WG, 1, 1],
    getUserCode: () => `
      ${sums.map((s) => `var<workgroup> ${s} : array<f32, ${WG}>;`).join('\n      ')}
      fn main() {
        let row = i32(workgroupId.y * numWorkgroups.x + workgroupId.x);
        let lid = i32(localId.x);
        let D = uniforms.D;
        let base = row * D;
        var a = 0.0;
        ${secondSum ? 'var b = 0.0;' : ''}
        if (row < uniforms.rows) {
          for (var k = lid; k < D; k += ${WG}) {
            let v = x[base + k];
            a += v * v;
            ${secondSum ? `b += ${secondSum};` : ''}
          }
        }
        s1[lid] = a;
        ${secondSum ? 's2[lid] = b;' : ''}
        workgroupBarrier();
        for (var off = ${WG / 2}; off > 0; off = off / 2) {
          if (lid < off) {
            s1[lid] += s1[lid + off];
            ${secondSum ? 's2[lid] += s2[lid + off];' : ''}
          }
          workgroupBarrier();
        }
        let r = inverseSqrt(s1[0] / f32(D) + uniforms.eps);
        if (row < uniforms.rows) {
          for (var k = lid; k < D; k += ${WG}) {
            ${body}
          }
        }
      }`,
  };
}

function uniforms(shape: readonly number[], eps: number): Uniform[] {
  const D = shape[shape.length - 1] as number;
  return [{ type: 'int32', data: [shape.reduce((a, d) => a * d, 1) / D] }, { type: 'int32', data: [D] }, { type: 'float32', data: [eps] }];
}

const forward: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, weight } = inputs as { x: tf.TensorInfo; weight: tf.TensorInfo };
  const prog = rowProgram('conifer_t5_rmsnorm', ['x', 'weight'], [...x.shape], null, 'setOutputAtIndex(base + k, x[base + k] * r * weight[k]);');
  return (backend as unknown as WebGPULike).runWebGPUProgram(prog, [x, weight], 'float32', uniforms(x.shape, (attrs as { eps: number }).eps));
};

/** dx = r·w·dy − x · r³ · Σ(dy·w·x) / D, per row. */
const inputGradient: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, weight, dy } = inputs as { x: tf.TensorInfo; weight: tf.TensorInfo; dy: tf.TensorInfo };
  const prog = rowProgram('conifer_t5_rmsnorm_dx', ['x', 'weight', 'dy'], [...x.shape], 'dy[base + k] * weight[k] * v',
    'setOutputAtIndex(base + k, r * weight[k] * dy[base + k] - x[base + k] * (r * r * r * s2[0] / f32(D)));');
  return (backend as unknown as WebGPULike).runWebGPUProgram(prog, [x, weight, dy], 'float32', uniforms(x.shape, (attrs as { eps: number }).eps));
};

/** The tensor-op form (every backend; the gradient of `weight` on webgpu). */
export function rmsNormOps(x: tf.Tensor, weight: tf.Tensor, eps: number): tf.Tensor {
  return tf.tidy(() => {
    // variance = hidden_states.pow(2).mean(-1, keepdim=True)
    const variance = tf.mean(tf.square(x), -1, true); // (..., 1)
    // hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
    return tf.mul(tf.mul(x, tf.rsqrt(tf.add(variance, eps))), weight);
  });
}

const gradConfig: tf.GradConfig = {
  kernelName: RMS_NORM,
  inputsToSave: ['x', 'weight'],
  gradFunc: (dy, saved, attrs) => {
    const [x, weight] = saved as [tf.Tensor, tf.Tensor];
    const { eps } = attrs as unknown as { eps: number };
    return {
      x: () => tf.engine().runKernel(RMS_NORM_GRAD, { x, weight, dy: dy as tf.Tensor }, { eps } as unknown as tf.NamedAttrMap) as tf.Tensor,
      // Only when the norm weight is trained (LoRA leaves it frozen): Σ over rows of dy · x · r.
      weight: () => tf.tidy(() => {
        const normed = rmsNormOps(x, tf.onesLike(weight), eps);
        return tf.sum(tf.reshape(tf.mul(dy as tf.Tensor, normed), [-1, weight.size]), 0);
      }),
    };
  },
};

/** Registers the webgpu kernels and the gradient where none is registered (idempotent). */
export function registerRmsNormKernels(): void {
  if (!tf.getKernel(RMS_NORM, 'webgpu')) tf.registerKernel({ kernelName: RMS_NORM, backendName: 'webgpu', kernelFunc: forward });
  if (!tf.getKernel(RMS_NORM_GRAD, 'webgpu')) tf.registerKernel({ kernelName: RMS_NORM_GRAD, backendName: 'webgpu', kernelFunc: inputGradient });
  if (!tf.getGradient(RMS_NORM)) tf.registerGradient(gradConfig);
}

/**
 * T5's RMS norm over the last axis: one kernel on webgpu for float32 `x` of rank ≥ 2 (rank 1 is
 * taken as one row), tensor ops elsewhere.
 */
export function rmsNorm<T extends tf.Tensor>(x: T, weight: tf.Tensor1D, eps: number): T {
  if (tf.getBackend() === 'webgpu' && x.dtype === 'float32' && weight.dtype === 'float32' && x.rank >= 1) {
    registerRmsNormKernels();
    const run = (t: tf.Tensor) => tf.engine().runKernel(RMS_NORM, { x: t, weight }, { eps } as unknown as tf.NamedAttrMap) as tf.Tensor;
    // the kernel's dispatch needs a row axis: [D] → [1, D]
    return (x.rank === 1 ? tf.tidy(() => tf.reshape(run(tf.reshape(x, [1, -1])), x.shape)) : run(x)) as T;
  }
  return rmsNormOps(x, weight, eps) as T;
}
