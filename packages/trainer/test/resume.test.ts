import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { latestCheckpoint, readCheckpoint } from '../src/checkpoint';
import { spawnTs } from './scripts/spawn-ts';

const base = mkdtempSync(join(tmpdir(), 'conifer-resume-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

interface Outcome {
  w: string;
  b: string;
  metrics: unknown[];
  step: number;
  resumedFrom: string | null;
  dropoutSeeds: number[];
  adam: Record<string, string>;
  stopReason: string;
  best: unknown;
}

/** Runs the child; with `killAt`, SIGKILLs it as soon as it prints "step killAt". */
function runChild(dir: string, resume: boolean, out: string, killAt?: number, signal: NodeJS.Signals = 'SIGKILL', mode = ''): Promise<{ code: number | null; signal: NodeJS.Signals | null; lastStep: number }> {
  return new Promise((resolve, reject) => {
    const child = spawnTs('scripts/resume-child.ts', [dir, resume ? '1' : '0', out, mode]);
    let lastStep = 0;
    let sent = false;
    let buf = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      for (const m of buf.matchAll(/step (\d+)\n/g)) lastStep = Number(m[1]);
      if (killAt !== undefined && lastStep >= killAt && !sent) {
        sent = true;
        child.kill(signal);
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code !== 0 && signal === null) reject(new Error(`child failed (${code}): ${err}`));
      else resolve({ code, signal, lastStep });
    });
  });
}

