import type * as tf from '@tensorflow/tfjs-core';
import { bits24 } from './hash';
import { Dropout, type DropoutAttrs } from './kernel-names';

/** The mask of {@link DropoutAttrs} for `size` elements, computed on the host (0 or `scale`, float32). */
export function hostMask(size: number, a: DropoutAttrs): Float32Array {
  const out = new Float32Array(size);
  const scale = Math.fround(a.scale);
  for (let i = 0; i < size; i++) if (bits24(a.key, i) >= a.thr) out[i] = scale;
  return out;
}

/** x · mask on the host, multiplying like the device kernel (signed zeros and NaNs as in x · 0). */
export function hostDropout(x: Float32Array, a: DropoutAttrs): Float32Array {
  const out = new Float32Array(x.length);
  const scale = Math.fround(a.scale);
  for (let i = 0; i < x.length; i++) out[i] = (x[i] as number) * (bits24(a.key, i) >= a.thr ? scale : 0);
  return out;
}

/** The parts of the cpu and wasm backends the host kernels use. */
interface HostBackend {
  readSync(dataId: object): unknown;
  /** cpu */
  makeTensorInfo?(shape: number[], dtype: 'float32', values: Float32Array): tf.TensorInfo;
  /** wasm */
  makeOutput(shape: number[], dtype: 'float32', memoryOffset: undefined, values: Float32Array): tf.TensorInfo;
}

/** A host kernel's float32 output of `shape` holding `values`, on the cpu or the wasm backend. */
export function hostOutput(backend: unknown, shape: readonly number[], values: Float32Array): tf.TensorInfo {
  const b = backend as HostBackend;
  return b.makeTensorInfo ? b.makeTensorInfo([...shape], 'float32', values) : b.makeOutput([...shape], 'float32', undefined, values);
}

const hostKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x } = inputs as { x: tf.TensorInfo };
  const out = hostDropout((backend as unknown as HostBackend).readSync(x.dataId) as Float32Array, attrs as unknown as DropoutAttrs);
  return hostOutput(backend, x.shape, out);
};

/** The kernel on the CPU backends (cpu, wasm): the same numbers as the webgpu shader, and its own gradient. */
export const hostDropoutConfigs: tf.KernelConfig[] = ['cpu', 'wasm'].map((backendName) => ({ kernelName: Dropout, backendName, kernelFunc: hostKernel }));
