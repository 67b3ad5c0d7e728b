// The --resume plan counts what is left: the optimizer steps after the checkpoint's (from its data cursor, as
// @conifer/trainer continues), their training time, and only the evaluations the trainer will still make (global steps
// after the checkpoint's, --eval-delay as it applies it, no eval-on-start again) plus the app's final eval rule (none when
// the last step evaluated — the checkpoint's own, with no step left). Memory does not change. Checked by hand on a toy
// schedule, on Flan-UL2's printout, on the state.json reader, and against real tiny resumed runs' metrics.jsonl.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { METRICS_FILE, STATE_FILE, writeCheckpoint } from '@conifer/trainer';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { DEMO_CONFIG } from '../src/demo-config.js';
import { main } from '../src/main.js';
import { formatPlan, makePlan, stepsAfter, type Plan, type PlanInput, type ResumePoint } from '../src/plan.js';
import { readResumePoint } from '../src/pipeline/resume-point.js';
import { capture } from './capture.js';

const tmp = mkdtempSync(join(tmpdir(), 'conifer-resume-plan-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// 48 records: 38 train / 10 test; micro-batches of 2: 19 per epoch; accumulation 2: 10 steps per epoch (the 10th of one
// micro-batch), 3 epochs: 30 steps. Step s of epoch e (from 0) leaves the cursor at position 2·(s − 10e) (19 after the
// last: the next epoch's 0).
const TOY: PlanInput = {
  config: DEMO_CONFIG, label: 'toy', int8: 'off', r: 4, loraAlpha: 8, targetModules: ['q', 'v'], batchSize: 2, gradAccum: 2,
  maxSourceLength: 48, maxTargetLength: 24, epochs: 3, records: 48, backend: 'wasm', deviceTflops: 1,
};
const at = (step: number, evaluated = false): ResumePoint => {
  const epoch = Math.floor(step / 10);
  return { step, epoch, position: 2 * (step - 10 * epoch), evaluated };
};
const plan = (resumeFrom?: ResumePoint, more: Partial<PlanInput> = {}) => makePlan({ ...TOY, ...more, ...(resumeFrom ? { resumeFrom } : {}) });
/** The steps, evaluations (and generating ones) a plan counts. */
const counts = (p: Plan) => ({ left: p.stepsLeft, total: p.totalSteps, evals: p.evals.count, ...(p.evals.generation ? { generating: p.evals.generation.count } : {}) });

describe('stepsAfter: the steps the trainer takes from a data cursor', () => {
  it('a fresh run: every epoch in windows of --grad-accum micro-batches (a partial last one is a step), capped by --max-steps', () => {
    const s = stepsAfter({ step: 0, epoch: 0, position: 0 }, 19, 2, 3);
    expect(s).toHaveLength(30);
    expect(s.filter((x) => x.epochEnd).map((x) => x.step)).toEqual([10, 20, 30]);
    expect(s[10]).toEqual({ step: 11, epoch: 1, epochEnd: false });
    expect(stepsAfter({ step: 0, epoch: 0, position: 0 }, 19, 2, 3, 25)).toHaveLength(25);
  });

  it('resumed: the rest of the cursor\'s epoch, numbered on from the checkpoint\'s step', () => {
    // checkpoint-14: 8 micro-batches into epoch 1: 11 left = 6 steps (15 … 20, 20 its end), then 10 more
    const s = stepsAfter({ step: 14, epoch: 1, position: 8 }, 19, 2, 3);
    expect(s.map((x) => x.step)).toEqual(Array.from({ length: 16 }, (_, i) => 15 + i));
    expect(s.filter((x) => x.epochEnd)).toEqual([{ step: 20, epoch: 1, epochEnd: true }, { step: 30, epoch: 2, epochEnd: true }]);
    // --max-steps counts global steps: 25 leaves 11; one at or below the checkpoint's leaves none
    expect(stepsAfter({ step: 14, epoch: 1, position: 8 }, 19, 2, 3, 25)).toHaveLength(11);
    expect(stepsAfter({ step: 14, epoch: 1, position: 8 }, 19, 2, 3, 14)).toEqual([]);
    // after the last epoch's last step: nothing; --epochs raised on the resume: the new epochs
    expect(stepsAfter({ step: 30, epoch: 3, position: 0 }, 19, 2, 3)).toEqual([]);
    expect(stepsAfter({ step: 30, epoch: 3, position: 0 }, 19, 2, 4).map((x) => x.step)).toEqual(Array.from({ length: 10 }, (_, i) => 31 + i));
  });

  it('a cursor past the estimated micro-batches of its epoch (--batch-tokens, hub data) still has a step left there', () => {
    // the plan estimates 25 micro-batches an epoch, the sampler made 27: checkpoint-26 is inside epoch 0, whose
    // last batch (27) is step 27, its end; then 2 more epochs of 25
    const s = stepsAfter({ step: 26, epoch: 0, position: 26 }, 25, 1, 3);
    expect(s[0]).toEqual({ step: 27, epoch: 0, epochEnd: true });
    expect(s).toHaveLength(51);
  });

  it('a run that had stopped early takes no step', () => {
    expect(stepsAfter({ step: 14, epoch: 1, position: 8, stoppedEarly: true }, 19, 2, 3)).toEqual([]);
    expect(counts(plan({ ...at(14, true), stoppedEarly: true }))).toEqual({ left: 0, total: 14, evals: 0 });
    expect(formatPlan(plan({ ...at(14, true), stoppedEarly: true }))).toContain('resuming checkpoint-14 (it had stopped early: no step is taken): 0 of 14 steps left');
  });
});

describe('makePlan with resumeFrom: the steps, time and evaluations left', () => {
  const fresh = plan();

  it('a fresh run is as before: 30 steps, before + 3 epoch ends (the last reused after training)', () => {
    expect(counts(fresh)).toEqual({ left: 30, total: 30, evals: 4 });
    expect(counts(plan(undefined, { evalEvery: 4 }))).toEqual({ left: 30, total: 30, evals: 1 + 7 + 3 - 1 });
  });

  it('mid-epoch (checkpoint-14): 16 of 30 steps, 16/30 of the time, the epoch ends 20 and 30 only', () => {
    const p = plan(at(14));
    expect(counts(p)).toEqual({ left: 16, total: 30, evals: 2 });
    expect(p.totalSeconds).toBeCloseTo((fresh.totalSeconds * 16) / 30, 9);
    expect(p.evals.seconds).toBeCloseTo((fresh.evals.seconds * 2) / 4, 9);
    // --eval-every 4: 16, 20, 24, 28 and the end 30 (not 4, 8, 12 nor the end 10, before the checkpoint)
    expect(counts(plan(at(14), { evalEvery: 4 }))).toEqual({ left: 16, total: 30, evals: 5 });
    // memory, the epoch's cost and the per-eval cost do not change
    const { totalBytes, totalBytesCheckpointed, activationBytes, epochFlops, epochSeconds, stepsPerEpoch } = p;
    expect({ totalBytes, totalBytesCheckpointed, activationBytes, epochFlops, epochSeconds, stepsPerEpoch }).toEqual({
      totalBytes: fresh.totalBytes, totalBytesCheckpointed: fresh.totalBytesCheckpointed, activationBytes: fresh.activationBytes,
      epochFlops: fresh.epochFlops, epochSeconds: fresh.epochSeconds, stepsPerEpoch: fresh.stepsPerEpoch,
    });
    expect(p.evals.flopsEach).toBe(fresh.evals.flopsEach);
  });

  it('at an eval step: the checkpoint\'s own evaluation is not counted again', () => {
    // checkpoint-20, the end of epoch 2 (cursor: epoch 2, position 0), evaluated: the end 30 is left
    expect(counts(plan({ step: 20, epoch: 2, position: 0, evaluated: true }))).toEqual({ left: 10, total: 30, evals: 1 });
    // --eval-every 4, checkpoint-12 (evaluated): 16, 20, 24, 28, 30
    expect(counts(plan(at(12, true), { evalEvery: 4 }))).toEqual({ left: 18, total: 30, evals: 5 });
    // --eval-every 4, checkpoint-20: 24, 28, 30
    expect(counts(plan({ step: 20, epoch: 2, position: 0, evaluated: true }, { evalEvery: 4 }))).toEqual({ left: 10, total: 30, evals: 3 });
  });

  it('at the last step: nothing left; the app reuses the checkpoint\'s evaluation, or makes one when that step had none', () => {
    const done = plan({ step: 30, epoch: 3, position: 0, evaluated: true });
    expect(counts(done)).toEqual({ left: 0, total: 30, evals: 0 });
    expect([done.totalSeconds, done.evals.seconds]).toEqual([0, 0]);
    // --max-steps 25 reached (step 25 is no eval step): only the app's eval after training
    expect(counts(plan(at(25), { maxSteps: 25 }))).toEqual({ left: 0, total: 25, evals: 1 });
    // --max-steps lowered below the checkpoint: the trainer stops at once, as at the last step
    expect(counts(plan(at(14), { maxSteps: 12 }))).toEqual({ left: 0, total: 14, evals: 1 });
    // --epochs raised: the new epoch is left, its end evaluated
    expect(counts(plan({ step: 30, epoch: 3, position: 0, evaluated: true }, { epochs: 4 }))).toEqual({ left: 10, total: 40, evals: 1 });
  });

  it('--load-best-model-at-end: one more evaluation after training is named when the checkpoint holds a best or two evaluations are left', () => {
    const best = { loadBestModelAtEnd: true };
    // nothing left: the last step's evaluation is reused unless the checkpoint's best is an earlier step
    expect(plan({ step: 30, epoch: 3, position: 0, evaluated: true, bestStep: 20 }, best).evals.bestReload).toBe(true);
    expect(plan({ step: 30, epoch: 3, position: 0, evaluated: true, bestStep: 30 }, best).evals.bestReload).toBeUndefined();
    expect(plan({ step: 30, epoch: 3, position: 0, evaluated: true }, best).evals.bestReload).toBeUndefined();
    // one evaluation left (the end 30): an earlier best only when the checkpoint holds one
    expect(plan({ ...at(24), bestStep: 20 }, best).evals.bestReload).toBe(true);
    expect(plan(at(24), best).evals.bestReload).toBeUndefined();
    // two left (20, 30): the one at 20 can be the best
    expect(plan(at(14), best).evals.bestReload).toBe(true);
    // the run stops between evaluations (--max-steps 25): the evaluation after training is counted already
    expect(counts(plan({ ...at(14), bestStep: 10 }, { ...best, maxSteps: 25 }))).toEqual({ left: 11, total: 25, evals: 2 });
    expect(plan({ ...at(14), bestStep: 10 }, { ...best, maxSteps: 25 }).evals.bestReload).toBeUndefined();
    // without the flag: never
    expect(plan({ ...at(24), bestStep: 20 }).evals.bestReload).toBeUndefined();
  });

  it('--max-steps inside the resumed run: the evals up to it and the app\'s after it', () => {
    // checkpoint-14, --max-steps 25: the end 20, then the eval after training at 25
    expect(counts(plan(at(14), { maxSteps: 25 }))).toEqual({ left: 11, total: 25, evals: 2 });
  });

  it('--eval-delay as the trainer applies it: global steps with --eval-every, else epochs done', () => {
    // steps: 24, 28 and the end 30 (delay 22 ≤ step); not 16, 20
    expect(counts(plan(at(14), { evalEvery: 4, evalDelay: 22 }))).toEqual({ left: 16, total: 30, evals: 3 });
    // epochs: the end of epoch 2 (20) is 2 epochs done: delay 2 keeps it, delay 3 only the end 30
    expect(counts(plan(at(14), { evalDelay: 2 }))).toEqual({ left: 16, total: 30, evals: 2 });
    expect(counts(plan(at(14), { evalDelay: 3 }))).toEqual({ left: 16, total: 30, evals: 1 });
  });

  it('--eval-on-start --predict-with-generate: not repeated on a resume; only the trainer\'s evaluations left generate', () => {
    const gen = { evalOnStart: true, predictWithGenerate: true } as const;
    expect(counts(plan(undefined, gen))).toEqual({ left: 30, total: 30, evals: 4, generating: 4 });
    expect(counts(plan(at(14), gen))).toEqual({ left: 16, total: 30, evals: 2, generating: 2 });
    // stopped between evaluations: the app's eval after training does not generate
    expect(counts(plan(at(14), { ...gen, maxSteps: 25 }))).toEqual({ left: 11, total: 25, evals: 2, generating: 1 });
    // a checkpoint-0 (an interrupt before the first step) without the step-0 evaluation: the trainer makes it on resume
    expect(counts(plan({ step: 0, epoch: 0, position: 0, evaluated: false }, gen))).toEqual({ left: 30, total: 30, evals: 4, generating: 4 });
    expect(counts(plan({ step: 0, epoch: 0, position: 0, evaluated: true }, gen))).toEqual({ left: 30, total: 30, evals: 3, generating: 3 });
  });

  it('the printout says it resumes and what is left; the time line says "left" instead of "in all"', () => {
    const text = formatPlan(plan(at(14)));
    expect(text).toContain('\n  resume       resuming checkpoint-14 (8 micro-batches into epoch 2 of 3): 16 of 30 steps left; the time and evals below count those\n');
    expect(text).toMatch(/\n {2}time {9}.*\/epoch, [\d.]+ (s|min|h) left at 1 TFLOP\/s \(wasm\)\n/);
    expect(text).toMatch(/\n {2}evals {8}2 × /);
    expect(formatPlan(plan({ step: 20, epoch: 2, position: 0, evaluated: true }))).toContain('resuming checkpoint-20 (at the start of epoch 3 of 3): 10 of 30 steps left;');
    expect(formatPlan(plan({ step: 30, epoch: 3, position: 0, evaluated: true }))).toContain('resuming checkpoint-30 (all 3 epochs done): 0 of 30 steps left;');
    expect(formatPlan(plan({ step: 1, epoch: 0, position: 2, evaluated: false }, { epochs: 1, maxSteps: 1 }))).toContain('resuming checkpoint-1 (2 micro-batches into epoch 1 of 1): 0 of 1 step left;');
    // fresh, or --resume without a known checkpoint state: no resume line, "in all"
    for (const p of [fresh, plan(undefined, { resume: true })]) {
      expect(formatPlan(p)).not.toMatch(/resum/);
      expect(formatPlan(p)).toMatch(/ in all at 1 TFLOP\/s/);
    }
  });

  it('Flan-UL2 resumed after its first epoch (checkpoint-1501): 3,002 of 4,503 steps, 2/3 of the time, 2 of the 4 evaluations', () => {
    const flanUl2 = JSON.parse(readFileSync(join(__dirname, 'fixtures/flan-ul2/config.json'), 'utf8')) as PlanInput['config'];
    const ORIGINAL = { config: flanUl2, label: 'flan-ul2/config.json', int8: 'auto', r: 8, loraAlpha: 32, targetModules: ['q', 'v'], batchSize: 1, gradAccum: 8, maxSourceLength: 512, maxTargetLength: 512, epochs: 3, backend: 'webgpu', deviceMemoryBytes: 80e9, deviceMemorySource: '--device-memory' } as const;
    const whole = makePlan(ORIGINAL);
    const resumed = makePlan({ ...ORIGINAL, resume: true, resumeFrom: { step: 1501, epoch: 1, position: 0, evaluated: true } });
    expect(counts(resumed)).toEqual({ left: 3002, total: 4503, evals: 2 });
    expect(resumed.totalSeconds).toBeCloseTo((whole.totalSeconds * 2) / 3, 6);
    const lines = formatPlan(resumed).split('\n');
    expect(lines.filter((l) => l.startsWith('  resume') || l.startsWith('  time') || l.startsWith('  evals'))).toEqual([
      '  resume       resuming checkpoint-1501 (at the start of epoch 2 of 3): 3,002 of 4,503 steps left; the time and evals below count those',
      '  time         78.61 PFLOP per epoch (mean 87 + 81 real tokens/example, 87 + 81 padded): 4.4 h/epoch, 8.7 h left at an assumed 5 TFLOP/s (webgpu)',
      '  evals        2 × 10.82 PFLOP (3,003 test examples in batches of 8, length order, 96 + 89 padded tokens/example): 72.1 min; with training 9.9 h',
    ]);
    // every other line as the whole run's
    const others = (p: Plan) => formatPlan(p).split('\n').filter((l) => !/^ {2}(resume|time|evals) /.test(l));
    expect(others(resumed)).toEqual(others(whole));
  });
});

describe('readResumePoint: the checkpoint\'s state.json, no tensor read', () => {
  const folder = async (name: string, state: unknown) => {
    const dir = join(tmp, name);
    mkdirSync(dir, { recursive: true });
    const f = await writeCheckpoint(dir, 7, { variables: { a: { shape: [1], values: new Float32Array(1) } }, optimizer: { step: 7, m: { a: new Float32Array(1) }, v: { a: new Float32Array(1) } }, state });
    return f;
  };

  it('step, cursor and whether its step was evaluated (lastEvalStep)', async () => {
    const f = await folder('ok', { version: 1, step: 7, cursor: { epoch: 1, position: 4 }, lastEvalStep: 7, metrics: [] });
    expect(await readResumePoint(f)).toEqual({ step: 7, epoch: 1, position: 4, evaluated: true });
    const g = await folder('ok-2', { step: 7, cursor: { epoch: 0, position: 14 }, lastEvalStep: -1 });
    expect(await readResumePoint(g)).toEqual({ step: 7, epoch: 0, position: 14, evaluated: false });
    // the best evaluation's step, when the run tracked one (--load-best-model-at-end's plan line)
    const h = await folder('ok-best', { step: 7, cursor: { epoch: 1, position: 4 }, lastEvalStep: 7, best: { step: 5, epoch: 0, loss: 1.5 } });
    expect(await readResumePoint(h)).toEqual({ step: 7, epoch: 1, position: 4, evaluated: true, bestStep: 5 });
    const i = await folder('ok-best-null', { step: 7, cursor: { epoch: 1, position: 4 }, lastEvalStep: 7, best: null });
    expect(await readResumePoint(i)).toEqual({ step: 7, epoch: 1, position: 4, evaluated: true });
  });

  it('stopped early: evaluations without improvement at this run\'s patience, on the metric this run compares', async () => {
    const state = { step: 7, cursor: { epoch: 1, position: 4 }, lastEvalStep: 7, evalsWithoutImprovement: 2 };
    const f = await folder('early', state);
    const point = { step: 7, epoch: 1, position: 4, evaluated: true };
    expect(await readResumePoint(f, { earlyStopping: { patience: 2 } })).toEqual({ ...point, stoppedEarly: true });
    expect(await readResumePoint(f, { earlyStopping: { patience: 3 } })).toEqual(point); // a larger patience goes on
    expect(await readResumePoint(f)).toEqual(point); // no early stopping now
    // another metric starts early stopping afresh (the trainer resets it)
    expect(await readResumePoint(f, { earlyStopping: { patience: 2 }, metricForBestModel: 'accuracy' })).toEqual(point);
    const g = await folder('early-accuracy', { ...state, bestMetric: { name: 'eval_accuracy', greaterIsBetter: true } });
    expect(await readResumePoint(g, { earlyStopping: { patience: 2 }, metricForBestModel: 'accuracy' })).toEqual({ ...point, stoppedEarly: true });
    expect(await readResumePoint(g, { earlyStopping: { patience: 2 } })).toEqual(point);
  });

  it('a state without them: one error naming the file and each bad field', async () => {
    const f = await folder('bad', { step: 7.5, cursor: { epoch: -1 } });
    await expect(readResumePoint(f)).rejects.toThrow(
      `--resume: ${join(f, STATE_FILE)} is not the trainer's state (step 7.5, cursor.epoch -1, cursor.position missing, lastEvalStep missing; expected integers, lastEvalStep from -1, the others from 0)`,
    );
    const g = await folder('bad-2', [1]);
    await expect(readResumePoint(g)).rejects.toThrow(/ is not the trainer's state \(step missing, cursor\.epoch missing, cursor\.position missing, lastEvalStep missing;/);
    writeFileSync(join(g, STATE_FILE), '{');
    await expect(readResumePoint(g)).rejects.toThrow(new RegExp(`^--resume: ${join(g, STATE_FILE)}: .*JSON`));
  });
});

describe('against real tiny resumed runs: the plan\'s steps and evaluations left are what the trainer does', () => {
  // the demo model, 24 records (19 train / 5 test), micro-batches of 4: 5 per epoch; accumulation 2: 3 steps per epoch
  // (the 3rd of one micro-batch); 3 epochs: 9 steps; --eval-every 5: evaluations at 3, 5, 6, 9
  const TINY = ['train', '--backend', 'wasm', '--limit', '24', '--epochs', '3', '--eval-every', '5', '--batch-size', '4', '--grad-accum', '2', '--lr', '1e-3', '--max-source-length', '40', '--max-target-length', '20', '--r', '4', '--lora-alpha', '8'];
  const out = join(tmp, 'real');

  async function run(...flags: string[]) {
    const c = capture();
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation(() => true); // the trainer's progress lines
    try {
      const code = await main([...TINY, '--out', out, ...flags], c.io);
      const text = c.out.join('\n');
      expect(c.err).toEqual([]);
      expect(code).toBe(0);
      const evals = /^ +evals +(\d+) × /m.exec(text);
      const resume = /^ +resume +resuming checkpoint-(\d+) \((.*)\): (\d+) of (\d+) steps? left;/m.exec(text);
      return { text, evals: Number(evals![1]), resume: resume ? { step: Number(resume[1]), at: resume[2], left: Number(resume[3]), total: Number(resume[4]) } : null };
    } finally {
      spy.mockRestore();
    }
  }
  /** The steps of the trainer's evaluations in metrics.jsonl after `step`. */
  const evalsAfter = (step: number) =>
    readFileSync(join(out, 'checkpoints', METRICS_FILE), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; step: number }).filter((r) => r.type === 'eval' && r.step > step).map((r) => r.step);

  it('resumed at an epoch end, mid-epoch and at the last step', async () => {
    // fresh, stopped at the end of epoch 1 (evaluated there): checkpoint-3, cursor (1, 0)
    const first = await run('--max-steps', '3');
    expect([first.resume, first.evals]).toEqual([null, 1 + 1]); // before, the end 3 (reused after)
    // at the epoch end: 6 of 9 steps left, the evaluations at 5, 6 and 9 (3's is the checkpoint's)
    expect(await run('--resume', '--dry-run')).toMatchObject({ resume: { step: 3, at: 'at the start of epoch 2 of 3', left: 6, total: 9 }, evals: 3 });
    // one more step (4, no eval step): the plan counts no trainer eval, the app's after training
    const second = await run('--resume', '--max-steps', '4');
    expect(second).toMatchObject({ resume: { step: 3, left: 1, total: 4 }, evals: 1 });
    expect(second.text).toMatch(/stopped: maxSteps after 4 optimizer steps/);
    expect(evalsAfter(3)).toEqual([]);
    // mid-epoch: checkpoint-4, 2 micro-batches into epoch 2: 5 left (5 … 9), evaluated at 5, 6, 9, as the trainer then does
    const dry = await run('--resume', '--dry-run');
    expect(dry).toMatchObject({ resume: { step: 4, at: '2 micro-batches into epoch 2 of 3', left: 5, total: 9 }, evals: 3 });
    const third = await run('--resume');
    expect(third).toMatchObject({ resume: { step: 4, left: 5, total: 9 }, evals: 3 });
    expect(third.text).toMatch(/stopped: completed after 9 optimizer steps/);
    expect(evalsAfter(4)).toEqual([5, 6, 9]);
    // at the last step: nothing left, the checkpoint's evaluation reused
    const done = await run('--resume');
    expect(done).toMatchObject({ resume: { step: 9, at: 'all 3 epochs done', left: 0, total: 9 }, evals: 0 });
    expect(done.text).toMatch(/stopped: completed after 9 optimizer steps/);
    expect(evalsAfter(4)).toEqual([5, 6, 9]);
    expect(JSON.parse(readFileSync(join(out, 'checkpoints', 'checkpoint-9', STATE_FILE), 'utf8'))).toMatchObject({ step: 9, cursor: { epoch: 3, position: 0 }, lastEvalStep: 9 });
    // the dry run refuses what the resumed run would refuse (a changed data flag) instead of planning it
    const c = capture();
    expect(await main([...TINY, '--out', out, '--resume', '--dry-run', '--grad-accum', '4'], c.io)).toBe(1);
    expect(c.out).toEqual([]);
    expect(c.err.join('\n')).toMatch(/--grad-accum 2 \(this run: 4\)/);
  }, 240_000);
});
