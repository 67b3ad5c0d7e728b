import { describe, expect, it } from 'vitest';
import { scheduleChange } from '../src/schedule-change.js';

describe('scheduleChange (the resume message when the schedule differs)', () => {
  const linear = { kind: 'linear' as const, warmupSteps: 0, totalSteps: 8 };
  it('names only the fields that changed, old → new', () => {
    expect(scheduleChange(linear, linear)).toBeNull();
    expect(scheduleChange(linear, { ...linear, totalSteps: 12 })).toBe('totalSteps 8 → 12');
    expect(scheduleChange(linear, { kind: 'cosine', warmupSteps: 2, totalSteps: 8 })).toBe('kind linear → cosine, warmupSteps 0 → 2');
    expect(scheduleChange(linear, { ...linear, lrSchedulerKwargs: { num_cycles: 2 } })).toBe('lrSchedulerKwargs none → {"num_cycles":2}');
    expect(scheduleChange(undefined, linear)).toBe('kind none → linear, warmupSteps none → 0, totalSteps none → 8');
    expect(scheduleChange({ ...linear, totalSteps: null }, linear)).toBe('totalSteps null → 8');
  });
});
