// End to end through the CLI's `main`: the embedded default (demo T5 from random weights, real T5
// tokenizer, real Dolly records) with a tiny step budget, then `generate` and `eval` on what it wrote.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAdapter } from '@conifer/lora';
import { T5ForConditionalGeneration } from '@conifer/t5-model';
import { afterAll, describe, expect, it } from 'vitest';
import { DEMO_CONFIG } from '../src/demo-config.js';
import { main } from '../src/main.js';
import { T5_FIXTURES } from './golden/helpers.js';
import { capture } from './capture.js';


const tmp = mkdtempSync(join(tmpdir(), 'conifer-e2e-'));
const out = join(tmp, 'run');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// Small enough for CI's 2 cores: 48 records (38 train / 10 test), 6 optimizer steps of 2 × 2 examples.
const TRAIN = ['train', '--backend', 'wasm', '--limit', '48', '--max-steps', '6', '--batch-size', '2', '--grad-accum', '2', '--lr', '3e-3', '--max-source-length', '48', '--max-target-length', '24', '--out', out];

describe('train-ul2-dolly end to end (embedded default, tiny budget)', () => {
  it('train: prints the plan and the eval losses, writes a PEFT adapter, metrics.jsonl and the loss curve', async () => {
    const c = capture();
    const code = await main(TRAIN, c.io);
    expect(c.err.join('\n')).toBe('');
    expect(code).toBe(0);
    const text = c.out.join('\n');
    expect(text).toMatch(/parameters/);
    expect(text).toMatch(/eval loss before training: \d/);
    expect(text).toMatch(/eval loss after training: +\d/);
    expect(text).toMatch(/stopped: maxSteps after 6 optimizer steps/);
    for (const f of ['adapter/adapter_config.json', 'adapter/adapter_model.safetensors']) expect(existsSync(join(out, f)), f).toBe(true);
    const config = JSON.parse(readFileSync(join(out, 'adapter/adapter_config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({ peft_type: 'LORA', r: 8, lora_alpha: 32, lora_dropout: 0.1, target_modules: expect.arrayContaining(['q', 'v']) });
    const metricsFile = [join(out, 'checkpoints/metrics.jsonl'), join(out, 'metrics.jsonl')].find(existsSync)!;
    expect(metricsFile).toBeDefined();
    const steps = readFileSync(metricsFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; loss: number; lr: number }).filter((r) => r.type === 'train');
    expect(steps).toHaveLength(6);
    // The default --lr-scheduler-type linear, no warmup, reached train(): transformers' get_linear_schedule_with_warmup
    // lambda, (total − k) / (total − warmup) after k steps, over this run's 6 steps, times --lr 3e-3.
    expect(steps.map((r) => r.lr)).toEqual([6, 5, 4, 3, 2, 1].map((k) => expect.closeTo((3e-3 * k) / 6, 12)));
    // The train loss falls: the mean of the last two steps is below the mean of the first two.
    const first = (steps[0]!.loss + steps[1]!.loss) / 2;
    const last = (steps[4]!.loss + steps[5]!.loss) / 2;
    expect(last).toBeLessThan(first);
    const svg = [join(out, 'checkpoints/loss-curve.svg'), join(out, 'loss-curve.svg')].find(existsSync)!;
    expect(readFileSync(svg, 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
  });

  it('the adapter loads back onto the same demo model and changes its logits', async () => {
    await tf.setBackend('cpu');
    const model = T5ForConditionalGeneration.fromConfig(DEMO_CONFIG as Record<string, unknown>, { seed: 42 });
    const ids = tf.tensor2d([[37, 1782, 19, 3, 9, 1]], undefined, 'int32');
    const mask = tf.onesLike(ids) as tf.Tensor2D;
    const dec = tf.tensor2d([[0, 37, 1782]], undefined, 'int32');
    const base = model.forward({ inputIds: ids, attentionMask: mask, decoderInputIds: dec }).logits.dataSync().slice();
    const lora = await loadAdapter(model, join(out, 'adapter'));
    const withAdapter = model.forward({ inputIds: ids, attentionMask: mask, decoderInputIds: dec }).logits.dataSync();
    let diff = 0;
    for (let i = 0; i < base.length; i++) diff = Math.max(diff, Math.abs(base[i]! - withAdapter[i]!));
    expect(diff).toBeGreaterThan(1e-4);
    lora.dispose();
    model.dispose();
    tf.dispose([ids, mask, dec]);
  });

  it('generate and eval run on the trained adapter', async () => {
    const g = capture();
    expect(await main(['generate', '--backend', 'wasm', '--adapter', join(out, 'adapter'), '--prompt', 'What is a lamb?', '--max-length', '8', '--min-length', '2'], g.io)).toBe(0);
    expect(g.out.join('\n')).toMatch(/> What is a lamb\?/);
    const e = capture();
    expect(await main(['eval', '--backend', 'wasm', '--adapter', join(out, 'adapter'), '--limit', '48', '--samples', '1', '--max-length', '6', '--max-target-length', '24', '--max-source-length', '48'], e.io)).toBe(0);
    expect(e.out.join('\n')).toMatch(/eval loss \d+\.\d+ per target token/);
  });

  it('a second train into the same --out without --resume is refused and writes nothing', async () => {
    const c = capture();
    expect(await main(TRAIN, c.io)).toBe(1);
    expect(c.err.join('\n')).toMatch(/already holds checkpoints: pass --resume/);
  });

  it('--resume continues the finished run (nothing left to do at the same --max-steps)', async () => {
    const c = capture();
    expect(await main([...TRAIN, '--resume'], c.io)).toBe(0);
    expect(c.out.join('\n')).toMatch(/stopped: \w+ after 6 optimizer steps/);
  });
});

describe('bad input: one clear message, exit code ≠ 0, nothing written', () => {
  it('a missing model folder', async () => {
    const c = capture();
    const o = join(tmp, 'never1');
    expect(await main(['train', '--model', join(tmp, 'no-such-model'), '--out', o], c.io)).not.toBe(0);
    expect(c.err).toHaveLength(1);
    expect(existsSync(o)).toBe(false);
  });

  it('an unreadable data file', async () => {
    const c = capture();
    const o = join(tmp, 'never2');
    expect(await main(['train', '--data', join(tmp, 'missing.jsonl'), '--out', o, '--backend', 'cpu'], c.io)).not.toBe(0);
    expect(c.err).toHaveLength(1);
    expect(c.err[0]).toMatch(/missing\.jsonl/);
    expect(existsSync(o)).toBe(false);
  });
});

describe('a model folder whose weights do not match its config', () => {
  it('names the missing and extra weights on one line, exit 1, nothing written', async () => {
    // The golden ul2-tiny weights (2 encoder + 3 decoder blocks) under a config that says 3 + 2.
    const dir = join(tmp, 'mismatched-model');
    mkdirSync(dir);
    const config = JSON.parse(readFileSync(join(T5_FIXTURES, 'models/ul2-tiny/config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, num_layers: 3, num_decoder_layers: 2 }));
    copyFileSync(join(T5_FIXTURES, 'models/ul2-tiny/model.safetensors'), join(dir, 'model.safetensors'));
    const c = capture();
    const o = join(tmp, 'never3');
    expect(await main(['train', '--model', dir, '--backend', 'cpu', '--limit', '16', '--out', o], c.io)).toBe(1);
    expect(c.err).toHaveLength(1);
    expect(c.err[0]).toMatch(/missing.*encoder\.block\.2\./);
    expect(c.err[0]).toMatch(/(unexpected|extra).*decoder\.block\.2\./);
    expect(existsSync(o)).toBe(false);
  });
});
