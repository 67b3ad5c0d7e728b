/** Raw little-endian bytes of one checkpoint tensor (structural copy of docs/interfaces.md's `WeightData`). */
export interface WeightData {
  dtype: 'F32' | 'F16' | 'BF16';
  shape: number[];
  /** May be a view at any byte offset. */
  data: Uint8Array;
}

const BYTES: Record<WeightData['dtype'], number> = { F32: 4, F16: 2, BF16: 2 };

/** Bytes per element of a safetensors float dtype; throws on any other dtype. */
export function bytesPerElement(dtype: string): number {
  const n = (BYTES as Record<string, number>)[dtype];
  if (n === undefined) throw new Error(`unsupported weight dtype "${dtype}" (expected F32, F16 or BF16)`);
  return n;
}

/** IEEE half → number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * Decodes `count` elements starting at element `start` of `weight` into `out` (float32),
 * reading through a DataView so unaligned views work.
 */
export function decodeInto(weight: WeightData, start: number, count: number, out: Float32Array): void {
  const { data, dtype } = weight;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (dtype === 'F32') {
    for (let i = 0; i < count; i++) out[i] = view.getFloat32((start + i) * 4, true);
  } else if (dtype === 'BF16') {
    const u32 = new Uint32Array(out.buffer, out.byteOffset, count);
    for (let i = 0; i < count; i++) u32[i] = view.getUint16((start + i) * 2, true) << 16;
  } else if (dtype === 'F16') {
    for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16((start + i) * 2, true));
  } else {
    bytesPerElement(dtype);
  }
}
