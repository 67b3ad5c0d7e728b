import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { hostUniformNoise, UniformNoise, uniformNoise, uniformNoiseAttrs } from '../src/index';
import { maskRef, noiseRef } from './helpers';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('uniformNoise on cpu and wasm (the host kernel)', () => {
  it('equals the BigInt reference bit for bit; one ConiferUniformNoise kernel; no leaks', async () => {
    const shape = [4, 50, 1000];
    const n = 200_000;
    const before = tf.memory().numTensors;
    const prof = await tf.profile(() => uniformNoise(shape, 0.37, 42));
    expect(prof.kernels.map((k) => k.name)).toEqual([UniformNoise]);
    const y = prof.result as tf.Tensor;
    expect(y.shape).toEqual(shape);
    expect(y.dtype).toBe('float32');
    const v = await y.data();
    const ref = noiseRef(n, 0.37, 42);
    let bad = 0;
    for (let i = 0; i < n; i++) if (v[i] !== ref[i]) bad++;
    expect(bad).toBe(0);
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('is bounded by the magnitude and spread over it: mean 0, variance m²/3, a 20-bin χ², lag-1 correlation, both ends reached', () => {
    const m = 0.0125;
    const n = 1 << 18;
    const v = hostUniformNoise(n, uniformNoiseAttrs([n], m, 7));
    const bins = new Array(20).fill(0);
    let [sum, sq, lag, lo, hi, out] = [0, 0, 0, m, -m, 0];
    for (let i = 0; i < n; i++) {
      const x = v[i] as number;
      if (!(Math.abs(x) <= Math.fround(m))) out++;
      sum += x;
      sq += x * x;
      if (i > 0) lag += x * (v[i - 1] as number);
      lo = Math.min(lo, x);
      hi = Math.max(hi, x);
      bins[Math.min(19, Math.floor(((x + m) / (2 * m)) * 20))]++;
    }
    expect(out).toBe(0);
    const sd = m / Math.sqrt(3);
    expect(Math.abs(sum / n)).toBeLessThan((6 * sd) / Math.sqrt(n)); // 6 σ of the mean
    expect(Math.abs(sq / n / (sd * sd) - 1)).toBeLessThan(0.02); // 0.8 of a uniform's variance would be 20 % off
    const chi2 = bins.reduce((a, b) => a + (b - n / 20) ** 2 / (n / 20), 0);
    expect(chi2).toBeLessThan(50); // 19 degrees of freedom: p ≈ 1e-4
    expect(Math.abs(lag / n / (sd * sd))).toBeLessThan(0.01);
    expect(lo).toBeLessThan(-0.999 * m); // the whole range is used
    expect(hi).toBeGreaterThan(0.999 * m);
  });

  it('same seed → same noise; another seed → independent noise; the noise does not follow the dropout mask of its seed', () => {
    const n = 100_000;
    const a = hostUniformNoise(n, uniformNoiseAttrs([n], 1, 5));
    const b = hostUniformNoise(n, uniformNoiseAttrs([n], 1, 5));
    const c = hostUniformNoise(n, uniformNoiseAttrs([n], 1, 6));
    expect(Array.from(b)).toEqual(Array.from(a));
    let corr = 0;
    for (let i = 0; i < n; i++) corr += (a[i] as number) * (c[i] as number);
    expect(Math.abs(corr / n / (1 / 3))).toBeLessThan(0.02); // independent: E[ab] = 0 (6 σ ≈ 0.019)
    // Had the noise used dropout's key, the elements a mask of the same seed drops would be those with small bits: |mean| ≈ 0.45.
    const mask = maskRef(n, 0.5, 5);
    let kept = 0;
    let keptSum = 0;
    for (let i = 0; i < n; i++) if (mask[i] !== 0) ((kept += 1), (keptSum += a[i] as number));
    expect(Math.abs(keptSum / kept)).toBeLessThan(0.02);
  });

  it('wasm gives the same bits as cpu; magnitude 0 gives zeros; an empty shape works', async () => {
    const cpu = uniformNoise([3, 333], 2.5, -9);
    const cv = Array.from(cpu.dataSync());
    cpu.dispose();
    await tf.setBackend('wasm');
    try {
      const w = uniformNoise([3, 333], 2.5, -9 >>> 0);
      expect(Array.from(w.dataSync())).toEqual(cv);
      w.dispose();
    } finally {
      await tf.setBackend('cpu');
    }
    const z = uniformNoise([10], 0, 1);
    expect(Array.from(z.dataSync()).every((x) => x === 0)).toBe(true);
    const e = uniformNoise([0, 4], 1, 1);
    expect(e.shape).toEqual([0, 4]);
    tf.dispose([z, e]);
  });

  it('bad arguments are one clear error, before anything is allocated', () => {
    const before = tf.memory().numTensors;
    expect(() => uniformNoise([2], -0.1, 1)).toThrow(/magnitude must be finite and ≥ 0, got -0.1/);
    expect(() => uniformNoise([2], Number.NaN, 1)).toThrow(/magnitude must be finite and ≥ 0, got NaN/);
    expect(() => uniformNoise([2], Infinity, 1)).toThrow(/magnitude must be finite and ≥ 0, got Infinity/);
    expect(() => uniformNoise([2], 1, 0.5)).toThrow(/seed must be an integer, got 0.5/);
    expect(() => uniformNoise([2, -1], 1, 1)).toThrow(/shape must be non-negative integers, got \[2, -1\]/);
    expect(tf.memory().numTensors).toBe(before);
  });
});
