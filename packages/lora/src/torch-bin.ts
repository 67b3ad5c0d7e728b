import { unzipSync } from 'fflate';
import { toFloat32 } from '@conifer/safetensors';

/**
 * A reader for `torch.save(state_dict)` files (the zip format of PyTorch ≥ 1.6, e.g. PEFT ≤ 0.5's
 * `adapter_model.bin`): `<archive>/data.pkl` is a pickle whose tensors point, through persistent
 * ids, at raw little-endian storages `<archive>/data/<key>`.
 *
 * The pickle is read by a **restricted unpickler**: a small stack machine that knows only the
 * opcodes such a pickle uses and only these globals, and that never calls anything — "calling"
 * an allowed global just builds a plain JavaScript value:
 *   collections.OrderedDict          → a Map
 *   torch._utils._rebuild_tensor_v2  → a tensor record (storage, offset, size, stride)
 *   torch.{Float,Half,BFloat16,Double}Storage → a storage dtype
 * Any other global (`os.system`, `builtins.eval`, …) or opcode is refused with a {@link TorchPickleError}.
 */

export class TorchPickleError extends Error {
  override name = 'TorchPickleError';
}

/** A tensor read from the file, converted to float32. */
export interface TorchTensor {
  /** The storage's dtype (safetensors spelling). */
  dtype: 'F32' | 'F16' | 'BF16' | 'F64';
  shape: number[];
  /** Row-major float32 values. */
  data: Float32Array;
}

const STORAGE_DTYPES = {
  FloatStorage: ['F32', 4],
  HalfStorage: ['F16', 2],
  BFloat16Storage: ['BF16', 2],
  DoubleStorage: ['F64', 8],
} as const;
type StorageName = keyof typeof STORAGE_DTYPES;

/** The only globals a state-dict pickle may name. */
export const ALLOWED_PICKLE_GLOBALS: readonly string[] = [
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  ...Object.keys(STORAGE_DTYPES).map((n) => `torch.${n}`),
];

class Global {
  constructor(readonly module: string, readonly name: string) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}
class Tuple {
  constructor(readonly items: PyValue[]) {}
}
class Storage {
  constructor(readonly dtype: StorageName, readonly key: string, readonly numel: number) {}
}
class TensorRef {
  constructor(readonly storage: Storage, readonly offset: number, readonly size: number[], readonly stride: number[]) {}
}
const MARK = Symbol('mark');
type PyValue = null | boolean | number | string | Global | Tuple | Map<PyValue, PyValue> | Storage | TensorRef;
type StackItem = PyValue | typeof MARK;

const OP_NAMES: Record<number, string> = { 0x63: 'GLOBAL', 0x93: 'STACK_GLOBAL', 0x52: 'REDUCE', 0x62: 'BUILD' };

/**
 * Runs the restricted unpickler over `pkl`. `loadStorage(key)` is not called during unpickling;
 * the persistent ids are only recorded. Returns the top-level object (a Map for a state dict).
 */