describe('exact resume after SIGKILL (child process)', () => {
  it('killed at step 5 and resumed gives bit-identical weights, optimizer state and metrics', async () => {
    const straightDir = join(base, 'straight');
    const killedDir = join(base, 'killed');
    const [straight, killed] = await Promise.all([runChild(straightDir, false, join(base, 'straight.json')), runChild(killedDir, false, join(base, 'never.json'), 5)]);
    expect(straight.code).toBe(0);
    expect(killed.signal).toBe('SIGKILL');
    expect(killed.lastStep).toBeGreaterThanOrEqual(5);
    expect(killed.lastStep).toBeLessThan(27);
    const resumedRun = await runChild(killedDir, true, join(base, 'resumed.json'));
    expect(resumedRun.code).toBe(0);
    const a = JSON.parse(readFileSync(join(base, 'straight.json'), 'utf8')) as Outcome;
    const b = JSON.parse(readFileSync(join(base, 'resumed.json'), 'utf8')) as Outcome;
    expect(a.step).toBe(27);
    const from = Number(/checkpoint-(\d+)$/.exec(b.resumedFrom ?? '')?.[1]);
    console.log(`killed after "step ${killed.lastStep}", resumed from checkpoint-${from}`);
    expect(from).toBeGreaterThanOrEqual(4);
    expect(from).toBeLessThan(27);
    expect(b.dropoutSeeds).toHaveLength(27 - from);
    expect(b.w).toBe(a.w);
    expect(b.b).toBe(a.b);
    expect(b.adam).toEqual(a.adam);
    expect(b.metrics).toEqual(a.metrics);
    // dropout seeds drawn after the resume continue the same stream
    expect(a.dropoutSeeds.slice(-b.dropoutSeeds.length)).toEqual(b.dropoutSeeds);
    // metrics.jsonl of the resumed run holds exactly the uninterrupted run's records
    const lines = (d: string) => readFileSync(join(d, 'metrics.jsonl'), 'utf8');
    expect(lines(killedDir)).toBe(lines(straightDir));
  }, 60_000);

  it('with computeMetrics, metricForBestModel, saveStrategy best and early stopping: killed after step 17 and resumed, the same evaluations, bests, saves, early stop and best weights', async () => {
    // The child's metric (|eval MAE − 1|, lower is better) falls until step 12, then rises: best at 12,
    // saves at the new bests 4, 8, 9, 12, and early stopping (patience 2) after the misses at 16 and 18.
    // Killed after step 17, a resume that lost the best or the miss count would save at 18 or stop later.
    const straightDir = join(base, 'm-straight');
    const killedDir = join(base, 'm-killed');
    const [straight, killed] = await Promise.all([
      runChild(straightDir, false, join(base, 'm-straight.json'), undefined, 'SIGKILL', 'metrics'),
      runChild(killedDir, false, join(base, 'm-never.json'), 17, 'SIGKILL', 'metrics'),
    ]);
    expect(straight.code).toBe(0);
    expect(killed.signal).toBe('SIGKILL');
    const resumedRun = await runChild(killedDir, true, join(base, 'm-resumed.json'), undefined, 'SIGKILL', 'metrics');
    expect(resumedRun.code).toBe(0);
    const a = JSON.parse(readFileSync(join(base, 'm-straight.json'), 'utf8')) as Outcome;
    const b = JSON.parse(readFileSync(join(base, 'm-resumed.json'), 'utf8')) as Outcome;
    expect([a.step, a.stopReason, (a.best as { step: number }).step]).toEqual([18, 'earlyStopping', 12]);
    // resumed after step 16's miss: the best (12), its weights and early stopping's count (1) come from the checkpoint
    expect(Number(/checkpoint-(\d+)$/.exec(b.resumedFrom ?? '')?.[1])).toBeGreaterThanOrEqual(16);
    expect([b.step, b.stopReason, b.best]).toEqual([a.step, a.stopReason, a.best]);
    expect(b.w).toBe(a.w); // the best model, loaded at the end: bit for bit
    expect(b.b).toBe(a.b);
    expect(b.metrics).toEqual(a.metrics); // eval_mae_gap in every eval record included
    const saves = (d: string) => readFileSync(join(d, 'saves.txt'), 'utf8').split('\n').filter(Boolean);
    expect(saves(straightDir)).toEqual(['best@4', 'best@8', 'best@9', 'best@12']);
    // a save redone after the kill (onSave ran, its checkpoint did not) may repeat: each save is at least once, in order
    expect([...new Set(saves(killedDir))]).toEqual(saves(straightDir));
  }, 60_000);

  it("optim: 'adafactor': killed after step 11 and resumed gives bit-identical weights, Adafactor slots and metrics", async () => {
    const straightDir = join(base, 'af-straight');
    const killedDir = join(base, 'af-killed');
    const [straight, killed] = await Promise.all([
      runChild(straightDir, false, join(base, 'af-straight.json'), undefined, 'SIGKILL', 'adafactor'),
      runChild(killedDir, false, join(base, 'af-never.json'), 11, 'SIGKILL', 'adafactor'),
    ]);
    expect(straight.code).toBe(0);
    expect(killed.signal).toBe('SIGKILL');
    expect((await readCheckpoint(join(straightDir, 'checkpoint-27'))).optimizer).toMatchObject({ kind: 'adafactor', step: 27 });
    const resumedRun = await runChild(killedDir, true, join(base, 'af-resumed.json'), undefined, 'SIGKILL', 'adafactor');
    expect(resumedRun.code).toBe(0);
    const a = JSON.parse(readFileSync(join(base, 'af-straight.json'), 'utf8')) as Outcome;
    const b = JSON.parse(readFileSync(join(base, 'af-resumed.json'), 'utf8')) as Outcome;
    const from = Number(/checkpoint-(\d+)$/.exec(b.resumedFrom ?? '')?.[1]);
    expect(from).toBeGreaterThanOrEqual(10);
    expect(from).toBeLessThan(27);
    expect(a.step).toBe(27);
    expect(Object.keys(a.adam).sort()).toEqual(['exp_avg.resume.b', 'exp_avg.resume.w', 'exp_avg_sq.resume.b', 'exp_avg_sq_col.resume.w', 'exp_avg_sq_row.resume.w']);
    expect([b.w, b.b]).toEqual([a.w, a.b]);
    expect(b.adam).toEqual(a.adam);
    expect(b.metrics).toEqual(a.metrics);
    expect(a.dropoutSeeds.slice(-b.dropoutSeeds.length)).toEqual(b.dropoutSeeds);
  }, 60_000);

  it('never loads a checkpoint folder without its manifest (killed mid-write)', async () => {
    const dir = join(base, 'straight');
    const names = readdirSync(dir).filter((n) => n.startsWith('checkpoint-'));
    const newest = names.map((n) => Number(n.slice(11))).sort((x, y) => y - x)[0]!;
    // simulate a kill after the tensors and state were written but before COMPLETE: copy the newest to a later step, drop its manifest
    cpSync(join(dir, `checkpoint-${newest}`), join(dir, `checkpoint-${newest + 1}`), { recursive: true });
    unlinkSync(join(dir, `checkpoint-${newest + 1}`, 'COMPLETE'));
    expect(await latestCheckpoint(dir)).toBe(join(dir, `checkpoint-${newest}`));
    // a manifest whose sizes disagree (a torn file) is rejected too
    cpSync(join(dir, `checkpoint-${newest}`), join(dir, `checkpoint-${newest + 2}`), { recursive: true });
    const torn = join(dir, `checkpoint-${newest + 2}`, 'state.json');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(torn, readFileSync(torn, 'utf8').slice(0, 10));
    expect(await latestCheckpoint(dir)).toBe(join(dir, `checkpoint-${newest}`));
  });

  it('SIGINT: the run finishes its step, writes a checkpoint and exits cleanly', async () => {
    const dir = join(base, 'sigint');
    const r = await runChild(dir, false, join(base, 'sigint.json'), 3, 'SIGINT');
    expect(r.code).toBe(0);
    const o = JSON.parse(readFileSync(join(base, 'sigint.json'), 'utf8')) as Outcome;
    expect(o.step).toBeGreaterThanOrEqual(3);
    expect(o.step).toBeLessThan(27);
    expect(await latestCheckpoint(dir)).toBe(join(dir, `checkpoint-${o.step}`));
  }, 30_000);
});
