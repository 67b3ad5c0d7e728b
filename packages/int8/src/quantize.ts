import { decodeInto, bytesPerElement, checkWeightBytes, type WeightData } from './decode';
import { packedBytes, packedWidth } from './pack';

/** A weight `[outFeatures, inFeatures]` quantized per output row: `w[r, c] ≈ q[r, c] · scale[r]`. */
export interface QuantizedWeight {
  /** int8 values, four per word: `[outFeatures, ceil(inFeatures / 4)]` row-major (see pack.ts). */
  packed: Int32Array;
  /** Dequantization multiplier per row, `absmax_row / 127` (0 for an all-zero row): `[outFeatures]`. */
  scale: Float32Array;
  outFeatures: number;
  inFeatures: number;
  /** Optional: bitsandbytes' row absmax as an 8-bit checkpoint stored it (`scale = SCB / 127`), kept so it saves back unchanged. */
  SCB?: Float32Array;
}

/** Round half away from zero (the same rule the WGSL kernels use). */
export function roundHalfAway(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

/**
 * Quantizes one row `q = round(w · 127 / absmax)` into `bytes[offset ..]`; returns the row's scale
 * `absmax / 127`. Throws on a non-finite weight, naming `where`.
 */
export function quantizeRowInto(row: Float32Array, bytes: Int8Array, offset: number, where: () => string): number {
  let absmax = 0;
  for (let c = 0; c < row.length; c++) {
    const a = Math.abs(row[c] as number);
    if (!(a <= Number.MAX_VALUE)) throw new Error(`non-finite weight ${row[c]} at ${where()}, column ${c}`);
    if (a > absmax) absmax = a;
  }
  if (absmax === 0) return 0; // the row's bytes stay 0
  const f = 127 / absmax;
  for (let c = 0; c < row.length; c++) bytes[offset + c] = roundHalfAway((row[c] as number) * f);
  return absmax / 127;
}

/** Quantizes a float32 weight `[outFeatures, inFeatures]` (row-major). */
export function quantizeFloat32(weight: Float32Array, outFeatures: number, inFeatures: number): QuantizedWeight {
  if (weight.length !== outFeatures * inFeatures) {
    throw new Error(`quantize: weight has ${weight.length} values, expected [${outFeatures}, ${inFeatures}] = ${outFeatures * inFeatures}`);
  }
  return quantizeRows(outFeatures, inFeatures, (r, row) => row.set(weight.subarray(r * inFeatures, (r + 1) * inFeatures)));
}

/**
 * Quantizes a checkpoint tensor straight from its bytes (F32/F16/BF16, any byte offset), one
 * row at a time: never more than one float32 row is held besides the packed result.
 */
export function quantizeWeightData(weight: WeightData, name = 'weight'): QuantizedWeight {
  bytesPerElement(weight.dtype); // an unsupported dtype is refused before the shape
  if (weight.shape.length !== 2) throw new Error(`${name}: expected a 2-D weight [out, in], got shape [${weight.shape.join(', ')}]`);
  const [outFeatures, inFeatures] = weight.shape as [number, number];
  checkWeightBytes(weight, name);
  return quantizeRows(outFeatures, inFeatures, (r, row) => decodeInto(weight, r * inFeatures, inFeatures, row), name);
}

function quantizeRows(outFeatures: number, inFeatures: number, readRow: (r: number, row: Float32Array) => void, name = 'weight'): QuantizedWeight {
  if (!(Number.isInteger(outFeatures) && outFeatures > 0 && Number.isInteger(inFeatures) && inFeatures > 0)) {
    throw new Error(`${name}: invalid shape [${outFeatures}, ${inFeatures}]`);
  }
  const width = packedWidth(inFeatures);
  const packed = new Int32Array(outFeatures * width);
  const bytes = packedBytes(packed);
  const direct = bytes.buffer === packed.buffer;
  const scale = new Float32Array(outFeatures);
  const row = new Float32Array(inFeatures);
  const rowBytes = direct ? bytes : new Int8Array(inFeatures);
  for (let r = 0; r < outFeatures; r++) {
    readRow(r, row);
    const offset = direct ? r * 4 * width : 0;
    scale[r] = quantizeRowInto(row, rowBytes, offset, () => `${name} row ${r}`);
    if (!direct) {
      for (let c = 0; c < inFeatures; c++) {
        const j = r * width + (c >> 2);
        packed[j] = (packed[j] as number) | (((rowBytes[c] as number) & 0xff) << (8 * (c & 3)));
      }
      rowBytes.fill(0);
    }
  }
  return { packed, scale, outFeatures, inFeatures };
}

/** Float32 weight `[outFeatures, inFeatures]` from its quantized form (`q · scale`). */
export function dequantizeFloat32(q: QuantizedWeight): Float32Array {
  const out = new Float32Array(q.outFeatures * q.inFeatures);
  dequantizeInto(q.packed, q.scale, q.outFeatures, q.inFeatures, out, false);
  return out;
}

/**
 * Writes `q · scale` for columns `[c0, c0 + kc)` (c0 a multiple of 4) into `out`, as `[out, kc]`
 * or, when `transposed`, as `[kc, out]`. `scale: null` writes the int8 values themselves.
 * Reads whole words (four values per load); the transposed layout is written in 32-row tiles.
 */
export function dequantizeInto(
  packed: Int32Array, scale: Float32Array | null, outFeatures: number, inFeatures: number,
  out: Float32Array, transposed: boolean, c0 = 0, kc = inFeatures - c0,
): void {
  if (c0 % 4 !== 0) throw new Error(`dequantizeInto: c0 must be a multiple of 4, got ${c0}`);
  const KW = packedWidth(inFeatures);
  const j0 = c0 >> 2;
  const full = kc >> 2; // whole words in the block
  const rem = kc & 3;
  const N = outFeatures;
  if (!transposed) {
    for (let r = 0; r < N; r++) {
      const s = scale ? (scale[r] as number) : 1;
      const b = r * KW + j0;
      let o = r * kc;
      for (let j = 0; j < full; j++) {
        const w = packed[b + j] as number;
        out[o++] = ((w << 24) >> 24) * s;
        out[o++] = ((w << 16) >> 24) * s;
        out[o++] = ((w << 8) >> 24) * s;
        out[o++] = (w >> 24) * s;
      }
      if (rem) {
        const w = packed[b + full] as number;
        for (let t = 0; t < rem; t++) out[o++] = ((w << (24 - 8 * t)) >> 24) * s;
      }
    }
    return;
  }
  const T = 32;
  for (let r0 = 0; r0 < N; r0 += T) {
    const r1 = Math.min(r0 + T, N);
    for (let q0 = 0; q0 < full; q0 += T / 4) {
      const q1 = Math.min(q0 + T / 4, full);
      for (let r = r0; r < r1; r++) {
        const s = scale ? (scale[r] as number) : 1;
        const b = r * KW + j0;
        for (let j = q0; j < q1; j++) {
          const w = packed[b + j] as number;
          let o = 4 * j * N + r;
          out[o] = ((w << 24) >> 24) * s;
          o += N;
          out[o] = ((w << 16) >> 24) * s;
          o += N;
          out[o] = ((w << 8) >> 24) * s;
          o += N;
          out[o] = (w >> 24) * s;
        }
      }
    }
    if (rem) {
      for (let r = r0; r < r1; r++) {
        const s = scale ? (scale[r] as number) : 1;
        const w = packed[r * KW + j0 + full] as number;
        for (let t = 0; t < rem; t++) out[(4 * full + t) * N + r] = ((w << (24 - 8 * t)) >> 24) * s;
      }
    }
  }
}
