// Options the packages implement, exposed by the CLI under the Hugging Face names they mirror:
// train --use-rslora / --init-lora-weights (PEFT's LoraConfig), --prompt-template and --pad-to-multiple-of
// (train and eval), and generate's --max-new-tokens, --repetition-penalty, --no-repeat-ngram-size,
// --length-penalty, --num-return-sequences (transformers' GenerationConfig). Parsing, refusals (exit 2, one
// line, nothing written), and real runs: a one-step demo training (adapter_config.json, the init's effect,
// padded batch lengths, the template's prompts, the --resume check), an eval, and generate on the tiny golden
// checkpoint.
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Batch } from '@conifer/dolly-data';
import * as generateModule from '@conifer/generate';
import { loraScaling } from '@conifer/lora';
import { readSafetensorsFile, toFloat32 } from '@conifer/safetensors';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { commandHelp, parseCommandLine } from '../src/args.js';
import { decodeOptions } from '../src/generate.js';
import { main } from '../src/main.js';
import type { EvalOptions, GenerateOptions, TrainOptions } from '../src/options.js';
import { evalBatches, makeSampler, prepareData } from '../src/pipeline/data.js';
import { promptText, samplePrompt, sourceText } from '../src/pipeline/prompts.js';
import { RUN_FLAGS_FILE, checkResumeFlags, writeRunRecord } from '../src/pipeline/resume-check.js';
import { trainPlan } from '../src/train.js';
import { capture } from './capture.js';
import { T5_FIXTURES } from './golden/helpers.js';

// the batches a run forms (train's sampler, the eval batches) and the options generate is called with, recorded
vi.mock('../src/pipeline/data.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../src/pipeline/data.js')>();
  return { ...actual, makeSampler: vi.fn(actual.makeSampler), evalBatches: vi.fn(actual.evalBatches) };
});
vi.mock('@conifer/generate', async (importOriginal) => {
  const actual = await importOriginal<typeof import('@conifer/generate')>();
  return { ...actual, generateText: vi.fn(actual.generateText), streamText: vi.fn(actual.streamText) };
});

const UL2_TINY = join(T5_FIXTURES, 'models/ul2-tiny');

