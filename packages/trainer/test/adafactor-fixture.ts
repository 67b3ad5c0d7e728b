// The PyTorch reference of test/fixtures/adafactor/ (generate.py) and one run of a case through
// this package's Adafactor on the active backend: the error after each step, measured against it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { Adafactor, ADAFACTOR_SLOTS, type AdafactorOptions, type AdafactorSlot, type AdafactorState } from '../src';

interface HfOptions {
  lr: number | null;
  eps: [number, number];
  clip_threshold: number;
  decay_rate: number;
  beta1: number | null;
  weight_decay: number;
  scale_parameter: boolean;
  relative_step: boolean;
  warmup_init: boolean;
}
export interface AdafactorCase {
  options: HfOptions;
  lr_lambda: number[] | null;
  after: Array<Record<string, number[]>>;
  lr: Array<Record<string, number>>;
  final_state: Record<string, Partial<Record<AdafactorSlot, number[]>>>;
}
interface Fixture {
  shapes: Record<string, number[]>;
  initial: Record<string, number[]>;
  grads: Array<Record<string, number[]>>;
  cases: Record<string, AdafactorCase>;
}

export const fx = JSON.parse(readFileSync(join(__dirname, 'fixtures/adafactor/adafactor.json'), 'utf8')) as Fixture;
const names = Object.keys(fx.shapes);

/** transformers' keyword arguments → this package's camelCase options. */
export function optionsOf(o: HfOptions): AdafactorOptions {
  return {
    ...(o.lr !== null ? { lr: o.lr } : {}), eps: o.eps, clipThreshold: o.clip_threshold, decayRate: o.decay_rate, beta1: o.beta1,
    weightDecay: o.weight_decay, scaleParameter: o.scale_parameter, relativeStep: o.relative_step, warmupInit: o.warmup_init,
  };
}

/** Worst |a − b| / max |b| over a tensor (0 where both are all zeros), and how many values are bit-identical. */
function errors(a: Float32Array, b: number[]): { rel: number; same: number } {
  const scale = Math.max(...b.map(Math.abs));
  let rel = 0;
  let same = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    rel = Math.max(rel, d === 0 ? 0 : d / scale);
    if (d === 0) same++;
  }
  return { rel, same };
}

/**
 * Runs a case's six steps on the active backend with the fixture's gradients and lrs (`lr` · the
 * schedule's lambda, as LambdaLR sets `group["lr"]`). Checks `lrAt` against the lr PyTorch used
 * and that no step after the first makes tensors. `fused`: Adafactor's option (the path taken). Returns the worst parameter error per step
 * (relative to its tensor's largest value), the bit-identical count, and the slots' worst error after
 * step 6 (relative to each slot's largest value).
 */
export async function runCase(c: AdafactorCase, fused: boolean | 'auto' = 'auto'): Promise<{ worst: number; same: number; values: number; slotRel: number; params: Float32Array[]; slots: AdafactorState['slots'] }> {
  const vars = names.map((n) => tf.tidy(() => tf.variable(tf.tensor(fx.initial[n]!, fx.shapes[n], 'float32'), true, n)));
  const opt = new Adafactor({ ...optionsOf(c.options), fused });
  try {
    let worst = 0;
    let same = 0;
    let values = 0;
    for (let s = 0; s < fx.grads.length; s++) {
      const lr = c.options.lr === null ? undefined : c.options.lr * (c.lr_lambda?.[s] ?? 1);
      const prev = await Promise.all(vars.map(async (v) => (await v.data()) as Float32Array));
      // _get_lr against the lrs PyTorch used (its state["RMS"] is the parameter's before the step)
      for (let i = 0; i < names.length; i++) {
        const rmsP = Math.sqrt(prev[i]!.reduce((a, x) => a + x * x, 0) / prev[i]!.length);
        const want = c.lr[s]![names[i]!]!;
        expect(Math.abs(opt.lrAt(s + 1, lr, rmsP) - want)).toBeLessThanOrEqual(1e-6 * want);
      }
      const grads = Object.fromEntries(names.map((n) => [n, tf.tensor(fx.grads[s]![n]!, fx.shapes[n], 'float32')]));
      const before = tf.memory().numTensors;
      opt.applyGradients(vars, grads, lr);
      if (s > 0) expect(tf.memory().numTensors).toBe(before); // the first step creates the slots
      tf.dispose(Object.values(grads));
      for (let i = 0; i < names.length; i++) {
        const e = errors((await vars[i]!.data()) as Float32Array, c.after[s]![names[i]!]!);
        worst = Math.max(worst, e.rel);
        same += e.same;
        values += vars[i]!.size;
      }
    }
    expect(opt.step).toBe(fx.grads.length);
    const state = await opt.getState();
    let slotRel = 0;
    for (const n of names) {
      const want = c.final_state[n]!;
      expect(ADAFACTOR_SLOTS.filter((k) => state.slots[n]![k])).toEqual(ADAFACTOR_SLOTS.filter((k) => want[k]));
      for (const k of ADAFACTOR_SLOTS) {
        const w = want[k];
        if (!w) continue;
        const got = state.slots[n]![k]!;
        const scale = Math.max(...w.map(Math.abs));
        for (let i = 0; i < w.length; i++) slotRel = Math.max(slotRel, Math.abs(got[i]! - w[i]!) / scale);
      }
    }
    const params = await Promise.all(vars.map(async (v) => ((await v.data()) as Float32Array).slice()));
    return { worst, same, values, slotRel, params, slots: state.slots };
  } finally {
    opt.dispose();
    tf.dispose(vars);
  }
}
