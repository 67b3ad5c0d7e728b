import { checkedByteSize, type Dtype, isDtype, isShape } from './dtypes.js';
import { SafetensorsError } from './errors.js';

/** Where one tensor lives in the data section (offsets relative to the data start). */
export interface TensorInfo {
  dtype: Dtype;
  shape: number[];
  /** [begin, end) in bytes, relative to the first byte after the header. */
  dataOffsets: [number, number];
}

export interface SafetensorsHeader {
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string> | undefined;
  /** Absolute byte offset of the data section: 8 + header length. */
  dataStart: number;
}

/** Largest header accepted (the Rust reference uses the same 100 MB limit). */
export const MAX_HEADER_BYTES = 100_000_000;

/**
 * Reads the 8-byte little-endian header length and checks it against the file size,
 * before anything is allocated for the header itself.
 */
export function readHeaderLength(first8: Uint8Array, fileSize: number, where = 'safetensors'): number {
  if (fileSize < 8 || first8.byteLength < 8) {
    throw new SafetensorsError(`${where}: file too small (${fileSize} bytes) to hold a safetensors header`);
  }
  const view = new DataView(first8.buffer, first8.byteOffset, 8);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(`${where}: header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  const len = Number(n);
  if (8 + len > fileSize) {
    throw new SafetensorsError(`${where}: header length ${len} runs past the end of the file (${fileSize} bytes)`);
  }
  return len;
}

/**
 * Parses and validates the JSON header: known dtypes, integer shapes, offsets that match the
 * shapes, lie inside the data section, do not overlap and cover it exactly (as the Rust
 * reference requires).
 */
export function parseHeader(headerBytes: Uint8Array, fileSize: number, where = 'safetensors'): SafetensorsHeader {
  const dataStart = 8 + headerBytes.byteLength;
  const dataLength = fileSize - dataStart;
  if (headerBytes.byteLength === 0 || headerBytes[0] !== 0x7b /* { */) {
    throw new SafetensorsError(`${where}: header is not a JSON object`);
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    throw new SafetensorsError(`${where}: header is not valid JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new SafetensorsError(`${where}: header is not a JSON object`);
  }
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> | undefined;
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(value, where);
      continue;
    }
    tensors.set(name, parseTensorInfo(name, value, where));
  }
  checkOffsets(tensors, dataLength, where);
  return { tensors, metadata, dataStart };
}

function parseMetadata(value: unknown, where: string): Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new SafetensorsError(`${where}: __metadata__ must be an object of strings`);
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new SafetensorsError(`${where}: __metadata__.${k} is not a string`);
  }
  return value as Record<string, string>;
}

function parseTensorInfo(name: string, value: unknown, where: string): TensorInfo {
  const bad = (why: string) => new SafetensorsError(`${where}: tensor "${name}": ${why}`);
  if (value === null || typeof value !== 'object') throw bad('entry is not an object');
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (!isDtype(dtype)) throw bad(`unknown dtype ${JSON.stringify(dtype)}`);
  if (!isShape(shape)) {
    throw bad(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1]
  ) {
    throw bad(`data_offsets ${JSON.stringify(offsets)} are not [begin, end] with 0 <= begin <= end`);
  }
  const expected = checkedByteSize(dtype, shape);
  if (expected === null) throw bad(`${dtype}${JSON.stringify(shape)}: the element count overflows a u64`);
  if (offsets[1] - offsets[0] !== expected) {
    throw bad(`data_offsets span ${offsets[1] - offsets[0]} bytes but ${dtype}${JSON.stringify(shape)} needs ${expected}`);
  }
  return { dtype, shape: shape as number[], dataOffsets: [offsets[0], offsets[1]] };
}

function checkOffsets(tensors: Map<string, TensorInfo>, dataLength: number, where: string): void {
  const sorted = [...tensors.entries()].sort((a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0] || a[1].dataOffsets[1] - b[1].dataOffsets[1]);
  let end = 0;
  let prev = '';
  for (const [name, info] of sorted) {
    const [b, e] = info.dataOffsets;
    if (b < end) throw new SafetensorsError(`${where}: tensor "${name}" overlaps tensor "${prev}" (offset ${b} < ${end})`);
    if (b > end) throw new SafetensorsError(`${where}: gap in the data section before tensor "${name}" (offset ${b}, expected ${end})`);
    if (e > dataLength) {
      throw new SafetensorsError(`${where}: tensor "${name}" ends at ${e}, past the data section (${dataLength} bytes)`);
    }
    end = e;
    prev = name;
  }
  if (end !== dataLength) {
    throw new SafetensorsError(`${where}: data section is ${dataLength} bytes but the tensors cover ${end}`);
  }
}
