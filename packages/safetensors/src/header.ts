import { checkedByteSize, type Dtype, isDtype } from './dtypes.js';
import { SafetensorsError } from './errors.js';
import { JsonReader } from './json.js';

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
 * (`from_utf8`), then serde_json into `HashMetadata` — an object of tensor entries, plus an optional
 * `__metadata__` (`Option<HashMap<String, String>>`: an object of strings, or null, given once); a
 * repeated tensor name keeps its last entry (a `HashMap`), though every entry must deserialize; each
 * entry a `TensorInfo` (`{dtype, shape, data_offsets}`, or the same three as a list; other fields
 * ignored): a known dtype, `Vec<usize>` shape, `(usize, usize)` offsets — then `Metadata::validate`:
 * sorted by offsets, they must match dtype × shape, not overflow a u64, cover the data section exactly
 * with no gap or overlap.
 */
export function parseHeader(headerBytes: Uint8Array, fileSize: number, where = 'safetensors'): SafetensorsHeader {
  const dataStart = 8 + headerBytes.byteLength;
  const dataLength = fileSize - dataStart;
  let text: string;
  try {
    // ignoreBOM: a BOM stays in the text, where serde_json refuses it (it is not JSON whitespace).
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    throw new SafetensorsError(`${where}: header is not valid UTF-8`);
  }
  const r = new JsonReader(text);
  const entries = new Map<string, Entry>();
  let metadata: Record<string, string> | undefined;
  let sawMetadata = false;
  try {
    if (r.peek() !== '{') {
      r.value(); // a JSON error first, as serde_json reports it
      throw new SafetensorsError(`${where}: header is not a JSON object`);
    }
    r.object((name) => {
      if (name === '__metadata__') {
        // serde's derived visitor: a second `__metadata__` is a duplicate_field error, even after null.
        if (sawMetadata) throw new SafetensorsError(`${where}: __metadata__ appears twice in the header`);
        sawMetadata = true;
        metadata = readMetadata(r, where);
      } else {
        entries.set(name, readEntry(r, name, where));
      }
    });
    r.end();
  } catch (e) {
    if (e instanceof SafetensorsError) throw e;
    throw new SafetensorsError(`${where}: header is not valid JSON (${(e as Error).message})`);
  }
  return { tensors: validate(entries, dataLength, where), metadata, dataStart };
}

/** A u64 as read: a number, or a bigint past 2^53. */
type U64 = number | bigint;

/** One tensor entry as deserialized (`TensorInfo`), before `validate`. */
interface Entry {
  dtype: Dtype;
  shape: U64[];
  offsets: [U64, U64];
}

/** `Option<HashMap<String, String>>`: null, or an object of strings (a repeated key keeps its last value). */
function readMetadata(r: JsonReader, where: string): Record<string, string> | undefined {
  const c = r.peek();
  if (c === 'n') {
    if (r.value().kind === 'null') return undefined; // Option::None
  } else if (c === '{') {
    const out: Record<string, string> = {};
    r.object((k) => {
      if (r.peek() !== '"') {
        r.value();
        throw new SafetensorsError(`${where}: __metadata__.${k} is not a string`);
      }
      // An own property even for "__proto__" (JSON.parse's CreateDataProperty).
      Object.defineProperty(out, k, { value: r.string(), enumerable: true, writable: true, configurable: true });
    });
    return out;
  } else r.value();
  throw new SafetensorsError(`${where}: __metadata__ must be an object of strings (or null)`);
}

/**
 * A `TensorInfo` as serde derives it: an object with `dtype`, `shape`, `data_offsets` (each once;
 * other fields ignored) or a list of those three; a dtype of the enum (its name, or serde's
 * external tagging `{"F32": null}`), a `Vec<usize>` and a `(usize, usize)`.
 */
