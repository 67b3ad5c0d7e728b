import * as tf from '@tensorflow/tfjs-core';
import { type AdamWItem, type AdamWStepConstants, webgpuAdamWInPlace, webgpuAdamWUpdate } from './adamw-webgpu.js';

/** Options of {@link AdamW}; defaults are `torch.optim.AdamW`'s. */
export interface AdamWOptions {
  /** Learning rate (default 1e-3). The trainer overrides it per step from the schedule. */
  lr?: number;
  /** Coefficients of the running averages of the gradient and its square (default [0.9, 0.999]). */
  betas?: [number, number];
  /** Added to the denominator, outside the square root (default 1e-8). */
  eps?: number;
  /** Decoupled weight decay: `p -= lr·wd·p` before the Adam update (default 0.01). */
  weightDecay?: number;
  /**
   * `true`: update each variable with one fused JavaScript loop that rounds every operation to
   * float32 (bit-identical to the tensor-op path, ~15× faster on tfjs-backend-cpu) instead of ~12
   * tensor ops. `'webgpu'`: one WGSL dispatch per variable that updates p, m and v in their own GPU
   * buffers, all in one compute pass, or three WGSL kernels for a variable whose buffer is shared
   * (adamw-webgpu.ts), instead of ~15 dispatches. `false`: tensor ops. Default `'auto'`: the JavaScript loop on 'cpu', the WGSL
   * kernels on 'webgpu', tensor ops elsewhere.
   */
  fused?: boolean | 'webgpu' | 'auto';
}

/** AdamW's state as plain arrays, keyed by variable name. */
export interface AdamWState {
  /** Optimizer steps taken (PyTorch's `state[p]['step']`, the same for every variable). */
  step: number;
  /** First moments (`exp_avg`). */
  m: Record<string, Float32Array>;
  /** Second moments (`exp_avg_sq`). */
  v: Record<string, Float32Array>;
}

const ADAMW_KEYS = ['lr', 'betas', 'eps', 'weightDecay', 'fused'] as const satisfies ReadonlyArray<keyof AdamWOptions>;
/** `torch.optim.AdamW` arguments this class does not take (it behaves as their defaults: `amsgrad=False`, `maximize=False`, …). */
const TORCH_ONLY = ['amsgrad', 'maximize', 'foreach', 'capturable', 'differentiable'] as const;

/**
 * AdamW with `torch.optim.AdamW`'s semantics, in the float32 operation order of PyTorch's
 * single-tensor CPU path (`_single_tensor_adam`, `decoupled_weight_decay=True`):
 * ```
 * p ← p·(1 − lr·wd)                   param.mul_(1 - lr * weight_decay)
 * m ← m + (1−β1)·(g − m)              exp_avg.lerp_(grad, 1 - beta1)
 * v ← v·β2 + ((1−β2)·g)·g             exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
 * d ← √v / √(1−β2^t) + eps            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
 * p ← p + ((−lr/(1−β1^t))·m) / d      param.addcdiv_(exp_avg, denom, value=-step_size)
 * ```
 * Each arrow is one float32 rounding per operation, in that order (addcmul computes
 * `self + value·t1·t2` left to right, addcdiv `self + value·t1/t2`). The bias corrections and the
 * step size are computed in float64 on the JS side, as PyTorch computes them in Python, then
 * rounded to float32 as the scalar operands. One difference remains: PyTorch's vectorised `lerp_`
 * uses a fused multiply-add (one rounding), here it is two roundings; it does not matter on the
 * first step (m = 0), and on the golden LoRA case 8184 of 8192 values after one step are
 * bit-identical to PyTorch's, the rest 1–2 float32 ulp away.
 */
export class AdamW {
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly fused: boolean | 'webgpu' | 'auto';
  private stepCount = 0;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();

