// The host SVD behind addWeightedAdapter's *svd types (src/svd.ts, one-sided Jacobi): known
// singular values, reconstruction U·S·Vᵀ = M, orthonormal U and V, descending order, rank-deficient
// and wide matrices, the sign convention, and the low-rank path (QR + SVD of the core) against the
// SVD of the formed product.
import { describe, expect, it } from 'vitest';
import { type Svd, lowRankSvd, matMul, thinQr, thinSvd } from '../src/svd.js';
import { maxAbsDiff, randomValues } from './helpers.js';

/** U·diag(s)·Vᵀ */
const reconstruct = ({ u, s, v, rows, cols, k }: Svd) => {
  const us = Float64Array.from(u, (x, i) => x * s[i % k]!);
  const vt = new Float64Array(k * cols);
  for (let i = 0; i < cols; i++) for (let j = 0; j < k; j++) vt[j * cols + i] = v[i * k + j]!;
  return matMul(us, vt, rows, k, cols);
};
/** max |XᵀX − I| over the columns of X [n, k] whose singular value is non-zero */
const orthoError = (x: Float64Array, n: number, k: number, s: Float64Array) => {
  let worst = 0;
  for (let a = 0; a < k; a++) {
    for (let b = 0; b < k; b++) {
      if (s[a] === 0 || s[b] === 0) continue;
      let dot = 0;
      for (let i = 0; i < n; i++) dot += x[i * k + a]! * x[i * k + b]!;
      worst = Math.max(worst, Math.abs(dot - (a === b ? 1 : 0)));
    }
  }
  return worst;
};
const random = (n: number, seed: number) => Float64Array.from(randomValues(n, seed));

describe('thinSvd (one-sided Jacobi)', () => {
  it('known matrices: [[3, 0], [4, 5]] has singular values 3√5 and √5; a diagonal one its |entries|, sorted', () => {
    const a = thinSvd([3, 0, 4, 5], 2, 2);
    expect(a.s[0]).toBeCloseTo(3 * Math.sqrt(5), 13);
    expect(a.s[1]).toBeCloseTo(Math.sqrt(5), 13);
    expect(maxAbsDiff(reconstruct(a), [3, 0, 4, 5])).toBeLessThan(1e-13);
    const d = thinSvd([1, 0, 0, 0, -3, 0, 0, 0, 2], 3, 3);
    expect([...d.s]).toEqual([3, 2, 1]);
    // the sign convention: V's largest entry positive, so the −3 goes into U
    expect([...d.v]).toEqual([0, 0, 1, 1, 0, 0, 0, 1, 0]);
    expect([...d.u]).toEqual([0, 0, 1, -1, 0, 0, 0, 1, 0].map((x) => x + 0));
  });

  it.each([
    [7, 4],
    [4, 7],
    [6, 6],
    [1, 5],
    [5, 1],
  ])('random [%i, %i]: U·S·Vᵀ = M, U and V orthonormal, s descending', (rows, cols) => {
    const m = random(rows * cols, rows * 31 + cols);
    const svd = thinSvd(m, rows, cols);
    expect(svd.k).toBe(Math.min(rows, cols));
    expect(maxAbsDiff(reconstruct(svd), m)).toBeLessThan(1e-13);
    expect(orthoError(svd.u, rows, svd.k, svd.s)).toBeLessThan(1e-13);
    expect(orthoError(svd.v, cols, svd.k, svd.s)).toBeLessThan(1e-13);
    for (let i = 1; i < svd.k; i++) expect(svd.s[i]!).toBeLessThanOrEqual(svd.s[i - 1]!);
    // ‖M‖²_F = Σ σ²
    const fro = m.reduce((t, x) => t + x * x, 0);
    expect(svd.s.reduce((t, x) => t + x * x, 0)).toBeCloseTo(fro, 12);
  });

  it('rank-deficient: a rank-2 [6, 5] product has three zero singular values and is reconstructed', () => {
    const m = matMul(random(12, 3), random(10, 4), 6, 2, 5);
    const svd = thinSvd(m, 6, 5);
    expect(svd.s[1]!).toBeGreaterThan(1e-3);
    for (let i = 2; i < 5; i++) expect(svd.s[i]!).toBeLessThan(1e-12);
    expect(maxAbsDiff(reconstruct(svd), m)).toBeLessThan(1e-13);
  });

  it('rank-deficient cores (one adapter twice: factors [1.2·B, 0.6·B]·[A; A]) converge: numerically zero columns are left alone', () => {
    // Without that rule these cases rotated rounding noise for 80 sweeps and failed.
    for (const [n, r, seed] of [
      [10, 2, 18],
      [10, 2, 22],
      [12, 3, 3],
    ] as const) {
      const b1 = random(n * r, seed);
      const a1 = random(r * n, seed + 100);
      const b = new Float64Array(n * 2 * r);
      for (let i = 0; i < n; i++) for (let j = 0; j < r; j++) [b[i * 2 * r + j], b[i * 2 * r + j + r]] = [1.2 * b1[i * r + j]!, 0.6 * b1[i * r + j]!];
      const a = Float64Array.from([...a1, ...a1]);
      const low = lowRankSvd(b, a, n, 2 * r, n);
      expect(maxAbsDiff(reconstruct(low), matMul(b, a, n, 2 * r, n))).toBeLessThan(1e-13);
      expect(low.s[r]!).toBeLessThan(1e-12 * low.s[0]!);
    }
  });

  it('refuses a wrong number of values', () => {
    expect(() => thinSvd([1, 2, 3], 2, 2)).toThrow(/SVD of \[2, 2\] got 3 values/);
  });

  it('NaN and infinities are one clear error (Jacobi rotated NaNs for 80 sweeps, Infinity gave NaN factors)', () => {
    const m = random(12, 5);
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const x = Float64Array.from(m);
      x[7] = bad;
      expect(() => thinSvd(x, 3, 4)).toThrow(`LoRA: the matrix [3, 4] to decompose has a non-finite value (${bad}) at [1, 3]`);
      expect(() => lowRankSvd(x, random(16, 6), 6, 2, 8)).toThrow(`LoRA: the factor B [6, 2] to decompose has a non-finite value (${bad}) at [3, 1]`);
      expect(() => lowRankSvd(random(12, 6), x, 6, 2, 6)).toThrow(`LoRA: the factor A [2, 6] to decompose has a non-finite value (${bad}) at [1, 1]`);
    }
  });

  it('the zero matrix: zero singular values and zero vectors, at once', () => {
    const z = thinSvd(new Float64Array(5 * 4), 5, 4);
    expect([...z.s, ...z.u, ...z.v].every((x) => x === 0)).toBe(true);
  });

  it('ill-conditioned (σ from 1 down to 1e-11, rank 12 of [40, 30]): every σ to 1e-14 of σ₁, the rest zero, M rebuilt', () => {
    const sigma = Array.from({ length: 12 }, (_, i) => 10 ** -i);
    const u = thinQr(random(40 * 12, 12), 40, 12).q;
    const v = thinQr(random(30 * 12, 13), 30, 12).q;
    const m = reconstruct({ u, s: Float64Array.from(sigma), v, rows: 40, cols: 30, k: 12 });
    const svd = thinSvd(m, 40, 30);
    expect(maxAbsDiff(svd.s.slice(0, 12), sigma)).toBeLessThan(1e-14);
    expect(Math.max(...svd.s.slice(12))).toBeLessThan(1e-14);
    expect(maxAbsDiff(reconstruct(svd), m)).toBeLessThan(1e-14);
  });
});

