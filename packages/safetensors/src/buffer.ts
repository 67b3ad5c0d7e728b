import { parseHeader, readHeaderLength } from './header.js';
import type { RawTensor } from './file.js';

/** Parses a whole safetensors file held in memory (validated the same way as a file on disk). */
export function parseSafetensors(bytes: Uint8Array, where = 'safetensors'): { tensors: Map<string, RawTensor>; metadata: Record<string, string> | undefined } {
  const len = readHeaderLength(bytes.subarray(0, 8), bytes.byteLength, where);
  const header = parseHeader(bytes.subarray(8, 8 + len), bytes.byteLength, where);
  const tensors = new Map<string, RawTensor>();
  for (const [name, info] of header.tensors) {
    const [b, e] = info.dataOffsets;
    tensors.set(name, { dtype: info.dtype, shape: [...info.shape], data: bytes.subarray(header.dataStart + b, header.dataStart + e) });
  }
  return { tensors, metadata: header.metadata };
}