  constructor(options: AdamWOptions = {}) {
    for (const k of Object.keys(options)) {
      const v = (options as Record<string, unknown>)[k];
      if (v === undefined || (ADAMW_KEYS as readonly string[]).includes(k)) continue;
      // torch's own default (amsgrad=False, …) is what this class does: a port from PyTorch that spells it out runs
      if ((TORCH_ONLY as readonly string[]).includes(k) && (v === false || (k === 'foreach' && v === null))) continue;
      const torch = (TORCH_ONLY as readonly string[]).includes(k) ? ` (torch.optim.AdamW's ${k} is not implemented: only its default)` : k === 'weight_decay' ? ' (did you mean weightDecay?)' : '';
      throw new RangeError(`AdamW: ${k}: unknown AdamW option${torch} (known: ${ADAMW_KEYS.join(', ')})`);
    }
    this.lr = options.lr ?? 1e-3;
    [this.beta1, this.beta2] = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
    this.fused = options.fused ?? 'auto';
    for (const [k, x] of Object.entries({ lr: this.lr, eps: this.eps, weightDecay: this.weightDecay })) {
      if (!(x >= 0) || !Number.isFinite(x)) throw new RangeError(`AdamW: ${k} must be a finite number >= 0, got ${x}`);
    }
    for (const b of [this.beta1, this.beta2]) if (!(b >= 0 && b < 1)) throw new RangeError(`AdamW: betas must be in [0, 1), got ${b}`);
  }

  /** Optimizer steps taken so far. */
  get step(): number {
    return this.stepCount;
  }

  /**
   * One update of `variables` with `grads` (keyed by variable name; a missing gradient counts as
   * zero, as for a parameter whose `.grad` PyTorch leaves None — except that PyTorch skips it entirely,
   * so pass every gradient when matching PyTorch). `lr` overrides the learning rate for this step.
   * The gradients are not disposed.
   */
  applyGradients(variables: readonly tf.Variable[], grads: Readonly<Record<string, tf.Tensor>>, lr: number = this.lr): void {
    const backend = tf.getBackend();
    const fused = this.fused === 'auto' ? (backend === 'cpu' ? true : backend === 'webgpu' ? 'webgpu' : false) : this.fused;
    if (fused === 'webgpu' && backend !== 'webgpu') throw new Error(`AdamW: fused: 'webgpu' needs the webgpu backend, the active one is ${backend}`);
    this.stepCount += 1;
    const t = this.stepCount;
    const bc1 = 1 - this.beta1 ** t;
    const bc2Sqrt = Math.sqrt(1 - this.beta2 ** t);
    const stepSize = lr / bc1;
    const decay = 1 - lr * this.weightDecay;
    const f = Math.fround;
    const constants: AdamWStepConstants = {
      oneMinusB1: f(1 - this.beta1), b2: f(this.beta2), oneMinusB2: f(1 - this.beta2), decay: f(decay), bc2: f(bc2Sqrt),
      eps: f(this.eps), negStep: f(-stepSize), weightDecay: this.weightDecay !== 0,
    };
    const onGPU: AdamWItem[] = [];
    for (const p of variables) {
      const g = grads[p.name];
      const { m, v } = this.slots(p);
      if (fused === 'webgpu' && g) {
        if (g.dtype !== 'float32') throw new TypeError(`AdamW: gradient of "${p.name}" is ${g.dtype}, expected float32`);
        onGPU.push({ p, g, m, v });
        continue;
      }
      if (fused === true) {
        this.fusedUpdate(p, g, m, v, decay, bc2Sqrt, stepSize);
        continue;
      }
      tf.tidy(() => {
        const grad = g ?? tf.zerosLike(p);
        if (grad.dtype !== 'float32') throw new TypeError(`AdamW: gradient of "${p.name}" is ${grad.dtype}, expected float32`);
        const decayed = this.weightDecay !== 0 ? tf.mul(p, tf.scalar(decay)) : p;
        const m2 = tf.add(m, tf.mul(tf.sub(grad, m), tf.scalar(1 - this.beta1)));
        const v2 = tf.add(tf.mul(v, tf.scalar(this.beta2)), tf.mul(tf.mul(tf.scalar(1 - this.beta2), grad), grad));
        const denom = tf.add(tf.div(tf.sqrt(v2), tf.scalar(bc2Sqrt)), tf.scalar(this.eps));
        const p2 = tf.add(decayed, tf.div(tf.mul(tf.scalar(-stepSize), m2), denom));
        m.assign(m2);
        v.assign(v2);
        p.assign(p2);
      });
    }
    // In place where the buffers are the variables' own (one dispatch each), else three kernels.
    for (const { p, g, m, v } of webgpuAdamWInPlace(onGPU, constants)) webgpuAdamWUpdate(p, g, m, v, constants);
  }

