import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commandHelp, DEFAULT_PROMPT, parseCommandLine } from '../src/args.js';
import { main } from '../src/main.js';
import type { EvalOptions, GenerateOptions, TrainOptions } from '../src/options.js';
import { capture } from './capture.js';

const FLAN_UL2_CONFIG = join(__dirname, 'fixtures/flan-ul2/config.json');


function train(...argv: string[]): TrainOptions {
  const p = parseCommandLine(['train', ...argv]);
  if (p.kind !== 'run' || p.options.command !== 'train') throw new Error('expected train options');
  return p.options;
}

describe('parseCommandLine', () => {
  it('train with no flags: the demo model with the demo defaults', () => {
    const o = train();
    expect(o.model).toEqual({ kind: 'demo' });
    expect(o).toMatchObject({ backend: 'wasm', int8: 'weight-only', seed: 42, out: 'conifer-out', r: 8, loraAlpha: 32, loraDropout: 0.1 });
    expect(o.targetModules).toEqual(['q', 'v']);
    expect(o).toMatchObject({ lr: 1e-3, epochs: 1, batchSize: 4, gradAccum: 2, limit: 300, maxSourceLength: 96, maxTargetLength: 48 });
    expect(o).toMatchObject({ warmupSteps: 0, resume: false, dryRun: false, tensorCores: true, gradientCheckpointing: false, int8SkipModules: [] });
    expect(o.batchTokens).toBeUndefined();
    expect([...o.explicit]).toEqual([]);
  });

  it('--data: a file, hub, or an hf://datasets/ address', () => {
    expect(train('--data', 'hub').data).toBe('hub');
    expect(train('--data', 'hf://datasets/databricks/databricks-dolly-15k/databricks-dolly-15k.jsonl').data).toBe('hf://datasets/databricks/databricks-dolly-15k/databricks-dolly-15k.jsonl');
    expect(train().data).toBeUndefined();
  });

  it('a real model gets the original project’s defaults', () => {
    const o = train('--model', FLAN_UL2_CONFIG, '--dry-run');
    expect(o.model).toEqual({ kind: 'config', file: FLAN_UL2_CONFIG });
    expect(o).toMatchObject({ int8: 'auto', lr: 1e-4, epochs: 3, batchSize: 1, gradAccum: 8, maxSourceLength: 512, maxTargetLength: 512, dryRun: true });
    expect(o.limit).toBeUndefined();
  });

  it('reads every train flag', () => {
    const o = train(
      ...['--model', __dirname, '--int8', 'llm-int8', '--r', '16', '--lora-alpha', '16', '--lora-dropout', '0', '--target-modules', 'q,k,v,o'],
      ...['--lr', '3e-4', '--epochs', '1', '--grad-accum', '4', '--batch-tokens', '2048', '--max-source-length', '256'],
      ...['--max-target-length', '192', '--warmup-steps', '10', '--eval-every', '50', '--save-every', '100', '--max-steps', '7'],
      ...['--resume', '--gradient-checkpointing', '--int8-skip-modules', 'wo,o', '--backend', 'cpu', '--seed', '7', '--out', 'x', '--device-memory', '40', '--device-tflops', '2.5', '--limit', '100'],
      '--no-tensor-cores',
    );
    expect(o.model).toEqual({ kind: 'dir', dir: __dirname });
    expect(o).toMatchObject({ int8: 'llm-int8', r: 16, loraAlpha: 16, loraDropout: 0, lr: 3e-4, epochs: 1, gradAccum: 4, batchTokens: 2048 });
    expect(o).toMatchObject({ maxSourceLength: 256, maxTargetLength: 192, warmupSteps: 10, evalEvery: 50, saveEvery: 100, maxSteps: 7 });
    expect(o).toMatchObject({ resume: true, gradientCheckpointing: true, int8SkipModules: ['wo', 'o'], backend: 'cpu', seed: 7, out: 'x', deviceMemoryGB: 40, deviceTflops: 2.5, limit: 100, tensorCores: false });
    expect(o.targetModules).toEqual(['q', 'k', 'v', 'o']);
    expect(o.explicit.has('lr')).toBe(true);
  });

  it('--int8-skip-modules takes what @conifer/int8 skipModules takes: projection names, paths, module subtrees (checked against the model later)', () => {
    expect(train('--int8-skip-modules', 'encoder, decoder.block.0,wo,wo,decoder.block.1.layer.2.DenseReluDense.wi_0').int8SkipModules).toEqual(['encoder', 'decoder.block.0', 'wo', 'decoder.block.1.layer.2.DenseReluDense.wi_0']);
  });

  it('a hub id is accepted as such', () => {
    expect(train('--model', 'google/flan-ul2', '--dry-run').model).toEqual({ kind: 'hub', id: 'google/flan-ul2' });
  });

  it('generate and eval defaults', () => {
    const g = parseCommandLine(['generate']);
    expect(g.kind === 'run' && (g.options as GenerateOptions)).toMatchObject({
      command: 'generate', prompts: [DEFAULT_PROMPT], maxLength: 250, minLength: 10, numBeams: 1, doSample: false, temperature: 1, topK: 50, topP: 1,
    });
    const g2 = parseCommandLine(['generate', '--prompt', 'a', '--prompt', 'b', '--do-sample', '--top-p', '0.9', '--num-beams', '4']);
    expect(g2.kind === 'run' && (g2.options as GenerateOptions)).toMatchObject({ prompts: ['a', 'b'], doSample: true, topP: 0.9, numBeams: 4 });
    const e = parseCommandLine(['eval', '--adapter', __dirname, '--split', 'train']);
    expect(e.kind === 'run' && (e.options as EvalOptions)).toMatchObject({ command: 'eval', adapter: __dirname, split: 'train', samples: 3, batchSize: 8 });
    // A hub id for --adapter (loadAdapter downloads it, as PEFT's from_pretrained).
    const h = parseCommandLine(['generate', '--adapter', 'coniferlabs/flan-ul2-dolly-lora']);
    expect(h.kind === 'run' && (h.options as GenerateOptions).adapter).toBe('coniferlabs/flan-ul2-dolly-lora');
  });

  it('--help lists every flag with its default', () => {
    const h = commandHelp('train');
    for (const flag of ['model', 'int8', 'r', 'lora-alpha', 'lora-dropout', 'target-modules', 'data', 'lr', 'epochs', 'batch-size', 'grad-accum', 'batch-tokens',
      'max-source-length', 'max-target-length', 'warmup-steps', 'eval-every', 'save-every', 'max-steps', 'gradient-checkpointing', 'int8-skip-modules', 'resume', 'backend', 'seed', 'out', 'dry-run', 'no-tensor-cores']) {
      expect(h).toContain(`--${flag}`);
    }
    expect(h).toMatch(/--lr X .*\(default: 1e-4/);
    expect(h).toMatch(/--target-modules LIST .*\(default: q,v\)/);
    const g = commandHelp('generate');
    for (const flag of ['adapter', 'prompt', 'max-length', 'min-length', 'num-beams', 'do-sample', 'temperature', 'top-k', 'top-p']) expect(g).toContain(`--${flag}`);
    expect(g).toMatch(/--max-length N .*\(default: 250\)/);
    expect(commandHelp('eval')).toMatch(/--split train\|test .*\(default: test\)/);
    expect(parseCommandLine(['train', '--help'])).toEqual({ kind: 'help', text: h });
    expect(parseCommandLine(['help', 'generate'])).toEqual({ kind: 'help', text: g });
  });
});

describe('main: bad flags are one line on stderr, exit code 2, nothing written', () => {
  const cases: Array<[string[], RegExp]> = [
    [[], /missing command/],
    [['fly'], /unknown command "fly"/],
    [['train', '--foo'], /^conifer-train-ul2-dolly: train: unknown flag --foo$/],
    [['train', '--epochs'], /--epochs needs a value/],
    [['train', '--epochs', 'three'], /--epochs must be a positive integer \(got "three"\)/],
    [['train', '--epochs', '0'], /--epochs must be a positive integer/],
    [['train', '--r', '2.5'], /--r must be a positive integer/],
    [['train', '--lr', '-1'], /--lr needs a value/],
    [['train', '--lr=-1'], /--lr must be a positive number/],
    [['train', '--lora-dropout', '1'], /--lora-dropout must be in \[0, 1\)/],
    [['train', '--int8', '4bit'], /--int8 must be one of auto, weight-only, llm-int8, off \(got "4bit"\)/],
    [['train', '--backend', 'cuda'], /--backend must be one of cpu, wasm, webgpu, tensorflow/],
    [['train', '--target-modules', 'q,query'], /unknown projection "query"/],
    [['train', '--int8-skip-modules', 'decoder.*'], /^conifer-train-ul2-dolly: train: --int8-skip-modules: "decoder\.\*" is not a module name or path \(such as wo, encoder or decoder\.block\.0\)$/],
    [['train', '--int8-skip-modules', 'wo,'], /--int8-skip-modules: "" is not a module name or path/],
    [['train', '--int8-skip-modules', 'encoder..block'], /--int8-skip-modules: "encoder\.\.block" is not a module name or path/],
    [['train', '--int8-skip-modules', '.wo'], /--int8-skip-modules: "\.wo" is not a module name or path/],
    [['train', '--dry-run=yes'], /--dry-run takes no value/],
    [['train', 'now'], /unexpected argument now/],
    [['train', '--batch-size', '2', '--batch-tokens', '4096'], /--batch-tokens replaces --batch-size/],
    [['train', '--batch-tokens', '100'], /smaller than one longest example/],
    [['train', '--model', '/no/such/folder'], /no such folder/],
    [['train', '--model', FLAN_UL2_CONFIG], /bare config: training needs the snapshot folder/],
    [['train', '--data', '/no/such.jsonl'], /--data \/no\/such.jsonl: not a readable file/],
    [['train', '--data', 'hf://models/google/flan-ul2'], /--data hf:\/\/models\/google\/flan-ul2: expected hf:\/\/datasets\/<owner>\/<name>/],
    [['generate', '--min-length', '300'], /--min-length 300 is larger than --max-length 250/],
    [['generate', '--top-k', '5'], /--top-k only applies with --do-sample/],
    [['generate', '--adapter', '/no/adapter'], /--adapter \/no\/adapter: no such folder/],
    [['generate', '--adapter', 'no-slash-adapter'], /--adapter no-slash-adapter: no such folder \(nor a hub id owner\/name\)/],
    [['eval', '--split', 'validation'], /--split must be one of train, test/],
    [['eval', '--r', '8'], /unknown flag --r/],
  ];
  it.each(cases)('%j', async (argv, message) => {
    const out = mkdtempSync(join(tmpdir(), 'conifer-args-'));
    const c = capture();
    const code = await main([...argv, ...(argv[0] === 'train' && argv.length > 1 ? ['--out', join(out, 'run')] : [])], c.io);
    expect(code).toBe(2);
    expect(c.out).toEqual([]);
    expect(c.err).toHaveLength(1);
    expect(c.err[0]!.split('\n')).toHaveLength(1);
    expect(c.err[0]).toMatch(message);
    expect(existsSync(join(out, 'run'))).toBe(false);
  });
});

describe('main: train', () => {
  it('--dry-run with no other flags prints the demo plan, exit 0, writes nothing (the full run is in e2e.test.ts)', async () => {
    const out = mkdtempSync(join(tmpdir(), 'conifer-train-'));
    const c = capture();
    const code = await main(['train', '--dry-run', '--out', join(out, 'run')], c.io);
    expect(c.err).toEqual([]);
    expect(code).toBe(0);
    const text = c.out.join('\n');
    expect(text).toMatch(/^Plan: embedded demo T5/);
    expect(text).toContain('14,522,368');
    expect(existsSync(join(out, 'run'))).toBe(false);
  });

  it('--dry-run on the Flan-UL2 config prints 19.46 B and 12,582,912', async () => {
    const c = capture();
    const code = await main(['train', '--dry-run', '--model', FLAN_UL2_CONFIG, '--backend', 'webgpu', '--device-memory', '80'], c.io);
    expect(code).toBe(0);
    const text = c.out.join('\n');
    expect(text).toContain('19,459,613,696 (19.46 B)');
    expect(text).toContain('12,582,912 trainable parameters');
    expect(text).toContain('device 80.00 GB (--device-memory): fits');
    expect(text).not.toMatch(/being wired/);
  });

  it('a model folder without config.json: one message, exit 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'conifer-model-'));
    const c = capture();
    expect(await main(['train', '--dry-run', '--model', dir], c.io)).toBe(1);
    expect(c.err).toEqual([`conifer-train-ul2-dolly: model config not found: ${join(dir, 'config.json')} (a Hugging Face snapshot folder has config.json)`]);
  });
});
