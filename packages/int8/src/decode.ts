import { decodeFloatsInto } from '@conifer/safetensors';

export { halfToFloat } from '@conifer/safetensors';

/** Raw little-endian bytes of one checkpoint tensor (structural copy of docs/interfaces.md's `WeightData`). */
export interface WeightData {
  dtype: 'F32' | 'F16' | 'BF16' | 'I8';
  shape: number[];
  /** May be a view at any byte offset. */
  data: Uint8Array;
  /** dtype `I8` only (an 8-bit checkpoint): bitsandbytes' per-row absmax `SCB` `[out]`; W ≈ data · SCB / 127. */
  SCB?: Float32Array;
}

const BYTES: Record<Exclude<WeightData['dtype'], 'I8'>, number> = { F32: 4, F16: 2, BF16: 2 };

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
  decodeFloatsInto(weight.dtype as Exclude<WeightData['dtype'], 'I8'>, weight.data, start, count, out);
}

/**
 * Throws unless `weight.data` holds exactly the bytes its float dtype and shape need (neither extra
 * nor missing), naming `name`; throws on a dtype other than F32/F16/BF16 first. Checks the bytes only:
 * callers check the rank with their own message.
 */
export function checkWeightBytes(weight: WeightData, name: string): void {
  const expected = weight.shape.reduce((n, d) => n * d, 1) * bytesPerElement(weight.dtype);
  if (weight.data.byteLength !== expected) {
    throw new Error(`${name}: ${weight.data.byteLength} bytes for ${weight.dtype} [${weight.shape.join(', ')}], expected ${expected}`);
  }
}

/** An `I8` checkpoint weight (with its `SCB`) in bitsandbytes' layout, checked. */
export function bitsAndBytesOf(weight: WeightData, name = 'weight'): { weight: Int8Array; SCB: Float32Array; outFeatures: number; inFeatures: number } {
  if (weight.dtype !== 'I8' || !weight.SCB) throw new Error(`${name}: not an 8-bit (I8 + SCB) weight`);
  if (weight.shape.length !== 2) throw new Error(`${name}: expected a 2-D weight [out, in], got shape [${weight.shape.join(', ')}]`);
  const [outFeatures, inFeatures] = weight.shape as [number, number];
  return { weight: new Int8Array(weight.data.buffer, weight.data.byteOffset, weight.data.byteLength), SCB: weight.SCB, outFeatures, inFeatures };
}
