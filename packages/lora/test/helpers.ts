import * as tf from '@tensorflow/tfjs-core';
import { fileURLToPath } from 'node:url';
import { readSafetensorsFile, toFloat32 } from '@conifer/safetensors';
import { FloatLinear, type Linear, type LinearHost, type LoraModel } from '../src/index.js';

export const fixture = (p: string) => fileURLToPath(new URL(`./fixtures/${p}`, import.meta.url));

/** Seeded uniform values in [-1, 1). */
export function randomValues(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** A linear over a frozen variable W [out, in] (trainable = false), to prove frozen weights get no gradient. */
export class FrozenVariableLinear implements Linear {
  readonly inFeatures: number;
  readonly outFeatures: number;
  constructor(readonly weight: tf.Variable<tf.Rank.R2>) {
    [this.outFeatures, this.inFeatures] = weight.shape;
  }
  apply(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.matMul(x, this.weight, false, true));
  }
  dequantize(): tf.Tensor2D {
    return tf.clone(this.weight);
  }
  dispose(): void {
    this.weight.dispose();
  }
}

/**
 * The two-layer fake host of the unit tests: x [.., 8] → layers.0.q (8→6) → relu → layers.1.v (6→4).
 * Base weights are frozen variables (trainable = false), so a gradient test proves they get none.
 * `x` is 2-D here ([N, 8]); FrozenVariableLinear does not reshape.
 */
export class TwoLayerHost implements LinearHost {
  readonly linears = new Map<string, Linear>();
  readonly baseWeights: tf.Variable[];

  constructor(seed = 1) {
    const w0 = tf.variable(tf.tensor2d(randomValues(48, seed), [6, 8]), false);
    const w1 = tf.variable(tf.tensor2d(randomValues(24, seed + 1), [4, 6]), false);
    this.baseWeights = [w0, w1];
    this.linears.set('layers.0.q', new FrozenVariableLinear(w0 as tf.Variable<tf.Rank.R2>));
    this.linears.set('layers.1.v', new FrozenVariableLinear(w1 as tf.Variable<tf.Rank.R2>));
  }

  listLinears(): Array<[string, Linear]> {
    return [...this.linears.entries()];
  }

  replaceLinear(path: string, linear: Linear): void {
    if (!this.linears.has(path)) throw new Error(`no linear ${path}`);
    this.linears.set(path, linear);
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.linears.get('layers.1.v')!.apply(tf.relu(this.linears.get('layers.0.q')!.apply(x))));
  }

  dispose(): void {
    for (const l of this.linears.values()) l.dispose?.();
  }
}

/** Every linear of a Hugging Face T5 checkpoint as a FloatLinear, by module path (no model code). */
export class CheckpointLinears implements LinearHost {
  readonly linears = new Map<string, Linear>();
  constructor(readonly total: number) {}

  static async open(file: string): Promise<CheckpointLinears> {
    const { tensors } = await readSafetensorsFile(file);
    let total = 0;
    for (const t of tensors.values()) total += t.shape.reduce((a, b) => a * b, 1);
    const host = new CheckpointLinears(total);
    for (const [name, t] of [...tensors.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (t.shape.length !== 2 || !name.endsWith('.weight') || name === 'shared.weight' || name.includes('relative_attention_bias')) continue;
      host.linears.set(name.slice(0, -'.weight'.length), FloatLinear.fromArray(toFloat32(t.dtype, t.data), t.shape[0]!, t.shape[1]!));
    }
    return host;
  }

  listLinears(): Array<[string, Linear]> {
    return [...this.linears.entries()];
  }
  replaceLinear(path: string, linear: Linear): void {
    this.linears.set(path, linear);
  }
  numParameters(): number {
    return this.total;
  }
  dispose(): void {
    for (const l of this.linears.values()) l.dispose?.();
  }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** ‖a − b‖ / ‖b‖ */
export function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

/** Each adapted layer's output on a fixed input ([5, 64]: ul2-tiny's layers), with the active adapters. */
export function layerOutputs(lora: LoraModel): Map<string, Float32Array> {
  const x = tf.randomNormal([5, 64], 0, 1, 'float32', 11);
  const out = new Map<string, Float32Array>();
  for (const [path, l] of lora.layers) {
    const y = l.apply(x);
    out.set(path, y.dataSync().slice() as Float32Array);
    y.dispose();
  }
  x.dispose();
  return out;
}

/** A LinearHost over a path → linear map: test hosts fill `linears` in their constructor. */
export class MapHost implements LinearHost {
  readonly linears = new Map<string, Linear>();
  listLinears(): Array<[string, Linear]> {
    return [...this.linears];
  }
  replaceLinear(path: string, linear: Linear): void {
    this.linears.set(path, linear);
  }
  dispose(): void {
    for (const l of this.linears.values()) l.dispose?.();
  }
}
