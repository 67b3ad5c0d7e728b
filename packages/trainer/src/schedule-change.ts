import type { TrainerState } from './train-options.js';

type ScheduleRecord = TrainerState['schedule'];

/**
 * The fields in which the schedule a checkpoint recorded and the one a resumed run uses differ, as
 * `name old → new` (e.g. `totalSteps 2 → 4`), or null when they are the same.
 */
export function scheduleChange(saved: ScheduleRecord | undefined, used: ScheduleRecord): string | null {
  const show = (v: unknown) => (v === undefined ? 'none' : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));
  const fields = ['kind', 'warmupSteps', 'totalSteps', 'lrSchedulerKwargs'] as const;
  const changed = fields
    .filter((f) => JSON.stringify(saved?.[f]) !== JSON.stringify(used[f]))
    .map((f) => `${f} ${show(saved?.[f])} → ${show(used[f])}`);
  return changed.length ? changed.join(', ') : null;
}
