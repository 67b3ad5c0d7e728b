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

/** The parts of the cpu and wasm backends the host kernel uses. */
interface HostBackend {
  readSync(dataId: object): unknown;
  /** cpu */
  makeTensorInfo?(shape: number[], dtype: 'float32', values: Float32Array): tf.TensorInfo;
  /** wasm */
  makeOutput(shape: number[], dtype: 'float32', memoryOffset: undefined, values: Float32Array): tf.TensorInfo;
}

const hostKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x } = inputs as { x: tf.TensorInfo };
  const b = backend as unknown as HostBackend;
  const out = hostDropout(b.readSync(x.dataId) as Float32Array, attrs as unknown as DropoutAttrs);
  return b.makeTensorInfo ? b.makeTensorInfo([...x.shape], 'float32', out) : b.makeOutput([...x.shape], 'float32', undefined, out);
};

/** The kernel on the CPU backends (cpu, wasm): the same numbers as the webgpu shader, and its own gradient. */
export const hostDropoutConfigs: tf.KernelConfig[] = ['cpu', 'wasm'].map((backendName) => ({ kernelName: Dropout, backendName, kernelFunc: hostKernel }));
