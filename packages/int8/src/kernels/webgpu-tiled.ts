/**
 * Tiled WGSL programs for the webgpu backend that dequantize the int8 weight in registers
 * (portable: plain WGSL, no extension). A workgroup of 16×16 invocations computes a tile of
 * `16·rows × 16·cols` outputs, each invocation `rows × cols` of them (strided by 16, so loads and
 * stores are contiguous across a subgroup); the reduction runs in steps of 32 (16 for 8 columns)
 * through workgroup memory.
 * The packed weight (four int8 per int32, byte k of word j = element 4j + k, rows padded to
 * `ceil(in/4)` words with zero bytes) is read one word per four elements and unpacked into
 * workgroup memory as float32.
 *
 * - forward `y = x · Wᵀ`: x `[M, K]`, packed `[N, KW]` → `[M, N]`; the int8 values enter the
 *   products as exact small integers and `scale[n]` multiplies the finished sum;
 * - backward `dX = dY · W`: dY `[M, N]` → `[M, K]`; `q · scale[n]` is formed while unpacking;
 * - LLM.int8 forward: as forward, but each row of x is quantized on load
 *   (`round(x · 127/absmax_m)`) except the outlier columns, which go through a second float32
 *   accumulator; every step's partial sum of int8 × int8 products is an integer below 2²⁴,
 *   so it is exact in float32 and is added to an i32 accumulator (int32 semantics).
 *
 * They follow tfjs-backend-webgpu's `WebGPUProgram` shape (the backend declares the inputs, the
 * uniforms and `_start`, which calls `main()` here since the dispatch is 2-D).
 */
import type { WgslProgram } from './webgpu-programs';

/** Rows per invocation (the tile is `16·rows × 16·cols`); 4 → 64 rows, 8 → 128. */
export type TiledRows = 4 | 8;
/** Columns per invocation: 4 → 64 columns per tile (reduction step 32), 8 → 128 (step 16, so 128 × 128 tiles fit 16 KiB of workgroup memory). */
export type TiledCols = 4 | 8;

const TX = 16; // invocations per row of the workgroup (columns)
const TY = 16; // rows of invocations
const THREADS = TX * TY;

/** Which product a tiled program computes. */
export type TiledKind = 'forward' | 'backward' | 'llm-int8';

const unpack = (word: string, b: number) => `f32((${word} << ${24 - 8 * b}u) >> 24u)`;

/** Unrolled inner product over the BK-step for one invocation (`RN` columns each). */
function innerLoop(rows: number, RN: number, a: string, acc: string, loadB: boolean): string {
  const lines: string[] = [];
  for (let i = 0; i < rows; i++) lines.push(`let ${a}${i} = ${a}[ty + ${TY * i}][kk];`);
  if (loadB) for (let j = 0; j < RN; j++) lines.push(`let b${j} = Bs[kk][tx + ${TX * j}];`);
  for (let i = 0; i < rows; i++) for (let j = 0; j < RN; j++) lines.push(`${acc}${i}_${j} = fma(${a}${i}, b${j}, ${acc}${i}_${j});`);
  return lines.join('\n          ');
}

function declare(rows: number, RN: number, acc: string, type: string, init: string): string {
  const lines: string[] = [];
  for (let i = 0; i < rows; i++) for (let j = 0; j < RN; j++) lines.push(`var ${acc}${i}_${j} : ${type} = ${init};`);
  return lines.join('\n        ');
}

/**
 * A tiled int8 matmul program. Inputs: `x, packed, scale` (+ `outlier, rowAbsmax` for
 * `llm-int8`, from {@link outlierColumnsProgram} and {@link rowAbsmaxProgram}).
 * Uniforms (in this order): `M, R, C, KW` — rows, reduction length, output columns, packed width
 * (forward: R = K, C = N; backward: R = N, C = K).
 */
