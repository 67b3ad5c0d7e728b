import * as tf from '@tensorflow/tfjs-core';
import { adafactorCpuUpdate } from './adafactor-cpu.js';
import { resolveAdafactorOptions, type AdafactorOptions, type ResolvedAdafactorOptions } from './adafactor-options.js';

export type { AdafactorOptions } from './adafactor-options.js';

/** The state tensors of one parameter, by transformers' `state[p]` names. */
export type AdafactorSlot = 'exp_avg' | 'exp_avg_sq_row' | 'exp_avg_sq_col' | 'exp_avg_sq';
export const ADAFACTOR_SLOTS: readonly AdafactorSlot[] = ['exp_avg', 'exp_avg_sq_row', 'exp_avg_sq_col', 'exp_avg_sq'];

/** Adafactor's state as plain arrays: per variable name, its slots (transformers' names). */
export interface AdafactorState {
  kind: 'adafactor';
  /** Optimizer steps taken (transformers' `state[p]['step']`, the same for every variable). */
  step: number;
  slots: Record<string, Partial<Record<AdafactorSlot, Float32Array>>>;
}

/** `_get_options`: second moments factored for parameters of 2 or more dimensions. */
const isFactored = (shape: readonly number[]): boolean => shape.length >= 2;

/** The slots a parameter of `shape` has (`exp_avg` only with `beta1`). */
export function adafactorSlots(shape: readonly number[], withFirstMoment: boolean): AdafactorSlot[] {
  return [...(withFirstMoment ? (['exp_avg'] as const) : []), ...(isFactored(shape) ? (['exp_avg_sq_row', 'exp_avg_sq_col'] as const) : (['exp_avg_sq'] as const))];
}

/**
 * A slot's shape for a parameter of `shape`, as `step` creates it: `exp_avg_sq_row` `shape[:-1]`,
 * `exp_avg_sq_col` `shape[:-2] + shape[-1:]`, the others the parameter's.
 */
export function adafactorSlotShape(slot: AdafactorSlot, shape: readonly number[]): number[] {
  if (slot === 'exp_avg_sq_row') return shape.slice(0, -1);
  if (slot === 'exp_avg_sq_col') return [...shape.slice(0, -2), shape[shape.length - 1]!];
  return [...shape];
}

/** `_rms`: ‖x‖₂ / √numel (a float32 scalar). */
function rms(x: tf.Tensor): tf.Scalar {
  return tf.div(tf.sqrt(tf.sum(tf.square(x))), tf.scalar(Math.sqrt(x.size)));
}

/**
 * transformers' `Adafactor` (`src/transformers/optimization.py`, class `Adafactor`: `_get_lr`,
 * `_get_options`, `_rms`, `_approx_sq_grad`, `step`), per variable, in its float32 operation order:
 * ```
 * t ← t + 1;  lr ← _get_lr (relative step min(1e-2 or 1e-6·t, 1/√t), or lr; × max(eps2, RMS(p)) with scaleParameter)
 * β2t ← 1 − t^decayRate;  u ← g² + eps1
 * factored (≥ 2-D): row ← row·β2t + mean(u, −1)·(1 − β2t);  col ← col·β2t + mean(u, −2)·(1 − β2t)
 *                   u ← rsqrt(row / mean(row, −1))[…, :, None] · rsqrt(col)[…, None, :] · g
 * else:             v ← v·β2t + u·(1 − β2t);  u ← rsqrt(v)·g
 * u ← u / max(RMS(u) / clipThreshold, 1) · lr
 * beta1:            m ← m·β1 + u·(1 − β1);  u ← m
 * p ← p + p·(−weightDecay·lr);  p ← p − u
 * ```
 * Tensor ops (no read-back, every backend), or on 'cpu' by default one JavaScript loop per variable
 * with the same float32 roundings (`fused`, adafactor-cpu.ts). The reductions (summed in float64
 * here, in float32 with a cascade by PyTorch) and PyTorch's fused multiply-adds make the results
 * differ from PyTorch's by float32 roundings (tested within 1e-6 of each tensor's scale,
 * test/adafactor.test.ts).
 */
export class Adafactor {
  readonly options: Readonly<ResolvedAdafactorOptions>;
  private stepCount = 0;
  private readonly slotsByName = new Map<string, Partial<Record<AdafactorSlot, tf.Variable>>>();

  constructor(options: AdafactorOptions = {}) {
    this.options = resolveAdafactorOptions(options, 'Adafactor: ');
  }

  /** Optimizer steps taken so far. */
  get step(): number {
    return this.stepCount;
  }

