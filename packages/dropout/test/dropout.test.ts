import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { bits24, Dropout, dropout, dropoutAttrs, dropoutByHostMask, fmix32, keyOf } from '../src/index';
import { fmix32Ref, maskRef, randn } from './helpers';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('the generator', () => {
  it('fmix32 equals a BigInt reference, and MurmurHash3 fmix32(1) = 0x514e28b7', () => {
    expect(fmix32(1)).toBe(0x514e28b7);
    for (const v of [0, 1, 2, 0x7fffffff, 0x80000000, 0xffffffff, 123456789, -5]) expect(fmix32(v >>> 0), String(v)).toBe(fmix32Ref(v));
  });

  it('bits24 is uniform enough: mean, a 16-bin histogram, and lag-1 correlation', () => {
    const key = keyOf(7);
    const n = 1 << 18;
    const bins = new Array(16).fill(0);
    let sum = 0;
    let lag = 0;
    let prev = bits24(key, 0) / 2 ** 24;
    for (let i = 0; i < n; i++) {
      const u = bits24(key, i) / 2 ** 24;
      sum += u;
      bins[Math.floor(u * 16)]++;
      if (i > 0) lag += (u - 0.5) * (prev - 0.5);
      prev = u;
    }
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(3e-3);
    const chi2 = bins.reduce((a, b) => a + (b - n / 16) ** 2 / (n / 16), 0);
    expect(chi2).toBeLessThan(40); // 15 degrees of freedom: p ≈ 5e-4
    expect(Math.abs(lag / n / (1 / 12))).toBeLessThan(0.01);
  });
});

describe('dropout on cpu (the host path)', () => {
  it('equals the reference mask times x; keeps 1 − rate of the elements; same seed, same mask; no leaks', () => {
    const n = 200_000;
    const xv = randn(n, 1);
    const x = tf.tensor1d(xv);
    const before = tf.memory().numTensors;
    const y = dropout(x, 0.1, 42);
    const v = y.dataSync();
    const ref = maskRef(n, 0.1, 42);
    let kept = 0;
    for (let i = 0; i < n; i++) {
      expect(v[i]).toBe(Math.fround((xv[i] as number) * (ref[i] as number)));
      if (ref[i] !== 0) kept++;
    }
    expect(Math.abs(kept / n - 0.9)).toBeLessThan(0.004); // 6 σ
    const again = dropout(x, 0.1, 42);
    expect(Array.from(again.dataSync())).toEqual(Array.from(v));
    const otherT = dropout(x, 0.1, 43);
    const other = otherT.dataSync();
    otherT.dispose();
    let same = 0;
    for (let i = 0; i < n; i++) if ((other[i] === 0) === (v[i] === 0)) same++;
    expect(Math.abs(same / n - 0.82)).toBeLessThan(0.01); // independent masks agree on 0.9² + 0.1²
    tf.dispose([y, again]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('its gradient is the same mask (drawn again), and shapes > 1-D index the flat elements', () => {
    const [a, b] = [3, 70];
    const x = tf.tensor2d(randn(a * b, 2), [a, b]);
    const w = tf.tensor2d(randn(a * b, 3), [a, b]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(dropout(t, 0.3, 9), w)))(x);
    const ref = maskRef(a * b, 0.3, 9);
    const wv = w.dataSync();
    const gv = g.dataSync();
    for (let i = 0; i < a * b; i++) expect(gv[i]).toBe(Math.fround((wv[i] as number) * (ref[i] as number)));
    tf.dispose([x, w, g]);
  });

  it('runs as one ConiferDropout kernel on cpu; the tf.mul fallback for other backends gives the same numbers', async () => {
    const xv = randn(3000, 8);
    const x = tf.tensor2d(xv, [30, 100]);
    const prof = await tf.profile(() => dropout(x, 0.2, 5));
    expect(prof.kernels.map((k) => k.name)).toEqual([Dropout]);
    const fallback = dropoutByHostMask(x, dropoutAttrs(0.2, 5));
    expect(Array.from(await fallback.data())).toEqual(Array.from(await (prof.result as tf.Tensor).data()));
    const g = tf.grad((t: tf.Tensor) => dropoutByHostMask(t, dropoutAttrs(0.2, 5)))(x); // Multiply's gradient: the mask again
    const gk = tf.grad((t: tf.Tensor) => dropout(t, 0.2, 5))(x);
    expect(Array.from(await g.data())).toEqual(Array.from(await gk.data()));
    tf.dispose([g, gk]);
    tf.dispose([x, fallback, prof.result as tf.Tensor]);
  });

  it('rate 0 is the identity (the same tensor); bad arguments are one clear error', () => {
    const x = tf.tensor1d([1, 2, 3]);
    expect(dropout(x, 0, 1)).toBe(x);
    expect(() => dropout(x, 1, 1)).toThrow(/rate must be in \[0, 1\), got 1/);
    expect(() => dropout(x, -0.1, 1)).toThrow(/rate must be in \[0, 1\)/);
    expect(() => dropout(x, 0.1, 1.5)).toThrow(/seed must be an integer/);
    expect(() => dropout(tf.tensor1d([1], 'int32'), 0.1, 1)).toThrow(/x must be float32, got int32/);
    x.dispose();
  });

  it('wasm gives the same numbers as cpu (negative seeds are taken mod 2³²)', async () => {
    const xv = randn(5000, 4);
    const cpu = dropout(tf.tensor1d(xv), 0.25, -17).dataSync();
    await tf.setBackend('wasm');
    try {
      const wasm = dropout(tf.tensor1d(xv), 0.25, (-17 >>> 0)).dataSync();
      expect(Array.from(wasm)).toEqual(Array.from(cpu));
    } finally {
      await tf.setBackend('cpu');
    }
  });
});