export function tiledInt8Program(kind: TiledKind, M: number, C: number, rows: TiledRows = 4, cols: TiledCols = 4): WgslProgram {
  const RN = cols; // columns per invocation
  const BN = TX * RN; // output columns per tile
  const BK = cols === 8 ? 16 : 32; // reduction step
  const BM = TY * rows;
  const llm = kind === 'llm-int8';
  const loadA = llm ? `
        for (var i = tid; i < ${BM * BK}; i += ${THREADS}) {
          let r = i / ${BK};
          let c = i - r * ${BK};
          let gm = m0 + r;
          let gk = k0 + c;
          var q = 0.0;
          var o = 0.0;
          if (gm < uniforms.M && gk < uniforms.R) {
            let v = x[gm * uniforms.R + gk];
            if (outlier[gk] != 0.0) {
              o = v;
            } else {
              let absmax = rowAbsmax[gm];
              if (absmax > 0.0) {
                let s = v * (127.0 / absmax);
                q = sign(s) * floor(abs(s) + 0.5);
              }
            }
          }
          As[r][c] = q;
          Ao[r][c] = o;
        }` : `
        for (var i = tid; i < ${BM * BK}; i += ${THREADS}) {
          let r = i / ${BK};
          let c = i - r * ${BK};
          let gm = m0 + r;
          let gk = k0 + c;
          var v = 0.0;
          if (gm < uniforms.M && gk < uniforms.R) { v = x[gm * uniforms.R + gk]; }
          As[r][c] = v;
        }`;
  // B tile: Bs[kk][nn], kk along the reduction, nn along the output columns.
  const loadB = kind === 'backward' ? `
        for (var i = tid; i < ${(BK * BN) / 4}; i += ${THREADS}) {
          let r = i / ${BN / 4};
          let w = i - r * ${BN / 4};
          let gn = k0 + r;
          let gw = c0 / 4 + w;
          var word = 0;
          var s = 0.0;
          if (gn < uniforms.R && gw < uniforms.KW) {
            word = packed[gn * uniforms.KW + gw];
            s = scale[gn];
          }
          ${[0, 1, 2, 3].map((b) => `Bs[r][4 * w + ${b}] = ${unpack('word', b)} * s;`).join('\n          ')}
        }` : `
        for (var i = tid; i < ${(BN * BK) / 4}; i += ${THREADS}) {
          let nn = i / ${BK / 4};
          let w = i - nn * ${BK / 4};
          let gn = c0 + nn;
          let gw = k0 / 4 + w;
          var word = 0;
          if (gn < uniforms.C && gw < uniforms.KW) { word = packed[gn * uniforms.KW + gw]; }
          ${[0, 1, 2, 3].map((b) => `Bs[4 * w + ${b}][nn] = ${unpack('word', b)};`).join('\n          ')}
        }`;
  const stores: string[] = [];
  for (let i = 0; i < rows; i++) {
    stores.push(`{ let gm = m0 + ty + ${TY * i};`);
    stores.push(`  if (gm < uniforms.M) {${llm ? ' let rs = rowAbsmax[gm] / 127.0;' : ''}`);
    for (let j = 0; j < RN; j++) {
      const gn = `c0 + tx + ${TX * j}`;
      const value = kind === 'forward' ? `acc${i}_${j} * scale[gn]`
        : kind === 'backward' ? `acc${i}_${j}`
        : `(f32(iacc${i}_${j}) * rs + acc${i}_${j}) * scale[gn]`;
      stores.push(`    { let gn = ${gn}; if (gn < uniforms.C) { result[gm * uniforms.C + gn] = ${value}; } }`);
    }
    stores.push('  } }');
  }
  return {
    variableNames: llm ? ['x', 'packed', 'scale', 'outlier', 'rowAbsmax'] : ['x', 'packed', 'scale'],
    outputShape: [M, C],
    shaderKey: `conifer_int8_tiled_${kind}_${rows}${cols === 4 ? '' : `x${cols}`}`,
    dispatchLayout: { x: [1], y: [0] },
    dispatch: [Math.ceil(C / BN), Math.ceil(M / BM), 1],
    workgroupSize: [TX, TY, 1],
    size: false,
    uniforms: 'M : i32, R : i32, C : i32, KW : i32,',
    getUserCode: () => `
      var<workgroup> As : array<array<f32, ${BK}>, ${BM}>;
      ${llm ? `var<workgroup> Ao : array<array<f32, ${BK}>, ${BM}>;` : ''}
      var<workgroup> Bs : array<array<f32, ${BN}>, ${BK}>;

      fn main() {
        let tx = i32(localId.x);
        let ty = i32(localId.y);
        let tid = ty * ${TX} + tx;
        let m0 = i32(workgroupId.y) * ${BM};
        let c0 = i32(workgroupId.x) * ${BN};
        ${declare(rows, RN, 'acc', 'f32', '0.0')}
        ${llm ? declare(rows, RN, 'iacc', 'i32', '0') : ''}
        for (var k0 = 0; k0 < uniforms.R; k0 += ${BK}) {
          ${loadA}
          ${loadB}
          workgroupBarrier();
          ${llm ? declare(rows, RN, 'part', 'f32', '0.0') : ''}
          for (var kk = 0; kk < ${BK}; kk++) {
            ${innerLoop(rows, RN, 'As', llm ? 'part' : 'acc', true)}
            ${llm ? innerLoop(rows, RN, 'Ao', 'acc', false) : ''}
          }
          ${llm ? iaccUpdate(rows, RN) : ''}
          workgroupBarrier();
        }
        ${stores.join('\n        ')}
      }`,
  };
}

/** Adds each exact float32 partial sum (< 2²⁴) of a reduction step to the i32 accumulators. */
function iaccUpdate(rows: number, RN: number): string {
  const lines: string[] = [];
  for (let i = 0; i < rows; i++) for (let j = 0; j < RN; j++) lines.push(`iacc${i}_${j} += i32(part${i}_${j});`);
  return lines.join('\n          ');
}
