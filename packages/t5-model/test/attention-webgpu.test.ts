import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { dropout } from '@conifer/dropout';
import { describe, expect, it } from 'vitest';
import { skipWebGPU, useWebGPUBackend } from '../../../vitest.webgpu';
import { ATTN_PV, ATTN_QK, fusedAttention, hasAttentionKernels } from '../src/attention-webgpu.js';
import { MASK_VALUE } from '../src/modules.js';
import { ROW_SOFTMAX } from '../src/softmax-webgpu.js';
import { relErr } from './helpers.js';

const skip = await skipWebGPU();

function values(n: number, seed: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.618 + seed) * scale + 0.1 * Math.cos(i * 0.37 * seed));
}

/** The tensor ops T5Attention runs on other backends: heads transposed, bias added, softmax, dropout, merged back. */
function reference(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, bias: tf.Tensor4D, H: number, draw: { rate: number; seed: number } | null): tf.Tensor3D {
  const [B, Sq, inner] = q.shape;
  const heads = (x: tf.Tensor3D) => tf.transpose(tf.reshape(x, [B, x.shape[1], H, inner / H]), [0, 2, 1, 3]); // (B, H, S, dk)
  const scores = tf.add(tf.matMul(heads(q), heads(k), false, true), bias); // (B, H, Sq, Sk)
  let w = tf.softmax(scores, -1);
  if (draw) w = dropout(w, draw.rate, draw.seed);
  const out = tf.matMul(w, heads(v)); // (B, H, Sq, dk)
  return tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [B, Sq, inner]);
}

