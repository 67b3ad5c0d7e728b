import { decodeFloatsInto } from '@conifer/safetensors';

export { halfToFloat } from '@conifer/safetensors';

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

/**
 * Decodes `count` elements starting at element `start` of `weight` into `out` (float32), through
 * `@conifer/safetensors`' decoder, so one row of a large weight needs only one row of floats.
 */
export function decodeInto(weight: WeightData, start: number, count: number, out: Float32Array): void {
  bytesPerElement(weight.dtype);
  decodeFloatsInto(weight.dtype, weight.data, start, count, out);
}
