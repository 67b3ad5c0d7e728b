/**
 * Learning-rate schedules, as multipliers of the base lr: transformers' `get_scheduler` kinds
 * (`optimization.py`), evaluated as its `LambdaLR` does.
 */
export type ScheduleKind =
  | 'constant'
  | 'constant_with_warmup'
  | 'linear'
  | 'cosine'
  | 'cosine_with_restarts'
  | 'polynomial'
  | 'inverse_sqrt'
  | 'cosine_with_min_lr'
  | 'cosine_warmup_with_min_lr'
  | 'warmup_stable_decay';

const KINDS: readonly ScheduleKind[] = [
  'constant',
  'constant_with_warmup',
  'linear',
  'cosine',
  'cosine_with_restarts',
  'polynomial',
  'inverse_sqrt',
  'cosine_with_min_lr',
  'cosine_warmup_with_min_lr',
  'warmup_stable_decay',
];

/** The shape of a warmup or decay phase of 'warmup_stable_decay'. */
export type WsdShape = 'linear' | 'cosine' | '1-sqrt';

/** transformers' `lr_scheduler_kwargs`: the extra arguments of each schedule, under their names there. */
export interface LrSchedulerKwargs {
  /** 'cosine', 'cosine_with_min_lr', 'cosine_warmup_with_min_lr', 'warmup_stable_decay': cosine waves over the decay (default 0.5); 'cosine_with_restarts': hard restarts (default 1). */
  num_cycles?: number;
  /** 'polynomial': the lr reached at `totalSteps`, absolute (default 1e-7; must be below `lr`). */
  lr_end?: number;
  /** 'polynomial': the power of the decay (default 1). */
  power?: number;
  /** 'inverse_sqrt': time scale (default `warmupSteps`, or 10000 without warmup). */
  timescale?: number;
  /** 'cosine_with_min_lr', 'cosine_warmup_with_min_lr': the lr at the end of the cosine, absolute (give this or `min_lr_rate`). */
  min_lr?: number;
  /** 'cosine_with_min_lr', 'cosine_warmup_with_min_lr': the lr at the end of the cosine, as a fraction of `lr`. */
  min_lr_rate?: number;
  /**
   * 'cosine_warmup_with_min_lr': the multiplier of the first warmup step, rising linearly to 1 at the
   * last one (default: none, and the warmup is `(step + 1) / warmupSteps`).
   */
  warmup_lr_rate?: number;
  /** 'warmup_stable_decay' (required): steps of the decay phase. */
  num_decay_steps?: number;
  /** 'warmup_stable_decay': steps at the full lr (default `totalSteps − warmupSteps − num_decay_steps`). */
  num_stable_steps?: number;
  /** 'warmup_stable_decay': the warmup's shape (default 'linear'). */
  warmup_type?: WsdShape;
  /** 'warmup_stable_decay': the decay's shape (default 'cosine'). */
  decay_type?: WsdShape;
  /** 'warmup_stable_decay': the lowest multiplier, where warmup starts and decay ends (default 0). */
  min_lr_ratio?: number;
}

/**
 * Which `lr_scheduler_kwargs` each kind takes; any other is an error here. (transformers: the schedule
 * function raises a TypeError for a keyword it lacks, but `get_scheduler` drops every one given to
 * 'constant' and 'constant_with_warmup'.)
 */
const KWARGS: Record<ScheduleKind, ReadonlyArray<keyof LrSchedulerKwargs>> = {
  constant: [],
  constant_with_warmup: [],
  linear: [],
  cosine: ['num_cycles'],
  cosine_with_restarts: ['num_cycles'],
  polynomial: ['lr_end', 'power'],
  inverse_sqrt: ['timescale'],
  cosine_with_min_lr: ['num_cycles', 'min_lr', 'min_lr_rate'],
  cosine_warmup_with_min_lr: ['num_cycles', 'min_lr', 'min_lr_rate', 'warmup_lr_rate'],
  warmup_stable_decay: ['num_decay_steps', 'num_stable_steps', 'warmup_type', 'decay_type', 'min_lr_ratio', 'num_cycles'],
};

/** Options of {@link lrMultiplier}. */
export interface ScheduleOptions {
  /** Which schedule (default 'constant'). */
  kind?: ScheduleKind;
  /** Optimizer steps of warmup (default 0). */
  warmupSteps?: number;
  /** Total optimizer steps of the run (needed by every kind but 'constant', 'constant_with_warmup', 'inverse_sqrt', and 'warmup_stable_decay' given `num_stable_steps`). */
  totalSteps?: number;
  /** The base learning rate: needed by 'polynomial' (its `lr_end` is absolute) and by `min_lr`. */
  lr?: number;
  /** The schedule's extra arguments (transformers' `lr_scheduler_kwargs`). */
  lrSchedulerKwargs?: LrSchedulerKwargs;
  /** Same as `lrSchedulerKwargs.num_cycles` (kept from before it existed). */
  numCycles?: number;
}

