// Every schedule kind against transformers' own formulas. `hf` below transcribes, line by line, the
// LambdaLR lambdas of huggingface/transformers src/transformers/optimization.py (commit
// 005edacb6b5dabbf0843e92c6623de9e07ca6241), each under its Python name, with Python's float
// arithmetic in the same order (float(x) / float(max(1, n)), math.cos, math.sqrt, `%` on
// non-negative floats, `**`). They are evaluated at the warmup boundaries, inside each phase, at the
// last step (total − 1), at total and past it, and our lrMultiplier must give the same numbers.
// A few values are also worked out by hand in the comments, as anchors for the transcription.
import { describe, expect, it } from 'vitest';
import { lrMultiplier, type ScheduleOptions } from '../src/schedule';

const f = (x: number) => x; // Python's float(): a no-op on JS numbers
const hf = {
  // _get_constant_lambda
  _get_constant_lambda: () => 1,
  // _get_constant_schedule_with_warmup_lr_lambda(current_step, *, num_warmup_steps)
  _get_constant_schedule_with_warmup_lr_lambda(current_step: number, num_warmup_steps: number) {
    if (current_step < num_warmup_steps) return f(current_step) / f(Math.max(1.0, num_warmup_steps));
    return 1.0;
  },
  // _get_linear_schedule_with_warmup_lr_lambda(current_step, *, num_warmup_steps, num_training_steps)
  _get_linear_schedule_with_warmup_lr_lambda(current_step: number, num_warmup_steps: number, num_training_steps: number) {
    if (current_step < num_warmup_steps) return f(current_step) / f(Math.max(1, num_warmup_steps));
    return Math.max(0.0, f(num_training_steps - current_step) / f(Math.max(1, num_training_steps - num_warmup_steps)));
  },
  // _get_cosine_schedule_with_warmup_lr_lambda(current_step, *, num_warmup_steps, num_training_steps, num_cycles, min_lr_rate=0.0)
  // (the later definition in optimization.py, which get_cosine_schedule_with_warmup and
  // get_cosine_with_min_lr_schedule_with_warmup both call; min_lr_rate 0 is the plain cosine)
  _get_cosine_schedule_with_warmup_lr_lambda(current_step: number, num_warmup_steps: number, num_training_steps: number, num_cycles: number, min_lr_rate = 0.0) {
    if (current_step < num_warmup_steps) return f(current_step) / f(Math.max(1, num_warmup_steps));
    const progress = f(current_step - num_warmup_steps) / f(Math.max(1, num_training_steps - num_warmup_steps));
    let factor = 0.5 * (1.0 + Math.cos(Math.PI * f(num_cycles) * 2.0 * progress));
    factor = factor * (1 - min_lr_rate) + min_lr_rate;
    return Math.max(0, factor);
  },
  // _get_cosine_with_hard_restarts_schedule_with_warmup_lr_lambda(current_step, *, num_warmup_steps, num_training_steps, num_cycles)
  _get_cosine_with_hard_restarts_schedule_with_warmup_lr_lambda(current_step: number, num_warmup_steps: number, num_training_steps: number, num_cycles: number) {
    if (current_step < num_warmup_steps) return f(current_step) / f(Math.max(1, num_warmup_steps));
    const progress = f(current_step - num_warmup_steps) / f(Math.max(1, num_training_steps - num_warmup_steps));
    if (progress >= 1.0) return 0.0;
    return Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * ((f(num_cycles) * progress) % 1.0))));
  },
  // _get_polynomial_decay_schedule_with_warmup_lr_lambda(current_step, *, num_warmup_steps, num_training_steps, lr_end, power, lr_init)
  _get_polynomial_decay_schedule_with_warmup_lr_lambda(current_step: number, num_warmup_steps: number, num_training_steps: number, lr_end: number, power: number, lr_init: number) {
    if (current_step < num_warmup_steps) return f(current_step) / f(Math.max(1, num_warmup_steps));
    else if (current_step > num_training_steps) return lr_end / lr_init; // as LambdaLR multiplies by lr_init
    const lr_range = lr_init - lr_end;
    const decay_steps = num_training_steps - num_warmup_steps;
    const pct_remaining = 1 - (current_step - num_warmup_steps) / decay_steps;
    const decay = lr_range * pct_remaining ** power + lr_end;
    return decay / lr_init;
  },
  // _get_inverse_sqrt_schedule_lr_lambda(current_step, *, num_warmup_steps, timescale) with
  // get_inverse_sqrt_schedule's default `timescale = num_warmup_steps or 10_000`
  _get_inverse_sqrt_schedule_lr_lambda(current_step: number, num_warmup_steps: number, timescale: number) {
    if (current_step < num_warmup_steps) return f(current_step) / f(Math.max(1, num_warmup_steps));
    const shift = timescale - num_warmup_steps;
    const decay = 1.0 / Math.sqrt((current_step + shift) / timescale);
    return decay;
  },
  // _get_cosine_with_min_lr_schedule_with_warmup_lr_rate_lambda(current_step, *, num_warmup_steps,
  // num_training_steps, num_cycles, min_lr_rate=0.0, warmup_lr_rate=None), which
  // get_cosine_with_min_lr_schedule_with_warmup_lr_rate ('cosine_warmup_with_min_lr' in
  // TYPE_TO_SCHEDULER_FUNCTION) calls; read at the same commit 005edacb6b5dabbf0843e92c6623de9e07ca6241.
  // Its three float() casts are no-ops here; null stands for Python's None.
  _get_cosine_with_min_lr_schedule_with_warmup_lr_rate_lambda(current_step: number, num_warmup_steps: number, num_training_steps: number, num_cycles: number, min_lr_rate = 0.0, warmup_lr_rate: number | null = null) {
    current_step = f(current_step);
    num_warmup_steps = f(num_warmup_steps);
    num_training_steps = f(num_training_steps);
    if (current_step < num_warmup_steps) {
      if (warmup_lr_rate === null) return (current_step + 1) / Math.max(1, num_warmup_steps);
      warmup_lr_rate = f(warmup_lr_rate);
      return warmup_lr_rate + ((1.0 - warmup_lr_rate) * current_step) / Math.max(1, num_warmup_steps - 1);
    }
    const progress = (current_step - num_warmup_steps + 1) / Math.max(1, num_training_steps - num_warmup_steps);
    let factor = 0.5 * (1.0 + Math.cos(Math.PI * num_cycles * 2.0 * progress));
    factor = factor * (1 - min_lr_rate) + min_lr_rate;
    return Math.max(0, factor);
  },
  // _get_wsd_scheduler_lambda(current_step, *, num_warmup_steps, num_stable_steps, num_decay_steps, warmup_type, decay_type, min_lr_ratio, num_cycles)
  _get_wsd_scheduler_lambda(current_step: number, num_warmup_steps: number, num_stable_steps: number, num_decay_steps: number, warmup_type: string, decay_type: string, min_lr_ratio: number, num_cycles: number) {
    if (current_step < num_warmup_steps) {
      const progress = f(current_step) / f(Math.max(1, num_warmup_steps));
      let factor = 0;
      if (warmup_type === 'linear') factor = progress;
      else if (warmup_type === 'cosine') factor = 0.5 * (1.0 - Math.cos(Math.PI * progress));
      else if (warmup_type === '1-sqrt') factor = 1.0 - Math.sqrt(1.0 - progress);
      factor = factor * (1.0 - min_lr_ratio) + min_lr_ratio;
      return Math.max(0.0, factor);
    }
    if (current_step < num_warmup_steps + num_stable_steps) return 1.0;
    if (current_step < num_warmup_steps + num_stable_steps + num_decay_steps) {
      const progress = f(current_step - num_warmup_steps - num_stable_steps) / f(Math.max(1, num_decay_steps));
      let factor = 0;
      if (decay_type === 'linear') factor = 1.0 - progress;
      else if (decay_type === 'cosine') factor = 0.5 * (1.0 + Math.cos(Math.PI * f(num_cycles) * 2.0 * progress));
      else if (decay_type === '1-sqrt') factor = 1.0 - Math.sqrt(progress);
      factor = factor * (1.0 - min_lr_ratio) + min_lr_ratio;
      return Math.max(0.0, factor);
    }
    return min_lr_ratio;
  },
};

