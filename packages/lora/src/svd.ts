/**
 * A thin singular value decomposition on the host, in float64: one-sided Jacobi (Hestenes), which
 * orthogonalises the columns of a copy of the matrix by plane rotations until every pair is
 * orthogonal to working precision. Small and accurate (relative accuracy in the singular values);
 * its cost grows as rows · cols · min(rows, cols) per sweep, so large matrices known as a low-rank
 * product go through {@link lowRankSvd} instead, and the few largest triplets of a large dense one
 * through `truncatedSvd` (truncated-svd.ts).
 */

/** M ≈ U · diag(s) · Vᵀ with k triplets (k = min(rows, cols) for {@link thinSvd}: M exactly): `u` [rows, k], `v` [cols, k] row-major, `s` descending (>= 0). */
export interface Svd {
  u: Float64Array;
  s: Float64Array;
  v: Float64Array;
  rows: number;
  cols: number;
  k: number;
}

const EPS = 2 ** -52;
/** A pair of columns counts as orthogonal when |aᵀb| <= TOL·‖a‖·‖b‖. */
const TOL = 8 * EPS;
const MAX_SWEEPS = 80;

/**
 * One-sided Jacobi on W [m, n] (m >= n), held column by column (`w[j·m + i]` = W[i, j], so a column
 * is contiguous: 3× faster than row-major at n = 512), overwritten: returns W·J = U·diag(s) (columns
 * orthogonal) and J = V [n, n] (orthogonal), also column by column.
 */
function jacobiColumns(w: Float64Array, m: number, n: number): Float64Array {
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  // Columns below EPS·‖W‖_F are numerically zero (a rank-deficient W): rotating them against each
  // other only shuffles rounding noise and may never settle, so they are left alone.
  const negligible = EPS * EPS * w.reduce((t, x) => t + x * x, 0);
  for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      const wp = p * m;
      for (let q = p + 1; q < n; q++) {
        const wq = q * m;
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < m; i++) {
          const a = w[wp + i]!;
          const b = w[wq + i]!;
          alpha += a * a;
          beta += b * b;
          gamma += a * b;
        }
        if (gamma === 0 || Math.min(alpha, beta) <= negligible || Math.abs(gamma) <= TOL * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        // The rotation that zeroes the (p, q) entry of WᵀW (Golub & Van Loan, symmetric Schur).
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let i = 0; i < m; i++) {
          const a = w[wp + i]!;
          const b = w[wq + i]!;
          w[wp + i] = c * a - s * b;
          w[wq + i] = s * a + c * b;
        }
        for (let i = 0, vp = p * n, vq = q * n; i < n; i++) {
          const a = v[vp + i]!;
          const b = v[vq + i]!;
          v[vp + i] = c * a - s * b;
          v[vq + i] = s * a + c * b;
        }
      }
    }
    if (!rotated) return v;
  }
  throw new Error(`LoRA: the SVD (one-sided Jacobi) did not converge in ${MAX_SWEEPS} sweeps`);
}

/**
 * Throws one clear error when `values` holds a NaN or an infinity (an SVD of such a matrix is
 * undefined: Jacobi would rotate NaNs until its sweep limit, PyTorch's svd raises too).
 */
export function assertFinite(values: ArrayLike<number>, what: string, cols: number): void {
  const i = firstNonFinite(values);
  if (i >= 0) throw new Error(`LoRA: ${what} has a non-finite value (${values[i]}) at [${Math.floor(i / cols)}, ${i % cols}]`);
}

/** The index of the first NaN or infinity in `values`, or -1. */
export function firstNonFinite(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return i;
  return -1;
}

/**
 * Thin SVD of M [rows, cols] (row-major). Singular vectors of a zero singular value are left zero
 * (they multiply nothing). Signs: each pair (uᵢ, vᵢ) is flipped so that the entry of vᵢ of largest
 * magnitude (the first of equal ones) is positive, which makes the result deterministic. A NaN or
 * infinite entry is an error.
 */
export function thinSvd(m: ArrayLike<number>, rows: number, cols: number): Svd {
  if (m.length !== rows * cols) throw new Error(`LoRA: SVD of [${rows}, ${cols}] got ${m.length} values`);
  assertFinite(m, `the matrix [${rows}, ${cols}] to decompose`, cols);
  const tall = rows >= cols;
  const [mm, nn] = tall ? [rows, cols] : [cols, rows];
  // W = M (tall) or Mᵀ (wide), [mm, nn], column by column: w[j·mm + i] = W[i, j]
  const w = new Float64Array(mm * nn);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) w[tall ? j * rows + i : i * cols + j] = m[i * cols + j]!;
  const vw = jacobiColumns(w, mm, nn); // W·Vw = Uw·diag(s)
  const k = nn;
  const norms = Array.from({ length: k }, (_, j) => {
    let s = 0;
    for (let i = 0; i < mm; i++) s += w[j * mm + i]! ** 2;
    return Math.sqrt(s);
  });
  const order = Array.from(norms.keys()).sort((a, b) => norms[b]! - norms[a]! || a - b);
  // Uw [mm, k] = normalised columns of W; Vw [nn, k]. For M = W: U = Uw, V = Vw; for M = Wᵀ: U = Vw, V = Uw.
  const uw = new Float64Array(mm * k);
  const vv = new Float64Array(nn * k);
  const s = new Float64Array(k);
  for (const [c, j] of order.entries()) {
    const sigma = norms[j]!;
    s[c] = sigma;
    if (sigma === 0) continue;
    for (let i = 0; i < mm; i++) uw[i * k + c] = w[j * mm + i]! / sigma;
    for (let i = 0; i < nn; i++) vv[i * k + c] = vw[j * nn + i]!;
  }
  const [u, v] = tall ? [uw, vv] : [vv, uw];
  fixSigns(u, v, rows, cols, k);
  return { u, s, v, rows, cols, k };
}

