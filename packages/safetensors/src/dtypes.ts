/** The safetensors dtype names and the bytes each element takes. */
export const DTYPE_BYTES = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
} as const;

export type Dtype = keyof typeof DTYPE_BYTES;

export function isDtype(value: unknown): value is Dtype {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BYTES, value);
}

/** Number of elements of a shape (1 for a scalar `[]`). */
export function numElements(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

const U64_MAX = (1n << 64n) - 1n;

/**
 * The byte size of `dtype` × `shape` as the Rust reference checks it (`Metadata::validate`: the
 * element count folded over the dimensions in order with `checked_mul` on a u64, then × the dtype
 * size), or `null` where that overflows. `shape` must hold non-negative safe integers.
 */
export function checkedByteSize(dtype: Dtype, shape: readonly number[]): number | null {
  let n = 1n;
  for (const d of shape) {
    n *= BigInt(d);
    if (n > U64_MAX) return null;
  }
  n *= BigInt(DTYPE_BYTES[dtype]);
  return n > U64_MAX ? null : Number(n);
}

/** True for a list of non-negative safe integers (what a safetensors shape may hold). */
export function isShape(shape: unknown): shape is number[] {
  return Array.isArray(shape) && shape.every((d) => Number.isSafeInteger(d) && d >= 0);
}