describe('thinQr and lowRankSvd', () => {
  it('thinQr: Q·R = X, QᵀQ = I, R upper triangular', () => {
    const x = random(8 * 3, 9);
    const { q, r } = thinQr(x, 8, 3);
    expect(maxAbsDiff(matMul(q, r, 8, 3, 3), x)).toBeLessThan(1e-14);
    expect(orthoError(q, 8, 3, Float64Array.of(1, 1, 1))).toBeLessThan(1e-14);
    for (let i = 0; i < 3; i++) for (let j = 0; j < i; j++) expect(r[i * 3 + j]).toBe(0);
  });

  it('lowRankSvd(B, A) gives the singular values and the product of thinSvd(B·A)', () => {
    const b = random(9 * 3, 5);
    const a = random(3 * 7, 6);
    const low = lowRankSvd(b, a, 9, 3, 7);
    const full = thinSvd(matMul(b, a, 9, 3, 7), 9, 7);
    expect(low.k).toBe(3);
    expect(maxAbsDiff(low.s, full.s.slice(0, 3))).toBeLessThan(1e-13);
    expect(maxAbsDiff(reconstruct(low), matMul(b, a, 9, 3, 7))).toBeLessThan(1e-13);
    expect(orthoError(low.u, 9, 3, low.s)).toBeLessThan(1e-13);
    expect(orthoError(low.v, 7, 3, low.s)).toBeLessThan(1e-13);
    // same signs as the full SVD (the convention is applied to the full V)
    expect(maxAbsDiff(low.v, Float64Array.from({ length: 21 }, (_, i) => full.v[Math.floor(i / 3) * 7 + (i % 3)]!))).toBeLessThan(1e-12);
  });

  it('lowRankSvd with dependent columns (the same adapter twice) keeps the product', () => {
    const b1 = random(6 * 2, 7);
    const b = new Float64Array(6 * 4);
    for (let i = 0; i < 6; i++) for (let j = 0; j < 2; j++) b[i * 4 + j] = b[i * 4 + j + 2] = b1[i * 2 + j]!;
    const a1 = random(2 * 8, 8);
    const a = Float64Array.from([...a1, ...a1.map((x) => 0.5 * x)]);
    const low = lowRankSvd(b, a, 6, 4, 8);
    expect(low.s[2]!).toBeLessThan(1e-12);
    expect(maxAbsDiff(reconstruct(low), matMul(b, a, 6, 4, 8))).toBeLessThan(1e-13);
  });
});