const finite = (name: string, x: unknown, min = -Infinity): number => {
  if (typeof x !== 'number' || !Number.isFinite(x) || x < min) throw new RangeError(`lrSchedulerKwargs.${name} must be a finite number${min > -Infinity ? ` >= ${min}` : ''}, got ${String(x)}`);
  return x;
};
const shape = (name: string, x: unknown, def: WsdShape): WsdShape => {
  if (x === undefined) return def;
  if (x !== 'linear' && x !== 'cosine' && x !== '1-sqrt') throw new RangeError(`lrSchedulerKwargs.${name} must be 'linear', 'cosine' or '1-sqrt', got ${String(x)}`);
  return x;
};
const needTotal = (kind: ScheduleKind, total: number | undefined): number => {
  if (total === undefined) throw new RangeError(`the '${kind}' schedule needs totalSteps`);
  // transformers' `num_training_steps: int`: a count of optimizer steps
  if (!Number.isInteger(total) || total < 0) throw new RangeError(`the '${kind}' schedule needs totalSteps as an integer >= 0, got ${String(total)}`);
  return total;
};
const needLr = (kind: ScheduleKind, why: string, lr: number | undefined): number => {
  if (lr === undefined || !Number.isFinite(lr) || lr <= 0) throw new RangeError(`the '${kind}' schedule needs lr, the base learning rate (${why}), got ${String(lr)}`);
  return lr;
};

/**
 * `min_lr_rate`, or `min_lr / lr`: the checks of get_cosine_with_min_lr_schedule_with_warmup (and of
 * get_cosine_with_min_lr_schedule_with_warmup_lr_rate, the same lines), with their messages.
 */
function minLrRateOf(kind: ScheduleKind, kw: LrSchedulerKwargs, lr: number | undefined): number {
  if (kw.min_lr !== undefined && kw.min_lr_rate !== undefined) throw new RangeError('Only one of min_lr or min_lr_rate should be set');
  if (kw.min_lr !== undefined) return finite('min_lr', kw.min_lr, 0) / needLr(kind, 'min_lr is absolute', lr);
  if (kw.min_lr_rate !== undefined) return finite('min_lr_rate', kw.min_lr_rate, 0);
  throw new RangeError('One of min_lr or min_lr_rate should be set through lrSchedulerKwargs');
}

/** A schedule with every argument checked and every default filled in. */
export type ResolvedSchedule =
  | { kind: 'constant' | 'constant_with_warmup'; warmup: number }
  | { kind: 'inverse_sqrt'; warmup: number; timescale: number }
  | { kind: 'linear'; warmup: number; total: number }
  | { kind: 'cosine' | 'cosine_with_restarts'; warmup: number; total: number; cycles: number }
  | { kind: 'cosine_with_min_lr'; warmup: number; total: number; cycles: number; minLrRate: number }
  | { kind: 'cosine_warmup_with_min_lr'; warmup: number; total: number; cycles: number; minLrRate: number; warmupLrRate: number | null }
  | { kind: 'polynomial'; warmup: number; total: number; lrInit: number; lrEnd: number; power: number }
  | { kind: 'warmup_stable_decay'; warmup: number; stable: number; decay: number; warmupType: WsdShape; decayType: WsdShape; minLrRatio: number; cycles: number };

/**
 * Checks a schedule and fills in transformers' defaults; throws a RangeError naming what is wrong
 * (an unknown kind first, then a missing `totalSteps`, a keyword the kind does not take, a bad value).
 */
