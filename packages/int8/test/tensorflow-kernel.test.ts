/**
 * The tensorflow (tfjs-node) kernels cannot run here. This drives them with a fake backend that
 * interprets the few TF ops they emit (Bitcast, Cast, Reshape, Slice, Floor, Mul, Sub, MatMul)
 * with TF's semantics, so the op sequence, attributes and sign handling are checked — not TF itself.
 */
import { describe, expect, it } from 'vitest';
import { dequantizeFloat32, quantizeFloat32 } from '../src/index';
import { tensorflowInt8Dequantize, tensorflowInt8MatMul } from '../src/kernels/tensorflow-kernels';
import { matMulT, randn, relError } from './helpers';

type Vals = Float32Array | Int32Array | Uint8Array;
interface T { dataId: object; shape: number[]; dtype: string; values: Vals; dispose(): void }
const B = { TF_FLOAT: 1, TF_INT32: 3, TF_UINT8: 4, TF_ATTR_TYPE: 100, TF_ATTR_BOOL: 101 };

function fakeBackend() {
  const live = new Set<object>();
  const make = (shape: number[], dtype: string, values: Vals): T => {
    const dataId = {};
    live.add(dataId);
    return { dataId, shape, dtype, values, dispose: () => void live.delete(dataId) };
  };
  const size = (s: number[]) => s.reduce((a, d) => a * d, 1);
  const ops: string[] = [];
  const backend = {
    binding: B,
    makeTensorInfo: (shape: number[], dtype: string, values: Vals) => make(shape, dtype, values),
    disposeData: (id: object) => void live.delete(id),
    executeSingleOutput(name: string, attrs: Array<{ name: string; value: unknown }>, inputs: T[]): T {
      ops.push(name);
      const attr = (n: string) => attrs.find((a) => a.name === n)?.value;
      const [a, b, c] = inputs as [T, T, T];
      const f = (v: Vals) => Float32Array.from(v);
      switch (name) {
        case 'Bitcast':
          expect([attr('T'), attr('type')]).toEqual([B.TF_INT32, B.TF_UINT8]);
          return make([...a.shape, 4], 'int32', new Uint8Array(a.values.buffer, a.values.byteOffset, a.values.length * 4));
        case 'Cast':
          expect([attr('SrcT'), attr('DstT')]).toEqual([B.TF_UINT8, B.TF_FLOAT]);
          return make(a.shape, 'float32', f(a.values));
        case 'Reshape':
          expect(size(Array.from(b.values))).toBe(size(a.shape));
          return make(Array.from(b.values), a.dtype, a.values);
        case 'Slice': {
          const [r0, c0] = Array.from(b.values) as [number, number];
          const [rows, cols] = Array.from(c.values) as [number, number];
          const out = new Float32Array(rows * cols);
          for (let r = 0; r < rows; r++) for (let k = 0; k < cols; k++) out[r * cols + k] = a.values[(r0 + r) * (a.shape[1] as number) + c0 + k] as number;
          return make([rows, cols], 'float32', out);
        }
        case 'Floor':
          return make(a.shape, 'float32', a.values.map(Math.floor) as Float32Array);
        case 'Mul':
        case 'Sub': {
          const cols = a.shape[a.shape.length - 1] as number;
          // b is [1] (a scalar) or [rows, 1] (a column) or a's shape
          const at = (i: number) => (b.values.length === 1 ? b.values[0] : b.values.length === a.values.length ? b.values[i] : b.values[Math.floor(i / cols)]) as number;
          return make(a.shape, 'float32', Float32Array.from(a.values, (v, i) => (name === 'Mul' ? v * at(i) : v - at(i))));
        }
        case 'MatMul': {
          expect(attr('transpose_a')).toBe(false);
          const tb = attr('transpose_b') as boolean;
          const [M, K] = a.shape as [number, number];
          const N = (tb ? b.shape[0] : b.shape[1]) as number;
          const out = new Float32Array(M * N);
          for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
            let s = 0;
            for (let k = 0; k < K; k++) s += (a.values[m * K + k] as number) * (b.values[tb ? n * K + k : k * N + n] as number);
            out[m * N + n] = s;
          }
          return make([M, N], 'float32', out);
        }
        default:
          throw new Error(`fake TF: unexpected op ${name}`);
      }
    },
  };
  return { backend, live, ops, make };
}

describe('tensorflow backend kernels (UNTESTED against TF: fake backend)', () => {
  for (const K of [8, 7]) {
    it(`dequantize and x · Wᵀ / dY · W from the packed bytes, inFeatures ${K}`, () => {
      const N = 5;
      const M = 3;
      const w = randn(N * K, 31 + K);
      w[1] = -4; // negative bytes exercise the uint8 → signed fix
      const q = quantizeFloat32(w, N, K);
      const deq = dequantizeFloat32(q);
      const { backend, live, ops, make } = fakeBackend();
      const packed = make([N, Math.ceil(K / 4)], 'int32', q.packed);
      const scale = make([N], 'float32', q.scale);
      const kernelArgs = (inputs: object, attrs: object) => ({ inputs, backend, attrs }) as unknown as Parameters<typeof tensorflowInt8MatMul>[0];
      const d = tensorflowInt8Dequantize(kernelArgs({ packed, scale }, { inFeatures: K })) as T;
      expect(d.shape).toEqual([N, K]);
      expect(relError(d.values, deq)).toBeLessThan(1e-7);
      expect(ops.includes('Slice')).toBe(K % 4 !== 0);
      const xv = randn(M * K, 40);
      const x = make([M, K], 'float32', xv);
      const y = tensorflowInt8MatMul(kernelArgs({ x, packed, scale }, { mode: 'weight-only', threshold: 6, inFeatures: K, transposeWeight: true })) as T;
      expect(relError(y.values, matMulT(xv, deq, M, K, N))).toBeLessThan(1e-6);
      const dyv = randn(M * N, 41);
      const dy = make([M, N], 'float32', dyv);
      const dx = tensorflowInt8MatMul(kernelArgs({ x: dy, packed, scale }, { mode: 'weight-only', threshold: 6, inFeatures: K, transposeWeight: false })) as T;
      const ref = new Float64Array(M * K);
      for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) ref[m * K + k] = (ref[m * K + k] as number) + (dyv[m * N + n] as number) * (deq[n * K + k] as number);
      expect(relError(dx.values, ref)).toBeLessThan(1e-6);
      // only the inputs and the three results are alive: every intermediate was disposed
      expect(live.size).toBe(7);
      expect(() => tensorflowInt8MatMul(kernelArgs({ x, packed, scale }, { mode: 'llm-int8', threshold: 6, inFeatures: K, transposeWeight: true })))
        .toThrow(/implements mode "weight-only" only/);
    });
  }
});
