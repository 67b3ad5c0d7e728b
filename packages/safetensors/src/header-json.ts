import { type Dtype, isDtype } from './dtypes.js';
import { clip, SafetensorsError } from './errors.js';
import { JsonReader } from './json.js';

/** A u64 as read: a number, or a bigint past 2^53. */
export type U64 = number | bigint;

/** One tensor entry as deserialized (the crate's `TensorInfo`), before `Metadata::validate`. */
export interface HeaderEntry {
  name: string;
  dtype: Dtype;
  shape: U64[];
  begin: U64;
  end: U64;
}

/**
 * The header text as serde_json deserializes it into the crate's `HashMetadata`: an object of tensor
 * entries (`#[serde(flatten)] HashMap<String, TensorInfo>`: a repeated name keeps its last entry, though
 * every entry must deserialize), plus an optional `__metadata__` (`Option<HashMap<String, String>>`: an
 * object of strings, or null; a named field, so given twice it is a `duplicate_field` error). Each entry
 * is a derived `TensorInfo`: `{dtype, shape, data_offsets}` (each once, other fields ignored) or those
 * three as a list; a dtype of the enum, a `Vec<usize>` and a `(usize, usize)`.
 */
export function readHeaderJson(text: string, where: string): { entries: Map<string, HeaderEntry>; metadata: Record<string, string> | undefined } {
  const r = new JsonReader(text);
  const entries = new Map<string, HeaderEntry>();
  let metadata: Record<string, string> | undefined;
  let sawMetadata = false;
  try {
    if (r.peek() !== '{') {
      r.skip(); // a JSON error first, as serde_json reports it
      throw new SafetensorsError(`${where}: header is not a JSON object`);
    }
    r.object((name) => {
      if (name === '__metadata__') {
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
  return { entries, metadata };
}

/** `Option<HashMap<String, String>>`: null, or an object of strings (a repeated key keeps its last value). */
function readMetadata(r: JsonReader, where: string): Record<string, string> | undefined {
  const c = r.peek();
  if (c === '{') {
    const out: Record<string, string> = {};
    r.object((k) => {
      if (r.peek() !== '"') {
        r.skip();
        throw new SafetensorsError(`${where}: __metadata__.${clip(k)} is not a string`);
      }
      // An own property even for "__proto__" (JSON.parse's CreateDataProperty).
      Object.defineProperty(out, k, { value: r.string(), enumerable: true, writable: true, configurable: true });
    });
    return out;
  }
  r.skip();
  if (c === 'n') return undefined; // a value starting with n that skip() accepted: null, Option::None
  throw new SafetensorsError(`${where}: __metadata__ must be an object of strings (or null)`);
}

const FIELDS = ['dtype', 'shape', 'data_offsets'] as const;
type Field = 0 | 1 | 2;

/** A derived `TensorInfo`, from an object of its fields or from the list of them. */
function readEntry(r: JsonReader, name: string, where: string): HeaderEntry {
  const entry: HeaderEntry = { name, dtype: 'BOOL', shape: [], begin: 0, end: 0 };
  const start = r.pos;
  const c = r.peek();
  let seen = 0;
  if (c === '{') {
    r.object((k) => {
      const field = FIELDS.indexOf(k as (typeof FIELDS)[number]) as Field | -1;
      if (field === -1) return r.skip(); // unknown fields are ignored
      if (seen & (1 << field)) throw tensorError(where, name, `field ${k} appears twice`);
      seen |= 1 << field;
      readField(r, field, entry, where);
    });
    const missing = FIELDS.find((_, i) => !(seen & (1 << i)));
    if (missing) throw tensorError(where, name, `missing field ${missing}`);
  } else if (c === '[') {
    // visit_seq: the fields in order, and exactly those (the sequence's end() refuses more).
    r.array((i) => {
      if (i < 3) readField(r, i as Field, entry, where);
      else r.skip();
      seen = i + 1;
    });
    if (seen !== 3) throw tensorError(where, name, `entry ${source(r, start)} is not [dtype, shape, data_offsets]`);
  } else {
    r.skip();
    throw tensorError(where, name, 'entry is not an object');
  }
  return entry;
}

function readField(r: JsonReader, field: Field, entry: HeaderEntry, where: string): void {
  const at = r.pos;
  if (field === 0) {
    const variant = readVariant(r);
    if (!isDtype(variant)) throw tensorError(where, entry.name, `unknown dtype ${source(r, at)}`);
    entry.dtype = variant;
    return;
  }
  const list = readU64s(r);
  if (field === 1) {
    if (!list) throw tensorError(where, entry.name, `shape ${source(r, at)} is not a list of non-negative integers`);
    entry.shape = list;
  } else {
    if (list?.length !== 2) throw tensorError(where, entry.name, `data_offsets ${source(r, at)} are not [begin, end], two non-negative integers`);
    [entry.begin, entry.end] = list as [U64, U64];
  }
}

/**
 * An enum variant as serde reads a unit variant: its name, or its external tagging `{"F32": null}`
 * (one key, value null); undefined for anything else.
 */
function readVariant(r: JsonReader): string | undefined {
  const c = r.peek();
  if (c === '"') return r.string();
  if (c !== '{') {
    r.skip();
    return undefined;
  }
  let keys = 0;
  let variant: string | undefined;
  r.object((k) => {
    const unit = r.peek() === 'n';
    r.skip();
    variant = ++keys === 1 && unit ? k : undefined;
  });
  return variant;
}

/** A list of u64s, or null (after reading the value) when it is anything else. */
function readU64s(r: JsonReader): U64[] | null {
  if (r.peek() !== '[') {
    r.skip();
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
      r.skip();
      ok = false;
    }
  });
  return ok ? out : null;
}

/** The JSON text read since `at` (for messages). */
const source = (r: JsonReader, at: number) => clip(r.text.slice(at, r.pos).trim());

/** The error for tensor `name`, its name clipped (a hostile header may hold a 100 MB one). */
export const tensorError = (where: string, name: string, why: string) => new SafetensorsError(`${where}: tensor "${clip(name)}": ${why}`);