function readEntry(r: JsonReader, name: string, where: string): Entry {
  const bad = (why: string) => new SafetensorsError(`${where}: tensor "${name}": ${why}`);
  let dtype: Dtype | undefined;
  let shape: U64[] | undefined;
  let offsets: U64[] | undefined;
  const read = (field: string) => {
    const at = r.pos;
    if (field === 'dtype') {
      const v = r.value();
      const variant = v.kind === 'string' ? v.value : v.kind === 'object' && v.entries.length === 1 && v.entries[0]![1].kind === 'null' ? v.entries[0]![0] : undefined;
      if (!isDtype(variant)) throw bad(`unknown dtype ${source(r, at)}`);
      dtype = variant;
    } else {
      const list = readU64s(r);
      if (!list) throw bad(field === 'shape' ? `shape ${source(r, at)} is not a list of non-negative integers` : `data_offsets ${source(r, at)} are not [begin, end], two non-negative integers`);
      if (field === 'shape') shape = list;
      else if (list.length !== 2) throw bad(`data_offsets ${source(r, at)} are not [begin, end], two non-negative integers`);
      else offsets = list;
    }
  };
  const start = r.pos;
  const c = r.peek();
  if (c === '{') {
    let seen = 0;
    r.object((k) => {
      const i = FIELDS.indexOf(k);
      if (i < 0) {
        r.value(); // unknown fields are ignored
        return;
      }
      const bit = 1 << i;
      if (seen & bit) throw bad(`field ${k} appears twice`);
      seen |= bit;
      read(k);
    });
    for (const [i, f] of FIELDS.entries()) if (!(seen & (1 << i))) throw bad(`missing field ${f}`);
  } else if (c === '[') {
    // A derived struct also deserializes from a sequence of its fields, in order, and exactly those.
    let n = 0;
    r.array((i) => {
      n++;
      if (i < 3) read(FIELDS[i]!);
      else r.value();
    });
    if (n !== 3) throw bad(`entry ${source(r, start)} is not [dtype, shape, data_offsets]`);
  } else {
    r.value();
    throw bad('entry is not an object');
  }
  return { dtype: dtype!, shape: shape!, offsets: [offsets![0]!, offsets![1]!] };
}

const FIELDS = ['dtype', 'shape', 'data_offsets'];

/** A list of u64s, or null (after reading the value) when it is anything else. */
function readU64s(r: JsonReader): U64[] | null {
  if (r.peek() !== '[') {
    r.value();
    return null;
  }
  const out: U64[] = [];
  let ok = true;
  r.array(() => {
    const c = r.peek();
    if (c === '-' || (c >= '0' && c <= '9')) {
      const v = r.number();
      if (v === null) ok = false;
      else out.push(v);
    } else {
      r.value();
      ok = false;
    }
  });
  return ok ? out : null;
}

/** The JSON text read since `at` (for messages). */
const source = (r: JsonReader, at: number) => r.text.slice(at, r.pos).trim();

/** `Metadata::validate`, over the entries sorted by `data_offsets` (begin, then end). */
function validate(entries: Map<string, Entry>, dataLength: number, where: string): Map<string, TensorInfo> {
  const sorted = [...entries].sort(([, a], [, b]) => cmp(a.offsets[0], b.offsets[0]) || cmp(a.offsets[1], b.offsets[1]));
  let end = 0;
  let prev = '';
  for (const [name, { dtype, shape, offsets }] of sorted) {
    const [b, e] = offsets;
    const bad = (why: string) => new SafetensorsError(`${where}: tensor "${name}": ${why}`);
    const text = () => `${dtype}[${shape.join(',')}]`;
    if (e < b) throw bad(`data_offsets [${b},${e}] are not [begin, end] with begin <= end`);
    if (b < end) throw new SafetensorsError(`${where}: tensor "${name}" overlaps tensor "${prev}" (offset ${b} < ${end})`);
    if (b > end) throw new SafetensorsError(`${where}: gap in the data section before tensor "${name}" (offset ${b}, expected ${end})`);
    const size = checkedByteSize(dtype, shape);
    if (size === 'overflow') throw bad(`${text()}: the element count overflows a u64`);
    if (size === 'misaligned') throw bad(`${text()} is not a whole number of bytes`);
    // b = end is a number; an e past 2^53 (a bigint) lies past any data section.
    const span = typeof e === 'bigint' ? e - BigInt(b) : e - (b as number);
    if (span !== size) throw bad(`data_offsets span ${span} bytes but ${text()} needs ${size}`);
    if (e > dataLength) throw new SafetensorsError(`${where}: tensor "${name}" ends at ${e}, past the data section (${dataLength} bytes)`);
    end = e as number;
    prev = name;
  }
  if (end !== dataLength) throw new SafetensorsError(`${where}: data section is ${dataLength} bytes but the tensors cover ${end}`);
  const out = new Map<string, TensorInfo>();
  for (const [name, { dtype, shape, offsets }] of entries) {
    out.set(name, { dtype, shape: shape.map(Number), dataOffsets: [Number(offsets[0]), Number(offsets[1])] });
  }
  return out;
}

const cmp = (a: U64, b: U64) => (a < b ? -1 : a > b ? 1 : 0);