  /** The same arithmetic as the tensor path, element by element, each operation rounded to float32. */
  private fusedUpdate(p: tf.Variable, g: tf.Tensor | undefined, m: tf.Variable, v: tf.Variable, decay: number, bc2Sqrt: number, stepSize: number): void {
    if (g && g.dtype !== 'float32') throw new TypeError(`AdamW: gradient of "${p.name}" is ${g.dtype}, expected float32`);
    const f = Math.fround;
    const pv = p.dataSync() as Float32Array;
    const mv = m.dataSync() as Float32Array;
    const vv = v.dataSync() as Float32Array;
    const gv = g ? (g.dataSync() as Float32Array) : new Float32Array(p.size);
    const n = p.size;
    const p2 = new Float32Array(n);
    const m2 = new Float32Array(n);
    const v2 = new Float32Array(n);
    const decay32 = f(decay);
    const oneMinusB1 = f(1 - this.beta1);
    const b2 = f(this.beta2);
    const oneMinusB2 = f(1 - this.beta2);
    const bc2 = f(bc2Sqrt);
    const eps = f(this.eps);
    const negStep = f(-stepSize);
    const wd = this.weightDecay !== 0;
    for (let i = 0; i < n; i++) {
      const gi = gv[i]!;
      const mi = mv[i]!;
      const decayed = wd ? f(pv[i]! * decay32) : pv[i]!;
      const mn = f(mi + f(f(gi - mi) * oneMinusB1));
      const vn = f(f(vv[i]! * b2) + f(f(oneMinusB2 * gi) * gi));
      const denom = f(f(f(Math.sqrt(vn)) / bc2) + eps);
      p2[i] = f(decayed + f(f(negStep * mn) / denom));
      m2[i] = mn;
      v2[i] = vn;
    }
    tf.tidy(() => {
      m.assign(tf.tensor(m2, m.shape, 'float32'));
      v.assign(tf.tensor(v2, v.shape, 'float32'));
      p.assign(tf.tensor(p2, p.shape, 'float32'));
    });
  }

  /** Creates the zero moments of `variables` that have none yet (the first update would do it). */
  initSlots(variables: readonly tf.Variable[]): void {
    for (const p of variables) this.slots(p);
  }

  private slots(p: tf.Variable): { m: tf.Variable; v: tf.Variable } {
    let m = this.m.get(p.name);
    let v = this.v.get(p.name);
    if (!m || !v) {
      if (p.dtype !== 'float32') throw new TypeError(`AdamW: variable "${p.name}" is ${p.dtype}, expected float32`);
      m = tf.tidy(() => tf.variable(tf.zerosLike(p), false));
      v = tf.tidy(() => tf.variable(tf.zerosLike(p), false));
      this.m.set(p.name, m);
      this.v.set(p.name, v);
    }
    return { m, v };
  }

  /** The state as named Float32Arrays (copies; read asynchronously, so it works on every backend, webgpu included). */
  async getState(): Promise<AdamWState> {
    const step = this.stepCount;
    const m: Record<string, Float32Array> = {};
    const v: Record<string, Float32Array> = {};
    for (const [name, t] of this.m) m[name] = ((await t.data()) as Float32Array).slice();
    for (const [name, t] of this.v) v[name] = ((await t.data()) as Float32Array).slice();
    return { step, m, v };
  }

  /**
   * Replaces the state. Each moment must match its variable's size; shapes come from `variables`,
   * which must hold every variable named in the state.
   */
  setState(state: AdamWState, variables: readonly tf.Variable[]): void {
    const byName = new Map(variables.map((x) => [x.name, x]));
    const names = Object.keys(state.m);
    for (const name of names) {
      const p = byName.get(name);
      const mv = state.m[name];
      const vv = state.v[name];
      if (!p) throw new Error(`AdamW.setState: no variable named "${name}"`);
      if (!mv || !vv || mv.length !== p.size || vv.length !== p.size) {
        throw new Error(`AdamW.setState: moments of "${name}" missing or not of size ${p.size}`);
      }
    }
    this.dispose();
    for (const name of names) {
      const p = byName.get(name)!;
      this.m.set(name, tf.tidy(() => tf.variable(tf.tensor(state.m[name]!, p.shape, 'float32'), false)));
      this.v.set(name, tf.tidy(() => tf.variable(tf.tensor(state.v[name]!, p.shape, 'float32'), false)));
    }
    this.stepCount = state.step;
  }

  /** Frees the moment tensors (the step count stays). */
  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}