  /**
   * `_get_lr` at step `step` (from 1) for a parameter of root mean square `rmsOfParam` (transformers'
   * `state["RMS"]`; only read with `scaleParameter`). `lr` is the external learning rate
   * (`group["lr"]`), ignored with `relativeStep`.
   */
  lrAt(step: number, lr: number | undefined = this.options.lr, rmsOfParam = 0): number {
    return (this.options.scaleParameter ? Math.max(this.options.eps[1], rmsOfParam) : 1) * this.relativeStepSize(step, lr);
  }

  /** `_get_lr`'s `rel_step_sz`: min(1e-6·step with warmupInit, else 1e-2; 1/√step) with `relativeStep`, else `lr`. */
  relativeStepSize(step: number, lr: number | undefined = this.options.lr): number {
    const o = this.options;
    if (!o.relativeStep) return lr ?? Number.NaN;
    return Math.min(o.warmupInit ? 1e-6 * step : 1e-2, 1 / Math.sqrt(step));
  }

  /**
   * One update of `variables` with `grads` (keyed by variable name; a missing gradient counts as
   * zero, where transformers skips a parameter whose `.grad` is None — pass every gradient when
   * matching it). `lr` is the external learning rate for this step (transformers' `group["lr"]`, which
   * a scheduler sets); with `relativeStep` it is ignored, as there. The gradients are not disposed.
   */
  applyGradients(variables: readonly tf.Variable[], grads: Readonly<Record<string, tf.Tensor>>, lr: number | undefined = this.options.lr): void {
    const o = this.options;
    if (!o.relativeStep && !(typeof lr === 'number' && lr >= 0 && Number.isFinite(lr))) throw new RangeError(`Adafactor: lr must be a finite number >= 0, got ${lr}`);
    const backend = tf.getBackend();
    const fused = o.fused === 'auto' ? backend === 'cpu' : o.fused;
    if (fused && backend !== 'cpu') throw new Error(`Adafactor: fused: true needs the cpu backend, the active one is ${backend}`);
    // every check before anything is updated or counted (the factored moments need the variable's own shape)
    for (const p of variables) {
      const g = grads[p.name];
      if (p.dtype !== 'float32') throw new TypeError(`Adafactor: variable "${p.name}" is ${p.dtype}, expected float32`);
      if (g && g.dtype !== 'float32') throw new TypeError(`Adafactor: gradient of "${p.name}" is ${g.dtype}, expected float32`);
      if (g && !tf.util.arraysEqual(g.shape, p.shape)) throw new RangeError(`Adafactor: gradient of "${p.name}" has shape [${g.shape}], the variable [${p.shape}]`);
    }
    this.stepCount += 1;
    const t = this.stepCount;
    const relStep = this.relativeStepSize(t, lr);
    const beta2t = 1 - t ** o.decayRate;
    for (const p of variables) {
      const slots = this.slots(p);
      if (fused) {
        adafactorCpuUpdate(p, grads[p.name], slots, { relStep, beta2t, eps: o.eps, clipThreshold: o.clipThreshold, beta1: o.beta1, weightDecay: o.weightDecay, scaleParameter: o.scaleParameter });
        continue;
      }
      tf.tidy(() => {
        const grad = grads[p.name] ?? tf.zerosLike(p);
        // _get_lr: param_scale * rel_step_sz, param_scale = max(eps[1], state["RMS"]) (a float32 tensor in PyTorch)
        const lrT = o.scaleParameter ? tf.mul(tf.maximum(rms(p), tf.scalar(o.eps[1])), tf.scalar(relStep)) : tf.scalar(relStep);
        const sq = tf.add(tf.square(grad), tf.scalar(o.eps[0])); // update = (grad**2) + eps[0]
        const keep = tf.scalar(beta2t);
        const mix = tf.scalar(1 - beta2t);
        let update: tf.Tensor;
        if (slots.exp_avg_sq_row && slots.exp_avg_sq_col) {
          const row = tf.add(tf.mul(slots.exp_avg_sq_row, keep), tf.mul(tf.mean(sq, -1), mix)); // [..., R]
          const col = tf.add(tf.mul(slots.exp_avg_sq_col, keep), tf.mul(tf.mean(sq, -2), mix)); // [..., C]
          slots.exp_avg_sq_row.assign(row);
          slots.exp_avg_sq_col.assign(col);
          // _approx_sq_grad: rsqrt(row / row.mean(-1))[..., :, None] * rsqrt(col)[..., None, :]
          const rFactor = tf.expandDims(tf.rsqrt(tf.div(row, tf.mean(row, -1, true))), -1); // [..., R, 1]
          const cFactor = tf.rsqrt(tf.expandDims(col, -2)); // [..., 1, C]
          update = tf.mul(tf.mul(rFactor, cFactor), grad);
        } else {
          const v = tf.add(tf.mul(slots.exp_avg_sq!, keep), tf.mul(sq, mix));
          slots.exp_avg_sq!.assign(v);
          update = tf.mul(tf.rsqrt(v), grad);
        }
        // update.div_((_rms(update) / clip_threshold).clamp_(min=1.0)); update.mul_(lr)
        update = tf.div(update, tf.maximum(tf.div(rms(update), tf.scalar(o.clipThreshold)), tf.scalar(1)));
        update = tf.mul(update, lrT);
        if (o.beta1 !== null) {
          const m = tf.add(tf.mul(slots.exp_avg!, tf.scalar(o.beta1)), tf.mul(update, tf.scalar(1 - o.beta1)));
          slots.exp_avg!.assign(m);
          update = m;
        }
        let next: tf.Tensor = p;
        if (o.weightDecay !== 0) next = tf.add(p, tf.mul(p, tf.mul(lrT, tf.scalar(-o.weightDecay)))); // p.add_(p, alpha=-wd * lr)
        p.assign(tf.sub(next, update));
      });
    }
  }