export function resolveSchedule(options: ScheduleOptions = {}): ResolvedSchedule {
  const kind = options.kind ?? 'constant';
  // Checked first, so a misspelled kind is named even during warmup or without totalSteps.
  if (!KINDS.includes(kind)) throw new RangeError(`unknown schedule '${String(kind)}'`);
  const warmup = options.warmupSteps ?? 0;
  if (!Number.isInteger(warmup) || warmup < 0) throw new RangeError(`warmupSteps must be an integer >= 0, got ${warmup}`);
  const kw: LrSchedulerKwargs = { ...(options.lrSchedulerKwargs ?? {}) };
  for (const key of Object.keys(kw) as Array<keyof LrSchedulerKwargs>) {
    if (kw[key] === undefined) continue;
    if (!KWARGS[kind].includes(key)) {
      const takes = KWARGS[kind].length ? `it takes ${KWARGS[kind].join(', ')}` : 'it takes none';
      throw new RangeError(`lrSchedulerKwargs.${key} does not apply to the '${kind}' schedule (${takes})`);
    }
  }
  if (options.numCycles !== undefined && kw.num_cycles === undefined && KWARGS[kind].includes('num_cycles')) kw.num_cycles = options.numCycles;
  const cycles = (def: number) => (kw.num_cycles === undefined ? def : finite('num_cycles', kw.num_cycles));
  switch (kind) {
    case 'constant':
    case 'constant_with_warmup':
      return { kind, warmup };
    case 'inverse_sqrt': {
      // get_inverse_sqrt_schedule: `timescale = num_warmup_steps or 10_000`
      const timescale = kw.timescale === undefined ? warmup || 10_000 : finite('timescale', kw.timescale);
      if (timescale <= 0) throw new RangeError(`lrSchedulerKwargs.timescale must be > 0, got ${timescale}`);
      return { kind, warmup, timescale };
    }
    case 'linear':
      return { kind, warmup, total: needTotal(kind, options.totalSteps) };
    case 'cosine':
      return { kind, warmup, total: needTotal(kind, options.totalSteps), cycles: cycles(0.5) };
    case 'cosine_with_restarts':
      return { kind, warmup, total: needTotal(kind, options.totalSteps), cycles: cycles(1) };
    case 'cosine_with_min_lr': {
      const total = needTotal(kind, options.totalSteps);
      return { kind, warmup, total, cycles: cycles(0.5), minLrRate: minLrRateOf(kind, kw, options.lr) };
    }
    case 'cosine_warmup_with_min_lr': {
      const total = needTotal(kind, options.totalSteps);
      const minLrRate = minLrRateOf(kind, kw, options.lr);
      // get_cosine_with_min_lr_schedule_with_warmup_lr_rate: `warmup_lr_rate: Optional[float] = None`
      const warmupLrRate = kw.warmup_lr_rate === undefined ? null : finite('warmup_lr_rate', kw.warmup_lr_rate, 0);
      return { kind, warmup, total, cycles: cycles(0.5), minLrRate, warmupLrRate };
    }
    case 'polynomial': {
      const total = needTotal(kind, options.totalSteps);
      const lrInit = needLr(kind, 'lr_end is absolute', options.lr);
      const lrEnd = kw.lr_end === undefined ? 1e-7 : finite('lr_end', kw.lr_end);
      // get_polynomial_decay_schedule_with_warmup: `if not (lr_init > lr_end): raise ValueError(...)`
      if (!(lrInit > lrEnd)) throw new RangeError(`lr_end (${lrEnd}) must be smaller than initial lr (${lrInit})`);
      const power = kw.power === undefined ? 1 : finite('power', kw.power);
      // transformers divides by num_training_steps − num_warmup_steps at step == num_training_steps
      if (total === warmup) throw new RangeError(`the 'polynomial' schedule needs totalSteps (${total}) other than warmupSteps: it decays over their difference`);
      return { kind, warmup, total, lrInit, lrEnd, power };
    }
    case 'warmup_stable_decay': {
      if (kw.num_decay_steps === undefined) throw new RangeError("the 'warmup_stable_decay' schedule needs lrSchedulerKwargs.num_decay_steps");
      const decay = finite('num_decay_steps', kw.num_decay_steps, 0);
      let stable: number;
      if (kw.num_stable_steps !== undefined) stable = finite('num_stable_steps', kw.num_stable_steps, 0);
      else {
        // get_wsd_schedule: `num_stable_steps = num_training_steps - num_warmup_steps - num_decay_steps`
        const total = needTotal(kind, options.totalSteps);
        stable = total - warmup - decay;
        if (stable < 0) throw new RangeError(`the 'warmup_stable_decay' schedule has warmupSteps (${warmup}) + num_decay_steps (${decay}) > totalSteps (${total})`);
      }
      const minLrRatio = kw.min_lr_ratio === undefined ? 0 : finite('min_lr_ratio', kw.min_lr_ratio, 0);
      return { kind, warmup, stable, decay, warmupType: shape('warmup_type', kw.warmup_type, 'linear'), decayType: shape('decay_type', kw.decay_type, 'cosine'), minLrRatio, cycles: cycles(0.5) };
    }
  }
}

