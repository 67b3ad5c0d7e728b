// --predict-with-generate / --generation-max-length / --generation-num-beams (transformers' Seq2SeqTrainingArguments):
// the flags, the generation metrics on the golden ul2-tiny checkpoint (every example generated from its own
// source, references from the labels, nothing leaked), and real runs of train and eval on the embedded demo.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { collate, loadT5Tokenizer, type Batch, type EncodedExample } from '@conifer/dolly-data';
import { generate } from '@conifer/generate';
import { T5ForConditionalGeneration } from '@conifer/t5-model';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { parseCommandLine } from '../src/args.js';
import { main } from '../src/main.js';
import type { EvalOptions, TrainOptions } from '../src/options.js';
import { generateForBatches, generationMetrics, generationOptions, transformersDecoding } from '../src/pipeline/generation-metrics.js';
import { rouge } from '../src/pipeline/rouge.js';
import { capture } from './capture.js';

const tmp = mkdtempSync(join(tmpdir(), 'conifer-generate-metrics-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function parsed<C extends 'train' | 'eval'>(command: C, ...argv: string[]): C extends 'train' ? TrainOptions : EvalOptions {
  const p = parseCommandLine([command, ...argv]);
  if (p.kind !== 'run' || p.options.command !== command) throw new Error(`expected ${command} options`);
  return p.options as C extends 'train' ? TrainOptions : EvalOptions;
}

describe('the flags', () => {
  it('off by default; read on train and eval; --metric-for-best-model takes the ROUGE names with --predict-with-generate', () => {
    const plain = parsed('train');
    expect(plain.predictWithGenerate).toBe(false);
    expect(plain.generationMaxLength).toBeUndefined();
    expect(plain.generationNumBeams).toBeUndefined();
    const t = parsed('train', '--predict-with-generate', '--generation-max-length', '64', '--generation-num-beams', '4', '--metric-for-best-model', 'rougeL');
    expect(t).toMatchObject({ predictWithGenerate: true, generationMaxLength: 64, generationNumBeams: 4, metricForBestModel: 'rougeL' });
    for (const m of ['rouge1', 'rouge2', 'rougeLsum', 'loss', 'accuracy']) expect(parsed('train', '--predict-with-generate', '--metric-for-best-model', m).metricForBestModel).toBe(m);
    const e = parsed('eval', '--predict-with-generate', '--generation-num-beams', '2');
    expect(e).toMatchObject({ predictWithGenerate: true, generationNumBeams: 2 });
    expect(parsed('eval').predictWithGenerate).toBe(false);
    // only what is given reaches generate: the rest is the model's generation config
    expect(generationOptions({})).toEqual({});
    expect(generationOptions({ generationMaxLength: 64, generationNumBeams: 4 })).toEqual({ maxLength: 64, numBeams: 4 });
  });

  const refused: Array<[string[], RegExp]> = [
    [['train', '--generation-max-length', '64'], /^conifer-train-ul2-dolly: train: --generation-max-length only applies with --predict-with-generate$/],
    [['train', '--generation-num-beams', '2'], /^conifer-train-ul2-dolly: train: --generation-num-beams only applies with --predict-with-generate$/],
    [['train', '--predict-with-generate', '--generation-max-length', '1'], /: train: --generation-max-length must be an integer ≥ 2 \(got "1"\)$/],
    [['train', '--predict-with-generate', '--generation-max-length', '2.5'], /: train: --generation-max-length must be an integer ≥ 2 \(got "2\.5"\)$/],
    [['train', '--predict-with-generate', '--generation-num-beams', '0'], /: train: --generation-num-beams must be a positive integer \(got "0"\)$/],
    [['train', '--predict-with-generate=yes'], /: train: --predict-with-generate takes no value$/],
    [['train', '--metric-for-best-model', 'rougeL'], /: train: --metric-for-best-model rougeL is a score of generated texts: add --predict-with-generate$/],
    [['train', '--predict-with-generate', '--metric-for-best-model', 'bleu'], /: train: --metric-for-best-model must be one of loss, accuracy, rouge1, rouge2, rougeL, rougeLsum \(got "bleu"\)$/],
    [['train', '--predict-with-generate', '--metric-for-best-model', 'eval_rougeL'], /must be one of loss, accuracy, rouge1, rouge2, rougeL, rougeLsum \(got "eval_rougeL"\)$/],
    [['eval', '--generation-num-beams', '3'], /^conifer-train-ul2-dolly: eval: --generation-num-beams only applies with --predict-with-generate$/],
    [['eval', '--predict-with-generate', '--generation-max-length', 'long'], /: eval: --generation-max-length must be an integer ≥ 2 \(got "long"\)$/],
  ];
  it.each(refused)('%j: one line, exit 2, nothing written', async (argv, message) => {
    const out = join(tmp, 'never');
    const c = capture();
    const extra = argv[0] === 'train' ? ['--out', out, '--dry-run'] : [];
    expect(await main([...argv, ...extra], c.io)).toBe(2);
    expect(c.out).toEqual([]);
    expect(c.err).toHaveLength(1);
    expect(c.err[0]).toMatch(message);
    expect(existsSync(out)).toBe(false);
  });

  it('the help names them with transformers\' names', async () => {
    for (const command of ['train', 'eval']) {
      const c = capture();
      expect(await main([command, '--help'], c.io)).toBe(0);
      const h = c.out.join('\n');
      expect(h).toMatch(/--predict-with-generate +transformers' predict_with_generate: /);
      expect(h).toMatch(/--generation-max-length N .*transformers' generation_max_length.*\(default: the model's generation config/);
      expect(h).toMatch(/--generation-num-beams N .*transformers' generation_num_beams.*\(default: the model's generation config/);
    }
  });
});

describe('generation metrics on ul2-tiny (cpu)', () => {
  const UL2_TINY = fileURLToPath(new URL('../../../packages/t5-model/test/fixtures/models/ul2-tiny', import.meta.url));
  // ids of the 512-token vocabulary; `decode` drops the special ids (0 pad, 1 </s>) as skip_special_tokens does
  const tokenizer = { decode: (ids: number[]) => ids.filter((i) => i !== 0 && i !== 1).map((i) => `w${i % 7}`).join(' ') };
  const example = (source: number[], target: number[]): EncodedExample => ({ sourceIds: Int32Array.from(source), targetIds: Int32Array.from(target), fullSourceLength: source.length, fullTargetLength: target.length, category: 'x' });
  const examples = [example([37, 19, 5, 1], [5, 6, 7, 1]), example([8, 64, 1], [8, 1]), example([100, 200, 300, 400, 500, 1], [9, 9, 2, 3, 4, 1])];

  it('each example generated from its own source (a batch of rows padded on the right = one at a time), references decoded from the labels, ROUGE of the pair; nothing leaks', async () => {
    await tf.setBackend('cpu');
    const model = await T5ForConditionalGeneration.fromPretrained(UL2_TINY);
    try {
      const batches: Batch[] = [collate(examples, [0, 1]), collate(examples, [2])];
      expect(batches[0]!.sourceLength).toBe(4); // the second row is padded
      const options = generationOptions({ generationMaxLength: 8, generationNumBeams: 2 });
      const alone: string[] = [];
      for (const e of examples) {
        const ids = [Array.from(e.sourceIds)];
        alone.push(tokenizer.decode((await generate(model, { inputIds: ids }, options)).sequences[0]!));
      }
      const before = tf.memory().numTensors;
      const got = await generateForBatches(model, tokenizer, batches, options);
      expect(got.predictions).toEqual(alone);
      expect(got.predictions.some((p) => p !== '')).toBe(true);
      expect(got.references).toEqual(['w5 w6 w0', 'w1', 'w2 w2 w2 w3 w4']); // labels without -100 and </s>
      let evalMode = 0;
      const also = vi.fn(async ({ batches: seen }: { batches: Iterable<Batch> }) => ({ accuracy: [...seen].length / 10 }));
      const metrics = await generationMetrics(model, tokenizer, options, () => evalMode++, also)({ batches: batches.values(), model: { lossSum: () => ({ sum: tf.scalar(0), count: 0 }), trainableVariables: () => [] }, step: 3, epoch: 0, eval: { loss: 1, sumOfBatchMeans: 1, meanOfBatchMeans: 1, tokens: 1, batches: 2 } });
      // a one-shot iterator of batches: read once, shared with `also`
      expect(metrics).toEqual({ accuracy: 0.2, ...rouge(alone, got.references) });
      expect(evalMode).toBe(1);
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      model.dispose();
    }
  });
});

describe('decoding as transformers\' batch_decode', () => {
  it("T5's tokenizer_config says clean_up_tokenization_spaces: the texts ROUGE compares are cleaned as transformers' batch_decode cleans them", async () => {
    const tok = await loadT5Tokenizer(); // the bundled T5 tokenizer: its config says true
    expect(tok.configCleanUpTokenizationSpaces).toBe(true);
    const ids = tok.encode("I do n't know , really .");
    expect(tok.decode(ids)).toBe("I do n't know , really ."); // the Rust tokenizers' decode
    expect(transformersDecoding(tok).decode(ids)).toBe("I don't know, really."); // transformers' clean_up_tokenization
    const plain = { decode: (i: number[]) => tok.decode(i), configCleanUpTokenizationSpaces: false };
    expect(transformersDecoding(plain).decode(ids)).toBe("I do n't know , really .");
  });
});

describe('real runs on the embedded demo (wasm)', () => {
  // 48 records (38 train / 10 test), micro-batches of 2, no accumulation; a high learning rate so the random
  // demo model's generations change between the evaluations at steps 2 and 4
  const TINY = ['--backend', 'wasm', '--limit', '48', '--batch-size', '2', '--grad-accum', '1', '--lr', '1e-1', '--max-source-length', '48', '--max-target-length', '24'];

  it('train --predict-with-generate --metric-for-best-model rougeL: eval_rouge* in metrics.jsonl and the log, the best evaluation by eval_rougeL; nothing leaks', async () => {
    const out = join(tmp, 'rouge');
    const c = capture();
    const argv = ['train', ...TINY, '--max-steps', '4', '--eval-every', '2', '--predict-with-generate', '--generation-max-length', '12', '--metric-for-best-model', 'rougeL', '--save-strategy', 'best', '--out', out];
    const logged: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => (logged.push(String(chunk)), true));
    const tensors = tf.memory().numTensors;
    try {
      expect(await main(argv, c.io)).toBe(0);
    } finally {
      spy.mockRestore();
    }
    expect(tf.memory().numTensors).toBe(tensors);
    expect(c.err).toEqual([]);
    const text = c.out.join('\n');
    expect(text).toContain('  generate     at each evaluation, for the 10 eval examples: the model\'s generation config (greedy unless it says otherwise), max length 12 (eval_rouge1');
    const records = readFileSync(join(out, 'checkpoints/metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; step: number; loss: number; metrics?: Record<string, number> });
    const evals = records.filter((r) => r.type === 'eval');
    expect(evals.map((e) => e.step)).toEqual([2, 4]);
    for (const e of evals) {
      expect(Object.keys(e.metrics!)).toEqual(['eval_loss', 'eval_rouge1', 'eval_rouge2', 'eval_rougeL', 'eval_rougeLsum']);
      for (const v of Object.values(e.metrics!)) expect(Number.isFinite(v)).toBe(true);
      const m = e.metrics!;
      expect(log(logged)).toContain(`eval step ${e.step} epoch 0 loss/token ${e.loss.toFixed(4)}`);
      expect(log(logged)).toContain(` eval_rouge1 ${m.eval_rouge1!.toFixed(4)} eval_rouge2 ${m.eval_rouge2!.toFixed(4)} eval_rougeL ${m.eval_rougeL!.toFixed(4)} eval_rougeLsum ${m.eval_rougeLsum!.toFixed(4)}`);
    }
    // the two evaluations disagree: the lower eval loss is step 4's, the higher eval_rougeL step 2's
    const [a, b] = evals as [(typeof evals)[0], (typeof evals)[0]];
    expect(b.loss).toBeLessThan(a.loss);
    expect(a.metrics!.eval_rougeL!).toBeGreaterThan(b.metrics!.eval_rougeL!);
    // so --metric-for-best-model rougeL (greater is better) picks step 2
    expect(text).toContain(`best evaluation: step 2, eval_rougeL ${a.metrics!.eval_rougeL!.toFixed(4)}: its adapter is ${join(out, 'adapter')} (the eval and sample below use step 4's)`);
  }, 60_000);

  it('train --predict-with-generate alone (no --metric-for-best-model): eval_rouge* reported all the same', async () => {
    const out = join(tmp, 'plain');
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await main(['train', ...TINY, '--limit', '20', '--max-steps', '1', '--eval-every', '1', '--predict-with-generate', '--generation-max-length', '4', '--out', out], capture().io)).toBe(0);
    } finally {
      spy.mockRestore();
    }
    const evals = readFileSync(join(out, 'checkpoints/metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; metrics?: Record<string, number> }).filter((r) => r.type === 'eval');
    expect(evals.map((e) => Object.keys(e.metrics!))).toEqual([['eval_loss', 'eval_rouge1', 'eval_rouge2', 'eval_rougeL', 'eval_rougeLsum']]);
  }, 30_000);

  it('eval --predict-with-generate --generation-num-beams 2: ROUGE of every example of the split', async () => {
    const c = capture();
    expect(await main(['eval', '--backend', 'wasm', '--limit', '20', '--max-source-length', '48', '--max-target-length', '24', '--samples', '0', '--predict-with-generate', '--generation-max-length', '6', '--generation-num-beams', '2'], c.io)).toBe(0);
    expect(c.err).toEqual([]);
    expect(c.out.join('\n')).toMatch(/\nrouge of 4 generations \(2 beams, max length 6\): rouge1 \d\.\d{4} rouge2 \d\.\d{4} rougeL \d\.\d{4} rougeLsum \d\.\d{4}$/);
  }, 30_000);
});

const log = (chunks: string[]) => chunks.join('');
