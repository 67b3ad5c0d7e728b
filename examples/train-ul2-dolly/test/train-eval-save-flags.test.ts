// --eval-on-start, --eval-delay, --logging-first-step and --save-strategy best through the CLI's
// `main` on the embedded demo (tiny budget): what reaches the trainer shows in the log, metrics.jsonl
// and the folders under --out. (Argument-level checks: training-args.test.ts.)
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { main } from '../src/main.js';
import { evaluate } from '../src/pipeline/evaluate.js';
import { capture } from './capture.js';

// the app's own evaluations (before training, after it when the trainer's last one cannot be reused), counted
vi.mock('../src/pipeline/evaluate.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../src/pipeline/evaluate.js')>();
  return { ...actual, evaluate: vi.fn(actual.evaluate) };
});

const tmp = mkdtempSync(join(tmpdir(), 'conifer-eval-save-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// 48 records (38 train / 10 test), micro-batches of 2, accumulation 2: 10 steps per epoch, 4 run.
const TINY = ['train', '--backend', 'wasm', '--limit', '48', '--max-steps', '4', '--batch-size', '2', '--grad-accum', '2', '--lr', '3e-3', '--max-source-length', '48', '--max-target-length', '24'];

describe('transformers-style eval / logging / save flags in a real run', () => {
  it('--eval-on-start --eval-every 2 --eval-delay 3 --logging-first-step --logging-steps 3 --save-strategy best --metric-for-best-model accuracy', async () => {
    const out = join(tmp, 'best');
    const c = capture();
    const argv = [...TINY, '--eval-every', '2', '--eval-delay', '3', '--eval-on-start', '--logging-first-step', '--logging-steps', '3', '--save-strategy', 'best', '--metric-for-best-model', 'accuracy', '--out', out];
    // the trainer's progress lines go to process.stdout (its LineLogger outside a terminal), the app's through io
    vi.mocked(evaluate).mockClear();
    const logged: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => (logged.push(String(chunk)), true));
    try {
      expect(await main(argv, c.io)).toBe(0);
    } finally {
      spy.mockRestore();
    }
    expect(c.err).toEqual([]);
    const text = c.out.join('\n');
    const log = logged.join('');
    // the plan: the step-0 evaluation (the trainer's, instead of the app's) + step 4 (step 2 is before the delay)
    expect(text).toMatch(/^ +evals +2 × /m);
    // eval_on_start: the trainer evaluates at step 0; the app makes no evaluation of its own before training
    expect(text).not.toMatch(/eval loss before training/);
    const records = readFileSync(join(out, 'checkpoints/metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; step: number; loss: number; metrics?: Record<string, number> });
    const evals = records.filter((r) => r.type === 'eval');
    // eval_delay 3 with eval_steps 2: step 2 skipped (3 > 2), step 4 evaluated
    expect(evals.map((r) => r.step)).toEqual([0, 4]);
    // computeMetrics: eval_accuracy beside eval_loss at every evaluation (the demo's 10 test examples: 187 target tokens)
    for (const e of evals) {
      expect(Object.keys(e.metrics!)).toEqual(['eval_loss', 'eval_accuracy']);
      expect(e.metrics!.eval_loss).toBe(e.loss);
      expect(Number.isInteger(e.metrics!.eval_accuracy! * 187)).toBe(true);
    }
    expect(log.match(/^eval step \d+/gm)).toEqual(['eval step 0', 'eval step 4']);
    // logging_first_step: step 1 reported, then every 3rd (the run ends at 4)
    expect(log.match(/^step \d+\/4/gm)).toEqual(['step 1/4', 'step 3/4']);
    // the comparison after training is against the step-0 evaluation; the step-4 one is reused: the app evaluated nothing itself
    expect(vi.mocked(evaluate)).not.toHaveBeenCalled();
    expect(text).toContain(`eval loss after training:  ${evals[1]!.loss.toFixed(4)} per target token (was ${evals[0]!.loss.toFixed(4)})`);
    // save_strategy "best": the step-0 evaluation is never the best (transformers: eval_on_start is not compared), so step 4;
    // --out/adapter written then, and no adapter-epoch-* / adapter-step-* folders
    expect(text).toContain(`best evaluation: step 4, eval_accuracy ${evals[1]!.metrics!.eval_accuracy!.toFixed(4)}: its adapter is ${join(out, 'adapter')}\n`);
    expect(readdirSync(out).sort()).toEqual(['adapter', 'checkpoints']);
    expect(existsSync(join(out, 'adapter/adapter_model.safetensors'))).toBe(true);
  });

  it('--save-strategy steps: adapter-step-N folders, no epoch folder; --save-strategy no: the final --out/adapter only', async () => {
    // 20 records (16 train / 4 test): 4 steps per epoch, so step 4 ends the epoch without being a --save-every 3 step
    const short = [...TINY.slice(0, 3), '--limit', '20', ...TINY.slice(5)];
    const steps = join(tmp, 'steps');
    expect(await main([...short, '--save-strategy', 'steps', '--save-every', '3', '--out', steps], capture().io)).toBe(0);
    // step 3 (--save-every 3) and step 4, the run's last (--max-steps 4), as transformers saves checkpoint-3 and checkpoint-4
    expect(readdirSync(steps).sort()).toEqual(['adapter', 'adapter-step-3', 'adapter-step-4', 'checkpoints']);
    const no = join(tmp, 'no');
    expect(await main([...short, '--save-strategy', 'no', '--out', no], capture().io)).toBe(0);
    expect(readdirSync(no).sort()).toEqual(['adapter', 'checkpoints']);
    // (without the flag these runs would also write adapter-epoch-1: training-args.test.ts, adapterFolder)
  });
});