/**
 * The multiplier of the base lr for the optimizer step that follows `step` completed steps:
 * transformers' `LambdaLR` lambda of the same name, evaluated at `step` (the first update uses
 * `lambda(0)`, so with warmup it has lr 0, exactly as there, but for 'cosine_warmup_with_min_lr'). Formulas (optimization.py):
 * - warmup (every kind but 'warmup_stable_decay' and 'cosine_warmup_with_min_lr'): `step / max(1, warmup)` while `step < warmup`
 * - constant, constant_with_warmup: 1 (transformers' 'constant' ignores warmup; here it warms up
 *   when `warmupSteps` > 0, as 'constant_with_warmup')
 * - linear: `max(0, (total − step) / max(1, total − warmup))`
 * - cosine: `max(0, 0.5·(1 + cos(π·cycles·2·progress)))`, `progress = (step − warmup) / max(1, total − warmup)`
 * - cosine_with_min_lr: that cosine `f`, then `max(0, f·(1 − min_lr_rate) + min_lr_rate)`
 * - cosine_warmup_with_min_lr: `_get_cosine_with_min_lr_schedule_with_warmup_lr_rate_lambda`: warmup
 *   `(step + 1) / max(1, warmup)`, or with `warmup_lr_rate` `r`: `r + (1 − r)·step / max(1, warmup − 1)`
 *   (both reach 1 at the last warmup step); then cosine_with_min_lr's formula with its progress one
 *   step on, `(step − warmup + 1) / max(1, total − warmup)`, so the last step (total − 1) has exactly
 *   `min_lr_rate` (past it the cosine rises again, as there)
 * - cosine_with_restarts: 0 once `progress ≥ 1`, else `max(0, 0.5·(1 + cos(π·((cycles·progress) mod 1))))`
 * - polynomial: `lr_end / lr` after `total`, else `((lr − lr_end)·(1 − (step − warmup)/(total − warmup))^power + lr_end) / lr`
 * - inverse_sqrt: `1 / sqrt((step + timescale − warmup) / timescale)`
 * - warmup_stable_decay: `_get_wsd_scheduler_lambda` (warmup from `min_lr_ratio`, 1 while stable,
 *   the decay down to `min_lr_ratio`, which stays)
 */
export function lrMultiplier(step: number, options: ScheduleOptions = {}): number {
  return multiplierOf(step, resolveSchedule(options));
}

/** {@link lrMultiplier} of an already resolved schedule. */
export function multiplierOf(step: number, s: ResolvedSchedule): number {
  if (s.kind === 'warmup_stable_decay') return wsd(step, s);
  if (s.kind === 'cosine_warmup_with_min_lr') return cosineWarmupMinLr(step, s);
  if (step < s.warmup) return step / Math.max(1, s.warmup);
  switch (s.kind) {
    case 'constant':
    case 'constant_with_warmup':
      return 1;
    case 'inverse_sqrt':
      return 1 / Math.sqrt((step + (s.timescale - s.warmup)) / s.timescale);
    case 'linear':
      return Math.max(0, (s.total - step) / Math.max(1, s.total - s.warmup));
    case 'polynomial': {
      if (step > s.total) return s.lrEnd / s.lrInit;
      const pctRemaining = 1 - (step - s.warmup) / (s.total - s.warmup);
      return ((s.lrInit - s.lrEnd) * pctRemaining ** s.power + s.lrEnd) / s.lrInit;
    }
    default: {
      const progress = (step - s.warmup) / Math.max(1, s.total - s.warmup);
      if (s.kind === 'cosine_with_restarts') {
        if (progress >= 1) return 0;
        return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * ((s.cycles * progress) % 1))));
      }
      const f = 0.5 * (1 + Math.cos(Math.PI * s.cycles * 2 * progress));
      return s.kind === 'cosine_with_min_lr' ? Math.max(0, f * (1 - s.minLrRate) + s.minLrRate) : Math.max(0, f);
    }
  }
}

function cosineWarmupMinLr(step: number, s: Extract<ResolvedSchedule, { kind: 'cosine_warmup_with_min_lr' }>): number {
  if (step < s.warmup) {
    if (s.warmupLrRate === null) return (step + 1) / Math.max(1, s.warmup);
    return s.warmupLrRate + ((1 - s.warmupLrRate) * step) / Math.max(1, s.warmup - 1);
  }
  const progress = (step - s.warmup + 1) / Math.max(1, s.total - s.warmup);
  const f = 0.5 * (1 + Math.cos(Math.PI * s.cycles * 2 * progress));
  return Math.max(0, f * (1 - s.minLrRate) + s.minLrRate);
}

function wsd(step: number, s: Extract<ResolvedSchedule, { kind: 'warmup_stable_decay' }>): number {
  const scaled = (f: number) => Math.max(0, f * (1 - s.minLrRatio) + s.minLrRatio);
  if (step < s.warmup) {
    const p = step / Math.max(1, s.warmup);
    return scaled(s.warmupType === 'linear' ? p : s.warmupType === 'cosine' ? 0.5 * (1 - Math.cos(Math.PI * p)) : 1 - Math.sqrt(1 - p));
  }
  if (step < s.warmup + s.stable) return 1;
  if (step < s.warmup + s.stable + s.decay) {
    const p = (step - s.warmup - s.stable) / Math.max(1, s.decay);
    return scaled(s.decayType === 'linear' ? 1 - p : s.decayType === 'cosine' ? 0.5 * (1 + Math.cos(Math.PI * s.cycles * 2 * p)) : 1 - Math.sqrt(p));
  }
  return s.minLrRatio;
}
