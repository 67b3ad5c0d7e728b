/**
 * The WebGPU device of the packages' kernel benchmarks (packages/int8/bench/webgpu-kernels.ts,
 * packages/lora/bench/webgpu-kernels.ts), in Node on Dawn: the toggles that expose `shader-f16` and
 * subgroup matrices on NVIDIA, the optional features the adapter offers, its buffer limits, and a
 * tfjs `webgpu` backend built on that device and selected. Benchmarks only (not published).
 */
import * as tf from '@tensorflow/tfjs-core';
import { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { create, globals } from 'webgpu';

/* eslint-disable @typescript-eslint/no-explicit-any */
export interface BenchDevice {
  device: any;
  backend: WebGPUBackend;
  /** "<device> <description>" of the adapter. */
  name: string;
  /** lavapipe / llvmpipe / SwiftShader: benchmarks pick small shapes there. */
  cpuAdapter: boolean;
  features: string[];
  /** "f16→f32 16×16×16", … as Dawn's adapter info lists them (empty on CPU adapters). */
  subgroupMatrixConfigs: string[];
  /** Waits until everything queued so far has run on the GPU. */
  sync(): Promise<void>;
}

export async function createBenchDevice(): Promise<BenchDevice> {
  Object.assign(globalThis, globals);
  const gpu = create(['enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia']);
  const adapter: any = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('no WebGPU adapter');
  const want = ['chromium-experimental-subgroup-matrix', 'subgroups', 'shader-f16', 'timestamp-query'];
  const features = want.filter((f) => adapter.features.has(f));
  const device: any = await adapter.requestDevice({
    requiredFeatures: features,
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
      maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize,
    },
  });
  const name: string = `${adapter.info?.device ?? ''} ${adapter.info?.description ?? ''}`.trim() || 'unknown adapter';
  // tfjs checks navigator.gpu before it accepts a device
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  const backend = new WebGPUBackend(device, adapter.info);
  if (tf.findBackend('webgpu')) tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => backend);
  await tf.setBackend('webgpu');
  const configs = Array.from((adapter.info?.subgroupMatrixConfigs ?? []) as Iterable<{ componentType: string; resultComponentType: string; M: number; N: number; K: number }>,
    (c) => `${c.componentType}→${c.resultComponentType} ${c.M}×${c.N}×${c.K}`);
  return {
    device, backend, name, features, subgroupMatrixConfigs: configs,
    cpuAdapter: /llvmpipe|lavapipe|swiftshader|cpu/i.test(name),
    async sync() {
      const b = backend as any;
      if (b.commandEncoder) { b.endComputePassEncoder(); b.submitQueue(); }
      await device.queue.onSubmittedWorkDone();
    },
  };
}
