/**
 * The tensor-core kernels' tiles and kinds, and the checks of the options that name them
 * (`prepareTensorCoreKernels`, `prepareWebGPUTensorCores`): every problem of one call, nested objects
 * included, is collected so that the call throws one error naming them all.
 */
import { nestedOptionProblems, notAnOptionsObject, type KnownOptions, type OptionProblems, showValue as shown } from '../unknown-options';

/**
 * Subgroup-matrix tiles of 16 × 16 per subgroup (TM down the rows, TN across the columns).
 * `staged`: the workgroup first copies its block of both operands into workgroup memory (32 along
 * the reduction at a time for the f16 kernels, 64 for the i8 one), in 16-byte loads, and the
 * subgroups load their matrices from there (each operand element read once per workgroup, instead of
 * once per subgroup that needs it); without it the subgroups load straight from the storage buffers.
 */
export interface TensorCoreTiles { TM: number; TN: number; staged?: boolean }

/**
 * The tensor-core kernels: `i8` = LLM.int8 forward (i8 × i8 → i32), `f16` = the input gradient
 * `dY · W` (f16 × f16 → f32), `f16t` = the weight-only forward `x · Wᵀ` (f16 × f16 → f32, W read
 * column-major).
 */
export type TensorCoreKind = 'i8' | 'f16' | 'f16t';
export const TENSOR_CORE_KINDS: readonly TensorCoreKind[] = ['i8', 'f16', 'f16t'];

const TILE_FIELDS: KnownOptions<TensorCoreTiles> = { TM: true, TN: true, staged: true };
const SHAPE_FIELDS: KnownOptions<{ M: number; N: number; K: number }> = { M: true, N: true, K: true };


export const isPositiveInteger = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

/**
 * Adds to `p` what is wrong with one `TensorCoreTiles` called `name` (`tiles`, `tiles[1]`; `''` for the bare 0.x
 * argument of `prepareWebGPUTensorCores`): keys other than TM, TN and staged; a TM or TN that is not a positive
 * integer (each subgroup unrolls TM × TN matrices, a workgroup covers 32·TM rows and 32·TN columns: a fraction,
 * 0 or a string is no shader); a `staged` that is not true or false.
 */
export function tileProblems(tiles: unknown, name: string, p: OptionProblems): void {
  const wrong = tiles === undefined ? 'undefined' : notAnOptionsObject(tiles);
  if (wrong !== undefined) {
    p.values.push(`${name || 'tiles'} must be { TM, TN, staged? }, got ${wrong}`);
    return;
  }
  const t = tiles as Record<string, unknown>;
  const at = (key: string) => (name === '' ? key : `${name}.${key}`);
  p.unknown.push(...nestedOptionProblems(name, t, TILE_FIELDS));
  for (const key of ['TM', 'TN']) if (!isPositiveInteger(t[key])) p.values.push(`${at(key)} must be a positive integer, got ${shown(t[key])}`);
  if (t['staged'] !== undefined && typeof t['staged'] !== 'boolean') p.values.push(`${at('staged')} must be true or false, got ${shown(t['staged'])}`);
}

/** Adds to `p` what is wrong with a `tiles` option: `'tune'`, one `TensorCoreTiles`, or a non-empty list of them. */
export function tilesOptionProblems(tiles: unknown, p: OptionProblems): void {
  if (tiles === undefined || tiles === 'tune') return;
  if (Array.isArray(tiles)) {
    if (tiles.length === 0) p.values.push("tiles must not be an empty list (give 'tune', one { TM, TN } or several)");
    tiles.forEach((t, i) => tileProblems(t, `tiles[${i}]`, p));
  } else if (typeof tiles === 'object' && tiles !== null) {
    tileProblems(tiles, 'tiles', p);
  } else {
    p.values.push(`tiles must be 'tune', { TM, TN, staged? } or a list of them, got ${shown(tiles)}`);
  }
}

/** Adds to `p` what is wrong with a `kinds` option: a list of {@link TENSOR_CORE_KINDS} (a misspelt kind would leave that kernel off). */
export function kindsProblems(kinds: unknown, p: OptionProblems): void {
  if (kinds === undefined) return;
  if (!Array.isArray(kinds) || kinds.some((k) => !TENSOR_CORE_KINDS.includes(k as TensorCoreKind))) {
    p.values.push(`kinds must be a list of ${TENSOR_CORE_KINDS.map((k) => JSON.stringify(k)).join(', ')}, got ${shown(kinds)}`);
  }
}

/** Adds to `p` what is wrong with a matmul shape `{ M, N, K }` called `name`: other keys, sizes that are not positive integers. */
export function shapeProblems(shape: unknown, name: string, p: OptionProblems): void {
  if (shape === undefined) return;
  const wrong = notAnOptionsObject(shape);
  if (wrong !== undefined) {
    p.values.push(`${name} must be { M, N, K }, got ${wrong}`);
    return;
  }
  const s = shape as Record<string, unknown>;
  p.unknown.push(...nestedOptionProblems(name, s, SHAPE_FIELDS));
  for (const key of ['M', 'N', 'K']) if (!isPositiveInteger(s[key])) p.values.push(`${name}.${key} must be a positive integer, got ${shown(s[key])}`);
}
