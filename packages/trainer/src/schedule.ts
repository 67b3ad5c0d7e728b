/** Learning-rate schedules, as multipliers of the base lr (transformers' LambdaLR conventions). */
export type ScheduleKind = 'constant' | 'linear' | 'cosine';

/** Options of {@link lrMultiplier}. */
export interface ScheduleOptions {
  /** Which schedule (default 'constant'). */
  kind?: ScheduleKind;
  /** Optimizer steps of linear warmup from 0 (default 0). */
  warmupSteps?: number;
  /** Total optimizer steps of the run (needed by 'linear' and 'cosine'). */
  totalSteps?: number;
  /** Cosine waves over the decay (default 0.5: from 1 down to 0 once). */
  numCycles?: number;
}

/**
 * The multiplier of the base lr for the optimizer step that follows `step` completed steps
 * (transformers' `LambdaLR` evaluates the lambda at 0 for the first step, so with warmup the
 * first update has lr 0, exactly as there).
 * - constant: `get_constant_schedule_with_warmup` (1 after warmup; plain constant when warmup is 0)
 * - linear: `get_linear_schedule_with_warmup`: `step < warmup ? step / max(1, warmup) : max(0, (total − step) / max(1, total − warmup))`
 * - cosine: `get_cosine_schedule_with_warmup`: after warmup `max(0, 0.5·(1 + cos(π·cycles·2·progress)))`,
 *   `progress = (step − warmup) / max(1, total − warmup)`
 */
export function lrMultiplier(step: number, options: ScheduleOptions = {}): number {
  const kind = options.kind ?? 'constant';
  // Checked first, so a misspelled kind is named even during warmup or without totalSteps.
  if (kind !== 'constant' && kind !== 'linear' && kind !== 'cosine') throw new RangeError(`unknown schedule '${String(kind)}'`);
  const warmup = options.warmupSteps ?? 0;
  if (step < warmup) return step / Math.max(1, warmup);
  if (kind === 'constant') return 1;
  const total = options.totalSteps;
  if (total === undefined || !Number.isFinite(total)) throw new RangeError(`the '${kind}' schedule needs totalSteps`);
  if (kind === 'linear') return Math.max(0, (total - step) / Math.max(1, total - warmup));
  // cosine
  const cycles = options.numCycles ?? 0.5;
  const progress = (step - warmup) / Math.max(1, total - warmup);
  return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * cycles * 2 * progress)));
}
