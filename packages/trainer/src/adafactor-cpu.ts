import * as tf from '@tensorflow/tfjs-core';
import type { AdafactorSlot } from './adafactor.js';

/** What one step of one variable needs besides its tensors. */
export interface AdafactorCpuStep {
  /** `_get_lr`'s `rel_step_sz` (the external lr, or the relative step size). */
  relStep: number;
  /** `1 − t^decay_rate`. */
  beta2t: number;
  eps: [number, number];
  clipThreshold: number;
  beta1: number | null;
  weightDecay: number;
  scaleParameter: boolean;
}

const f = Math.fround;

/** `_rms` of float32 values: the sum of float32 squares in float64, then ‖x‖ and the division rounded to float32. */
function rms(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += f(x[i]! * x[i]!);
  return f(f(Math.sqrt(f(s))) / f(Math.sqrt(x.length)));
}

/**
 * One Adafactor step of one variable in a JavaScript loop (the `cpu` backend): the tensor path's
 * operations (adafactor.ts), each rounded to float32, as tfjs-backend-cpu computes them: a sum adds
 * float32 values in float64 and rounds once, a mean sums the float32 quotients x/n (its `Mean`
 * kernel divides first). Reads the tensors synchronously (cpu only) and assigns the new values.
 */
export function adafactorCpuUpdate(p: tf.Variable, g: tf.Tensor | undefined, slots: Partial<Record<AdafactorSlot, tf.Variable>>, c: AdafactorCpuStep): void {
  const n = p.size;
  const pv = p.dataSync() as Float32Array;
  const gv = g ? (g.dataSync() as Float32Array) : new Float32Array(n);
  const keep = f(c.beta2t);
  const mix = f(1 - c.beta2t);
  const eps1 = f(c.eps[0]);
  const sq = new Float32Array(n); // update = (grad**2) + eps[0]
  for (let i = 0; i < n; i++) sq[i] = f(f(gv[i]! * gv[i]!) + eps1);
  const u = new Float32Array(n);
  const out: Partial<Record<AdafactorSlot, Float32Array>> = {};
  if (slots.exp_avg_sq_row && slots.exp_avg_sq_col) {
    const shape = p.shape;
    const cols = shape[shape.length - 1]!;
    const rows = shape[shape.length - 2]!;
    const batches = n / (rows * cols); // shape[:-2] flattened
    const row = (slots.exp_avg_sq_row.dataSync() as Float32Array).slice(); // [B·R]
    const col = (slots.exp_avg_sq_col.dataSync() as Float32Array).slice(); // [B·C]
    for (let b = 0; b < batches; b++) {
      const base = b * rows * cols;
      // exp_avg_sq_row.mul_(beta2t).add_(update.mean(dim=-1), alpha=1 - beta2t), and col with mean(dim=-2)
      for (let r = 0; r < rows; r++) {
        let s = 0;
        for (let k = 0; k < cols; k++) s += f(sq[base + r * cols + k]! / cols);
        row[b * rows + r] = f(f(row[b * rows + r]! * keep) + f(f(s) * mix));
      }
      for (let k = 0; k < cols; k++) {
        let s = 0;
        for (let r = 0; r < rows; r++) s += f(sq[base + r * cols + k]! / rows);
        col[b * cols + k] = f(f(col[b * cols + k]! * keep) + f(f(s) * mix));
      }
      // _approx_sq_grad: rsqrt(row / row.mean(-1))[:, None] * rsqrt(col)[None, :], then · grad
      let rs = 0;
      for (let r = 0; r < rows; r++) rs += f(row[b * rows + r]! / rows);
      const rowMean = f(rs);
      for (let r = 0; r < rows; r++) {
        const rf = f(1 / Math.sqrt(f(row[b * rows + r]! / rowMean)));
        for (let k = 0; k < cols; k++) {
          const i = base + r * cols + k;
          u[i] = f(f(rf * f(1 / Math.sqrt(col[b * cols + k]!))) * gv[i]!);
        }
      }
    }
    out.exp_avg_sq_row = row;
    out.exp_avg_sq_col = col;
  } else {
    const v = (slots.exp_avg_sq!.dataSync() as Float32Array).slice();
    for (let i = 0; i < n; i++) {
      v[i] = f(f(v[i]! * keep) + f(sq[i]! * mix));
      u[i] = f(f(1 / Math.sqrt(v[i]!)) * gv[i]!);
    }
    out.exp_avg_sq = v;
  }
  const lr = c.scaleParameter ? f(Math.max(rms(pv), f(c.eps[1])) * f(c.relStep)) : f(c.relStep);
  // update.div_((_rms(update) / clip_threshold).clamp_(min=1.0)); update.mul_(lr)
  const denom = Math.max(f(rms(u) / f(c.clipThreshold)), 1);
  for (let i = 0; i < n; i++) u[i] = f(f(u[i]! / denom) * lr);
  let update = u;
  if (c.beta1 !== null) {
    const m = (slots.exp_avg!.dataSync() as Float32Array).slice();
    const b1 = f(c.beta1);
    const oneMinus = f(1 - c.beta1);
    for (let i = 0; i < n; i++) m[i] = f(f(m[i]! * b1) + f(u[i]! * oneMinus));
    out.exp_avg = m;
    update = m;
  }
  const decay = f(lr * f(-c.weightDecay)); // p.add_(p, alpha=-weight_decay * lr)
  const p2 = new Float32Array(n);
  for (let i = 0; i < n; i++) p2[i] = f((c.weightDecay !== 0 ? f(pv[i]! + f(pv[i]! * decay)) : pv[i]!) - update[i]!);
  tf.tidy(() => {
    for (const [k, values] of Object.entries(out) as Array<[AdafactorSlot, Float32Array]>) slots[k]!.assign(tf.tensor(values, slots[k]!.shape, 'float32'));
    p.assign(tf.tensor(p2, p.shape, 'float32'));
  });
}
