import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, describe, expect, it } from 'vitest';
import { skipWebGPU } from '../../../vitest.webgpu';
import { setupWebGPUNode, type WebGPUSetup } from '../src/webgpu-node.js';
import { capWebGPUBufferPool } from '../src/webgpu-pool.js';

const skip = await skipWebGPU();

interface Manager { numBytesAllocated: number; numBytesUsed: number }
const manager = () => (tf.backend() as unknown as { bufferManager: Manager }).bufferManager;
const poolBytes = () => manager().numBytesAllocated - manager().numBytesUsed;

/** One GPU op per size (inputs on the GPU, results read back and disposed): each leaves buffers of its size in the pool. */
async function churn(sizes: number[]): Promise<void> {
  for (const n of sizes) {
    const x = tf.tidy(() => tf.add(tf.fill([n], 1), 0)); // on the GPU, not uploaded from the CPU
    const y = tf.mul(x, 3);
    const v = await y.data();
    expect(v[n - 1]).toBe(3);
    tf.dispose([x, y]);
  }
}

describe.skipIf(skip)('a cap on tfjs-backend-webgpu\'s free-buffer pool (lavapipe in CI)', () => {
  let setup: WebGPUSetup | undefined;
  afterAll(async () => {
    await tf.setBackend('cpu');
    setup?.dispose();
  });

  it('without it the pool keeps a buffer of every size used; with it, free bytes stay under the cap, the oldest go first, results are right', async () => {
    const cap = 256 * 1024;
    setup = await setupWebGPUNode({ maxFreePoolBytes: cap });
    tf.env().set('WEBGPU_CPU_FORWARD', false);
    const sizes = Array.from({ length: 60 }, (_, i) => 4096 + 16 * i); // 60 distinct sizes of ~16 KiB
    expect(setup.pool).not.toBeNull();

    // tfjs's own behaviour (cap removed): the pool grows with every new size.
    setup.pool!.restore();
    await churn(sizes);
    const uncapped = poolBytes();
    expect(uncapped).toBeGreaterThan(2 * cap);

    // Capped: new sizes push the pool over and the oldest buffers are destroyed.
    const pool = capWebGPUBufferPool(tf.backend(), cap)!;
    await churn(sizes.map((n) => n + 8));
    expect(pool.freeBytes()).toBeLessThanOrEqual(cap);
    expect(pool.evicted().buffers).toBeGreaterThan(0);
    // The sizes used last are still pooled: running the last size again allocates nothing.
    const allocated = manager().numBytesAllocated;
    await churn([sizes[sizes.length - 1]! + 8]);
    expect(manager().numBytesAllocated).toBe(allocated);
    pool.restore();
    tf.env().set('WEBGPU_CPU_FORWARD', true);
  });
});
