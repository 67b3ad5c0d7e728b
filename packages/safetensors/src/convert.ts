import { DTYPE_BITS, type Dtype } from './dtypes.js';
import { SafetensorsError } from './errors.js';

/** IEEE half (16 bits) → number (exact). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // subnormal
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const F16_TABLE = (() => {
  const t = new Float32Array(65536);
  for (let i = 0; i < 65536; i++) t[i] = halfToFloat(i);
  return t;
})();

/** The float dtypes {@link decodeFloatsInto} reads. */
export type FloatDtype = 'F32' | 'F16' | 'BF16' | 'F64';

const FLOAT_BYTES: Record<FloatDtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

/**
 * Decodes `count` elements, starting at element `start`, of little-endian float bytes (a view at
 * any offset, aligned or not) into `out` (float32; F64 rounds). For streaming a large tensor row by
 * row into one reused buffer; {@link toFloat32} decodes a whole tensor into a new array.
 */
export function decodeFloatsInto(dtype: FloatDtype, bytes: Uint8Array, start: number, count: number, out: Float32Array): void {
  const size = FLOAT_BYTES[dtype];
  if (size === undefined) throw new SafetensorsError(`cannot decode ${String(dtype)} as floats (expected F32, F16, BF16 or F64)`);
  if (!Number.isInteger(start) || !Number.isInteger(count)) throw new SafetensorsError(`decodeFloatsInto: start ${start} and count ${count} must be integers`);
  if (start < 0 || count < 0 || (start + count) * size > bytes.byteLength || count > out.length) {
    throw new SafetensorsError(`decodeFloatsInto: elements ${start}..${start + count} of ${bytes.byteLength / size} into ${out.length}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32':
      for (let i = 0; i < count; i++) out[i] = view.getFloat32((start + i) * 4, true);
      return;
    case 'F16':
      for (let i = 0; i < count; i++) out[i] = F16_TABLE[view.getUint16((start + i) * 2, true)]!;
      return;
    case 'BF16': {
      const u = new Uint32Array(out.buffer, out.byteOffset, count);
      for (let i = 0; i < count; i++) u[i] = view.getUint16((start + i) * 2, true) << 16;
      return;
    }
    case 'F64':
      for (let i = 0; i < count; i++) out[i] = view.getFloat64((start + i) * 8, true);
      return;
  }
}

/**
 * Decodes little-endian F32, F16 or BF16 bytes (a view at any offset) to a new Float32Array.
 * I32/I64/I8/U8/BOOL convert to float32 values too (I64 must fit 2^53).
 */
export function toFloat32(dtype: Dtype, bytes: Uint8Array): Float32Array {
  checkWhole('toFloat32', dtype, bytes);
  if (dtype === 'F32' && bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  if (dtype === 'F32' || dtype === 'F16' || dtype === 'BF16' || dtype === 'F64') {
    const out = new Float32Array(bytes.byteLength / FLOAT_BYTES[dtype]);
    decodeFloatsInto(dtype, bytes, 0, out.length, out);
    return out;
  }
  return Float32Array.from(toNumbers(dtype, bytes));
}

/**
 * Decodes integer dtypes (I64, I32, I16, I8, U8, U16, U32, BOOL) to an Int32Array. A value that is not
 * an int32 (a U32 or I64 past 2^31, a fraction) is an error naming it, not wrapped or truncated.
 */
export function toInt32(dtype: Dtype, bytes: Uint8Array): Int32Array {
  checkWhole('toInt32', dtype, bytes);
  const values = toNumbers(dtype, bytes);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if ((v | 0) !== v) throw new SafetensorsError(`toInt32: ${dtype} element ${i} is ${v}, not an int32`);
  }
  return Int32Array.from(values);
}

/** Throws unless `bytes` holds a whole number of `dtype` elements (of a dtype these functions know). */
function checkWhole(fn: string, dtype: Dtype, bytes: Uint8Array): void {
  const bits = DTYPE_BITS[dtype];
  if (bits !== undefined && (bytes.byteLength * 8) % bits !== 0) {
    throw new SafetensorsError(`${fn}: ${bytes.byteLength} bytes are not a whole number of ${dtype} elements (${bits / 8} bytes each)`);
  }
}

function toNumbers(dtype: Dtype, bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const get: Partial<Record<Dtype, [number, (o: number) => number]>> = {
    I64: [8, (o) => Number(view.getBigInt64(o, true))],
    U64: [8, (o) => Number(view.getBigUint64(o, true))],
    I32: [4, (o) => view.getInt32(o, true)],
    U32: [4, (o) => view.getUint32(o, true)],
    I16: [2, (o) => view.getInt16(o, true)],
    U16: [2, (o) => view.getUint16(o, true)],
    I8: [1, (o) => view.getInt8(o)],
    U8: [1, (o) => view.getUint8(o)],
    BOOL: [1, (o) => view.getUint8(o)],
    F32: [4, (o) => view.getFloat32(o, true)],
    F64: [8, (o) => view.getFloat64(o, true)],
  };
  const entry = get[dtype];
  if (!entry) throw new SafetensorsError(`cannot convert ${dtype} to numbers`);
  const [size, read] = entry;
  const out = new Array<number>(bytes.byteLength / size);
  for (let i = 0; i < out.length; i++) out[i] = read(i * size);
  return out;
}

/** float32 → bfloat16 bits with round-to-nearest-even (what PyTorch's `.to(torch.bfloat16)` does). */
export function float32ToBf16Bits(values: Float32Array): Uint16Array {
  const u = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = u[i]!;
    if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) {
      out[i] = (x >>> 16) | 0x40; // quiet NaN
      continue;
    }
    out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

/**
 * float32 → IEEE half bits with round-to-nearest-even (what PyTorch's `.to(torch.float16)` does):
 * values past 65504 round to ±Infinity, tiny ones to subnormals or ±0, NaN stays a quiet NaN.
 */
export function float32ToF16Bits(values: Float32Array): Uint16Array {
  const u = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = u[i]!;
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    const mant = x & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0); // Inf, or a quiet NaN
      continue;
    }
    const e = exp - 127 + 15; // the half's biased exponent
    if (e >= 31) {
      out[i] = sign | 0x7c00; // overflow → Infinity
      continue;
    }
    if (e <= 0) {
      // Subnormal half (or 0): the 24-bit significand shifted right by 14 - e, rounded to nearest even.
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      const m = mant | 0x800000;
      const shift = 14 - e;
      const half = 1 << (shift - 1);
      const rest = m & ((1 << shift) - 1);
      let h = m >>> shift;
      if (rest > half || (rest === half && h & 1)) h++;
      out[i] = sign | h;
      continue;
    }
    // Normal: keep 10 mantissa bits, round to nearest even (a carry into the exponent is right, up to Infinity).
    const rest = mant & 0x1fff;
    let h = (e << 10) | (mant >>> 13);
    if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++;
    out[i] = sign | h;
  }
  return out;
}
