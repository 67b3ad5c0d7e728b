import { DTYPE_RANK, type Dtype } from './dtypes.js';

/**
 * The order in which the Rust crate's `prepare` (so Python's `save_file`) lays tensors out: by dtype,
 * descending in the `Dtype` enum's order (U64, I64, F64, C64, F32, U32, I32, BF16, F16, U16, I16,
 * F8_E5M2FNUZ, F8_E4M3FNUZ, F8_E8M0, F8_E4M3, F8_E5M2, I8, U8, F6_E3M2, F6_E2M3, F4, BOOL), then by
 * name as Rust compares `String`s: by UTF-8 bytes, which is code point order.
 */
export function sortTensorsForSave<T extends { readonly name: string; readonly dtype: Dtype }>(tensors: readonly T[]): T[] {
  return [...tensors].sort((a, b) => (DTYPE_RANK[b.dtype] ?? -1) - (DTYPE_RANK[a.dtype] ?? -1) || compareCodePoints(a.name, b.name));
}

/**
 * Compares strings by code point (= UTF-8 byte order). JavaScript's `<` compares UTF-16 code units,
 * which differs only where a surrogate (a character past U+FFFF) meets a unit in U+E000–U+FFFF.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointKey(x) - codePointKey(y);
  }
  return a.length - b.length;
}

/** Moves surrogates above U+E000–U+FFFF, so that units compare as the code points they begin. */
function codePointKey(unit: number): number {
  return unit >= 0xd800 && unit <= 0xdfff ? unit + 0x2000 : unit >= 0xe000 ? unit - 0x800 : unit;
}
