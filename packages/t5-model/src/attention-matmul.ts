import * as tf from '@tensorflow/tfjs-core';

/**
 * How attention's batched products ([B·H, M, K] · [B·H, K, N]) are computed:
 * - `batched`: one tfjs BatchMatMul (best on cpu and webgpu);
 * - `per-head`: a loop of 2-D plain matMuls with a custom gradient made of plain products and
 *   explicit transposes. On wasm, BatchMatMul and transposed products take a slow path
 *   (measured on this project's 2-core machine, [12, 512, 64]·[12, 64, 512]: 0.3 GFLOP/s batched,
 *   1.5 GFLOP/s per head; at 128 positions they are about equal);
 * - `auto` (default): `per-head` on the wasm backend for products of at least 128 × 128 outputs
 *   per head (so not for decoding steps), `batched` elsewhere.
 */
export type AttentionMatMulMode = 'auto' | 'batched' | 'per-head';

let mode: AttentionMatMulMode = 'auto';

export function setAttentionMatMul(m: AttentionMatMulMode): void {
  mode = m;
}

export function getAttentionMatMul(): AttentionMatMulMode {
  return mode;
}

/** Output positions per head from which `auto` loops per head on wasm (128 × 128: equal speed there). */
const PER_HEAD_MIN_OUTPUT = 128 * 128;

function usePerHead(m: number, p: number): boolean {
  return mode === 'per-head' || (mode === 'auto' && tf.getBackend() === 'wasm' && m * p >= PER_HEAD_MIN_OUTPUT);
}

/** a [N, M, K] · b [N, K, P] as N plain 2-D products. */
function loop(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => {
    const as = tf.unstack(a) as tf.Tensor2D[];
    const bs = tf.unstack(b) as tf.Tensor2D[];
    return tf.stack(as.map((x, i) => tf.matMul(x, bs[i]!))) as tf.Tensor3D;
  });
}

const swap = (x: tf.Tensor3D) => tf.transpose(x, [0, 2, 1]) as tf.Tensor3D;

let perHeadOp: ((a: tf.Tensor3D, b: tf.Tensor3D) => tf.Tensor3D) | null = null;

const makePerHead = () => tf.customGrad(((a: tf.Tensor3D, b: tf.Tensor3D, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: loop(a, b),
    gradFunc: (dy: tf.Tensor3D, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [tf.Tensor3D, tf.Tensor3D];
      // d(a·b)/da = dy·bᵀ ; d(a·b)/db = aᵀ·dy — transposed explicitly so the products stay plain.
      return [loop(dy, swap(sb)), loop(swap(sa), dy)];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (a: tf.Tensor3D, b: tf.Tensor3D) => tf.Tensor3D;

function perHead(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  perHeadOp ??= makePerHead();
  return perHeadOp(a, b);
}

/** a [N, M, K] · bᵀ where b is [N, P, K] → [N, M, P] (scores = q·kᵀ). */
export function matMulBT(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  return usePerHead(a.shape[1], b.shape[1]) ? perHead(a, swap(b)) : tf.matMul(a, b, false, true);
}

/** a [N, M, K] · b [N, K, P] → [N, M, P] (context = weights·v). */
export function matMulPlain(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  return usePerHead(a.shape[1], b.shape[2]) ? perHead(a, b) : tf.matMul(a, b);
}
