// truncatedSvd (src/truncated-svd.ts): the k largest singular triplets by subspace iteration, which
// addWeightedAdapter's pruned *_svd types use on large layers where PEFT takes U[:, :r], S[:r], Vh[:r]
// of torch.linalg.svd. The reference is the full SVD (thinSvd, one-sided Jacobi, tested in
// svd.test.ts) of the same matrix: the same singular values, vectors (sign convention included) and
// truncated product, on planted spectra — a clear gap, a rank below k, zero, and one so flat that the
// iteration cannot converge and must grow its block, then fall back to the full SVD.
import { describe, expect, it } from 'vitest';
import { matMul, thinQr, thinSvd } from '../src/svd.js';
import { truncatedSvd } from '../src/truncated-svd.js';
import { maxAbsDiff, randomValues } from './helpers.js';

/** U·diag(s)·Vᵀ [rows, cols] with orthonormal U, V of s.length columns (seeded), plus `noise`·random. */
function planted(rows: number, cols: number, s: number[], seed: number, noise = 0): Float64Array {
  const k = s.length;
  const u = thinQr(randomValues(rows * k, seed), rows, k).q;
  const v = thinQr(randomValues(cols * k, seed + 1), cols, k).q;
  const us = u.map((x, i) => x * s[i % k]!);
  const vt = new Float64Array(k * cols);
  for (let i = 0; i < cols; i++) for (let j = 0; j < k; j++) vt[j * cols + i] = v[i * k + j]!;
  const e = randomValues(rows * cols, seed + 2);
  return matMul(us, vt, rows, k, cols).map((x, i) => x + noise * e[i]!);
}
/** The first k columns of X [n, width]. */
const columns = (x: Float64Array, n: number, width: number, k: number) => Float64Array.from({ length: n * k }, (_, i) => x[Math.floor(i / k) * width + (i % k)]!);
/** Expects truncatedSvd(M, k) to be the first k triplets of thinSvd(M): values, vectors, product. */
function expectTruncationOfFullSvd(m: Float64Array, rows: number, cols: number, k: number, vectorTol: number) {
  const full = thinSvd(m, rows, cols);
  const got = truncatedSvd(m, rows, cols, k);
  expect([got.k, got.rows, got.cols]).toEqual([k, rows, cols]);
  expect(maxAbsDiff(got.s, full.s.slice(0, k))).toBeLessThan(1e-12 * full.s[0]!);
  expect(maxAbsDiff(got.u, columns(full.u, rows, full.k, k))).toBeLessThan(vectorTol);
  expect(maxAbsDiff(got.v, columns(full.v, cols, full.k, k))).toBeLessThan(vectorTol);
  // thinSvd's sign convention: each column of V has its entry of largest magnitude positive
  for (let j = 0; j < k; j++) {
    const col = Array.from({ length: cols }, (_, i) => got.v[i * k + j]!);
    expect(col.reduce((best, x) => (Math.abs(x) > Math.abs(best) ? x : best), 0), `column ${j}`).toBeGreaterThan(0);
  }
}

describe('truncatedSvd: the k largest triplets of the full SVD', () => {
  it('a gap after the dominant part (a merged adapter delta + pruning noise): values, vectors with thinSvd’s signs', () => {
    // σ 10, 7, 5, 3, 2.9, 1 + noise 0.01: k = 4 keeps 3 against 2.9 (a gap of 0.1, vectors to ~1e-10)
    const m = planted(120, 96, [10, 7, 5, 3, 2.9, 1], 11, 0.01);
    expectTruncationOfFullSvd(m, 120, 96, 4, 1e-9);
    expectTruncationOfFullSvd(Float64Array.from({ length: 96 * 120 }, (_, i) => m[(i % 120) * 96 + Math.floor(i / 120)]!), 96, 120, 4, 1e-9); // Mᵀ
    // a structured dense matrix, whose Ritz vectors come out with other signs than the convention's
    expectTruncationOfFullSvd(Float64Array.from({ length: 120 * 96 }, (_, i) => Math.sin(0.731 * i) + 0.1 * (i % 7)), 120, 96, 4, 1e-9);
  });

  it('a flat spectrum (σᵢ = 1 − 0.002·i) does not converge: the block doubles, then the full SVD answers', () => {
    const s = Array.from({ length: 100 }, (_, i) => 1 - 0.002 * i);
    expectTruncationOfFullSvd(planted(120, 100, s, 21), 120, 100, 2, 1e-9);
  });

  it('rank below k: the missing triplets are zero and the product is M; the zero matrix gives zeros', () => {
    const m = planted(100, 90, [4, 2], 31);
    const got = truncatedSvd(m, 100, 90, 3);
    expect(got.s[2]!).toBeLessThan(1e-13);
    const us = got.u.map((x, i) => x * got.s[i % 3]!);
    const vt = Float64Array.from({ length: 3 * 90 }, (_, i) => got.v[(i % 90) * 3 + Math.floor(i / 90)]!);
    expect(maxAbsDiff(matMul(us, vt, 100, 3, 90), m)).toBeLessThan(1e-13);
    const zero = truncatedSvd(new Float64Array(80 * 70), 80, 70, 3);
    expect([...zero.s, ...zero.u, ...zero.v].every((x) => x === 0)).toBe(true);
  });

  it('a block near min(rows, cols) goes to thinSvd directly; NaN and infinities are one clear error', () => {
    const m = planted(30, 20, [3, 2, 1], 41);
    const full = thinSvd(m, 30, 20);
    expect(truncatedSvd(m, 30, 20, 2).s).toEqual(full.s.slice(0, 2));
    const bad = planted(100, 90, [1], 51);
    bad[90 + 7] = Number.NaN;
    expect(() => truncatedSvd(bad, 100, 90, 2)).toThrow('LoRA: the matrix [100, 90] to decompose has a non-finite value (NaN) at [1, 7]');
    expect(() => truncatedSvd(m, 30, 20, 0)).toThrow(/positive integer k, got 0/);
  });
});
