import { checkedByteSize, DTYPE_BYTES, type Dtype, isShape } from './dtypes.js';
import { SafetensorsError } from './errors.js';

/** A tensor to write: typed values (F32 from Float32Array, I32 from Int32Array, …) or raw bytes. */
export interface TensorToWrite {
  dtype: Dtype;
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array | Uint16Array | Float64Array;
}

/**
 * The 8-byte length and the JSON header of tensors laid out in the given order, padded with spaces to
 * a multiple of 8 bytes as the reference writer does; with each tensor's byte size.
 */
export function encodeHeader(tensors: ReadonlyArray<readonly [string, { dtype: Dtype; shape: readonly number[] }]>, metadata?: Record<string, string>): { bytes: Uint8Array; sizes: number[] } {
  // No prototype: a tensor named "__proto__" is then an own key like any other (JSON.stringify writes it).
  const header: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  if (metadata) {
    // The reader (and the Rust crate's `HashMap<String, String>`) refuses anything else.
    if (typeof metadata !== 'object' || Array.isArray(metadata)) throw new SafetensorsError('__metadata__ must be an object of strings');
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(`__metadata__.${k} is not a string`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  const sizes: number[] = [];
  for (const [name, t] of tensors) {
    if (name === '__metadata__' || Object.prototype.hasOwnProperty.call(header, name)) throw new SafetensorsError(`tensor name "${name}" is reserved or repeated`);
    if (!Object.prototype.hasOwnProperty.call(DTYPE_BYTES, t.dtype)) throw new SafetensorsError(`tensor "${name}": unknown dtype ${JSON.stringify(t.dtype)}`);
    if (!isShape(t.shape)) throw new SafetensorsError(`tensor "${name}": shape ${JSON.stringify(t.shape)} is not a list of non-negative integers`);
    const nbytes = checkedByteSize(t.dtype, t.shape);
    if (nbytes === null) throw new SafetensorsError(`tensor "${name}": ${t.dtype}${JSON.stringify(t.shape)}: the element count overflows a u64`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + nbytes] };
    sizes.push(nbytes);
    offset += nbytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const text = new TextEncoder().encode(json);
  const bytes = new Uint8Array(8 + text.byteLength);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(text.byteLength), true);
  bytes.set(text, 8);
  return { bytes, sizes };
}

/**
 * Serializes tensors to safetensors bytes. Tensors are laid out in name order; the header is
 * padded with spaces to a multiple of 8 bytes, as the reference writer does.
 */
export function serializeSafetensors(tensors: Record<string, TensorToWrite> | Map<string, TensorToWrite>, metadata?: Record<string, string>): Uint8Array {
  const entries = (tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const { bytes: header, sizes } = encodeHeader(entries, metadata);
  const chunks = entries.map(([name, t], i) => {
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    if (bytes.byteLength !== sizes[i]) {
      throw new SafetensorsError(`tensor "${name}": ${bytes.byteLength} bytes given but ${t.dtype}${JSON.stringify(t.shape)} needs ${sizes[i]}`);
    }
    return bytes;
  });
  const out = new Uint8Array(header.byteLength + sizes.reduce((a, b) => a + b, 0));
  out.set(header, 0);
  let at = header.byteLength;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