/** Steps around every boundary of a run with `warmup` warmup steps and `total` steps, and past its end. */
const around = (...points: number[]) => [...new Set(points.flatMap((p) => [p - 1, p, p + 1]).filter((s) => s >= 0))].sort((a, b) => a - b);

function check(options: ScheduleOptions, want: (step: number) => number, steps: number[]) {
  for (const step of steps) {
    const got = lrMultiplier(step, options);
    const expected = want(step);
    expect(Number.isFinite(expected)).toBe(true);
    expect({ step, got }).toEqual({ step, got: expect.closeTo(expected, 14) });
  }
}

describe("lrMultiplier = transformers' optimization.py lambdas, at every boundary", () => {
  it("constant (get_constant_schedule) and constant_with_warmup (get_constant_schedule_with_warmup)", () => {
    check({ kind: 'constant' }, () => hf._get_constant_lambda(), around(0, 7, 1000));
    for (const w of [0, 1, 4]) check({ kind: 'constant_with_warmup', warmupSteps: w }, (s) => hf._get_constant_schedule_with_warmup_lr_lambda(s, w), around(0, w, 20));
    // warmup 4: 0, 0.25, 0.5, 0.75, then 1
    expect([0, 1, 2, 3, 4, 5].map((s) => lrMultiplier(s, { kind: 'constant_with_warmup', warmupSteps: 4 }))).toEqual([0, 0.25, 0.5, 0.75, 1, 1]);
    // transformers' 'constant' ignores warmup_steps (get_scheduler returns get_constant_schedule(optimizer));
    // ours warms up when warmupSteps > 0, as 'constant_with_warmup' (README: a deliberate difference)
    check({ kind: 'constant', warmupSteps: 4 }, (s) => hf._get_constant_schedule_with_warmup_lr_lambda(s, 4), around(0, 4));
  });

  it('linear (get_linear_schedule_with_warmup)', () => {
    for (const [w, t] of [[0, 10], [3, 10], [10, 10], [12, 10], [1, 1]] as const) {
      check({ kind: 'linear', warmupSteps: w, totalSteps: t }, (s) => hf._get_linear_schedule_with_warmup_lr_lambda(s, w, t), around(0, w, t, 30));
    }
    // warmup 3, total 10: step 3 → 7/7 = 1; last step 9 → 1/7; 10 → 0
    expect(lrMultiplier(9, { kind: 'linear', warmupSteps: 3, totalSteps: 10 })).toBeCloseTo(1 / 7, 15);
  });

  it('cosine (get_cosine_schedule_with_warmup), num_cycles 0.5 (default) and others', () => {
    for (const [w, t, c] of [[0, 10, 0.5], [3, 13, 0.5], [5, 25, 1.5], [2, 12, 0.25]] as const) {
      const o: ScheduleOptions = { kind: 'cosine', warmupSteps: w, totalSteps: t, ...(c === 0.5 ? {} : { lrSchedulerKwargs: { num_cycles: c } }) };
      check(o, (s) => hf._get_cosine_schedule_with_warmup_lr_lambda(s, w, t, c), around(0, w, (w + t) / 2, t - 1, t, 2 * t));
    }
    // warmup 3, total 13, progress at step 8 = 0.5 → 0.5·(1 + cos(π/2)) = 0.5
    expect(lrMultiplier(8, { kind: 'cosine', warmupSteps: 3, totalSteps: 13 })).toBeCloseTo(0.5, 15);
    // the older numCycles option is num_cycles
    expect(lrMultiplier(7, { kind: 'cosine', totalSteps: 20, numCycles: 1.5 })).toBe(lrMultiplier(7, { kind: 'cosine', totalSteps: 20, lrSchedulerKwargs: { num_cycles: 1.5 } }));
  });

  it('cosine_with_restarts (get_cosine_with_hard_restarts_schedule_with_warmup), num_cycles 1 (default) and 3', () => {
    for (const [w, t, c] of [[0, 12, 1], [2, 14, 3], [4, 10, 2]] as const) {
      const o: ScheduleOptions = { kind: 'cosine_with_restarts', warmupSteps: w, totalSteps: t, ...(c === 1 ? {} : { lrSchedulerKwargs: { num_cycles: c } }) };
      const restarts = Array.from({ length: c }, (_, k) => w + ((t - w) * k) / c);
      check(o, (s) => hf._get_cosine_with_hard_restarts_schedule_with_warmup_lr_lambda(s, w, t, c), around(0, w, ...restarts, t - 1, t, t + 5));
    }
    // warmup 2, total 14, 3 cycles: step 6 is a restart (progress 1/3 → (3·1/3) % 1 = 0) → 1; step 4 → 0.5·(1 + cos(π/2)) = 0.5
    const o = { kind: 'cosine_with_restarts' as const, warmupSteps: 2, totalSteps: 14, lrSchedulerKwargs: { num_cycles: 3 } };
    expect(lrMultiplier(4, o)).toBeCloseTo(0.5, 15);
    expect(lrMultiplier(14, o)).toBe(0); // progress ≥ 1
  });

  it('polynomial (get_polynomial_decay_schedule_with_warmup): lr_end is absolute, so it needs the base lr', () => {
    for (const [w, t, lrEnd, power, lr] of [[0, 10, 1e-7, 1, 1e-3], [3, 13, 1e-5, 2, 1e-3], [2, 8, 0.01, 0.5, 0.1]] as const) {
      const o: ScheduleOptions = { kind: 'polynomial', warmupSteps: w, totalSteps: t, lr, lrSchedulerKwargs: { ...(lrEnd === 1e-7 ? {} : { lr_end: lrEnd }), ...(power === 1 ? {} : { power }) } };
      check(o, (s) => hf._get_polynomial_decay_schedule_with_warmup_lr_lambda(s, w, t, lrEnd, power, lr), around(0, w, (w + t) / 2, t, t + 3));
    }
    // warmup 3, total 13, power 2, lr 1e-3, lr_end 1e-5: step 8 → ((1e-3 − 1e-5)·0.5² + 1e-5) / 1e-3 = 0.2575
    expect(lrMultiplier(8, { kind: 'polynomial', warmupSteps: 3, totalSteps: 13, lr: 1e-3, lrSchedulerKwargs: { lr_end: 1e-5, power: 2 } })).toBeCloseTo(0.2575, 14);
  });

  it('inverse_sqrt (get_inverse_sqrt_schedule): timescale defaults to num_warmup_steps, or 10000', () => {
    for (const [w, ts] of [[0, undefined], [4, undefined], [4, 9]] as const) {
      const timescale = ts ?? (w || 10_000);
      const o: ScheduleOptions = { kind: 'inverse_sqrt', warmupSteps: w, ...(ts === undefined ? {} : { lrSchedulerKwargs: { timescale: ts } }) };
      check(o, (s) => hf._get_inverse_sqrt_schedule_lr_lambda(s, w, timescale), around(0, w, 100, 40_000));
    }
    // warmup 4 (timescale 4): step 12 → 1/sqrt(12/4) = 1/sqrt(3)
    expect(lrMultiplier(12, { kind: 'inverse_sqrt', warmupSteps: 4 })).toBeCloseTo(1 / Math.sqrt(3), 15);
    expect(lrMultiplier(990_000, { kind: 'inverse_sqrt' })).toBeCloseTo(0.1, 15); // timescale 10000: 1/sqrt((990000 + 10000)/10000); no totalSteps needed
  });

  it('cosine_with_min_lr (get_cosine_with_min_lr_schedule_with_warmup): min_lr_rate, or min_lr / lr', () => {
    for (const [w, t, kw] of [[0, 10, { min_lr_rate: 0.1 }], [3, 13, { min_lr: 1e-4 }], [2, 22, { min_lr_rate: 0.25, num_cycles: 1 }]] as const) {
      const lr = 1e-3;
      const rate = 'min_lr' in kw ? kw.min_lr / lr : kw.min_lr_rate;
      const cycles = 'num_cycles' in kw ? kw.num_cycles : 0.5;
      check({ kind: 'cosine_with_min_lr', warmupSteps: w, totalSteps: t, lr, lrSchedulerKwargs: kw }, (s) => hf._get_cosine_schedule_with_warmup_lr_lambda(s, w, t, cycles, rate), around(0, w, (w + t) / 2, t - 1, t, t + 4));
    }
    // min_lr_rate 0.1, total 10, no warmup: step 10 → 0·0.9 + 0.1 = 0.1 (the floor), step 5 → 0.5·0.9 + 0.1 = 0.55
    expect(lrMultiplier(10, { kind: 'cosine_with_min_lr', totalSteps: 10, lrSchedulerKwargs: { min_lr_rate: 0.1 } })).toBeCloseTo(0.1, 15);
    expect(lrMultiplier(5, { kind: 'cosine_with_min_lr', totalSteps: 10, lrSchedulerKwargs: { min_lr_rate: 0.1 } })).toBeCloseTo(0.55, 15);
  });

  it('cosine_warmup_with_min_lr (get_cosine_with_min_lr_schedule_with_warmup_lr_rate): warmup (k+1)/W or from warmup_lr_rate, progress one step on', () => {
    const lr = 1e-3;
    type Kw = { min_lr?: number; min_lr_rate?: number; warmup_lr_rate?: number; num_cycles?: number };
    const cases: Array<[number, number, Kw]> = [
      [0, 10, { min_lr_rate: 0.1 }],
      [3, 13, { min_lr: 1e-4 }],
      [4, 14, { min_lr_rate: 0.2, warmup_lr_rate: 0.1 }],
      [1, 8, { min_lr_rate: 0.05, warmup_lr_rate: 0.3 }], // max(1, W − 1) guards W = 1
      [2, 22, { min_lr_rate: 0.25, num_cycles: 1 }],
      [5, 25, { min_lr: 2e-4, warmup_lr_rate: 0, num_cycles: 1.5 }],
      [0, 6, { min_lr_rate: 0.1, warmup_lr_rate: 0.5 }], // warmup_lr_rate without warmup: unused
      [6, 6, { min_lr_rate: 0.1 }], // total = warmup: max(1., 0.) = 1
      [8, 5, { min_lr: 5e-4, warmup_lr_rate: 0.2 }], // warmup past total
    ];
    for (const [w, t, kw] of cases) {
      const rate = kw.min_lr !== undefined ? kw.min_lr / lr : kw.min_lr_rate!;
      const want = (s: number) => hf._get_cosine_with_min_lr_schedule_with_warmup_lr_rate_lambda(s, w, t, kw.num_cycles ?? 0.5, rate, kw.warmup_lr_rate ?? null);
      check({ kind: 'cosine_warmup_with_min_lr', warmupSteps: w, totalSteps: t, lr, lrSchedulerKwargs: kw }, want, around(0, w, Math.floor((w + t) / 2), t - 1, t, t + 4, 3 * t));
    }
    const o = (w: number, kw: Kw) => ({ kind: 'cosine_warmup_with_min_lr' as const, warmupSteps: w, totalSteps: 10 + w, lrSchedulerKwargs: kw });
    // warmup 4 without warmup_lr_rate: (k + 1)/4 = 0.25, 0.5, 0.75, 1 ('cosine_with_min_lr': 0, 0.25, 0.5, 0.75)
    expect([0, 1, 2, 3].map((s) => lrMultiplier(s, o(4, { min_lr_rate: 0.1 })))).toEqual([0.25, 0.5, 0.75, 1]);
    // warmup 4 from warmup_lr_rate 0.1: 0.1 + 0.9·k/3 = 0.1, 0.4, 0.7, 1
    [0.1, 0.4, 0.7, 1].forEach((m, k) => expect(lrMultiplier(k, o(4, { min_lr_rate: 0.1, warmup_lr_rate: 0.1 }))).toBeCloseTo(m, 15));
    // no warmup, total 10, min_lr_rate 0.1: step 0 → progress 0.1, not 0; step 4 → progress 0.5 → 0.5·0.9 + 0.1 = 0.55;
    // the last step 9 → progress 1 → exactly the floor 0.1; step 10 → progress 1.1, the cosine rises again
    expect(lrMultiplier(0, o(0, { min_lr_rate: 0.1 }))).toBeCloseTo(0.5 * (1 + Math.cos(Math.PI * 0.1)) * 0.9 + 0.1, 15);
    expect(lrMultiplier(4, o(0, { min_lr_rate: 0.1 }))).toBeCloseTo(0.55, 15);
    expect(lrMultiplier(9, o(0, { min_lr_rate: 0.1 }))).toBeCloseTo(0.1, 15);
    expect(lrMultiplier(10, o(0, { min_lr_rate: 0.1 }))).toBeGreaterThan(0.1 + 1e-3);
  });

  it('warmup_stable_decay (get_wsd_schedule): every warmup and decay shape, min_lr_ratio, num_stable_steps from totalSteps', () => {
    const shapes = ['linear', 'cosine', '1-sqrt'] as const;
    for (const warmupType of shapes) {
      for (const decayType of shapes) {
        // (no decay steps: the stable phase ends straight at min_lr_ratio)
        for (const [w, decay, stable, minRatio, cycles] of [[4, 6, 5, 0, 0.5], [3, 5, 2, 0.1, 0.5], [0, 4, 3, 0.2, 1], [2, 0, 3, 0.1, 0.5]] as const) {
          const total = w + stable + decay;
          const kw = { num_decay_steps: decay, warmup_type: warmupType, decay_type: decayType, ...(minRatio ? { min_lr_ratio: minRatio } : {}), ...(cycles === 0.5 ? {} : { num_cycles: cycles }) };
          const want = (s: number) => hf._get_wsd_scheduler_lambda(s, w, stable, decay, warmupType, decayType, minRatio, cycles);
          const steps = around(0, w, w + stable, total - 1, total, total + 5);
          check({ kind: 'warmup_stable_decay', warmupSteps: w, totalSteps: total, lrSchedulerKwargs: kw }, want, steps); // stable = total − warmup − decay
          check({ kind: 'warmup_stable_decay', warmupSteps: w, lrSchedulerKwargs: { ...kw, num_stable_steps: stable } }, want, steps); // or given
        }
      }
    }
    // get_wsd_schedule's defaults: warmup_type 'linear', decay_type 'cosine', min_lr_ratio 0, num_cycles 0.5
    check({ kind: 'warmup_stable_decay', warmupSteps: 3, totalSteps: 12, lrSchedulerKwargs: { num_decay_steps: 5 } }, (s) => hf._get_wsd_scheduler_lambda(s, 3, 4, 5, 'linear', 'cosine', 0, 0.5), around(0, 3, 7, 11, 12));
    // linear warmup 4 from min_lr_ratio 0.2: step 2 → 0.5·0.8 + 0.2 = 0.6 (not 0.5: WSD warms up from min_lr_ratio)
    expect(lrMultiplier(2, { kind: 'warmup_stable_decay', warmupSteps: 4, totalSteps: 20, lrSchedulerKwargs: { num_decay_steps: 4, warmup_type: 'linear', min_lr_ratio: 0.2 } })).toBeCloseTo(0.6, 15);
  });
});

