// WebGPU AdamW paths a coverage run showed no test reached: a variable of more than 65535 workgroups
// (two-dimensional dispatch: a fully fine-tuned embedding, say), through the three kernels and in
// place, and an empty variable (a zero-sized binding is invalid in WebGPU).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { skipWebGPU, useWebGPUBackend } from '../../../vitest.webgpu';
import { AdamW } from '../src/adamw';
import { adamwInPlaceDispatchCount } from '../src/adamw-webgpu';

const skip = await skipWebGPU();

describe.skipIf(skip)('AdamW on webgpu: large and empty variables (lavapipe in CI)', () => {
  useWebGPUBackend(tf, () => import('@tensorflow/tfjs-backend-webgpu'));

  it('a variable past 65535 · 64 elements is updated everywhere, by the kernels and in place, as PyTorch\'s float32 formula', async () => {
    const n = 65535 * 64 + 70_000; // 4,264,240 elements: a 2-D dispatch
    const f = Math.fround;
    const p0 = Float32Array.from({ length: n }, (_, j) => Math.sin(j * 0.37) * 0.1);
    const gOf = (step: number) => Float32Array.from({ length: n }, (_, j) => Math.cos(j * 1.3 + step));
    const [lr, b1, b2, eps, wd] = [0.01, 0.9, 0.999, 1e-8, 0.01];
    // torch.optim.AdamW, single-tensor path, one float32 rounding per operation (README)
    const ref = { p: Float32Array.from(p0), m: new Float32Array(n), v: new Float32Array(n) };
    const refStep = (t: number, g: Float32Array) => {
      const bc2 = f(Math.sqrt(1 - b2 ** t));
      const negStep = f(-lr / (1 - b1 ** t));
      const decay = f(1 - lr * wd);
      for (let j = 0; j < n; j++) {
        const mn = f(ref.m[j]! + f(f(g[j]! - ref.m[j]!) * f(1 - b1)));
        const vn = f(f(ref.v[j]! * f(b2)) + f(f(f(1 - b2) * g[j]!) * g[j]!));
        const denom = f(f(f(Math.sqrt(vn)) / bc2) + f(eps));
        ref.p[j] = f(f(ref.p[j]! * decay) + f(f(negStep * mn) / denom));
        ref.m[j] = mn;
        ref.v[j] = vn;
      }
    };
    const made = tf.tensor(p0, [n]);
    const p = tf.variable(made, true, 'big.p'); // shares made's buffer: step 1 takes the three kernels
    const empty = tf.tidy(() => tf.variable(tf.zeros([0]), true, 'big.empty'));
    const opt = new AdamW({ lr, betas: [b1, b2], eps, weightDecay: wd });
    const inPlace: number[] = [];
    for (let t = 1; t <= 2; t++) {
      const g = gOf(t);
      const gt = tf.tensor(g, [n]);
      const ge = tf.zeros([0]);
      const before = adamwInPlaceDispatchCount();
      opt.applyGradients([p, empty], { 'big.p': gt, 'big.empty': ge });
      inPlace.push(adamwInPlaceDispatchCount() - before);
      const got = (await p.data()) as Float32Array;
      refStep(t, g);
      let worst = 0;
      let worstAt = -1;
      for (let j = 0; j < n; j++) {
        const e = Math.abs(got[j]! - ref.p[j]!) / Math.max(Math.abs(ref.p[j]!), 1e-2);
        if (e > worst) [worst, worstAt] = [e, j];
      }
      expect(worst, `step ${t}, worst at ${worstAt}`).toBeLessThan(1e-6);
      tf.dispose([gt, ge]);
    }
    expect(inPlace).toEqual([0, 1]); // step 1: kernels (shared buffer); step 2: in place (the empty variable is skipped)
    const kept = (await made.data()) as Float32Array;
    let changed = 0;
    for (let j = 0; j < n; j++) if (kept[j] !== p0[j]) changed++;
    expect(changed).toBe(0); // the kernels left the shared tensor alone
    const state = await opt.getState();
    expect(state.m['big.empty']!.length).toBe(0);
    let worstM = 0;
    for (let j = 0; j < n; j++) worstM = Math.max(worstM, Math.abs(state.m['big.p']![j]! - ref.m[j]!) / Math.max(Math.abs(ref.m[j]!), 1e-3));
    expect(worstM).toBeLessThan(1e-6);
    tf.dispose([made, p, empty]);
    opt.dispose();
  }, 120_000);
});
