/**
 * Where `--resume` continues, for the plan: @conifer/trainer's state in the checkpoint's `state.json` (step, data cursor,
 * the step of its last evaluation) — a JSON file, no tensor is read. {@link checkResumeCheckpoint} has checked the
 * checkpoint (its files and that `state.json` parses); the fields the plan counts with are checked here.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { STATE_FILE } from '@conifer/trainer';
import { CliError } from '../errors.js';
import type { ResumePoint } from '../plan.js';

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0;

/** The {@link ResumePoint} of the checkpoint `folder`; one CliError naming the file and every bad field. */
export async function readResumePoint(folder: string): Promise<ResumePoint> {
  const file = join(folder, STATE_FILE);
  let state: unknown;
  try {
    state = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new CliError(`--resume: ${file}: ${(e as Error).message}`);
  }
  const s = (typeof state === 'object' && state !== null ? state : {}) as { step?: unknown; cursor?: { epoch?: unknown; position?: unknown } | null; lastEvalStep?: unknown };
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
  return { step, epoch: cursor.epoch as number, position: cursor.position as number, evaluated: s.lastEvalStep === step };
}