/** The instruction and context a dolly or alpaca prompt was filled with (read back from its section headers). */
function templateRecord(prompt: string, template: 'dolly' | 'alpaca') {
  const input = template === 'dolly' ? 'Input:' : '### Input:';
  const m = new RegExp(`### Instruction:\\n([\\s\\S]*?)\\n\\n(?:${input}\\n([\\s\\S]*?)\\n\\n)?### Response:\\n$`).exec(prompt);
  if (!m) throw new Error(`not a ${template} prompt: ${prompt}`);
  return { instruction: m[1]!, context: m[2] ?? '', response: '', category: '' };
}
const tmp = mkdtempSync(join(tmpdir(), 'conifer-app-flags-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function parsed(argv: string[]): TrainOptions | GenerateOptions | EvalOptions {
  const p = parseCommandLine(argv);
  if (p.kind !== 'run' || p.options.command === 'merge') throw new Error('expected options');
  return p.options;
}
const train = (...argv: string[]) => parsed(['train', ...argv]) as TrainOptions;
const gen = (...argv: string[]) => parsed(['generate', ...argv]) as GenerateOptions;
const evalOpts = (...argv: string[]) => parsed(['eval', ...argv]) as EvalOptions;

describe('parsing', () => {
  it('train: defaults as before the flags, and each flag', () => {
    expect(train()).toMatchObject({ useRslora: false, initLoraWeights: true, promptTemplate: 'original', padToMultipleOf: 1 });
    expect(train('--use-rslora', '--init-lora-weights', 'false', '--prompt-template', 'dolly', '--pad-to-multiple-of', '8')).toMatchObject({
      useRslora: true, initLoraWeights: false, promptTemplate: 'dolly', padToMultipleOf: 8,
    });
    expect(train('--init-lora-weights', 'true').initLoraWeights).toBe(true);
    expect(train('--init-lora-weights', 'gaussian').initLoraWeights).toBe('gaussian');
    expect(train('--init-lora-weights', 'orthogonal').initLoraWeights).toBe('orthogonal'); // r 8: even
    expect(train('--prompt-template', 'alpaca').promptTemplate).toBe('alpaca');
  });

  it('eval: --prompt-template and --pad-to-multiple-of', () => {
    expect(evalOpts()).toMatchObject({ promptTemplate: 'original', padToMultipleOf: 1 });
    expect(evalOpts('--prompt-template', 'alpaca', '--pad-to-multiple-of', '16')).toMatchObject({ promptTemplate: 'alpaca', padToMultipleOf: 16 });
  });

  it('generate: absent unless given (the model’s generation config supplies them), then under @conifer/generate’s names', () => {
    const base = { maxLength: 250, minLength: 10, numBeams: 1, doSample: false, temperature: 1, topK: 50, topP: 1, seed: 42 };
    const none = gen();
    for (const k of ['maxNewTokens', 'repetitionPenalty', 'noRepeatNgramSize', 'lengthPenalty', 'numReturnSequences']) expect(k in none).toBe(false);
    expect(none.promptTemplate).toBe('original');
    expect(decodeOptions(none)).toEqual(base);
    const o = gen('--max-new-tokens', '30', '--repetition-penalty', '1.3', '--no-repeat-ngram-size', '3', '--length-penalty=-0.5', '--num-return-sequences', '2', '--num-beams', '4', '--prompt-template', 'dolly');
    expect(o).toMatchObject({ maxNewTokens: 30, repetitionPenalty: 1.3, noRepeatNgramSize: 3, lengthPenalty: -0.5, numReturnSequences: 2, numBeams: 4, promptTemplate: 'dolly' });
    expect(decodeOptions(o)).toEqual({ ...base, numBeams: 4, maxNewTokens: 30, repetitionPenalty: 1.3, noRepeatNgramSize: 3, lengthPenalty: -0.5, numReturnSequences: 2 });
    // sampling returns N rows per prompt as well
    expect(gen('--num-return-sequences', '3', '--do-sample').numReturnSequences).toBe(3);
  });

  it('--max-new-tokens: the default --min-length 10 shrinks to what fits (new tokens + the start token); one given is kept', () => {
    expect(gen('--max-new-tokens', '3').minLength).toBe(4);
    expect(gen('--max-new-tokens', '40').minLength).toBe(10);
    expect(gen('--max-new-tokens', '40', '--min-length', '2').minLength).toBe(2);
    // --max-length below --min-length is no error once --max-new-tokens decides the length (it wins)
    expect(gen('--max-new-tokens', '40', '--max-length', '5').maxNewTokens).toBe(40);
  });

  it('--help lists each with its default', () => {
    const t = commandHelp('train');
    expect(t).toMatch(/--use-rslora +rank-stabilized LoRA \(PEFT's use_rslora\): scaling = lora_alpha \/ √r/);
    expect(t).toMatch(/--init-lora-weights true\|false\|gaussian\|orthogonal +PEFT's init_lora_weights.*\(default: true\)/);
    expect(t).toMatch(/--prompt-template original\|dolly\|alpaca .*\(default: original\)/);
    expect(t).toMatch(/--pad-to-multiple-of N +DataCollatorForSeq2Seq's pad_to_multiple_of.*\(default: 1 \(pad to the longest row only\)\)/);
    const e = commandHelp('eval');
    expect(e).toMatch(/--prompt-template original\|dolly\|alpaca .*\(default: original\)/);
    expect(e).toMatch(/--pad-to-multiple-of N .*\(default: 1/);
    const g = commandHelp('generate');
    expect(g).toMatch(/--max-new-tokens N +.*transformers' max_new_tokens.*\(default: none \(--max-length applies\)\)/);
    expect(g).toMatch(/--repetition-penalty X +transformers' repetition_penalty.*\(default: 1 \(off\)\)/);
    expect(g).toMatch(/--no-repeat-ngram-size N +transformers' no_repeat_ngram_size.*\(default: 0 \(off\)\)/);
    expect(g).toMatch(/--length-penalty X +transformers' length_penalty.*\(default: 1\)/);
    expect(g).toMatch(/--num-return-sequences N +transformers' num_return_sequences.*\(default: 1\)/);
    expect(g).toMatch(/--prompt-template original\|dolly\|alpaca .*\(default: original\)/);
    expect(commandHelp('train')).not.toMatch(/--max-new-tokens/);
  });
});

describe('bad values: one line on stderr, exit code 2, nothing written', () => {
  const cases: Array<[string[], RegExp]> = [
    // PEFT's inits that @conifer/lora does not run, refused with its reason
    [['train', '--init-lora-weights', 'pissa'], /^conifer-train-ul2-dolly: train: --init-lora-weights pissa: init_lora_weights "pissa" is not supported: its adapter was trained against a residual base weight \(W − scaling·B₀A₀\) that this package does not rebuild; this flag takes true, false, gaussian, orthogonal$/],
    [['train', '--init-lora-weights', 'olora'], /--init-lora-weights olora: init_lora_weights "olora" is not supported: its adapter was trained against a residual base weight/],
    [['train', '--init-lora-weights', 'eva'], /--init-lora-weights eva: init_lora_weights "eva" initialises A from the model's activations on data \(PEFT's initialize_lora_eva_weights\), which @conifer\/lora does not do; this flag takes true, false, gaussian, orthogonal$/],
    [['train', '--init-lora-weights', 'kaiming'], /--init-lora-weights kaiming: init_lora_weights "kaiming" is not supported; this flag takes true, false, gaussian, orthogonal$/],
    [['train', '--init-lora-weights', 'orthogonal', '--r', '7'], /^conifer-train-ul2-dolly: train: --init-lora-weights orthogonal with --r 7: LoRA config: init_lora_weights "orthogonal" requires the LoRA rank to be even, got r = 7$/],
    [['train', '--use-rslora=yes'], /--use-rslora takes no value/],
    [['train', '--prompt-template', 'chatml'], /--prompt-template must be one of original, dolly, alpaca \(got "chatml"\)$/],
    [['train', '--pad-to-multiple-of', '0'], /--pad-to-multiple-of must be a positive integer \(got "0"\)$/],
    [['train', '--pad-to-multiple-of', '2.5'], /--pad-to-multiple-of must be a positive integer/],
    // the longest example's padded length (10 → 16, twice) no longer fits 20 tokens (fits without the flag: below)
    [['train', '--max-source-length', '10', '--max-target-length', '10', '--batch-tokens', '20', '--pad-to-multiple-of', '8'], /--batch-tokens 20 is smaller than one longest example \(--max-source-length \+ --max-target-length, each rounded up to --pad-to-multiple-of 8 = 32\)$/],
    [['eval', '--pad-to-multiple-of', 'x'], /^conifer-train-ul2-dolly: eval: --pad-to-multiple-of must be a positive integer \(got "x"\)$/],
    [['eval', '--prompt-template', 'vicuna'], /--prompt-template must be one of original, dolly, alpaca/],
    [['generate', '--prompt-template', 'vicuna'], /--prompt-template must be one of original, dolly, alpaca/],
    [['generate', '--pad-to-multiple-of', '8'], /unknown flag --pad-to-multiple-of/],
    [['generate', '--max-new-tokens', '0'], /--max-new-tokens must be a positive integer \(got "0"\)$/],
    [['generate', '--repetition-penalty', '0'], /--repetition-penalty must be a number > 0 \(got "0"\)$/],
    [['generate', '--no-repeat-ngram-size=-1'], /--no-repeat-ngram-size must be a non-negative integer \(got "-1"\)$/],
    [['generate', '--length-penalty', 'long'], /--length-penalty must be a finite number \(got "long"\)$/],
    [['generate', '--num-return-sequences', '0'], /--num-return-sequences must be a positive integer \(got "0"\)$/],
    // @conifer/generate's combination checks (transformers'), its words with the flags' names
    [['generate', '--num-return-sequences', '2'], /^conifer-train-ul2-dolly: generate: greedy decoding \(numBeams 1, doSample false\) returns one sequence per input; --num-return-sequences is 2 \(add --do-sample, or --num-beams 2\)$/],
    [['generate', '--num-return-sequences', '3', '--num-beams', '2'], /^conifer-train-ul2-dolly: generate: --num-return-sequences \(3\) has to be smaller or equal to --num-beams \(2\)$/],
    [['generate', '--max-new-tokens', '3', '--min-length', '10'], /^conifer-train-ul2-dolly: generate: --min-length \(10\) is larger than the maximum length \(4\)$/],
    [['generate', '--num-return-sequences', '2', '--do-sample', '--prompt-lookup-num-tokens', '3'], /--num-return-sequences 2: num_return_sequences has to be 1 when doing assisted generate \(--prompt-lookup-num-tokens\)$/],
  ];
  it.each(cases)('%j', async (argv, message) => {
    const out = join(mkdtempSync(join(tmp, 'bad-')), 'run');
    const c = capture();
    expect(await main([...argv, ...(argv[0] === 'train' ? ['--out', out] : [])], c.io)).toBe(2);
    expect(c.out).toEqual([]);
    expect(c.err).toHaveLength(1);
    expect(c.err[0]!.split('\n')).toHaveLength(1);
    expect(c.err[0]).toMatch(message);
    expect(existsSync(out)).toBe(false);
  });

  it('(the --batch-tokens case fits without --pad-to-multiple-of)', () => {
    expect(train('--max-source-length', '10', '--max-target-length', '10', '--batch-tokens', '20').batchTokens).toBe(20);
  });
});

describe('--prompt-template: the text of records and prompts', () => {
  const record = { instruction: 'Name a color.', context: 'Sky', response: 'Blue', category: 'open_qa' };
  it('sourceText / promptText per template; original as before', () => {
    expect(sourceText(record)).toBe('Name a color.\nSky');
    expect(sourceText(record, 'original')).toBe('Name a color.\nSky');
    expect(sourceText(record, 'dolly')).toMatch(/^Below is an instruction that describes a task\. .*### Instruction:\nName a color\.\n\nInput:\nSky\n\n### Response:\n$/s);
    expect(sourceText(record, 'alpaca')).toMatch(/paired with an input.*### Instruction:\nName a color\.\n\n### Input:\nSky\n\n### Response:\n$/s);
    expect(promptText('Tell a story.')).toBe('Tell a story.');
    expect(promptText('Tell a story.', 'dolly')).toMatch(/^Below is an instruction that describes a task\. Write a response that appropriately completes the request\.\n\n### Instruction:\nTell a story\.\n\n### Response:\n$/);
    expect(promptText('Tell a story.', 'alpaca')).not.toMatch(/Input:/);
  });

  it('prepareData encodes sources and targets in it (the dolly target ends in ### End)', async () => {
    const opts = { limit: 10, seed: 42, maxSourceLength: 512, maxTargetLength: 512 };
    const plain = await prepareData(opts);
    const dolly = await prepareData({ ...opts, promptTemplate: 'dolly' });
    const t = plain.tokenizer;
    expect(t.decode(Array.from(plain.train.examples[0]!.sourceIds))).not.toMatch(/### Instruction/);
    expect(t.decode(Array.from(dolly.train.examples[0]!.sourceIds))).toMatch(/^Below is an instruction .*### Instruction:/s);
    expect(t.decode(Array.from(dolly.train.examples[0]!.targetIds))).toMatch(/### End$/);
  });
});

describe('--pad-to-multiple-of in the plan', () => {
  it('the worst micro-batch and the padded tokens per example are rounded up; 1 changes nothing', () => {
    const base = trainPlan(train('--dry-run', '--max-source-length', '50', '--max-target-length', '30'));
    const one = trainPlan(train('--dry-run', '--max-source-length', '50', '--max-target-length', '30', '--pad-to-multiple-of', '1'));
    expect(one.tokens).toEqual(base.tokens);
    expect(one.epochFlops).toBe(base.epochFlops);
    const p = trainPlan(train('--dry-run', '--max-source-length', '50', '--max-target-length', '30', '--pad-to-multiple-of', '64'));
    expect(p.microBatch).toMatchObject({ source: 64, target: 64 });
    expect(p.tokens.paddedSource).toBeGreaterThan(base.tokens.paddedSource);
    expect(p.tokens.paddedSource).toBeLessThanOrEqual(64);
    expect(p.tokens.paddedTarget).toBeGreaterThan(base.tokens.paddedTarget);
    expect(p.evals.paddedSource).toBeGreaterThan(base.evals.paddedSource);
    expect(p.epochFlops).toBeGreaterThan(base.epochFlops);
    expect(p.activationBytes).toBeGreaterThan(base.activationBytes);
  });

  it('the printed plan says so', async () => {
    const c = capture();
    expect(await main(['train', '--dry-run', '--pad-to-multiple-of', '8', '--out', join(tmp, 'dry')], c.io)).toBe(0);
    expect(c.out.join('\n')).toMatch(/^ +batches +4 × grad-accum 2 \(effective 8\), lengths padded to multiples of 8: /m);
    expect(existsSync(join(tmp, 'dry'))).toBe(false);
  });
});

/** Tensors of an adapter file, by name. */
async function adapterTensors(dir: string): Promise<Map<string, Float32Array>> {
  const { tensors } = await readSafetensorsFile(join(dir, 'adapter_model.safetensors'));
  return new Map([...tensors].map(([name, t]) => [name, toFloat32(t.dtype, t.data)]));
}
const maxAbs = (xs: Iterable<Float32Array>) => Math.max(...[...xs].flatMap((x) => Array.from(x, Math.abs)));

describe('a one-step demo training run with the new train flags', () => {
  // 24 records (19 train / 5 test), micro-batches of 4, one optimizer step; lr tiny so step 1 leaves B where the init put it
  const TINY = ['train', '--backend', 'wasm', '--limit', '24', '--max-steps', '1', '--batch-size', '4', '--grad-accum', '1', '--lr', '1e-9', '--max-source-length', '40', '--max-target-length', '20', '--r', '4', '--lora-alpha', '8'];
  const out = join(tmp, 'run');
  const plainOut = join(tmp, 'plain');
  let text = '';

  beforeAll(async () => {
    vi.mocked(makeSampler).mockClear();
    vi.mocked(evalBatches).mockClear();
    const c = capture();
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation(() => true); // the trainer's progress lines
    try {
      expect(await main([...TINY, '--use-rslora', '--init-lora-weights', 'false', '--prompt-template', 'dolly', '--pad-to-multiple-of', '8', '--out', out], c.io)).toBe(0);
      expect(await main([...TINY, '--out', plainOut], capture().io)).toBe(0);
    } finally {
      spy.mockRestore();
    }
    expect(c.err).toEqual([]);
    text = c.out.join('\n');
  }, 120_000);

  it('adapter_config.json has use_rslora and init_lora_weights (PEFT reads them); without the flags, PEFT’s defaults', () => {
    const config = JSON.parse(readFileSync(join(out, 'adapter/adapter_config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({ use_rslora: true, init_lora_weights: false, r: 4, lora_alpha: 8 });
    const plain = JSON.parse(readFileSync(join(plainOut, 'adapter/adapter_config.json'), 'utf8')) as Record<string, unknown>;
    expect(plain).toMatchObject({ use_rslora: false, init_lora_weights: true });
  });

  it('--init-lora-weights false: B starts random (PEFT leaves nn.Linear’s init), not zero', async () => {
    const b = (t: Map<string, Float32Array>) => [...t].filter(([n]) => n.includes('lora_B')).map(([, v]) => v);
    // Kaiming-uniform with fan_in r = 4: |B| up to 1/2; zero-initialised B after one step of lr 1e-9 stays below 1e-8
    expect(maxAbs(b(await adapterTensors(join(out, 'adapter'))))).toBeGreaterThan(0.1);
    expect(maxAbs(b(await adapterTensors(join(plainOut, 'adapter'))))).toBeLessThan(1e-6);
  });

  it('--use-rslora: what PEFT (and @conifer/lora) scale B·A by when they load the adapter is alpha/√r = 8/2 = 4, not 8/4 = 2', () => {
    const config = JSON.parse(readFileSync(join(out, 'adapter/adapter_config.json'), 'utf8')) as { use_rslora: boolean; lora_alpha: number; r: number };
    expect(loraScaling(config.r, config.lora_alpha, config.use_rslora)).toBe(4);
  });

  it('--pad-to-multiple-of 8: every train and eval batch has source and target lengths that are multiples of 8', () => {
    const sampler = vi.mocked(makeSampler).mock.results[0]!.value as ReturnType<typeof makeSampler>;
    const trainBatches = [...sampler.batches()].map((b) => b.batch);
    const testBatches = vi.mocked(evalBatches).mock.results[0]!.value as Batch[];
    expect(trainBatches.length).toBeGreaterThan(1);
    expect(testBatches.length).toBeGreaterThan(0);
    for (const b of [...trainBatches, ...testBatches]) {
      expect(b.sourceLength % 8).toBe(0);
      expect(b.targetLength % 8).toBe(0);
    }
    // without the flag the same data gives lengths that are not all multiples
    const plainSampler = vi.mocked(makeSampler).mock.results[1]!.value as ReturnType<typeof makeSampler>;
    expect([...plainSampler.batches()].some(({ batch }) => batch.sourceLength % 8 !== 0 || batch.targetLength % 8 !== 0)).toBe(true);
  });

  it('--prompt-template dolly: the held-out sample is prompted in it, and shown by its instruction (and context), not the intro', () => {
    const prompts = vi.mocked(generateModule.generateText).mock.calls.map((c) => c[2] as string).filter((p) => p.startsWith('Below is an instruction that describes a task.'));
    expect(prompts).toHaveLength(1);
    const shown = /sample \(held-out prompt, greedy, 32 tokens\):\n> (.*)/.exec(text)![1]!;
    expect(shown).toBe(samplePrompt(templateRecord(prompts[0]!, 'dolly'), 160));
    expect(shown).not.toMatch(/Below is|###/);
  });

  it('records the flags no tensor shows beside the checkpoints; --resume refuses others before the model loads', async () => {
    expect(JSON.parse(readFileSync(join(out, 'checkpoints', RUN_FLAGS_FILE), 'utf8'))).toEqual({
      use_rslora: true, init_lora_weights: false, prompt_template: 'dolly', pad_to_multiple_of: 8,
      // the data flags and the cadence (test/resume-data-flags.test.ts)
      data: null, limit: 24, seed: 42, max_source_length: 40, max_target_length: 20, batch_tokens: null, per_device_train_batch_size: 4, gradient_accumulation_steps: 1,
      logging_steps: 1, eval_steps: null, save_steps: null,
    });
    const resume = async (...flags: string[]) => {
      const c = capture();
      expect(await main([...TINY, '--prompt-template', 'dolly', '--pad-to-multiple-of', '8', '--out', out, '--resume', ...flags], c.io)).toBe(1);
      expect(c.err).toHaveLength(1);
      expect(c.out.join('\n')).not.toMatch(/^ +model +embedded demo T5/m); // not loaded
      return c.err[0]!;
    };
    expect(await resume('--init-lora-weights', 'false')).toMatch(/^conifer-train-ul2-dolly: --resume: .*checkpoint-1 was written with --use-rslora \(this run: without\): resume with the same flags, or give another --out$/);
    expect(await resume('--use-rslora')).toMatch(/was written with --init-lora-weights false \(this run: true\): resume/);
    expect(await resume('--use-rslora', '--init-lora-weights', 'gaussian')).toMatch(/was written with --init-lora-weights false \(this run: gaussian\)/);
    expect(await resume()).toMatch(/was written with --use-rslora \(this run: without\) and --init-lora-weights false \(this run: true\)/);
    const same = ['--use-rslora', '--init-lora-weights', 'false'];
    // the template and the padding multiple (other texts, or another --batch-tokens plan under the saved cursor)
    const other = async (...flags: string[]) => {
      const c = capture();
      expect(await main([...TINY, '--out', out, '--resume', ...same, ...flags], c.io)).toBe(1);
      expect(c.out.join('\n')).not.toMatch(/^ +model +embedded demo T5/m);
      return c.err.join('\n');
    };
    expect(await other('--pad-to-multiple-of', '8')).toMatch(/was written with --prompt-template dolly \(this run: original\): resume/);
    expect(await other('--prompt-template', 'dolly')).toMatch(/was written with --pad-to-multiple-of 8 \(this run: 1\): resume/);
    expect(readdirSync(join(out, 'checkpoints')).filter((n) => n.startsWith('checkpoint-'))).toEqual(['checkpoint-1']);
  });

  describe('the run record (checkpoints/run-flags.json)', () => {
    // the TINY run's flags (the data flags and cadence as parsed: demo model, seed 42, no --data, --eval-every, --save-every)
    const data = { limit: 24, seed: 42, maxSourceLength: 40, maxTargetLength: 20, batchSize: 4, gradAccum: 1, loggingSteps: 1 };
    const flags = { useRslora: true, initLoraWeights: false, promptTemplate: 'dolly', padToMultipleOf: 8, ...data } as const;
    const read = (dir: string) => JSON.parse(readFileSync(join(dir, RUN_FLAGS_FILE), 'utf8')) as Record<string, unknown>;

    it('a run that died before its first checkpoint leaves a record that the next (resumed) run replaces', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'conifer-run-record-'));
      try {
        await writeRunRecord(dir, { ...flags, resume: false });
        expect(read(dir)).toMatchObject({ use_rslora: true });
        // no checkpoint yet: --resume finds nothing to check, and this run's flags become the record
        await checkResumeFlags(dir, { ...flags, useRslora: false, optim: 'adamw_torch', useDora: false });
        await writeRunRecord(dir, { ...flags, useRslora: false, resume: true });
        expect(read(dir)).toMatchObject({ use_rslora: false, init_lora_weights: false, prompt_template: 'dolly', pad_to_multiple_of: 8, seed: 42, limit: 24 });
        expect(readdirSync(dir)).toEqual([RUN_FLAGS_FILE]); // written atomically: no temporary file left
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('a record alone (a run that died before writing anything else) does not make a fresh run ask for --resume', async () => {
      const fresh = join(mkdtempSync(join(tmp, 'record-only-')), 'run');
      await writeRunRecord(join(fresh, 'checkpoints'), { ...flags, resume: false });
      const c = capture();
      expect(await main([...TINY, '--out', fresh], c.io)).toBe(0);
      expect(c.err).toEqual([]);
      expect(JSON.parse(readFileSync(join(fresh, 'checkpoints', RUN_FLAGS_FILE), 'utf8'))).toMatchObject({ use_rslora: false, prompt_template: 'original' });
      // anything else there (a checkpoint, metrics) still does
      const c2 = capture();
      expect(await main([...TINY, '--out', fresh], c2.io)).toBe(1);
      expect(c2.err.join('\n')).toMatch(/already holds checkpoints: pass --resume/);
    }, 60_000);

    it('with a checkpoint, a resumed run keeps the record; a damaged record is one error naming the file', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'conifer-run-record-'));
      try {
        cpSync(join(out, 'checkpoints'), dir, { recursive: true });
        const before = readFileSync(join(dir, RUN_FLAGS_FILE), 'utf8');
        await writeRunRecord(dir, { ...flags, useRslora: false, resume: true });
        expect(readFileSync(join(dir, RUN_FLAGS_FILE), 'utf8')).toBe(before);
        const resumeFlags = { ...flags, optim: 'adamw_torch', useDora: false } as const;
        expect(await checkResumeFlags(dir, resumeFlags)).toBeNull(); // the same flags: accepted, no warning
        writeFileSync(join(dir, RUN_FLAGS_FILE), '{"use_rslora": "yes"}');
        await expect(checkResumeFlags(dir, resumeFlags)).rejects.toThrow(/^--resume: .*run-flags\.json is not a run record \(use_rslora, init_lora_weights, prompt_template, pad_to_multiple_of\): \{"use_rslora": "yes"\}$/);
        // a field written since is checked for its type when present: the error names it
        writeFileSync(join(dir, RUN_FLAGS_FILE), JSON.stringify({ ...JSON.parse(before), seed: '42', eval_steps: 0 }));
        await expect(checkResumeFlags(dir, resumeFlags)).rejects.toThrow(/^--resume: .*run-flags\.json is not a run record \(seed, eval_steps\): \{/);
        writeFileSync(join(dir, RUN_FLAGS_FILE), '{"use_rslora": tr');
        await expect(checkResumeFlags(dir, resumeFlags)).rejects.toThrow(/^--resume: .*run-flags\.json: .*JSON.*\(delete the file to resume without checking/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});

describe('eval with --prompt-template and --pad-to-multiple-of', () => {
  it('prompts its samples in the template; its batches are padded to the multiple', async () => {
    vi.mocked(evalBatches).mockClear();
    const c = capture();
    expect(await main(['eval', '--backend', 'wasm', '--limit', '12', '--max-source-length', '40', '--max-target-length', '20', '--samples', '1', '--max-length', '4', '--prompt-template', 'alpaca', '--pad-to-multiple-of', '16'], c.io)).toBe(0);
    expect(c.err).toEqual([]);
    // prompted in the template; shown by the record's instruction (and context) as train shows its sample
    const prompts = vi.mocked(generateModule.generateText).mock.calls.map((c) => c[2] as string).filter((p) => /^Below is an instruction that describes a task.*### Instruction:/s.test(p));
    expect(prompts.length).toBeGreaterThan(0);
    const shown = c.out.filter((l) => l.startsWith('\n> '));
    expect(shown).toEqual([`\n> ${samplePrompt(templateRecord(prompts.at(-1)!, 'alpaca'), 200)}`]);
    expect(shown[0]).not.toMatch(/Below is|###/);
    const batches = vi.mocked(evalBatches).mock.results[0]!.value as Batch[];
    for (const b of batches) expect([b.sourceLength % 16, b.targetLength % 16]).toEqual([0, 0]);
  }, 60_000);
});

describe('generate on the golden tiny UL2 checkpoint (cpu)', () => {
  const RUN = ['generate', '--backend', 'cpu', '--model', UL2_TINY, '--prompt', 'He said that it was the best day of his life.', '--min-length', '0'];
  /** The lines after the prompt's. */
  async function texts(...flags: string[]): Promise<string[]> {
    const c = capture();
    expect(await main([...RUN, ...flags], c.io)).toBe(0);
    expect(c.err).toEqual([]);
    const at = c.out.findIndex((l) => l.startsWith('\n> '));
    return c.out.slice(at + 1);
  }

  it('--max-new-tokens N decodes as --max-length N + 1, and wins over --max-length (a warning when both are given)', async () => {
    const three = await texts('--max-new-tokens', '3');
    expect(three).toEqual(await texts('--max-length', '4'));
    expect(three).not.toEqual(await texts('--max-length', '12'));
    const c = capture();
    expect(await main([...RUN, '--max-new-tokens', '3', '--max-length', '12'], c.io)).toBe(0);
    expect(c.err).toEqual(['warning: both --max-new-tokens 3 and --max-length 12 given: --max-new-tokens wins (as transformers\' max_new_tokens over max_length)']);
    expect(c.out.at(-1)).toBe(three[0]);
    const calls = vi.mocked(generateModule.streamText).mock.calls;
    expect(calls.at(-1)![3]).toMatchObject({ maxNewTokens: 3 });
  });

  it('--repetition-penalty and --no-repeat-ngram-size change the greedy text', async () => {
    const plain = await texts('--max-length', '12');
    expect(await texts('--max-length', '12', '--repetition-penalty', '3')).not.toEqual(plain);
    const noRepeat = await texts('--max-length', '12', '--no-repeat-ngram-size', '1');
    expect(noRepeat).not.toEqual(plain);
    expect(vi.mocked(generateModule.streamText).mock.calls.at(-1)![3]).toMatchObject({ noRepeatNgramSize: 1 });
  });

  it('--num-return-sequences 2 --num-beams 2: two numbered texts per prompt; --length-penalty reaches beam search', async () => {
    const two = await texts('--max-length', '12', '--num-beams', '2', '--num-return-sequences', '2');
    expect(two).toHaveLength(2);
    expect(two[0]).toMatch(/^\[1\] /);
    expect(two[1]).toMatch(/^\[2\] /);
    expect(two[0]!.slice(4)).not.toBe(two[1]!.slice(4));
    // the first is the one beam search alone returns
    expect(two[0]!.slice(4)).toBe((await texts('--max-length', '12', '--num-beams', '2'))[0]);
    // sampling: as many, one call
    expect(await texts('--max-length', '12', '--do-sample', '--num-return-sequences', '3')).toHaveLength(3);
    await texts('--max-length', '12', '--num-beams', '3', '--length-penalty=-2');
    expect(vi.mocked(generateModule.generateText).mock.calls.at(-1)![3]).toMatchObject({ numBeams: 3, lengthPenalty: -2 });
  });

  it('--prompt-template dolly: the prompt goes to the model in the template (the demo model: its words are beyond the tiny vocabulary)', async () => {
    const demo = ['generate', '--backend', 'wasm', '--prompt', 'Tell a story.', '--max-length', '3', '--min-length', '0'];
    const c = capture();
    expect(await main([...demo, '--prompt-template', 'dolly'], c.io)).toBe(0);
    expect(c.err).toEqual([]);
    expect(c.out).toContain('\n> Tell a story.'); // printed as given
    expect(vi.mocked(generateModule.streamText).mock.calls.at(-1)![2]).toBe(promptText('Tell a story.', 'dolly'));
    expect(await main(demo, capture().io)).toBe(0);
    expect(vi.mocked(generateModule.streamText).mock.calls.at(-1)![2]).toBe('Tell a story.');
  });
});
