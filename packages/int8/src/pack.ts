/**
 * Four int8 values per int32 word, little-endian within the word: byte `k` of word `j`
 * (bits 8k..8k+7) holds element `4j + k`. A row of `inFeatures` values takes
 * `ceil(inFeatures / 4)` words; the padding bytes at the end of a row are 0.
 */

/** Words per packed row: `ceil(inFeatures / 4)`. */
export function packedWidth(inFeatures: number): number {
  return Math.ceil(inFeatures / 4);
}

/** The signed byte `k` (0..3) of a packed word. */
export function unpackByte(word: number, k: number): number {
  return (word << (24 - 8 * k)) >> 24;
}

/** Packs int8 values `[rows, cols]` (row-major, each in -128..127) into int32 words `[rows, ceil(cols/4)]`. */
export function packInt8(values: Int8Array | ArrayLike<number>, rows: number, cols: number): Int32Array {
  if (values.length !== rows * cols) {
    throw new Error(`packInt8: expected ${rows}×${cols} = ${rows * cols} values, got ${values.length}`);
  }
  const width = packedWidth(cols);
  const out = new Int32Array(rows * width);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = values[r * cols + c] as number;
      if (!(v >= -128 && v <= 127) || !Number.isInteger(v)) {
        throw new Error(`packInt8: value ${v} at [${r}, ${c}] is not an int8`);
      }
      const j = r * width + (c >> 2);
      out[j] = (out[j] as number) | ((v & 0xff) << (8 * (c & 3)));
    }
  }
  return out;
}

/** Unpacks `[rows, ceil(cols/4)]` int32 words into int8 values `[rows, cols]`. */
export function unpackInt8(packed: Int32Array, rows: number, cols: number): Int8Array {
  const width = packedWidth(cols);
  if (packed.length !== rows * width) {
    throw new Error(`unpackInt8: expected ${rows}×${width} words for ${rows}×${cols} values, got ${packed.length}`);
  }
  const out = new Int8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      out[r * cols + c] = unpackByte(packed[r * width + (c >> 2)] as number, c & 3);
    }
  }
  return out;
}

const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * A byte view of packed words: on little-endian hosts (every platform tfjs runs on) element
 * `[r, c]` is `view[r * 4 * width + c]` without copying; elsewhere an unpacked copy with the
 * same layout (rows padded to `4 * width`).
 */
export function packedBytes(packed: Int32Array): Int8Array {
  if (littleEndian) return new Int8Array(packed.buffer, packed.byteOffset, packed.length * 4);
  const out = new Int8Array(packed.length * 4);
  for (let j = 0; j < packed.length; j++) {
    for (let k = 0; k < 4; k++) out[4 * j + k] = unpackByte(packed[j] as number, k);
  }
  return out;
}
