import { DTYPE_BYTES, type Dtype, numElements } from './dtypes.js';
import { SafetensorsError } from './errors.js';

/** A tensor to write: typed values (F32 from Float32Array, I32 from Int32Array, …) or raw bytes. */
export interface TensorToWrite {
  dtype: Dtype;
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array | Uint16Array | Float64Array;
}

/**
 * Serializes tensors to safetensors bytes. Tensors are laid out in name order; the header is
 * padded with spaces to a multiple of 8 bytes, as the reference writer does.
 */
export function serializeSafetensors(tensors: Record<string, TensorToWrite> | Map<string, TensorToWrite>, metadata?: Record<string, string>): Uint8Array {
  const entries = (tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  const chunks: Uint8Array[] = [];
  for (const [name, t] of entries) {
    const nbytes = numElements(t.shape) * DTYPE_BYTES[t.dtype];
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    if (bytes.byteLength !== nbytes) {
      throw new SafetensorsError(`tensor "${name}": ${bytes.byteLength} bytes given but ${t.dtype}${JSON.stringify(t.shape)} needs ${nbytes}`);
    }
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + nbytes] };
    chunks.push(bytes);
    offset += nbytes;
  }
  let json = JSON.stringify(header);
  const pad = (8 - (Buffer.byteLength(json) % 8)) % 8;
  json += ' '.repeat(pad);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.byteLength;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
