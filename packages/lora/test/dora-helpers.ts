// Test helpers of the DoRA tests: the fixture (fixtures/dora/dora.json, from generate.py), a one-layer
// host, an 8-bit base that stores and dequantizes its weight as bitsandbytes does, and error measures.
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { FloatLinear, type Linear, type LinearHost } from '../src/index.js';
import { quantizeBnb } from './bnb-quantize.js';
import { fixture } from './helpers.js';

export interface DoraFixture {
  out: number;
  in: number;
  r: number;
  lora_alpha: number;
  n: number;
  scaling: number;
  scaling_rslora: number;
  dropout: number;
  dropout_seed: number;
  lora2_r: number;
  lora2_alpha: number;
  CB: number[];
  [k: string]: number | number[] | string;
}

export const dora = JSON.parse(readFileSync(fixture('dora/dora.json'), 'utf8')) as DoraFixture;
export const arr = (k: string) => Float32Array.from(dora[k] as number[]);
export const PATH = 'layers.0.q';

/** max |got − want| / max |want| */
export function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    num = Math.max(num, Math.abs(got[i]! - want[i]!));
    den = Math.max(den, Math.abs(want[i]!));
  }
  if (got.length !== want.length) return Infinity;
  return num / den;
}

/** The fixture's base W [24, 40] with its bias as a float linear. */
export const floatBase = () => FloatLinear.fromArray(arr('W'), dora.out, dora.in, arr('bias'));

/**
 * An 8-bit base as bitsandbytes' Linear8bitLt holds it: int8 CB [out, in] and SCB [out]; W = CB·SCB/127
 * (float32, `dequantize_bnb_weight`); `requantize` quantizes as `Int8Params` (what `@conifer/int8`'s
 * Int8Linear does, without depending on that package here).
 */
export class Bnb8bitLinear implements Linear {
  constructor(
    readonly CB: Int8Array,
    readonly SCB: Float32Array,
    readonly outFeatures: number,
    readonly inFeatures: number,
    readonly biasValues: Float32Array,
  ) {}
  static quantize(w: Float32Array, out: number, inF: number, bias: Float32Array): Bnb8bitLinear {
    const { CB, SCB } = quantizeBnb(w, out, inF);
    return new Bnb8bitLinear(CB, SCB, out, inF, bias);
  }
  weight(): Float32Array {
    const inv127 = Math.fround(1 / 127);
    return Float32Array.from(this.CB, (v, i) => Math.fround(Math.fround(v * this.SCB[Math.floor(i / this.inFeatures)]!) * inv127));
  }
  apply(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.add(tf.matMul(x, tf.tensor2d(this.weight(), [this.outFeatures, this.inFeatures]), false, true), tf.tensor1d(this.biasValues)));
  }
  dequantize(): tf.Tensor2D {
    return tf.tensor2d(this.weight(), [this.outFeatures, this.inFeatures]);
  }
  requantize(weight: Float32Array): Linear {
    return Bnb8bitLinear.quantize(weight, this.outFeatures, this.inFeatures, this.biasValues);
  }
}

/** A host with one linear at {@link PATH}. */
export class OneLayerHost implements LinearHost {
  constructor(public layer: Linear) {}
  listLinears(): Array<[string, Linear]> {
    return [[PATH, this.layer]];
  }
  replaceLinear(path: string, linear: Linear): void {
    if (path !== PATH) throw new Error(`no linear ${path}`);
    this.layer = linear;
  }
}
