/**
 * The WebGPU device of the packages' kernel benchmarks (packages/int8/bench/webgpu-kernels.ts,
 * packages/lora/bench/webgpu-kernels.ts): the example app's `setupWebGPUNode` (Dawn's toggles for
 * `shader-f16` and subgroup matrices on NVIDIA, the optional features and buffer limits the adapter
 * offers, a tfjs `webgpu` backend built on that device and selected), plus what a benchmark needs
 * around it. Benchmarks only (not published).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { setupWebGPUNode } from '../examples/train-ul2-dolly/src/webgpu-node';

export interface BenchDevice {
  device: GPUDevice;
  backend: WebGPUBackend;
  /** The adapter, as setupWebGPUNode describes it. */
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
  const setup = await setupWebGPUNode();
  const backend = tf.backend() as unknown as WebGPUBackend;
  return {
    device: setup.device, backend, name: setup.adapter, features: setup.features, subgroupMatrixConfigs: setup.subgroupMatrixConfigs,
    cpuAdapter: /llvmpipe|lavapipe|swiftshader|cpu/i.test(setup.adapter),
    async sync() {
      const b = backend as unknown as { commandEncoder: unknown; endComputePassEncoder(): void; submitQueue(): void };
      if (b.commandEncoder) { b.endComputePassEncoder(); b.submitQueue(); }
      await setup.device.queue.onSubmittedWorkDone();
    },
  };
}
