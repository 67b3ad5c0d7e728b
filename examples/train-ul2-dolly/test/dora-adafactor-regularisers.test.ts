// --use-dora, --optim adafactor, --label-smoothing-factor and --neftune-noise-alpha through the CLI's
// `main` on the embedded demo (tiny budgets): what each reaches shows in the plan, the adapter and
// checkpoint files and the losses in metrics.jsonl. (The numerics are the packages' tests: DoRA in
// @conifer/lora, Adafactor in @conifer/trainer, label smoothing and NEFTune in @conifer/t5-model;
// argument-level checks: training-args.test.ts.)
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { injectLora, loadAdapter } from '@conifer/lora';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { DEMO_CONFIG } from '../src/demo-config.js';
import { main } from '../src/main.js';
import { loraParameters } from '../src/plan.js';
import { t5Shape } from '../src/t5-config.js';
import { capture } from './capture.js';

// what the app hands @conifer/lora (--dora-weight-norm), recorded
vi.mock('@conifer/lora', async (importOriginal) => {
  const actual = await importOriginal<typeof import('@conifer/lora')>();
  return { ...actual, injectLora: vi.fn(actual.injectLora), loadAdapter: vi.fn(actual.loadAdapter) };
});

const tmp = mkdtempSync(join(tmpdir(), 'conifer-dora-adafactor-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// 48 records (38 train / 10 test), micro-batches of 2.
const TINY = ['train', '--backend', 'wasm', '--limit', '48', '--batch-size', '2', '--lr', '3e-3', '--max-source-length', '48', '--max-target-length', '24'];

/** A safetensors file's header: tensor names → { dtype, shape }, and its __metadata__. */
function header(file: string): { tensors: Record<string, { dtype: string; shape: number[] }>; metadata: Record<string, string> } {
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  const { __metadata__, ...tensors } = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, never>;
  return { tensors, metadata: (__metadata__ ?? {}) as Record<string, string> };
}

interface Rec { type: string; step: number; loss: number }
const records = (out: string): Rec[] => readFileSync(join(out, 'checkpoints/metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Rec);

/** Runs `train` quietly (the trainer's own lines go to process.stdout); returns the app's output. */
async function run(argv: string[]): Promise<string> {
  const c = capture();
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    expect(await main(argv, c.io)).toBe(0);
  } finally {
    spy.mockRestore();
  }
  expect(c.err).toEqual([]);
  return c.out.join('\n');
}

describe('DoRA and Adafactor in a real run', () => {
  const out = join(tmp, 'dora');
  it('--use-dora --optim adafactor: a PEFT DoRA adapter, Adafactor state in the checkpoints, the loss falls', async () => {
    const text = await run([...TINY, '--max-steps', '4', '--grad-accum', '2', '--use-dora', '--optim', 'adafactor', '--dora-weight-norm', 'direct', '--out', out]);
    expect(vi.mocked(injectLora).mock.calls.at(-1)![2]).toEqual({ seed: 42, doraWeightNorm: 'direct' });
    // the plan counts DoRA's magnitudes (r·(in + out) + out per adapted projection) and Adafactor's state; the
    // adapters @conifer/lora built (PeftModel's print_trainable_parameters) have as many trainable parameters
    const shape = t5Shape(DEMO_CONFIG as Record<string, unknown>);
    const lora = loraParameters(shape, 8, ['q', 'v']);
    const dora = loraParameters(shape, 8, ['q', 'v'], true);
    expect(dora.params).toBe(lora.params + dora.rows);
    const n = dora.params.toLocaleString('en-US');
    expect(text).toMatch(new RegExp(`^ +LoRA +DoRA, r 8, alpha 32, on q,v \\(${dora.modules} modules\\): ${n} trainable parameters .* with gradients and Adafactor state$`, 'm'));
    expect(text).toMatch(new RegExp(`^ +LoRA +trainable params: ${n} \\|`, 'm'));
    const config = JSON.parse(readFileSync(join(out, 'adapter/adapter_config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({ peft_type: 'LORA', use_dora: true, r: 8, target_modules: expect.arrayContaining(['q', 'v']) });
    const adapter = header(join(out, 'adapter/adapter_model.safetensors')).tensors;
    const magnitudes = Object.keys(adapter).filter((k) => k.endsWith('.lora_magnitude_vector'));
    expect(magnitudes).toHaveLength(dora.modules);
    expect(magnitudes).toContain('base_model.model.encoder.block.0.layer.0.SelfAttention.q.lora_magnitude_vector');
    expect(adapter['base_model.model.encoder.block.0.layer.0.SelfAttention.q.lora_magnitude_vector']!.shape).toEqual([shape.numHeads * shape.dKv]);
    // Adafactor's state (factored second moments, no exp_avg without beta1), not AdamW's m / v
    const ckpt = join(out, 'checkpoints', readdirSync(join(out, 'checkpoints')).filter((d) => d.startsWith('checkpoint-')).sort().at(-1)!);
    const opt = header(join(ckpt, 'optimizer.safetensors'));
    expect(opt.metadata.optimizer).toBe('adafactor');
    const names = Object.keys(opt.tensors);
    expect(names.some((k) => k.startsWith('exp_avg_sq_row.'))).toBe(true);
    expect(names.some((k) => k.startsWith('m.') || k.startsWith('v.'))).toBe(false);
    const [, after, before] = /eval loss after training: +(\d+\.\d+) per target token \(was (\d+\.\d+)\)/.exec(text)!;
    expect(Number(after)).toBeLessThan(Number(before));
    const steps = records(out).filter((r) => r.type === 'train');
    expect(steps).toHaveLength(4);
    expect(steps.every((r) => Number.isFinite(r.loss))).toBe(true);
  });

  it('generate, eval, and a resume with other flags refused before the model loads', async () => {
    // both weight norms load the DoRA adapter and give the same greedy text here
    const texts: string[] = [];
    for (const norm of ['factored', 'direct']) {
      const g = capture();
      expect(await main(['generate', '--backend', 'wasm', '--adapter', join(out, 'adapter'), '--prompt', 'What is a lamb?', '--max-length', '8', '--min-length', '2', '--dora-weight-norm', norm], g.io)).toBe(0);
      expect(vi.mocked(loadAdapter).mock.calls.at(-1)![2]).toEqual({ doraWeightNorm: norm, onWarning: expect.any(Function) }); // PEFT's warnings go to stderr
      texts.push(g.out.join('\n'));
    }
    expect(texts[0]).toMatch(/> What is a lamb\?/);
    expect(texts[1]).toBe(texts[0]);
    const e = capture();
    expect(await main(['eval', '--backend', 'wasm', '--adapter', join(out, 'adapter'), '--limit', '48', '--samples', '0', '--max-target-length', '24', '--max-source-length', '48'], e.io)).toBe(0);
    expect(e.out.join('\n')).toMatch(/eval loss \d+\.\d+ per target token/);
    // the checkpoint holds Adafactor's state and DoRA's magnitudes: resuming it with other flags is one line,
    // exit 1, before any backend or model is set up
    const resume = async (...flags: string[]) => {
      const c = capture();
      expect(await main([...TINY, '--max-steps', '6', '--grad-accum', '2', ...flags, '--out', out, '--resume'], c.io)).toBe(1);
      expect(c.out.join('\n')).not.toMatch(/^ +backend /m);
      expect(c.err).toHaveLength(1);
      return c.err[0]!;
    };
    expect(await resume('--use-dora')).toMatch(/^conifer-train-ul2-dolly: --resume: .*checkpoint-4 was written with --optim adafactor \(this run: adamw_torch\): resume with the same flags, or give another --out$/);
    expect(await resume('--optim', 'adafactor')).toMatch(/checkpoint-4 was written with --use-dora \(this run: without\): resume/);
    expect(await resume()).toMatch(/checkpoint-4 was written with --optim adafactor \(this run: adamw_torch\) and --use-dora \(this run: without\): resume/);
  });
});

describe('label smoothing and NEFTune reach the model', () => {
  // one optimizer step after an evaluation at step 0 (the weights the run starts from: LoRA's B = 0)
  const ONE = [...TINY, '--max-steps', '1', '--grad-accum', '1', '--eval-on-start'];
  const losses = async (name: string, ...flags: string[]) => {
    const out = join(tmp, name);
    await run([...ONE, ...flags, '--out', out]);
    const r = records(out);
    return { eval0: r.find((x) => x.type === 'eval' && x.step === 0)!.loss, train1: r.find((x) => x.type === 'train' && x.step === 1)!.loss };
  };

  it('smoothing changes the eval and train losses; NEFTune only the train loss; neither is random across runs', async () => {
    const plain = await losses('plain');
    const noise = await losses('neftune', '--neftune-noise-alpha', '5');
    const smooth = await losses('smooth', '--label-smoothing-factor', '0.1');
    const again = await losses('plain-again', '--label-smoothing-factor', '0', '--neftune-noise-alpha', '0');
    expect(again).toEqual(plain);
    // NEFTune: no noise in evaluation (the step-0 loss is bit-equal), noise in the training forward
    expect(noise.eval0).toBe(plain.eval0);
    expect(noise.train1).not.toBe(plain.train1);
    // label smoothing: in evaluation too, as transformers' prediction_step calls compute_loss
    expect(smooth.eval0).not.toBe(plain.eval0);
    expect(smooth.train1).not.toBe(plain.train1);
    expect(existsSync(join(tmp, 'smooth/adapter/adapter_config.json'))).toBe(true);
  });
});