  /** Creates the zero slots of `variables` that have none yet (the first update would do it). */
  initSlots(variables: readonly tf.Variable[]): void {
    for (const p of variables) this.slots(p);
  }

  private slots(p: tf.Variable): Partial<Record<AdafactorSlot, tf.Variable>> {
    let s = this.slotsByName.get(p.name);
    if (!s) {
      if (p.dtype !== 'float32') throw new TypeError(`Adafactor: variable "${p.name}" is ${p.dtype}, expected float32`);
      s = {};
      for (const slot of adafactorSlots(p.shape, this.options.beta1 !== null)) {
        s[slot] = tf.tidy(() => tf.variable(tf.zeros(adafactorSlotShape(slot, p.shape), 'float32'), false));
      }
      this.slotsByName.set(p.name, s);
    }
    return s;
  }

  /** The state as named Float32Arrays (copies; read asynchronously, so it works on every backend). */
  async getState(): Promise<AdafactorState> {
    const step = this.stepCount;
    const slots: AdafactorState['slots'] = {};
    for (const [name, s] of this.slotsByName) {
      const out: Partial<Record<AdafactorSlot, Float32Array>> = {};
      for (const slot of ADAFACTOR_SLOTS) {
        const t = s[slot];
        if (t) out[slot] = ((await t.data()) as Float32Array).slice();
      }
      slots[name] = out;
    }
    return { kind: 'adafactor', step, slots };
  }

  /**
   * Replaces the state. Each variable named in it must be in `variables` and have exactly the slots
   * these options give it (`exp_avg` with `beta1`; row and column factors for 2-D and up, else
   * `exp_avg_sq`), each of its size.
   */
  setState(state: AdafactorState, variables: readonly tf.Variable[]): void {
    if (state.kind !== 'adafactor') throw new Error(`Adafactor.setState: the state is ${String(state.kind)}'s, not Adafactor's`);
    const byName = new Map(variables.map((x) => [x.name, x]));
    for (const [name, s] of Object.entries(state.slots)) {
      const p = byName.get(name);
      if (!p) throw new Error(`Adafactor.setState: no variable named "${name}"`);
      const want = adafactorSlots(p.shape, this.options.beta1 !== null);
      const have = ADAFACTOR_SLOTS.filter((k) => s[k] !== undefined);
      if (want.join() !== have.join()) {
        throw new Error(`Adafactor.setState: "${name}" has the slots [${have.join(', ')}], these options (beta1 ${this.options.beta1}) and its shape [${p.shape}] need [${want.join(', ')}]`);
      }
      for (const k of want) {
        const size = adafactorSlotShape(k, p.shape).reduce((a, b) => a * b, 1);
        if (s[k]!.length !== size) throw new Error(`Adafactor.setState: ${k} of "${name}" has ${s[k]!.length} values, expected ${size}`);
      }
    }
    this.dispose();
    for (const [name, s] of Object.entries(state.slots)) {
      const p = byName.get(name)!;
      const out: Partial<Record<AdafactorSlot, tf.Variable>> = {};
      for (const k of adafactorSlots(p.shape, this.options.beta1 !== null)) {
        out[k] = tf.tidy(() => tf.variable(tf.tensor(s[k]!, adafactorSlotShape(k, p.shape), 'float32'), false));
      }
      this.slotsByName.set(name, out);
    }
    this.stepCount = state.step;
  }

  /** Frees the slot tensors (the step count stays). */
  dispose(): void {
    for (const s of this.slotsByName.values()) for (const t of Object.values(s)) t.dispose();
    this.slotsByName.clear();
  }
}
