import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { create, globals } from 'webgpu';
import { afterAll, describe, expect, it } from 'vitest';
import { skipWebGPU } from '../../../vitest.webgpu';
import { DAWN_FLAGS, setupWebGPUNode, subgroupMatrixConfigNames, type WebGPUSetup } from '../src/webgpu-node.js';

// Without a Vulkan driver this skips with the reason (and fails under CONIFER_REQUIRE_WEBGPU=1, as in CI).
const skip = await skipWebGPU();
Object.assign(globalThis, globals);
const probe = skip ? null : await create(DAWN_FLAGS).requestAdapter();

describe('subgroupMatrixConfigNames', () => {
  it("names each config Dawn's adapter info lists (the H100's, 2026-11-28), none when absent", () => {
    const h100 = [
      { componentType: 'f16', resultComponentType: 'f32', M: 16, N: 16, K: 16 },
      { componentType: 'i8', resultComponentType: 'i32', M: 16, N: 16, K: 32 },
    ];
    expect(subgroupMatrixConfigNames({ subgroupMatrixConfigs: h100 } as unknown as GPUAdapterInfo)).toEqual(['f16→f32 16×16×16', 'i8→i32 16×16×32']);
    expect(subgroupMatrixConfigNames({} as GPUAdapterInfo)).toEqual([]);
    expect(subgroupMatrixConfigNames(undefined)).toEqual([]);
  });
});

describe.skipIf(skip || !probe)('webgpu in Node (Dawn): setupWebGPUNode', () => {
  let setup: WebGPUSetup | undefined;
  afterAll(async () => {
    await tf.setBackend('cpu');
    setup?.dispose();
  });

  it('creates the device with the optional features offered, registers and selects the backend', async () => {
    setup = await setupWebGPUNode();
    expect(tf.getBackend()).toBe('webgpu');
    expect(setup.adapter).not.toBe('');
    const offered = probe!.features;
    expect(setup.shaderF16).toBe(offered.has('shader-f16'));
    expect(setup.subgroupMatrix).toBe(offered.has('chromium-experimental-subgroup-matrix'));
    expect(setup.subgroupMatrixConfigs).toEqual(subgroupMatrixConfigNames(probe!.info));
    for (const f of setup.features) expect(setup.device.features.has(f)).toBe(true);
    // The adapter's limits, not WebGPU's defaults (256 MiB buffers, 128 MiB bindings).
    expect(setup.limits.maxBufferSize).toBe(probe!.limits.maxBufferSize);
    expect(setup.limits.maxStorageBufferBindingSize).toBe(probe!.limits.maxStorageBufferBindingSize);
  });

  it('a matMul on it equals cpu’s', async () => {
    const a = Float32Array.from({ length: 33 * 70 }, (_, i) => Math.sin(i));
    const b = Float32Array.from({ length: 70 * 45 }, (_, i) => Math.cos(i * 0.7));
    // tfjs-webgpu runs small ops whose inputs are still on the CPU there; make sure this one runs on the GPU.
    tf.env().set('WEBGPU_CPU_FORWARD', false);
    const onGpu = await tf.matMul(tf.tensor2d(a, [33, 70]), tf.tensor2d(b, [70, 45])).data();
    expect((tf.backend() as unknown as { bufferManager: { getNumUsedBuffers(): number } }).bufferManager.getNumUsedBuffers()).toBeGreaterThan(0);
    tf.env().set('WEBGPU_CPU_FORWARD', true);
    await tf.setBackend('cpu');
    const onCpu = await tf.matMul(tf.tensor2d(a, [33, 70]), tf.tensor2d(b, [70, 45])).data();
    await tf.setBackend('webgpu');
    let maxErr = 0;
    for (let i = 0; i < onCpu.length; i++) maxErr = Math.max(maxErr, Math.abs(onGpu[i]! - onCpu[i]!));
    expect(onGpu.length).toBe(33 * 45);
    expect(maxErr).toBeLessThan(1e-4);
  });
});
