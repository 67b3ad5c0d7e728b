import { checkedByteSize, type Dtype, isDtype, isShape } from './dtypes.js';
import { SafetensorsError } from './errors.js';
import { MAX_HEADER_BYTES } from './header.js';
import { sortTensorsForSave } from './order.js';

/** A tensor to write: typed values (F32 from Float32Array, I32 from Int32Array, …) or raw bytes. */
export interface TensorToWrite {
  dtype: Dtype;
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array | Uint16Array | Float64Array;
}

/** A lone surrogate: a string Rust's `String` (and so a file Python writes) cannot hold. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** A JSON string as serde_json writes it (the same escapes as `JSON.stringify`), refusing what Rust cannot hold. */
function jsonString(s: string, what: () => string): string {
  if (typeof s !== 'string') throw new SafetensorsError(`${what()} is not a string`);
  if (LONE_SURROGATE.test(s)) throw new SafetensorsError(`${what()} holds a lone surrogate (not valid UTF-8)`);
  return JSON.stringify(s);
}

/**
 * The 8-byte length and the JSON header of tensors laid out in the given order, with each tensor's
 * byte size — byte for byte what the Rust crate's `prepare` writes for that order (serde_json,
 * compact: `__metadata__` first when given, then each tensor's `dtype`, `shape`, `data_offsets`),
 * padded with spaces to a multiple of 8 bytes. Refused, as Rust refuses it: a header over
 * {@link MAX_HEADER_BYTES} (`HeaderTooLarge`), a shape whose size overflows or is not whole bytes;
 * and what a reader would refuse: an unknown dtype, a negative or fractional dimension, non-string
 * metadata, a repeated or `__metadata__` tensor name, a lone surrogate.
 */
export function encodeHeader(tensors: ReadonlyArray<readonly [string, { dtype: Dtype; shape: readonly number[] }]>, metadata?: Record<string, string> | null): { bytes: Uint8Array; sizes: number[] } {
  const parts: string[] = [];
  if (metadata != null) {
    // The reader (and the Rust crate's `HashMap<String, String>`) refuses anything else.
    if (typeof metadata !== 'object' || Array.isArray(metadata)) throw new SafetensorsError('__metadata__ must be an object of strings');
    const kv = Object.entries(metadata).map(([k, v]) => `${jsonString(k, () => `__metadata__ key ${JSON.stringify(k)}`)}:${jsonString(v, () => `__metadata__.${k}`)}`);
    parts.push(`"__metadata__":{${kv.join(',')}}`);
  }
  const names = new Set<string>();
  let offset = 0;
  const sizes: number[] = [];
  for (const [name, t] of tensors) {
    const key = jsonString(name, () => `tensor name ${JSON.stringify(name)}`);
    if (name === '__metadata__' || names.has(name)) throw new SafetensorsError(`tensor name "${name}" is reserved or repeated`);
    names.add(name);
    if (!isDtype(t.dtype)) throw new SafetensorsError(`tensor "${name}": unknown dtype ${JSON.stringify(t.dtype)}`);
    if (!isShape(t.shape)) throw new SafetensorsError(`tensor "${name}": shape ${JSON.stringify(t.shape)} is not a list of non-negative integers`);
    const size = checkedByteSize(t.dtype, t.shape);
    if (size === 'overflow') throw new SafetensorsError(`tensor "${name}": ${t.dtype}${JSON.stringify(t.shape)}: the element count overflows a u64`);
    if (size === 'misaligned') throw new SafetensorsError(`tensor "${name}": ${t.dtype}${JSON.stringify(t.shape)} is not a whole number of bytes`);
    const nbytes = Number(size);
    parts.push(`${key}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${offset + nbytes}]}`);
    sizes.push(nbytes);
    offset += nbytes;
  }
  // Built as text, not with JSON.stringify of an object: an object would put integer-like names ("2", "10") first.
  const json = `{${parts.join(',')}}`;
  const n = Math.ceil(Buffer.byteLength(json) / 8) * 8;
  if (n > MAX_HEADER_BYTES) throw new SafetensorsError(`the header would be ${n} bytes, over the ${MAX_HEADER_BYTES}-byte limit readers accept`);
  const text = new TextEncoder().encode(json);
  const bytes = new Uint8Array(8 + n).fill(0x20, 8 + text.byteLength);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(n), true);
  bytes.set(text, 8);
  return { bytes, sizes };
}

/**
 * Serializes tensors to safetensors bytes: the same bytes as Python's `safetensors.torch.save_file`
 * for the same tensors and metadata — tensors laid out as the Rust crate's `prepare` orders them
 * ({@link sortTensorsForSave}: by dtype, then name), header padded with spaces to a multiple of 8.
 */
export function serializeSafetensors(tensors: Record<string, TensorToWrite> | Map<string, TensorToWrite>, metadata?: Record<string, string> | null): Uint8Array {
  const given = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const entries = sortTensorsForSave(given.map(([name, t]) => ({ name, dtype: t.dtype, t }))).map(({ name, t }) => [name, t] as const);
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
