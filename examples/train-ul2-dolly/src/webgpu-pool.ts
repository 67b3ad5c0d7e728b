/**
 * A cap on tfjs-backend-webgpu's pool of free GPU buffers.
 *
 * tfjs-backend-webgpu (4.22) never gives a released buffer back to the GPU: it keeps it in a pool
 * keyed by its exact byte size, for the next tensor of that size. With token-budget batches every
 * step has other shapes, so the pool fills with buffers of sizes that never come back — at 30
 * varied steps of a 4-block model 5× the memory in use, growing with every new shape (measured
 * with the GPU benchmark on Dawn's null device). At Flan-UL2's size that is tens of GB over an
 * epoch. {@link capWebGPUBufferPool} keeps the pool's bytes at most `maxFreeBytes`: when a release
 * pushes it over, the buffers released longest ago are destroyed until it is back under
 * 3/4 of the cap (so this runs rarely), and buffers of the sizes in use now stay pooled.
 * Uses tfjs-backend-webgpu internals (`bufferManager`); on a backend without them it does nothing.
 */

interface GpuBuffer { size: number; destroy(): void }
interface BufferManager {
  freeBuffers: Map<string, GpuBuffer[]>;
  numFreeBuffers: number;
  numBytesUsed: number;
  numBytesAllocated: number;
  releaseBuffer(buffer: GpuBuffer, reuse?: boolean): void;
}

export interface BufferPoolCap {
  /** Bytes held in free buffers now (allocated − in use). */
  freeBytes(): number;
  /** Buffers and bytes destroyed by the cap so far. */
  evicted(): { buffers: number; bytes: number };
  /** Puts tfjs's own `releaseBuffer` back. */
  restore(): void;
}

/** Caps `backend`'s pool of free buffers at `maxFreeBytes` (oldest released first out); null when the backend has no buffer manager. */
export function capWebGPUBufferPool(backend: object, maxFreeBytes: number): BufferPoolCap | null {
  if (!(maxFreeBytes >= 0)) throw new RangeError(`capWebGPUBufferPool: maxFreeBytes must be >= 0, got ${maxFreeBytes}`);
  const bm = (backend as { bufferManager?: BufferManager }).bufferManager;
  if (!bm || !(bm.freeBuffers instanceof Map) || typeof bm.releaseBuffer !== 'function') return null;
  const original = bm.releaseBuffer;
  const releasedAt = new WeakMap<GpuBuffer, number>();
  let tick = 0;
  let evictedBuffers = 0;
  let evictedBytes = 0;
  const freeBytes = () => bm.numBytesAllocated - bm.numBytesUsed;

  const evict = (target: number) => {
    const free: Array<{ list: GpuBuffer[]; buffer: GpuBuffer; at: number }> = [];
    for (const list of bm.freeBuffers.values()) for (const buffer of list) free.push({ list, buffer, at: releasedAt.get(buffer) ?? -1 });
    free.sort((a, b) => a.at - b.at);
    for (const { list, buffer } of free) {
      if (freeBytes() <= target) break;
      list.splice(list.indexOf(buffer), 1);
      bm.numFreeBuffers--;
      bm.numBytesAllocated -= buffer.size;
      buffer.destroy(); // released buffers belong to no pending command (tfjs releases them after submitting)
      evictedBuffers++;
      evictedBytes += buffer.size;
    }
  };

  bm.releaseBuffer = function (this: BufferManager, buffer: GpuBuffer, reuse = true) {
    original.call(this, buffer, reuse);
    if (!reuse) return;
    releasedAt.set(buffer, tick++);
    if (freeBytes() > maxFreeBytes) evict(Math.floor(maxFreeBytes * 0.75));
  };
  return {
    freeBytes,
    evicted: () => ({ buffers: evictedBuffers, bytes: evictedBytes }),
    restore: () => {
      bm.releaseBuffer = original;
    },
  };
}
