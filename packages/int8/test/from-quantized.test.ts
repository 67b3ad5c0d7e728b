// Int8Linear.fromQuantized checks what it wraps as quantizeFloat32 / fromBitsAndBytes would have made it:
// a positive integer shape and each row's scale a finite absmax / 127 ≥ 0 (a NaN or negative scale would
// otherwise only show later as NaN or sign-flipped outputs), before allocating anything.
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { dequantizeFloat32, Int8Linear, quantizeFloat32 } from '../src/index';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('Int8Linear.fromQuantized refuses what no quantizer makes, naming it', () => {
  const q = quantizeFloat32(Float32Array.from({ length: 12 }, (_, i) => i - 5.5), 3, 4);

  it('a NaN, infinite or negative scale names the row and the value; nothing is allocated', () => {
    const before = tf.memory().numTensors;
    for (const [r, v] of [[0, Number.NaN], [2, Number.POSITIVE_INFINITY], [1, -0.5]] as const) {
      const scale = Float32Array.from(q.scale);
      scale[r] = v;
      expect(() => Int8Linear.fromQuantized({ ...q, scale })).toThrow(`Int8Linear.fromQuantized: scale[${r}] = ${v} is not a finite absmax / 127 ≥ 0`);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('an empty or fractional shape is refused as quantizeFloat32 refuses it', () => {
    const before = tf.memory().numTensors;
    expect(() => Int8Linear.fromQuantized({ packed: new Int32Array(0), scale: new Float32Array(0), outFeatures: 0, inFeatures: 4 })).toThrow('Int8Linear.fromQuantized: invalid shape [0, 4]');
    expect(() => Int8Linear.fromQuantized({ ...q, inFeatures: 3.5 })).toThrow('Int8Linear.fromQuantized: invalid shape [3, 3.5]');
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a valid weight, an all-zero row (scale 0) included, wraps and dequantizes as quantized', async () => {
    const z = quantizeFloat32(new Float32Array([1, -2, 0, 0, 0, 0]), 2, 3);
    const before = tf.memory().numTensors;
    const layer = Int8Linear.fromQuantized(z);
    const w = layer.dequantize();
    expect(Array.from(await w.data())).toEqual(Array.from(dequantizeFloat32(z)));
    expect(Array.from(z.scale.slice(1))).toEqual([0]);
    tf.dispose(w);
    layer.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
