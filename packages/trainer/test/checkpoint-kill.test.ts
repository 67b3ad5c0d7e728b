import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isCompleteCheckpoint, latestCheckpoint, listCheckpoints, readCheckpoint } from '../src/checkpoint';
import type { AdamWState } from '../src/adamw';
import { spawnTs } from './scripts/spawn-ts';

const base = mkdtempSync(join(tmpdir(), 'conifer-ckpt-kill-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

const FLOATS = 2_000_000; // 8 MB of weights + 16 MB of moments per checkpoint: a write takes tens of ms
const KILL_AT = 3;

/**
 * Runs the writer and SIGKILLs it while it writes checkpoint KILL_AT: `delayMs` after it printed
 * "begin 3", or (delayMs = 'first-file') as soon as the first of that checkpoint's files appears.
 */
function writeAndKill(dir: string, delayMs: number | 'first-file'): Promise<{ signal: NodeJS.Signals | null; sawDone: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawnTs('scripts/checkpoint-writer.ts', [dir, String(FLOATS)]);
    let buf = '';
    let err = '';
    let armed = false;
    const kill = () => child.kill('SIGKILL');
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      if (armed || !buf.includes(`begin ${KILL_AT}\n`)) return;
      armed = true;
      if (delayMs === 'first-file') {
        const first = join(dir, `checkpoint-${KILL_AT}`, 'trainable.safetensors');
        const poll = setInterval(() => {
          if (existsSync(first)) {
            clearInterval(poll);
            kill();
          }
        }, 1);
        child.on('exit', () => clearInterval(poll));
      } else if (delayMs === 0) kill();
      else setTimeout(kill, delayMs);
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal === null) reject(new Error(`writer exited by itself (${code}): ${err}`));
      else resolve({ signal, sawDone: buf.includes(`done ${KILL_AT}\n`) });
    });
  });
}

describe('a checkpoint being written when the process is SIGKILLed (child process)', () => {
  it('is never loaded as complete: the newest complete one is intact and consistent', async () => {
    const delays = [0, 50, 100, 'first-file'] as const;
    const runs = await Promise.all(delays.map((d, i) => writeAndKill(join(base, `run${i}`), d)));
    let midWrite = 0;
    for (const [i, r] of runs.entries()) {
      expect(r.signal).toBe('SIGKILL');
      const dir = join(base, `run${i}`);
      const torn = join(dir, `checkpoint-${KILL_AT}`);
      const tornIncomplete = existsSync(torn) && !(await isCompleteCheckpoint(torn));
      if (tornIncomplete) midWrite++;
      const latest = await latestCheckpoint(dir);
      expect(latest).not.toBeNull();
      const ck = await readCheckpoint<{ step: number }>(latest!);
      const step = ck.state.step;
      // the newest complete checkpoint: KILL_AT − 1, or KILL_AT if its manifest made it to disk
      expect(step).toBe(tornIncomplete ? KILL_AT - 1 : Number(/checkpoint-(\d+)$/.exec(latest!)![1]));
      expect(step === KILL_AT - 1 || step === KILL_AT).toBe(true);
      expect(ck.optimizer.step).toBe(step);
      // every value from this one checkpoint (no mix of two writes, nothing torn)
      expect(ck.variables['big.weight']!.values.length).toBe(FLOATS);
      expect(ck.variables['big.weight']!.values.every((x) => x === step)).toBe(true);
      const adam = ck.optimizer as AdamWState; // the writer saves AdamW's state
      expect(adam.m['big.weight']!.every((x) => x === step + 0.25)).toBe(true);
      expect(adam.v['big.weight']!.every((x) => x === step + 0.5)).toBe(true);
      const listing = (await listCheckpoints(dir)).map((c) => `${c.step}${c.complete ? '' : ' (incomplete: ' + readdirSync(c.path).join(', ') + ')'}`);
      console.log(`kill ${delays[i] === 'first-file' ? 'at the first file' : `${delays[i]} ms after "begin ${KILL_AT}"`}: folders ${listing.join('; ')} → loads checkpoint-${step}`);
    }
    // at least one kill landed inside the write (the 'first-file' one by construction, unless the
    // whole write finished within one 1 ms poll)
    expect(midWrite).toBeGreaterThanOrEqual(1);
  }, 30_000);
});
