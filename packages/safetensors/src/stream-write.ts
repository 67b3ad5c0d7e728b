import { writeAtomic } from './atomic.js';
import type { Dtype } from './dtypes.js';
import { SafetensorsError } from './errors.js';
import { sortTensorsForSave } from './order.js';
import { encodeHeader } from './serialize.js';

/** One tensor of {@link writeSafetensorsFile}: dtype, shape, and its little-endian bytes, produced when it is written. */
export interface TensorSource {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Called once, when the tensor's turn comes: so only one tensor's bytes need to be in memory at a time. */
  bytes: () => Uint8Array | Promise<Uint8Array>;
}

/**
 * Writes a safetensors file tensor by tensor: the header first (it needs only dtypes and shapes), then
 * each tensor's bytes as its `bytes()` produces them — for files larger than memory allows to assemble
 * at once (a 5 GB shard). The bytes are those of {@link serializeSafetensors} (and Python's `save_file`):
 * tensors laid out in {@link sortTensorsForSave}'s order, whatever the order given, and each `bytes()`
 * called once, in that order. Atomic: a temporary file renamed into place once complete and fsynced; a
 * `bytes()` that throws or returns the wrong length leaves nothing behind.
 */
export async function writeSafetensorsFile(path: string, given: readonly TensorSource[], metadata?: Record<string, string> | null): Promise<void> {
  const tensors = sortTensorsForSave(given);
  const { bytes: header, sizes } = encodeHeader(tensors.map((t) => [t.name, t] as const), metadata);
  await writeAtomic(path, async (handle) => {
    let at = 0;
    const put = async (bytes: Uint8Array) => {
      for (let done = 0; done < bytes.byteLength;) {
        const { bytesWritten } = await handle.write(bytes, done, bytes.byteLength - done, at + done);
        done += bytesWritten;
      }
      at += bytes.byteLength;
    };
    await put(header);
    for (const [i, t] of tensors.entries()) {
      const bytes = await t.bytes();
      if (bytes.byteLength !== sizes[i]) {
        throw new SafetensorsError(`${path}: tensor "${t.name}": ${bytes.byteLength} bytes produced but ${t.dtype}${JSON.stringify(t.shape)} needs ${sizes[i]}`);
      }
      await put(bytes);
    }
  });
}