export function restrictedUnpickle(pkl: Uint8Array): PyValue {
  const view = new DataView(pkl.buffer, pkl.byteOffset, pkl.byteLength);
  const stack: StackItem[] = [];
  const memo = new Map<number, PyValue>();
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let pos = 0;

  const fail = (msg: string): never => {
    throw new TorchPickleError(`pickle byte ${pos}: ${msg}`);
  };
  const need = (n: number) => {
    if (pos + n > pkl.byteLength) fail('unexpected end of pickle');
  };
  const u8 = () => (need(1), pkl[pos++]!);
  const u16 = () => (need(2), (pos += 2), view.getUint16(pos - 2, true));
  const u32 = () => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const i32 = () => (need(4), (pos += 4), view.getInt32(pos - 4, true));
  const bytes = (n: number) => (need(n), (pos += n), pkl.subarray(pos - n, pos));
  const str = (n: number) => utf8.decode(bytes(n));
  const line = () => {
    const end = pkl.indexOf(0x0a, pos);
    if (end < 0) fail('unterminated GLOBAL');
    const s = utf8.decode(pkl.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined || v === MARK) fail('stack underflow');
    return v as PyValue;
  };
  const top = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) fail('stack underflow');
    return v as PyValue;
  };
  const popMark = (): PyValue[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) fail('MARK not found');
    const items = stack.splice(i) as StackItem[];
    return items.slice(1) as PyValue[];
  };
  const global = (module: string, name: string): Global => {
    const q = `${module}.${name}`;
    if (!ALLOWED_PICKLE_GLOBALS.includes(q)) {
      fail(`refusing pickle global "${q}": a PyTorch state dict may only name ${ALLOWED_PICKLE_GLOBALS.join(', ')}; this file is not a plain tensor checkpoint and is not loaded`);
    }
    return new Global(module, name);
  };
  const setItems = (target: PyValue, kv: PyValue[]) => {
    if (!(target instanceof Map)) fail('SETITEM(S) on something that is not a dict');
    const m = target as Map<PyValue, PyValue>;
    for (let i = 0; i + 1 < kv.length; i += 2) m.set(kv[i]!, kv[i + 1]!);
  };
  const intOf = (v: PyValue, what: string): number => {
    if (typeof v !== 'number' || !Number.isInteger(v)) fail(`${what} must be an int`);
    return v as number;
  };
  const intTuple = (v: PyValue, what: string): number[] => {
    if (!(v instanceof Tuple)) fail(`${what} must be a tuple`);
    return (v as Tuple).items.map((x) => intOf(x, what));
  };

  const reduce = (fn: PyValue, args: PyValue): PyValue => {
    if (!(fn instanceof Global)) return fail('REDUCE on something that is not a global');
    if (!(args instanceof Tuple)) return fail('REDUCE arguments are not a tuple');
    const a = args.items;
    switch (fn.qualified) {
      case 'collections.OrderedDict':
        if (a.length !== 0) fail('OrderedDict(...) with arguments is not supported');
        return new Map();
      case 'torch._utils._rebuild_tensor_v2': {
        // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        if (a.length < 6 || a.length > 7) fail(`_rebuild_tensor_v2 takes 6 or 7 arguments, got ${a.length}`);
        const storage = a[0];
        if (!(storage instanceof Storage)) return fail('_rebuild_tensor_v2: first argument is not a storage');
        const size = intTuple(a[2]!, 'tensor size');
        const stride = intTuple(a[3]!, 'tensor stride');
        if (size.length !== stride.length) fail('tensor size and stride differ in length');
        return new TensorRef(storage, intOf(a[1]!, 'storage offset'), size, stride);
      }
      default:
        return fail(`${fn.qualified} cannot be called`);
    }
  };

  for (;;) {
    const at = pos;
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail('unsupported pickle protocol');
        break;
      case 0x95: // FRAME (protocol 4): an 8-byte length, framing only
        bytes(8);
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) fail('STOP with a stack that does not hold exactly one object');
        return pop();
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new Tuple([]));
        break;
      case 0x74: // TUPLE
        stack.push(new Tuple(popMark()));
        break;
      case 0x85: // TUPLE1
        stack.push(new Tuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push(new Tuple([pop(), b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push(new Tuple([pop(), b, c]));
        break;
      }
      case 0x58: // BINUNICODE
        stack.push(str(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(str(u8()));
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x8a: {
        // LONG1: little-endian two's complement of n bytes
        const n = u8();
        const b = bytes(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
        if (n > 0 && b[n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) fail('integer too large');
        stack.push(Number(v));
        break;
      }
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const i = op === 0x68 ? u8() : u32();
        if (!memo.has(i)) fail(`memo ${i} is not set`);
        stack.push(memo.get(i)!);
        break;
      }
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        stack.push(global(module, line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(global(module as string, name as string));
        break;
      }
      case 0x51: {
        // BINPERSID: ('storage', <StorageClass>, key, location, numel)
        const pid = pop();
        if (!(pid instanceof Tuple) || pid.items.length !== 5 || pid.items[0] !== 'storage') fail('persistent id is not a ("storage", type, key, location, numel) tuple');
        const [, type, key, , numel] = (pid as Tuple).items;
        if (!(type instanceof Global) || type.module !== 'torch' || !(type.name in STORAGE_DTYPES)) fail('persistent id names no storage type');
        if (typeof key !== 'string' || !/^[\w.-]+$/.test(key)) fail('storage key is not a plain name');
        const size = intOf(numel!, 'storage size');
        if (size < 0) fail('storage size is negative');
        stack.push(new Storage((type as Global).name as StorageName, key as string, size));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        stack.push(reduce(pop(), args));
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const kv = popMark();
        setItems(top(), kv);
        break;
      }
      case 0x62: {
        // BUILD: only dict state on a dict (a state dict's `_metadata`), which is dropped
        const state = pop();
        const target = top();
        if (!(target instanceof Map) || !(state === null || state instanceof Map)) fail('BUILD is only allowed on a dict');
        break;
      }
      default:
        pos = at;
        fail(`refusing pickle opcode ${OP_NAMES[op] ?? `0x${op.toString(16).padStart(2, '0')}`}: not one a PyTorch state dict uses`);
    }
  }
}

/**
 * Reads a `torch.save(state_dict)` zip (bytes of e.g. `adapter_model.bin`) into float32 tensors by name.
 * Never executes code from the file: see {@link restrictedUnpickle}.
 */
export function readTorchStateDict(fileBytes: Uint8Array, where = 'adapter_model.bin'): Map<string, TorchTensor> {
  if (!(fileBytes[0] === 0x50 && fileBytes[1] === 0x4b)) {
    throw new TorchPickleError(`${where}: not a zip archive; only the zip format of torch.save (PyTorch ≥ 1.6) is supported`);
  }
  let entries: Record<string, Uint8Array>;
  let tooBig: string | null = null;
  try {
    // Only what a state dict needs is decompressed (`<archive>/data.pkl`, `byteorder`, `data/<key>`), and
    // none may claim more bytes than the file holds (torch.save stores entries uncompressed): a small
    // hostile archive cannot make us allocate gigabytes before anything is checked.
    entries = unzipSync(fileBytes, {
      filter: (f) => {
        const wanted = /^[^/]+\/(data\.pkl|byteorder|data\/[\w.-]+)$/.test(f.name);
        if (wanted && f.originalSize > fileBytes.byteLength) tooBig ??= `${f.name} claims ${f.originalSize} bytes, more than the ${fileBytes.byteLength}-byte file`;
        return wanted && f.originalSize <= fileBytes.byteLength;
      },
    });
  } catch (e) {
    throw new TorchPickleError(`${where}: cannot read the zip archive: ${(e as Error).message}`);
  }
  if (tooBig) throw new TorchPickleError(`${where}: ${tooBig}`);
  const pklName = Object.keys(entries).find((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (!pklName) throw new TorchPickleError(`${where}: no <archive>/data.pkl in the zip`);
  const prefix = pklName.slice(0, -'data.pkl'.length);
  const byteorder = entries[`${prefix}byteorder`];
  if (byteorder && new TextDecoder().decode(byteorder).trim() !== 'little') throw new TorchPickleError(`${where}: big-endian storages are not supported`);

  let root: PyValue;
  try {
    root = restrictedUnpickle(entries[pklName]!);
  } catch (e) {
    if (e instanceof TorchPickleError) throw new TorchPickleError(`${where}: ${e.message}`);
    throw e;
  }
  if (!(root instanceof Map)) throw new TorchPickleError(`${where}: the pickle is not a state dict`);

  const storages = new Map<string, Float32Array>();
  const loadStorage = (st: Storage, name: string): Float32Array => {
    const [dtype, itemSize] = STORAGE_DTYPES[st.dtype];
    const raw = entries[`${prefix}data/${st.key}`];
    if (!raw) throw new TorchPickleError(`${where}: storage data/${st.key} of "${name}" is missing`);
    if (raw.byteLength < st.numel * itemSize) throw new TorchPickleError(`${where}: storage data/${st.key} is shorter than its ${st.numel} elements`);
    const values = toFloat32(dtype, raw.subarray(0, st.numel * itemSize));
    storages.set(st.key, values);
    return values;
  };
  const out = new Map<string, TorchTensor>();
  for (const [name, t] of root) {
    if (typeof name !== 'string' || !(t instanceof TensorRef)) throw new TorchPickleError(`${where}: state dict entry ${String(name)} is not a tensor`);
    const [dtype] = STORAGE_DTYPES[t.storage.dtype];
    const values = storages.get(t.storage.key) ?? loadStorage(t.storage, name);
    out.set(name, { dtype, shape: t.size, data: gather(values, t, `${where}: "${name}"`) });
  }
  return out;
}

/** The row-major values of a (possibly strided) view of a storage. */
function gather(storage: Float32Array, t: TensorRef, where: string): Float32Array {
  const n = t.size.reduce((a, b) => a * b, 1);
  // A view with more elements than its storage repeats values (stride 0, overlapping strides): a few
  // bytes could expand to gigabytes, and no state dict saved by torch.save needs it. Checked before allocating.
  if (t.size.some((d) => d < 0) || n > storage.length) throw new TorchPickleError(`${where}: view of ${n} elements over a storage of ${storage.length}`);
  const out = new Float32Array(n);
  if (n === 0) return out;
  let maxIndex = t.offset;
  for (let d = 0; d < t.size.length; d++) maxIndex += (t.size[d]! - 1) * t.stride[d]!;
  if (t.offset < 0 || maxIndex >= storage.length || t.stride.some((s) => s < 0)) throw new TorchPickleError(`${where}: view runs outside its storage`);
  const idx = new Array<number>(t.size.length).fill(0);
  for (let i = 0; i < n; i++) {
    let off = t.offset;
    for (let d = 0; d < idx.length; d++) off += idx[d]! * t.stride[d]!;
    out[i] = storage[off]!;
    for (let d = idx.length - 1; d >= 0; d--) {
      if (++idx[d]! < t.size[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}
