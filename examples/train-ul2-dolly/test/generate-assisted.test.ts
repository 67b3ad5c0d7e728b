// generate's assisted-decoding flags (--assistant-model, --num-assistant-tokens[-schedule],
// --assistant-confidence-threshold, --prompt-lookup-num-tokens, --max-matching-ngram-size): parsing,
// refusals, and real CLI runs on the golden tiny checkpoints (ul2-tiny, flan-t5-tiny as its assistant:
// the same 512-token vocabulary) against the same run without them.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCommandLine } from '../src/args.js';
import { decodeOptions } from '../src/generate.js';
import { main } from '../src/main.js';
import type { GenerateOptions } from '../src/options.js';
import { capture } from './capture.js';
import { T5_FIXTURES } from './golden/helpers.js';

const UL2_TINY = join(T5_FIXTURES, 'models/ul2-tiny');
const FLAN_T5_TINY = join(T5_FIXTURES, 'models/flan-t5-tiny');
const FLAN_UL2_CONFIG = join(__dirname, 'fixtures/flan-ul2/config.json');
const tmp = mkdtempSync(join(tmpdir(), 'conifer-assisted-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function generate(...argv: string[]): GenerateOptions {
  const p = parseCommandLine(['generate', ...argv]);
  if (p.kind !== 'run' || p.options.command !== 'generate') throw new Error('expected generate options');
  return p.options;
}
const ASSISTED_KEYS = ['assistantModel', 'numAssistantTokens', 'numAssistantTokensSchedule', 'assistantConfidenceThreshold', 'promptLookupNumTokens', 'maxMatchingNgramSize'] as const;
const assisted = (o: GenerateOptions) => Object.fromEntries(ASSISTED_KEYS.filter((k) => k in o).map((k) => [k, o[k]]));

describe('generate: assisted-decoding flags', () => {
  it.each([
    [[], {}], // none given: no key at all (the assistant's generation_config.json supplies the rest)
    [['--assistant-model', FLAN_T5_TINY], { assistantModel: { kind: 'dir', dir: FLAN_T5_TINY } }],
    [['--assistant-model', 'google/flan-t5-small'], { assistantModel: { kind: 'hub', id: 'google/flan-t5-small' } }],
    [
      ['--assistant-model', FLAN_T5_TINY, '--num-assistant-tokens', '5', '--num-assistant-tokens-schedule', 'heuristic_transient', '--assistant-confidence-threshold', '0'],
      { assistantModel: { kind: 'dir', dir: FLAN_T5_TINY }, numAssistantTokens: 5, numAssistantTokensSchedule: 'heuristic_transient', assistantConfidenceThreshold: 0 },
    ],
    [['--assistant-model', FLAN_T5_TINY, '--num-assistant-tokens', '0', '--do-sample'], { assistantModel: { kind: 'dir', dir: FLAN_T5_TINY }, numAssistantTokens: 0 }],
    [['--prompt-lookup-num-tokens', '3'], { promptLookupNumTokens: 3 }],
    [['--prompt-lookup-num-tokens', '10', '--max-matching-ngram-size', '1'], { promptLookupNumTokens: 10, maxMatchingNgramSize: 1 }],
  ] as const)('%j', (argv, expected) => {
    expect(assisted(generate(...argv))).toEqual(expected);
  });

  it('decodeOptions passes them under @conifer/generate’s names, the loaded assistant as assistantModel, and leaves out what was not given', () => {
    const fake = { config: { vocab_size: 512 } } as unknown as NonNullable<Parameters<typeof decodeOptions>[1]>;
    const base = { maxLength: 250, minLength: 10, numBeams: 1, doSample: false, temperature: 1, topK: 50, topP: 1, seed: 42 };
    expect(decodeOptions(generate('--assistant-model', FLAN_T5_TINY, '--num-assistant-tokens', '7', '--num-assistant-tokens-schedule', 'heuristic', '--assistant-confidence-threshold', '0.25'), fake)).toEqual({
      ...base, assistantModel: fake, numAssistantTokens: 7, numAssistantTokensSchedule: 'heuristic', assistantConfidenceThreshold: 0.25,
    });
    expect(decodeOptions(generate('--prompt-lookup-num-tokens', '4', '--max-matching-ngram-size', '3'))).toEqual({ ...base, promptLookupNumTokens: 4, maxMatchingNgramSize: 3 });
    expect(decodeOptions(generate())).toEqual(base);
  });

  const bad: Array<[string[], RegExp]> = [
    [['--num-assistant-tokens', '-1', '--assistant-model', FLAN_T5_TINY], /--num-assistant-tokens needs a value/],
    [['--num-assistant-tokens=-1', '--assistant-model', FLAN_T5_TINY], /--num-assistant-tokens must be a non-negative integer \(got "-1"\)/],
    [['--num-assistant-tokens', '2.5', '--assistant-model', FLAN_T5_TINY], /--num-assistant-tokens must be a non-negative integer \(got "2.5"\)/],
    [['--num-assistant-tokens-schedule', 'dynamic', '--assistant-model', FLAN_T5_TINY], /--num-assistant-tokens-schedule must be one of constant, heuristic, heuristic_transient \(got "dynamic"\)/],
    [['--assistant-confidence-threshold', '1.5', '--assistant-model', FLAN_T5_TINY], /--assistant-confidence-threshold must be in \[0, 1\] \(got "1.5"\)/],
    [['--prompt-lookup-num-tokens', '0'], /--prompt-lookup-num-tokens must be a positive integer \(got "0"\)/],
    [['--prompt-lookup-num-tokens', '3', '--max-matching-ngram-size', '0'], /--max-matching-ngram-size must be a positive integer \(got "0"\)/],
    [['--num-assistant-tokens', '5'], /^conifer-train-ul2-dolly: generate: --num-assistant-tokens only applies with --assistant-model$/],
    [['--num-assistant-tokens-schedule', 'heuristic'], /--num-assistant-tokens-schedule only applies with --assistant-model/],
    [['--assistant-confidence-threshold', '0.3'], /--assistant-confidence-threshold only applies with --assistant-model/],
    [['--max-matching-ngram-size', '3'], /--max-matching-ngram-size only applies with --prompt-lookup-num-tokens/],
    [['--assistant-model', FLAN_T5_TINY, '--prompt-lookup-num-tokens', '3'], /--assistant-model and --prompt-lookup-num-tokens are two ways of proposing tokens: give one of them/],
    [['--assistant-model', FLAN_T5_TINY, '--num-beams', '2'], /--assistant-model decodes greedily or by sampling, one sequence: not with --num-beams 2/],
    [['--prompt-lookup-num-tokens', '3', '--num-beams', '4'], /--prompt-lookup-num-tokens decodes greedily or by sampling, one sequence: not with --num-beams 4/],
    [['--assistant-model', '/no/such/assistant'], /--assistant-model \/no\/such\/assistant: no such folder \(and not a hub id like google\/flan-t5-small\)/],
    [['--assistant-model', ''], /--assistant-model needs a folder, a config.json or a hub id/],
    [['--assistant-model', FLAN_UL2_CONFIG], /--assistant-model .*config\.json: needs the snapshot folder with the weights, not a bare config\.json/],
  ];
  it.each(bad)('refused: %j', async (argv, message) => {
    const c = capture();
    expect(await main(['generate', ...argv], c.io)).toBe(2);
    expect(c.err).toHaveLength(1);
    expect(c.err[0]).toMatch(message);
    expect(c.out).toEqual([]);
  });

  it('--help lists them with their defaults', async () => {
    const c = capture();
    expect(await main(['generate', '--help'], c.io)).toBe(0);
    const h = c.out.join('\n');
    expect(h).toMatch(/--assistant-model DIR\|ID .*transformers' assistant_model.*\(default: none\)/);
    expect(h).toMatch(/--num-assistant-tokens N .*\(default: the assistant's generation_config.json, else 20\)/);
    expect(h).toMatch(/--num-assistant-tokens-schedule KIND +constant, heuristic, heuristic_transient: .*\(default: the assistant's, else constant\)/);
    expect(h).toMatch(/--assistant-confidence-threshold X .*\(default: the assistant's, else 0.4\)/);
    expect(h).toMatch(/--prompt-lookup-num-tokens N .*\(default: off\)/);
    expect(h).toMatch(/--max-matching-ngram-size N .*\(default: 2\)/);
  });
});

describe('generate with an assistant / prompt lookup on the golden tiny checkpoints (cpu)', () => {
  // Prompts of token ids below the tiny models' 512-token vocabulary (the bundled T5 tokenizer); two, so one call each.
  const PROMPTS = ['--prompt', 'He said that it was the best day of his life.', '--prompt', 'I have a lot of time for you and me'];
  const RUN = ['generate', '--backend', 'cpu', '--model', UL2_TINY, ...PROMPTS, '--max-length', '20', '--min-length', '0'];
  /** The text lines of a run (each prompt's line and the line after it). */
  const texts = (out: string[]) => out.flatMap((l, i) => (l.startsWith('\n> ') ? [l, out[i + 1] ?? ''] : []));
  const PASSES = /^\n(.+): (\d+) tokens in (\d+) decoder passes of the model \((\d+\.\d\d) tokens per pass; 1 without assisted decoding\)$/;

  let plain: string[];
  it('without them: no passes line', async () => {
    const c = capture();
    expect(await main(RUN, c.io)).toBe(0);
    expect(c.err).toEqual([]);
    plain = texts(c.out);
    expect(plain).toHaveLength(4);
    expect(c.out.some((l) => PASSES.test(l))).toBe(false);
  });

  // Greedy output is plain greedy's (transformers' _assisted_decoding); what changes is how many passes of the model it took.
  // Token and pass counts as measured on cpu (deterministic there): 10 + 10 tokens; the model as its own assistant agrees
  // on every candidate, flan-t5-tiny on some (one candidate a round, none dropped for low confidence: 17 passes), prompt
  // lookup rarely finds a repeated n-gram in 10 tokens.
  it.each([
    [['--assistant-model', FLAN_T5_TINY], `assistant ${FLAN_T5_TINY}`, 20, 16],
    [['--assistant-model', UL2_TINY], `assistant ${UL2_TINY}`, 20, 10],
    [['--assistant-model', FLAN_T5_TINY, '--num-assistant-tokens', '1', '--assistant-confidence-threshold', '0'], `assistant ${FLAN_T5_TINY}`, 20, 17],
    [['--assistant-model', FLAN_T5_TINY, '--num-assistant-tokens-schedule', 'heuristic'], `assistant ${FLAN_T5_TINY}`, 20, 16],
    [['--prompt-lookup-num-tokens', '3'], 'prompt lookup (3 tokens)', 20, 19],
    [['--prompt-lookup-num-tokens', '2', '--max-matching-ngram-size', '1'], 'prompt lookup (2 tokens)', 20, 19],
  ] as const)('%j: the same texts, then tokens vs decoder passes; nothing leaks', async (flags, who, tokens, passes) => {
    const c = capture();
    const before = tf.memory().numTensors;
    expect(await main([...RUN, ...flags], c.io)).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    expect(c.err).toEqual([]);
    expect(texts(c.out)).toEqual(plain);
    if (flags[0] === '--assistant-model') expect(c.out).toContain(`assistant ${flags[1]}, linears float32`);
    const m = PASSES.exec(c.out.at(-1)!);
    expect(m, c.out.at(-1)).not.toBeNull();
    expect(m![1]).toBe(who);
    expect(Number(m![2])).toBe(tokens);
    expect(Number(m![3])).toBe(passes);
    expect(m![4]).toBe((tokens / Number(m![3])).toFixed(2));
  });

  it('--int8 weight-only: the assistant is int8 too (the same --int8 rule), the text still the int8 model’s plain greedy text', async () => {
    const int8 = [...RUN, '--int8', 'weight-only'];
    const p = capture();
    expect(await main(int8, p.io)).toBe(0);
    const c = capture();
    expect(await main([...int8, '--assistant-model', FLAN_T5_TINY], c.io)).toBe(0);
    expect(c.err).toEqual([]);
    expect(c.out).toContain(`assistant ${FLAN_T5_TINY}, linears int8 (weight-only)`);
    expect(texts(c.out)).toEqual(texts(p.out));
  });

  it('an assistant of another vocabulary: one line naming both sizes, exit 1, before anything loads or generates', async () => {
    const other = join(tmp, 'flan-t5-tiny-32128');
    mkdirSync(other);
    const config = JSON.parse(readFileSync(join(FLAN_T5_TINY, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(other, 'config.json'), JSON.stringify({ ...config, vocab_size: 32128 }));
    copyFileSync(join(FLAN_T5_TINY, 'model.safetensors'), join(other, 'model.safetensors'));
    const c = capture();
    const before = tf.memory().numTensors;
    expect(await main([...RUN, '--assistant-model', other], c.io)).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
    expect(c.err).toEqual([
      `conifer-train-ul2-dolly: --assistant-model ${other}: its vocab_size is 32128, the model's (${UL2_TINY}) 512: assisted decoding needs the model's vocabulary (a T5-family checkpoint with the same tokenizer, e.g. google/flan-t5-small for google/flan-ul2)`,
    ]);
    expect(c.out).toEqual([]);
  });

  it('an assistant folder without config.json: one line naming --assistant-model', async () => {
    const empty = join(tmp, 'no-config');
    mkdirSync(empty);
    const c = capture();
    expect(await main([...RUN, '--assistant-model', empty], c.io)).toBe(1);
    expect(c.err).toHaveLength(1);
    expect(c.err[0]).toMatch(new RegExp(`^conifer-train-ul2-dolly: --assistant-model ${empty}: model config not found`));
  });
});