describe('schedule arguments: one clear error each (transformers raises for the missing ones and most stray keywords)', () => {
  it('names the missing or misplaced argument', () => {
    // get_scheduler: "requires `num_training_steps`"; a keyword the schedule function lacks is a TypeError there
    expect(() => lrMultiplier(0, { kind: 'cosine_with_restarts' })).toThrow(/^the 'cosine_with_restarts' schedule needs totalSteps$/);
    expect(() => lrMultiplier(0, { kind: 'linear', totalSteps: 5, lrSchedulerKwargs: { num_cycles: 2 } })).toThrow(/^lrSchedulerKwargs\.num_cycles does not apply to the 'linear' schedule \(it takes none\)$/);
    expect(() => lrMultiplier(0, { kind: 'cosine', totalSteps: 5, lrSchedulerKwargs: { power: 2 } })).toThrow(/^lrSchedulerKwargs\.power does not apply to the 'cosine' schedule \(it takes num_cycles\)$/);
    // get_cosine_with_min_lr_schedule_with_warmup's own messages
    expect(() => lrMultiplier(0, { kind: 'cosine_with_min_lr', totalSteps: 5 })).toThrow(/^One of min_lr or min_lr_rate should be set/);
    expect(() => lrMultiplier(0, { kind: 'cosine_with_min_lr', totalSteps: 5, lr: 1, lrSchedulerKwargs: { min_lr: 0.1, min_lr_rate: 0.1 } })).toThrow(/^Only one of min_lr or min_lr_rate should be set$/);
    expect(() => lrMultiplier(0, { kind: 'cosine_with_min_lr', totalSteps: 5, lrSchedulerKwargs: { min_lr: 0.1 } })).toThrow(/needs lr, the base learning rate \(min_lr is absolute\)/);
    // get_polynomial_decay_schedule_with_warmup: "lr_end (…) must be smaller than initial lr (…)"
    expect(() => lrMultiplier(0, { kind: 'polynomial', totalSteps: 5, lr: 1e-3, lrSchedulerKwargs: { lr_end: 1e-3 } })).toThrow(/^lr_end \(0\.001\) must be smaller than initial lr \(0\.001\)$/);
    expect(() => lrMultiplier(0, { kind: 'polynomial', totalSteps: 5 })).toThrow(/needs lr, the base learning rate \(lr_end is absolute\)/);
    expect(() => lrMultiplier(0, { kind: 'polynomial', totalSteps: 5, warmupSteps: 5, lr: 1 })).toThrow(/needs totalSteps \(5\) other than warmupSteps/);
    // get_wsd_schedule needs num_decay_steps, and num_training_steps or num_stable_steps
    expect(() => lrMultiplier(0, { kind: 'warmup_stable_decay', totalSteps: 5 })).toThrow(/needs lrSchedulerKwargs\.num_decay_steps$/);
    expect(() => lrMultiplier(0, { kind: 'warmup_stable_decay', lrSchedulerKwargs: { num_decay_steps: 2 } })).toThrow(/^the 'warmup_stable_decay' schedule needs totalSteps$/);
    expect(() => lrMultiplier(0, { kind: 'warmup_stable_decay', warmupSteps: 3, totalSteps: 5, lrSchedulerKwargs: { num_decay_steps: 3 } })).toThrow(/warmupSteps \(3\) \+ num_decay_steps \(3\) > totalSteps \(5\)/);
    expect(() => lrMultiplier(0, { kind: 'warmup_stable_decay', totalSteps: 5, lrSchedulerKwargs: { num_decay_steps: 2, decay_type: 'cos' as 'cosine' } })).toThrow(/decay_type must be 'linear', 'cosine' or '1-sqrt', got cos/);
    expect(() => lrMultiplier(0, { kind: 'inverse_sqrt', lrSchedulerKwargs: { timescale: 0 } })).toThrow(/timescale must be > 0/);
    expect(() => lrMultiplier(0, { kind: 'cosine', totalSteps: 5, lrSchedulerKwargs: { num_cycles: Number.NaN } })).toThrow(/num_cycles must be a finite number/);
  });

  it("cosine_warmup_with_min_lr: get_cosine_with_min_lr_schedule_with_warmup_lr_rate's checks, and warmup_lr_rate is its own", () => {
    const k = 'cosine_warmup_with_min_lr' as const;
    expect(() => lrMultiplier(0, { kind: k, lrSchedulerKwargs: { min_lr_rate: 0.1 } })).toThrow(/^the 'cosine_warmup_with_min_lr' schedule needs totalSteps$/);
    expect(() => lrMultiplier(0, { kind: k, totalSteps: 5 })).toThrow(/^One of min_lr or min_lr_rate should be set/);
    expect(() => lrMultiplier(0, { kind: k, totalSteps: 5, lrSchedulerKwargs: { warmup_lr_rate: 0.1 } })).toThrow(/^One of min_lr or min_lr_rate should be set/);
    expect(() => lrMultiplier(0, { kind: k, totalSteps: 5, lr: 1, lrSchedulerKwargs: { min_lr: 0.1, min_lr_rate: 0.1 } })).toThrow(/^Only one of min_lr or min_lr_rate should be set$/);
    expect(() => lrMultiplier(0, { kind: k, totalSteps: 5, lrSchedulerKwargs: { min_lr: 0.1 } })).toThrow(/^the 'cosine_warmup_with_min_lr' schedule needs lr, the base learning rate \(min_lr is absolute\)/);
    expect(() => lrMultiplier(0, { kind: k, totalSteps: 5, lrSchedulerKwargs: { min_lr_rate: 0.1, min_lr_ratio: 0.1 } })).toThrow(/^lrSchedulerKwargs\.min_lr_ratio does not apply to the 'cosine_warmup_with_min_lr' schedule \(it takes num_cycles, min_lr, min_lr_rate, warmup_lr_rate\)$/);
    expect(() => lrMultiplier(0, { kind: 'cosine_with_min_lr', totalSteps: 5, lrSchedulerKwargs: { min_lr_rate: 0.1, warmup_lr_rate: 0.1 } })).toThrow(/^lrSchedulerKwargs\.warmup_lr_rate does not apply to the 'cosine_with_min_lr' schedule \(it takes num_cycles, min_lr, min_lr_rate\)$/);
    for (const bad of [Number.NaN, -0.1, '0.1' as unknown as number]) {
      expect(() => lrMultiplier(0, { kind: k, totalSteps: 5, lrSchedulerKwargs: { min_lr_rate: 0.1, warmup_lr_rate: bad } })).toThrow(/^lrSchedulerKwargs\.warmup_lr_rate must be a finite number >= 0, got /);
    }
    expect(() => lrMultiplier(0, { kind: k, totalSteps: 5, lrSchedulerKwargs: { min_lr_rate: -1 } })).toThrow(/^lrSchedulerKwargs\.min_lr_rate must be a finite number >= 0, got -1$/);
    expect(() => lrMultiplier(0, { kind: k, totalSteps: 5, lrSchedulerKwargs: { min_lr_rate: 0.1, num_cycles: Infinity } })).toThrow(/^lrSchedulerKwargs\.num_cycles must be a finite number/);
  });
});