/** Flips each pair (uᵢ, vᵢ) so that the entry of vᵢ of largest magnitude (the first of equal ones) is positive. */
export function fixSigns(u: Float64Array, v: Float64Array, rows: number, cols: number, k: number): void {
  for (let c = 0; c < k; c++) {
    let best = 0;
    for (let i = 0; i < cols; i++) if (Math.abs(v[i * k + c]!) > Math.abs(best)) best = v[i * k + c]!;
    if (best < 0) {
      for (let i = 0; i < cols; i++) v[i * k + c] = -v[i * k + c]!;
      for (let i = 0; i < rows; i++) u[i * k + c] = -u[i * k + c]!;
    }
  }
}

/**
 * Thin QR of X [m, n] (m >= n, row-major) by Householder reflections: Q [m, n] with orthonormal
 * columns and R [n, n] upper triangular, X = Q·R.
 */
export function thinQr(x: ArrayLike<number>, m: number, n: number): { q: Float64Array; r: Float64Array } {
  if (m < n) throw new Error(`LoRA: thin QR needs rows >= cols, got [${m}, ${n}]`);
  const a = Float64Array.from(x);
  const vs: Float64Array[] = [];
  for (let j = 0; j < n; j++) {
    let norm = 0;
    for (let i = j; i < m; i++) norm += a[i * n + j]! ** 2;
    norm = Math.sqrt(norm);
    const v = new Float64Array(m);
    if (norm > 0) {
      const alpha = a[j * n + j]! >= 0 ? -norm : norm;
      for (let i = j; i < m; i++) v[i] = a[i * n + j]!;
      v[j]! -= alpha;
      let vv = 0;
      for (let i = j; i < m; i++) vv += v[i]! ** 2;
      if (vv > 0) {
        for (let c = j; c < n; c++) {
          let dot = 0;
          for (let i = j; i < m; i++) dot += v[i]! * a[i * n + c]!;
          const f = (2 * dot) / vv;
          for (let i = j; i < m; i++) a[i * n + c]! -= f * v[i]!;
        }
      }
    }
    vs.push(v);
  }
  const r = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) r[i * n + j] = a[i * n + j]!;
  // Q = H₀·H₁·…·Hₙ₋₁ applied to the first n columns of the identity.
  const q = new Float64Array(m * n);
  for (let i = 0; i < n; i++) q[i * n + i] = 1;
  for (let j = n - 1; j >= 0; j--) {
    const v = vs[j]!;
    let vv = 0;
    for (let i = j; i < m; i++) vv += v[i]! ** 2;
    if (vv === 0) continue;
    for (let c = 0; c < n; c++) {
      let dot = 0;
      for (let i = j; i < m; i++) dot += v[i]! * q[i * n + c]!;
      const f = (2 * dot) / vv;
      for (let i = j; i < m; i++) q[i * n + c]! -= f * v[i]!;
    }
  }
  return { q, r };
}

/**
 * The thin SVD of M = B·A for B [rows, k] and A [k, cols] with k < min(rows, cols), without forming
 * M: B = Q_B·R_B, Aᵀ = Q_A·R_A, so M = Q_B·(R_B·R_Aᵀ)·Q_Aᵀ and the SVD of the small k×k core gives
 * U = Q_B·U_c, V = Q_A·V_c. Returns k singular triplets (the rest are zero).
 */
export function lowRankSvd(b: ArrayLike<number>, a: ArrayLike<number>, rows: number, k: number, cols: number): Svd {
  assertFinite(b, `the factor B [${rows}, ${k}] to decompose`, k);
  assertFinite(a, `the factor A [${k}, ${cols}] to decompose`, cols);
  const { q: qb, r: rb } = thinQr(b, rows, k);
  const at = new Float64Array(cols * k);
  for (let i = 0; i < k; i++) for (let j = 0; j < cols; j++) at[j * k + i] = a[i * cols + j]!;
  const { q: qa, r: ra } = thinQr(at, cols, k);
  const core = new Float64Array(k * k); // R_B · R_Aᵀ
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) {
    let sum = 0;
    for (let t = 0; t < k; t++) sum += rb[i * k + t]! * ra[j * k + t]!;
    core[i * k + j] = sum;
  }
  const c = thinSvd(core, k, k);
  const u = matMul(qb, c.u, rows, k, k);
  const v = matMul(qa, c.v, cols, k, k);
  fixSigns(u, v, rows, cols, k); // the convention of thinSvd, on the full V
  return { u, s: c.s, v, rows, cols, k };
}

/** X [m, t] · Y [t, n], row-major, float64. */
export function matMul(x: ArrayLike<number>, y: ArrayLike<number>, m: number, t: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < t; p++) {
      const xv = x[i * t + p]!;
      if (xv === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j]! += xv * y[p * n + j]!;
    }
  }
  return out;
}
