/**
 * Every dtype of the Rust crate's `Dtype` enum (safetensors/src/tensor.rs), in its declaration order —
 * the enum's `Ord`, "increasing alignment", by which `prepare` lays tensors out (descending) — with its
 * size in bits (`Dtype::bitsize`). The two FNUZ float8s (ROCm's `torch.float8_e4m3fnuz` /
 * `float8_e5m2fnuz`) came last to the enum, between F8_E8M0 and I16.
 */
export const DTYPE_BITS = {
  BOOL: 8,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  F8_E4M3FNUZ: 8,
  F8_E5M2FNUZ: 8,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  C64: 64,
  F64: 64,
  I64: 64,
  U64: 64,
} as const;

export type Dtype = keyof typeof DTYPE_BITS;

/** Bytes per element of each dtype (F4: 0.5, F6_E2M3 / F6_E3M2: 0.75). */
export const DTYPE_BYTES = Object.fromEntries(Object.entries(DTYPE_BITS).map(([d, bits]) => [d, bits / 8])) as { readonly [D in Dtype]: number };

/** Position of each dtype in the Rust enum (its `Ord`). */
export const DTYPE_RANK = Object.fromEntries(Object.keys(DTYPE_BITS).map((d, i) => [d, i])) as { readonly [D in Dtype]: number };

export function isDtype(value: unknown): value is Dtype {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BITS, value);
}

/** Number of elements of a shape (1 for a scalar `[]`). */
export function numElements(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

const U64_MAX = (1n << 64n) - 1n;

/** Why {@link checkedByteSize} refused a shape. */
export type ByteSizeError = 'overflow' | 'misaligned';

/**
 * The exact byte size of `dtype` × `shape` as the Rust reference checks it (`Metadata::validate`: the
 * element count folded over the dimensions in order with `checked_mul` on a u64, times `bitsize` with
 * `checked_mul`, which must be a whole number of bytes) — a number, or a bigint past 2^53 — or why not:
 * `'overflow'` (`ValidationOverflow`) or `'misaligned'` (`MisalignedSlice`: an odd number of F4, say).
 * `shape` holds non-negative integers (numbers, or bigints for dimensions past 2^53).
 */
export function checkedByteSize(dtype: Dtype, shape: readonly (number | bigint)[]): number | bigint | ByteSizeError {
  let n = 1;
  for (const d of shape) {
    // Exact while the product stays a safe integer (a larger true product rounds to a larger double).
    if (typeof d === 'bigint' || n * d > Number.MAX_SAFE_INTEGER) return checkedByteSizeBig(dtype, shape);
    n *= d;
  }
  const bits = n * DTYPE_BITS[dtype];
  if (bits > Number.MAX_SAFE_INTEGER) return checkedByteSizeBig(dtype, shape);
  return bits % 8 !== 0 ? 'misaligned' : bits / 8;
}

function checkedByteSizeBig(dtype: Dtype, shape: readonly (number | bigint)[]): number | bigint | ByteSizeError {
  let n = 1n;
  for (const d of shape) {
    n *= BigInt(d);
    if (n > U64_MAX) return 'overflow';
  }
  const bits = n * BigInt(DTYPE_BITS[dtype]);
  if (bits > U64_MAX) return 'overflow';
  if (bits % 8n !== 0n) return 'misaligned';
  const bytes = bits / 8n;
  return bytes <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(bytes) : bytes;
}

/** True for a list of non-negative safe integers (what a safetensors shape may hold). */
export function isShape(shape: unknown): shape is number[] {
  return Array.isArray(shape) && shape.every((d) => Number.isSafeInteger(d) && d >= 0);
}
