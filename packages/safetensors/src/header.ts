import { checkedByteSize, type Dtype } from './dtypes.js';
import { clip, SafetensorsError } from './errors.js';
import { type HeaderEntry, readHeaderJson, tensorError, type U64 } from './header-json.js';

/** Where one tensor lives in the data section (offsets relative to the data start). */
export interface TensorInfo {
  dtype: Dtype;
  /** Dimensions; one past 2^53 (only possible beside a 0 dimension) is the nearest double. */
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
 * Parses and validates the JSON header as the Rust reader does (`SafeTensors::read_metadata`): UTF-8
 * (`from_utf8`), then serde_json into `HashMetadata` ({@link readHeaderJson}), then
 * `Metadata::validate`: sorted by offsets, they must match dtype × shape, not overflow a u64, cover
 * the data section exactly with no gap or overlap.
 */
export function parseHeader(headerBytes: Uint8Array, fileSize: number, where = 'safetensors'): SafetensorsHeader {
  const dataStart = 8 + headerBytes.byteLength;
  let text: string;
  try {
    // ignoreBOM: a BOM stays in the text, where serde_json refuses it (it is not JSON whitespace).
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    throw new SafetensorsError(`${where}: header is not valid UTF-8`);
  }
  const { entries, metadata } = readHeaderJson(text, where);
  return { tensors: validate([...entries.values()], fileSize - dataStart, where), metadata, dataStart };
}

/** `Metadata::validate`, over the entries sorted by `data_offsets` (begin, then end); then the entries as read. */
function validate(entries: HeaderEntry[], dataLength: number, where: string): Map<string, TensorInfo> {
  const sorted = entries.slice();
  // Files list their tensors in offset order (Rust serializes them so): sort only when they are not.
  if (sorted.some((x, i) => i > 0 && byOffsets(sorted[i - 1]!, x) > 0)) sorted.sort(byOffsets);
  let end = 0;
  let prev = '';
  for (const { name, dtype, shape, begin: b, end: e } of sorted) {
    if (e < b) throw tensorError(where, name, `data_offsets [${b},${e}] are not [begin, end] with begin <= end`);
    if (b < end) throw new SafetensorsError(`${where}: tensor "${clip(name)}" overlaps tensor "${clip(prev)}" (offset ${b} < ${end})`);
    if (b > end) throw new SafetensorsError(`${where}: gap in the data section before tensor "${clip(name)}" (offset ${b}, expected ${end})`);
    const size = checkedByteSize(dtype, shape);
    const text = () => `${dtype}[${clip(shape.join(','))}]`;
    if (size === 'overflow') throw tensorError(where, name, `${text()}: the element count overflows a u64`);
    if (size === 'misaligned') throw tensorError(where, name, `${text()} is not a whole number of bytes`);
    // b = end is a number; an e past 2^53 (a bigint) lies past any data section.
    const span = typeof e === 'bigint' ? e - BigInt(b) : e - (b as number);
    if (span !== size) throw tensorError(where, name, `data_offsets span ${span} bytes but ${text()} needs ${size}`);
    if (e > dataLength) throw new SafetensorsError(`${where}: tensor "${clip(name)}" ends at ${e}, past the data section (${dataLength} bytes)`);
    end = e as number;
    prev = name;
  }
  if (end !== dataLength) throw new SafetensorsError(`${where}: data section is ${dataLength} bytes but the tensors cover ${end}`);
  const out = new Map<string, TensorInfo>();
  for (const { name, dtype, shape, begin, end } of entries) {
    // Numbers already, but for a dimension past 2^53 (beside a 0); offsets past 2^53 were refused above.
    const dims = shape.some((d) => typeof d === 'bigint') ? shape.map(Number) : (shape as number[]);
    out.set(name, { dtype, shape: dims, dataOffsets: [begin as number, end as number] });
  }
  return out;
}

const cmp = (a: U64, b: U64) => (a < b ? -1 : a > b ? 1 : 0);
const byOffsets = (x: HeaderEntry, y: HeaderEntry) => cmp(x.begin, y.begin) || cmp(x.end, y.end);
