import * as tf from '@tensorflow/tfjs-core';
import { sumInOrder } from './sum.js';

/**
 * The global L2 norm of `grads`, `sqrt(Σ_tensors Σ g²)` in float32 (`torch.nn.utils.clip_grad_norm_` takes
 * the norm of the per-tensor norms: the same value up to float32 rounding).
 */
export async function globalNorm(grads: readonly tf.Tensor[]): Promise<number> {
  if (grads.length === 0) return 0;
  // functional ops only (tf.norm chains tensor methods, which a second copy of tfjs-core may lack)
  const norm = tf.tidy(() => tf.sqrt(sumInOrder(grads.map((g) => tf.sum(tf.square(g))))));
  try {
    return (await norm.data())[0]!;
  } finally {
    norm.dispose();
  }
}

/**
 * Clips gradients by their global norm like `torch.nn.utils.clip_grad_norm_`:
 * `coef = min(1, maxNorm / (total + 1e-6))`, every gradient multiplied by `coef`.
 * Returns the new gradients (the inputs are disposed when replaced) and the total norm before clipping.
 */
export async function clipByGlobalNorm(grads: Record<string, tf.Tensor>, maxNorm: number): Promise<{ grads: Record<string, tf.Tensor>; totalNorm: number; clipped: boolean }> {
  const totalNorm = await globalNorm(Object.values(grads));
  const coef = Math.fround(Math.fround(maxNorm) / Math.fround(totalNorm + 1e-6)); // float32, as torch
  if (!(coef < 1)) return { grads, totalNorm, clipped: false };
  const out: Record<string, tf.Tensor> = {};
  for (const [name, g] of Object.entries(grads)) {
    out[name] = tf.tidy(() => tf.mul(g, tf.scalar(coef)));
    g.dispose();
  }
  return { grads: out, totalNorm, clipped: true };
}
