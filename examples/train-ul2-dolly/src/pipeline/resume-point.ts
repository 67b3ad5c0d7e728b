/**
 * Where `--resume` continues, for the plan: @conifer/trainer's state in the checkpoint's `state.json` (step, data cursor,
 * the step of its last evaluation) — a JSON file, no tensor is read. {@link checkResumeCheckpoint} has checked the
 * checkpoint (its files and that `state.json` parses); the fields the plan counts with are checked here.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultGreaterIsBetter, EVAL_LOSS, metricKey, STATE_FILE } from '@conifer/trainer';
import { CliError } from '../errors.js';
import type { ResumePoint } from '../plan.js';

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0;

/** What decides whether a resumed run stays stopped early: this run's patience and best-model metric. */
export interface EarlyStoppingFlags {
  /** --early-stopping-patience (absent: no early stopping, the run goes on). */
  earlyStopping?: { patience: number } | undefined;
  /** --metric-for-best-model (absent: the eval loss). */
  metricForBestModel?: string | undefined;
}

/**
 * The {@link ResumePoint} of the checkpoint `folder`; one CliError naming the file and every bad field. With `flags`,
 * whether the run had stopped early as the trainer decides on resume: its evaluations without improvement reached the
 * patience and the checkpoint compared the same metric (another one starts early stopping afresh).
 */
export async function readResumePoint(folder: string, flags: EarlyStoppingFlags = {}): Promise<ResumePoint> {
  const file = join(folder, STATE_FILE);
  let state: unknown;
  try {
    state = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new CliError(`--resume: ${file}: ${(e as Error).message}`);
  }
  const s = (typeof state === 'object' && state !== null ? state : {}) as {
    step?: unknown;
    cursor?: { epoch?: unknown; position?: unknown } | null;
    lastEvalStep?: unknown;
    evalsWithoutImprovement?: unknown;
    bestMetric?: { name?: unknown; greaterIsBetter?: unknown } | null;
    best?: { step?: unknown } | null;
  };
  const cursor = typeof s.cursor === 'object' && s.cursor !== null ? s.cursor : {};
  const bad: string[] = [];
  const show = (x: unknown) => (x === undefined ? 'missing' : JSON.stringify(x));
  if (!isCount(s.step)) bad.push(`step ${show(s.step)}`);
  if (!isCount(cursor.epoch)) bad.push(`cursor.epoch ${show(cursor.epoch)}`);
  if (!isCount(cursor.position)) bad.push(`cursor.position ${show(cursor.position)}`);
  // -1: no evaluation yet
  if (!(typeof s.lastEvalStep === 'number' && Number.isInteger(s.lastEvalStep) && s.lastEvalStep >= -1)) bad.push(`lastEvalStep ${show(s.lastEvalStep)}`);
  if (bad.length > 0) throw new CliError(`--resume: ${file} is not the trainer's state (${bad.join(', ')}; expected integers, lastEvalStep from -1, the others from 0)`);
  const step = s.step as number;
  const point: ResumePoint = { step, epoch: cursor.epoch as number, position: cursor.position as number, evaluated: s.lastEvalStep === step };
  // the best evaluation, when the run tracked one (a malformed one: none — the plan only words a possibility with it)
  const bestStep = typeof s.best === 'object' && s.best !== null && isCount(s.best.step) ? s.best.step : undefined;
  if (bestStep !== undefined) point.bestStep = bestStep;
  return stoppedEarly(s, flags) ? { ...point, stoppedEarly: true } : point;
}

/** The trainer's `stopEarly` on resume (packages/trainer/src/trainer.ts): patience reached on the metric this run compares. */
function stoppedEarly(s: { evalsWithoutImprovement?: unknown; bestMetric?: { name?: unknown; greaterIsBetter?: unknown } | null }, flags: EarlyStoppingFlags): boolean {
  const patience = flags.earlyStopping?.patience;
  if (patience === undefined || typeof s.evalsWithoutImprovement !== 'number' || s.evalsWithoutImprovement < patience) return false;
  // a checkpoint without bestMetric compared the eval loss, lower is better
  const used = s.bestMetric ?? { name: EVAL_LOSS, greaterIsBetter: false };
  const m = flags.metricForBestModel;
  const name = m === undefined ? EVAL_LOSS : metricKey(m);
  const greater = m === undefined ? false : defaultGreaterIsBetter(m);
  return used.name === name && used.greaterIsBetter === greater;
}
