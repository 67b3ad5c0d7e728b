import * as tf from '@tensorflow/tfjs-core';
import { bits24, fmix32, keyOf, WGSL_HASH } from './hash';
import { hostOutput } from './host';

/**
 * Seeded uniform noise on [−magnitude, magnitude] drawn on the device: element `i` of a draw with
 * `seed` is `magnitude · s(i)`, s(i) = (2 · bits24(noiseKeyOf(seed), i) + 1 − 2²⁴) / 2²⁴, an odd
 * multiple of 2⁻²⁴ in (−1, 1), symmetric (its mean over the 2²⁴ values is exactly 0). s(i) is exact
 * in float32 and the product is one correctly rounded float32 multiplication, so cpu, wasm and the
 * WGSL shader give the same bits (no fused multiply-add can change a lone product). What NEFTune adds
 * to the input embeddings (transformers' `neftune_post_forward_hook`: `uniform_(-mag_norm, mag_norm)`).
 */
export const UniformNoise = 'ConiferUniformNoise';

export interface UniformNoiseAttrs {
  /** noiseKeyOf(seed), u32. */
  key: number;
  /** The magnitude as float32, ≥ 0. */
  mag: number;
  /** The output shape. */
  shape: number[];
}

/** The per-draw key of noise: differs from the dropout key of the same seed (`keyOf`), so a noise draw and a mask drawn with one seed are unrelated. */
export function noiseKeyOf(seed: number): number {
  return fmix32((keyOf(seed) ^ 0x6a09e667) >>> 0);
}

/** s(i) in (−1, 1): an odd multiple of 2⁻²⁴ (exact in float32). */
export function noiseUnit(key: number, i: number): number {
  return (2 * bits24(key, i) + 1 - 2 ** 24) / 2 ** 24;
}

/** The attributes of one draw; throws on a bad magnitude, seed or shape (before anything is allocated). */
export function uniformNoiseAttrs(shape: number[], magnitude: number, seed: number): UniformNoiseAttrs {
  if (!(Number.isFinite(magnitude) && magnitude >= 0)) throw new RangeError(`uniformNoise: magnitude must be finite and ≥ 0, got ${magnitude}`);
  if (!Number.isInteger(seed)) throw new TypeError(`uniformNoise: seed must be an integer, got ${seed}`);
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) throw new RangeError(`uniformNoise: shape must be non-negative integers, got [${shape.join(', ')}]`);
  return { key: noiseKeyOf(seed >>> 0), mag: Math.fround(magnitude), shape: [...shape] };
}

/** The noise of {@link UniformNoiseAttrs} for `size` elements, computed on the host. */
export function hostUniformNoise(size: number, a: UniformNoiseAttrs): Float32Array {
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = noiseUnit(a.key, i) * a.mag; // exact double product, rounded once on store
  return out;
}

const hostKernel: tf.KernelFunc = ({ backend, attrs }) => {
  const a = attrs as unknown as UniformNoiseAttrs;
  return hostOutput(backend, a.shape, hostUniformNoise(tf.util.sizeFromShape(a.shape), a));
};

/** Structural copy of the fields of tfjs-backend-webgpu's `WebGPUProgram` used here. */
interface WebGPULike {
  runWebGPUProgram(program: object, inputs: tf.TensorInfo[], dtype: 'float32', uniforms: Array<{ type: string; data: number[] }>): tf.TensorInfo;
}

const WORKGROUP = 64;

/** One invocation per element, no inputs: the noise drawn in the shader from the key and the magnitude. */
export function uniformNoiseProgram(shape: number[]) {
  const size = tf.util.sizeFromShape(shape);
  const groups = Math.max(1, Math.ceil(size / WORKGROUP));
  const x = groups <= 65535 ? groups : Math.ceil(Math.sqrt(groups));
  return {
    variableNames: [] as string[], outputShape: shape, shaderKey: 'conifer_uniform_noise', size: true,
    dispatchLayout: { x: shape.map((_, i) => i) },
    dispatch: [x, Math.ceil(groups / x), 1] as [number, number, number], workgroupSize: [WORKGROUP, 1, 1] as [number, number, number],
    uniforms: 'key : u32, mag : f32,',
    // s = f32(2b + 1 − 2²⁴) · 2⁻²⁴ is exact; the product with mag is the one rounding, as on the host.
    getUserCode: () => `${WGSL_HASH}
      fn main(index : i32) {
        if (index < uniforms.size) {
          let b = conifer_bits24(uniforms.key, u32(index));
          let s = f32(i32(2u * b + 1u) - 16777216) * 5.9604644775390625e-8;
          setOutputAtIndex(index, s * uniforms.mag);
        }
      }`,
  };
}

const webgpuKernel: tf.KernelFunc = ({ backend, attrs }) => {
  const a = attrs as unknown as UniformNoiseAttrs;
  const uniforms = [{ type: 'uint32', data: [a.key] }, { type: 'float32', data: [a.mag] }];
  return (backend as unknown as WebGPULike).runWebGPUProgram(uniformNoiseProgram([...a.shape]), [], 'float32', uniforms);
};

const configs: tf.KernelConfig[] = [
  { kernelName: UniformNoise, backendName: 'webgpu', kernelFunc: webgpuKernel },
  ...['cpu', 'wasm'].map((backendName) => ({ kernelName: UniformNoise, backendName, kernelFunc: hostKernel })),
];

/** Registers the `ConiferUniformNoise` kernels (webgpu: drawn in the shader; cpu, wasm: on the host). Idempotent; {@link uniformNoise} calls it. */
export function registerUniformNoiseKernels(): void {
  for (const c of configs) if (!tf.getKernel(c.kernelName, c.backendName)) tf.registerKernel(c);
}

/**
 * Seeded uniform noise on [−magnitude, magnitude] (strictly inside, symmetric), float32, of `shape`:
 * a pure function of (seed, element index), the same bits on every backend. On webgpu it is drawn in
 * the shader (nothing uploaded); on cpu and wasm by a host kernel; on other backends the host values
 * are uploaded. It has no inputs, hence no gradient: add it to a tensor (`tf.add(x, noise)`), whose
 * gradient wrt `x` is the identity. `magnitude` 0 gives zeros.
 */
export function uniformNoise(shape: number[], magnitude: number, seed: number): tf.Tensor {
  const attrs = uniformNoiseAttrs(shape, magnitude, seed);
  registerUniformNoiseKernels();
  if (tf.util.sizeFromShape(shape) === 0 || !tf.getKernel(UniformNoise, tf.getBackend())) {
    return tf.tensor(hostUniformNoise(tf.util.sizeFromShape(shape), attrs), shape, 'float32');
  }
  return tf.engine().runKernel(UniformNoise, {}, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}
