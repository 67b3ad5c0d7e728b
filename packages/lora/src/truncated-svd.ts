/**
 * The k largest singular triplets of a dense M [rows, cols] (row-major, float64) without its full SVD:
 * what addWeightedAdapter's pruned `*_svd` types need (PEFT keeps `U[:, :r]`, `S[:r]`, `Vh[:r]` of
 * `torch.linalg.svd`). The full one-sided Jacobi ({@link thinSvd}) costs rows·cols·min(rows, cols)
 * per sweep — hours on Flan-UL2's 4096×4096 layers — while block subspace iteration with a
 * Rayleigh–Ritz step (Halko, Martinsson & Tropp 2011, algorithm 4.4 + 5.1) costs 4·rows·cols·b per
 * iteration for a block of b columns. It stops when every wanted triplet is a singular triplet to
 * working accuracy — ‖M·vᵢ − σᵢ·uᵢ‖ ≤ 1e-12·σ₁, with Mᵀ·uᵢ = σᵢ·vᵢ by construction — so the
 * result is the truncated SVD's, not an estimate. A slow spectrum doubles the block; small
 * matrices, or a k near min(rows, cols), go to {@link thinSvd} directly.
 */
import seedrandom from 'seedrandom';
import { type Svd, assertFinite, fixSigns, matMul, thinQr, thinSvd } from './svd.js';

/** Residual bound, relative to σ₁, below which a triplet counts as converged. */
const RESIDUAL_TOL = 1e-12;
/** Iterations with one block size before it is doubled. */
const ITERATIONS_PER_BLOCK = 40;

/** Options of {@link truncatedSvd}. */
export interface TruncatedSvdOptions {
  /** Columns of the iterated block (default max(2k, k + 10)); more converge in fewer iterations. */
  block?: number;
}

/** Mᵀ·Q for M [m, n] and Q [m, b], both row-major: [n, b]. */
function transposedTimes(m: ArrayLike<number>, q: Float64Array, rows: number, cols: number, b: number): Float64Array {
  const out = new Float64Array(cols * b);
  for (let i = 0; i < rows; i++) {
    for (let p = 0; p < cols; p++) {
      const x = m[i * cols + p]!;
      if (x === 0) continue;
      for (let j = 0; j < b; j++) out[p * b + j]! += x * q[i * b + j]!;
    }
  }
  return out;
}

/** The k largest singular triplets of M [rows, cols] (as {@link thinSvd}: descending, V's largest entry positive, zero vectors for σ = 0). */
export function truncatedSvd(m: ArrayLike<number>, rows: number, cols: number, k: number, options: TruncatedSvdOptions = {}): Svd {
  if (m.length !== rows * cols) throw new Error(`LoRA: SVD of [${rows}, ${cols}] got ${m.length} values`);
  if (!(Number.isInteger(k) && k > 0)) throw new Error(`LoRA: truncatedSvd needs a positive integer k, got ${k}`);
  const small = Math.min(rows, cols);
  let b = Math.min(small, Math.max(options.block ?? 0, 2 * k, k + 10));
  if (4 * b > small) return prefix(thinSvd(m, rows, cols), Math.min(k, small));
  assertFinite(m, `the matrix [${rows}, ${cols}] to decompose`, cols);
  // A fixed pseudo-random start: the same M gives the same result.
  const rng = seedrandom(`truncatedSvd:${rows}x${cols}:${k}`);
  const random = (n: number) => Float64Array.from({ length: n }, () => rng() * 2 - 1);
  let q = thinQr(matMul(m, random(cols * b), rows, cols, b), rows, b).q; // orth(M·Ω), [rows, b]
  for (;;) {
    for (let it = 0; it < ITERATIONS_PER_BLOCK; it++) {
      // Rayleigh–Ritz: Qᵀ·M = Yᵀ (Y = Mᵀ·Q [cols, b]) = Ub·S·Vbᵀ, so U = Q·Ub and V = Vb; then M·V,
      // which gives both the residuals and the next block.
      const y = thinSvd(transposedTimes(m, q, rows, cols, b), cols, b); // Y = Uy·S·Vyᵀ: Vb = Uy, Ub = Vy
      const u = matMul(q, y.v, rows, b, b); // [rows, b]
      const mv = matMul(m, y.u, rows, cols, b); // M·Vb, [rows, b]
      const limit = RESIDUAL_TOL * y.s[0]!;
      let converged = true;
      for (let j = 0; j < k && converged; j++) {
        let r2 = 0;
        for (let i = 0; i < rows; i++) r2 += (mv[i * b + j]! - y.s[j]! * u[i * b + j]!) ** 2;
        converged = Math.sqrt(r2) <= limit;
      }
      if (converged) {
        const out = prefix({ u, s: y.s, v: y.u, rows, cols, k: b }, k);
        fixSigns(out.u, out.v, rows, cols, k);
        return out;
      }
      q = thinQr(mv, rows, b).q;
    }
    // Not converged (singular values close to σ_k beyond the block): a larger block, or the full SVD.
    if (8 * b > small) return prefix(thinSvd(m, rows, cols), k);
    const grown = new Float64Array(rows * 2 * b);
    const extra = matMul(m, random(cols * b), rows, cols, b);
    for (let i = 0; i < rows; i++) {
      grown.set(q.subarray(i * b, (i + 1) * b), i * 2 * b);
      grown.set(extra.subarray(i * b, (i + 1) * b), i * 2 * b + b);
    }
    b *= 2;
    q = thinQr(grown, rows, b).q;
  }
}

/** The first k triplets of `svd`. */
function prefix(svd: Svd, k: number): Svd {
  if (k === svd.k) return svd;
  const { rows, cols } = svd;
  const u = new Float64Array(rows * k);
  const v = new Float64Array(cols * k);
  for (let i = 0; i < rows; i++) for (let j = 0; j < k; j++) u[i * k + j] = svd.u[i * svd.k + j]!;
  for (let i = 0; i < cols; i++) for (let j = 0; j < k; j++) v[i * k + j] = svd.v[i * svd.k + j]!;
  return { u, s: svd.s.slice(0, k), v, rows, cols, k };
}
