import { packInt8, packedWidth, unpackInt8 } from './pack';
import type { QuantizedWeight } from './quantize';

/**
 * A weight in bitsandbytes' 8-bit serialization (what `Linear8bitLt` saves and transformers'
 * `save_pretrained` writes for a model loaded in 8 bit): `weight` int8 `[out, in]` row-major (bnb's
 * `CB`) and `SCB` float32 `[out]`, each row's absmax, so `W ≈ CB · SCB / 127`. Our
 * {@link QuantizedWeight} is the same numbers with `scale = SCB / 127`.
 */
export interface BitsAndBytesInt8 {
  weight: Int8Array;
  SCB: Float32Array;
  outFeatures: number;
  inFeatures: number;
}

/** bitsandbytes' `int8_vectorwise_dequant` multiplier, `1 / 127` as it writes it. */
const INV127 = Math.fround(7.874015718698502e-3);

function checkSizes(w: { weight: ArrayLike<number>; SCB: ArrayLike<number>; outFeatures: number; inFeatures: number }, where: string): void {
  if (w.weight.length !== w.outFeatures * w.inFeatures || w.SCB.length !== w.outFeatures) {
    throw new Error(`${where}: weight has ${w.weight.length} values and SCB ${w.SCB.length}, expected [${w.outFeatures}, ${w.inFeatures}] and [${w.outFeatures}]`);
  }
  for (let r = 0; r < w.SCB.length; r++) {
    const s = w.SCB[r] as number;
    if (!(s >= 0 && s <= 3.4e38)) throw new Error(`${where}: SCB[${r}] = ${s} is not a finite absmax ≥ 0`);
  }
}

/** An 8-bit checkpoint weight as our packed form: the int8 values as they are, `scale = SCB / 127`. */
export function fromBitsAndBytes(w: BitsAndBytesInt8, where = 'weight'): QuantizedWeight {
  checkSizes(w, where);
  const scale = new Float32Array(w.outFeatures);
  for (let r = 0; r < w.outFeatures; r++) scale[r] = (w.SCB[r] as number) / 127;
  return { packed: packInt8(w.weight, w.outFeatures, w.inFeatures), scale, outFeatures: w.outFeatures, inFeatures: w.inFeatures, SCB: Float32Array.from(w.SCB) };
}

/** Our packed form in bitsandbytes' layout: the int8 values unpacked row-major, `SCB` as loaded when the weight came from bitsandbytes, else `scale · 127`. */
export function toBitsAndBytes(q: QuantizedWeight): BitsAndBytesInt8 {
  if (q.packed.length !== q.outFeatures * packedWidth(q.inFeatures) || q.scale.length !== q.outFeatures) {
    throw new Error(`toBitsAndBytes: packed/scale sizes do not match [${q.outFeatures}, ${q.inFeatures}]`);
  }
  const kept = q.SCB?.length === q.outFeatures ? q.SCB : null;
  const SCB = kept ? Float32Array.from(kept) : Float32Array.from(q.scale, (s) => s * 127);
  return { weight: unpackInt8(q.packed, q.outFeatures, q.inFeatures), SCB, outFeatures: q.outFeatures, inFeatures: q.inFeatures };
}

/** The float32 weight bitsandbytes computes from an 8-bit one: `(CB · SCB) · (1/127)`, in float32 as `int8_vectorwise_dequant`. */
export function dequantizeBitsAndBytes(w: BitsAndBytesInt8, where = 'weight'): Float32Array {
  checkSizes(w, where);
  const out = new Float32Array(w.outFeatures * w.inFeatures);
  for (let r = 0; r < w.outFeatures; r++) {
    const s = w.SCB[r] as number;
    for (let c = 0; c < w.inFeatures; c++) {
      const i = r * w.inFeatures + c;
      out[i] = Math.fround(Math.fround((w.weight[i] as number) * s) * INV127);
    }
  }
  return out;
}