describe.skipIf(skip)('T5 attention products on webgpu: strided kernels, no head transposes (lavapipe in CI)', () => {
  useWebGPUBackend(tf, () => import('@tensorflow/tfjs-backend-webgpu'));

  // Sizes off the 64-wide tiles and the 16-step; self-attention bias [1, H, Sq, Sk] (the relative
  // bias + causal mask) and cross-attention bias [B, 1, 1, Sk] (the padding mask); dropout on the
  // weights; 2·3·11,000 = 66,000 softmax rows (more than 65,535 workgroups: a 2-D dispatch).
  const cases = [
    { B: 2, Sq: 70, Sk: 70, H: 3, dk: 20, bias: 'self', rate: 0 },
    { B: 2, Sq: 70, Sk: 70, H: 3, dk: 20, bias: 'self', rate: 0.1 },
    { B: 3, Sq: 17, Sk: 130, H: 2, dk: 64, bias: 'cross', rate: 0.3 },
    { B: 2, Sq: 11_000, Sk: 5, H: 3, dk: 4, bias: 'cross', rate: 0 },
  ] as const;
  for (const c of cases) {
    it(`B ${c.B}, Sq ${c.Sq}, Sk ${c.Sk}, ${c.H}×${c.dk}, ${c.bias} bias, dropout ${c.rate}: context and dq, dk, dv, dbias equal the tensor ops on cpu; 3 kernels forward; no leaks`, async () => {
      const inner = c.H * c.dk;
      const biasShape = c.bias === 'self' ? [1, c.H, c.Sq, c.Sk] : [c.B, 1, 1, c.Sk];
      const nb = biasShape.reduce((a, d) => a * d, 1);
      const biasV = values(nb, 4, 2).map((x, i) => (c.bias === 'cross' && i % 7 === 3 ? -1e9 : x)); // some masked keys
      const [qv, kv, vv, dyv] = [values(c.B * c.Sq * inner, 1), values(c.B * c.Sk * inner, 2), values(c.B * c.Sk * inner, 3), values(c.B * c.Sq * inner, 5)];
      const draw = c.rate > 0 ? { rate: c.rate, seed: 4321 } : null;
      const run = async (backend: 'webgpu' | 'cpu') => {
        await tf.setBackend(backend);
        const q = tf.tensor3d(qv, [c.B, c.Sq, inner]);
        const k = tf.tensor3d(kv, [c.B, c.Sk, inner]);
        const v = tf.tensor3d(vv, [c.B, c.Sk, inner]);
        const bias = tf.tensor4d(biasV, biasShape as [number, number, number, number]);
        const dy = tf.tensor3d(dyv, [c.B, c.Sq, inner]);
        const f = (a: tf.Tensor, b: tf.Tensor, d: tf.Tensor, e: tf.Tensor) => tf.tidy(() => hasAttentionKernels(a)
          ? fusedAttention(a as tf.Tensor3D, b as tf.Tensor3D, d as tf.Tensor3D, e as tf.Tensor4D, c.H, draw)
          : reference(a as tf.Tensor3D, b as tf.Tensor3D, d as tf.Tensor3D, e as tf.Tensor4D, c.H, draw));
        const before = tf.memory().numTensors;
        const prof = await tf.profile(() => f(q, k, v, bias));
        const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, d: tf.Tensor, e: tf.Tensor) => tf.sum(tf.mul(f(a, b, d, e), dy)))([q, k, v, bias]);
        const out = {
          y: await (prof.result as tf.Tensor).data(),
          dq: await grads[0]!.data(), dk: await grads[1]!.data(), dv: await grads[2]!.data(), dbias: await grads[3]!.data(),
          kernels: prof.kernels.map((x) => x.name),
        };
        tf.dispose([prof.result as tf.Tensor, ...grads]);
        expect(tf.memory().numTensors).toBe(before);
        tf.dispose([q, k, v, bias, dy]);
        return out;
      };
      const gpu = await run('webgpu');
      const cpu = await run('cpu').finally(() => tf.setBackend('webgpu'));
      expect(gpu.kernels).toEqual([ATTN_QK, ROW_SOFTMAX, ATTN_PV]);
      for (const key of ['y', 'dq', 'dk', 'dv', 'dbias'] as const) expect(relErr(gpu[key], cpu[key]), key).toBeLessThan(2e-5);
    }, 120_000);
  }

  it('a fully masked row (all-zero attention mask, MASK_VALUE = float32 min): uniform weights as on cpu and in transformers, not 0/0', async () => {
    const [B, Sq, Sk, H, dk] = [2, 3, 5, 2, 4];
    const inner = H * dk;
    // batch 0 keeps keys 0–2; batch 1 masks every key (+ a bias the mask must absorb).
    const biasV = Float32Array.from({ length: B * Sk }, (_, i) => (i < 3 ? 0 : i < Sk ? MASK_VALUE : MASK_VALUE + 40 * Math.sin(i)));
    const run = async (backend: 'webgpu' | 'cpu') => {
      await tf.setBackend(backend);
      const before = tf.memory().numTensors;
      const [q, k, v] = [1, 2, 3].map((seed, j) => tf.tensor3d(values(B * (j ? Sk : Sq) * inner, seed, 30), [B, j ? Sk : Sq, inner]));
      const bias = tf.tensor4d(biasV, [B, 1, 1, Sk]);
      const y = tf.tidy(() => hasAttentionKernels(q!)
        ? fusedAttention(q as tf.Tensor3D, k as tf.Tensor3D, v as tf.Tensor3D, bias, H, null)
        : reference(q as tf.Tensor3D, k as tf.Tensor3D, v as tf.Tensor3D, bias, H, null));
      const out = await y.data();
      tf.dispose([q!, k!, v!, bias, y]);
      expect(tf.memory().numTensors).toBe(before);
      return out;
    };
    const gpu = await run('webgpu');
    const cpu = await run('cpu').finally(() => tf.setBackend('webgpu'));
    expect(gpu.every(Number.isFinite)).toBe(true);
    expect(relErr(gpu, cpu)).toBeLessThan(2e-5);
    // batch 1's context is the mean of its values over every key, per head
    const vv = values(B * Sk * inner, 3, 30);
    const mean = Array.from({ length: inner }, (_, c) => Array.from({ length: Sk }, (_, j) => vv[(Sk + j) * inner + c]!).reduce((a, b) => a + b, 0) / Sk);
    expect(relErr(gpu.slice(Sq * inner, Sq * inner + inner), Float32Array.from(mean))).toBeLessThan(1e-5);
  });

  it('backward: 5 kernels (dp, dv, softmax, dq, dk) and no transpose; the bias gradient only when asked for', async () => {
    const [B, S, H, dk] = [2, 9, 2, 8];
    const q = tf.tensor3d(values(B * S * H * dk, 1), [B, S, H * dk]);
    const bias = tf.zeros([1, H, S, S]) as tf.Tensor4D;
    const g = tf.grad((x: tf.Tensor) => tf.sum(fusedAttention(x as tf.Tensor3D, x as tf.Tensor3D, x as tf.Tensor3D, bias, H, { rate: 0.1, seed: 7 })));
    const prof = await tf.profile(() => g(q));
    const names = prof.kernels.map((x) => x.name);
    expect(names.filter((n) => n.startsWith('Conifer')).sort()).toEqual([
      ATTN_PV, ATTN_PV, ATTN_PV, ATTN_PV, ATTN_QK, ATTN_QK, ROW_SOFTMAX, 'ConiferT5SoftmaxGrad',
    ].sort());
    expect(names).not.toContain('Transpose');
    expect(names.filter((n) => n === 'Sum')).toHaveLength(1); // the loss's own: none for the bias
    tf.dispose([q, bias, prof.result as tf.Tensor]);
  });
});
