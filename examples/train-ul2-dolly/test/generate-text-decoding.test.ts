// generate's texts are decoded as the original project's `tokenizer.batch_decode(outputs, skip_special_tokens=True)`:
// with the tokenizer_config.json's clean_up_tokenization_spaces (transformers' default for decode; true in T5's), when
// streamed too; and its generation options' transformers warnings (`GenerationConfig.validate()`'s minor issues) go to
// stderr once. Plus @conifer/generate's streamText / generateText on real T5 tokenizer ids for every clean-up rule of
// transformers' `clean_up_tokenization` (src/transformers/tokenization_utils_base.py).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { loadT5Tokenizer, type T5Tokenizer } from '@conifer/dolly-data';
import { generateText, streamText, TextStreamer, type Seq2Seq } from '@conifer/generate';
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/main.js';
import { capture } from './capture.js';
import { cleanUp } from './clean-up.js';
import { T5_FIXTURES } from './golden/helpers.js';

const UL2_TINY = join(T5_FIXTURES, 'models/ul2-tiny');
const BUNDLED_TOKENIZER = join(__dirname, '../../../packages/dolly-data/data/t5-tokenizer');
const tmp = mkdtempSync(join(tmpdir(), 'conifer-decoding-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));


/** ul2-tiny in a folder of its own, with the bundled tokenizer.json and a tokenizer_config.json / generation_config.json of ours. */
function ul2TinyWith(name: string, tokenizerConfig: object, generationConfig?: object): string {
  const dir = join(tmp, name);
  cpSync(UL2_TINY, dir, { recursive: true });
  copyFileSync(join(BUNDLED_TOKENIZER, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig));
  if (generationConfig) {
    const json = JSON.parse(readFileSync(join(dir, 'generation_config.json'), 'utf8')) as object;
    writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ ...json, ...generationConfig }));
  }
  return dir;
}

/** The text lines of a run (the line after each prompt's "> …" line). */
const texts = (out: string[]) => out.flatMap((l, i) => (l.startsWith('\n> ') ? [out[i + 1] ?? ''] : []));

describe('generate: texts decoded with the tokenizer config’s clean_up_tokenization_spaces (ul2-tiny, cpu)', () => {
  // ul2-tiny answers this prompt with " 's" twice (raw "' 's 's' I"), which the clean-up joins.
  const RUN = ['generate', '--backend', 'cpu', '--prompt', "it 's I 'm we 've they 're", '--max-length', '30', '--min-length', '0'];
  const MODES: Array<[string, string[]]> = [
    ['streamed (one sequence, greedy)', []],
    ['not streamed (beams)', ['--num-beams', '2']],
    ['numbered (several sampled sequences)', ['--do-sample', '--seed', '3', '--num-return-sequences', '2']],
  ];
  let raw: string;
  beforeAll(() => {
    raw = ul2TinyWith('raw', { clean_up_tokenization_spaces: false });
  });

  it.each(MODES)('%s: the cleaned-up text of what a tokenizer_config.json without clean-up prints; nothing leaks', async (_mode, flags) => {
    const before = tf.memory().numTensors;
    const clean = capture();
    expect(await main([...RUN, '--model', UL2_TINY, ...flags], clean.io)).toBe(0); // the bundled tokenizer_config.json: true
    const plain = capture();
    expect(await main([...RUN, '--model', raw, ...flags], plain.io)).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    expect(clean.err).toEqual([]);
    const rawLines = flags.includes('--num-return-sequences') ? plain.out.filter((l) => /^\[\d\] /.test(l)) : texts(plain.out);
    const cleanLines = flags.includes('--num-return-sequences') ? clean.out.filter((l) => /^\[\d\] /.test(l)) : texts(clean.out);
    expect(rawLines.length).toBeGreaterThan(0);
    expect(cleanLines).toEqual(rawLines.map(cleanUp));
    expect(cleanLines).not.toEqual(rawLines); // the clean-up changed something
  });

  it('the streamed line, as measured: "\'\'s\'s\' I" (raw "\' \'s \'s\' I")', async () => {
    const clean = capture();
    expect(await main([...RUN, '--model', UL2_TINY], clean.io)).toBe(0);
    const plain = capture();
    expect(await main([...RUN, '--model', raw], plain.io)).toBe(0);
    expect(texts(plain.out)).toEqual(["' 's 's' I"]);
    expect(texts(clean.out)).toEqual(["''s's' I"]);
  });
});

describe("generate: transformers' GenerationConfig.validate() warnings on stderr, once", () => {
  const RUN = ['generate', '--backend', 'cpu', '--prompt', 'a', '--prompt', 'b', '--max-length', '4', '--min-length', '0'];
  const lengthPenalty = "warning: `numBeams` is set to 1. However, `lengthPenalty` is set to `0.5` -- this flag is only used in beam-based generation modes. You should set `numBeams > 1` or unset `lengthPenalty`.";

  it('--length-penalty without beams: one warning for two prompts; with --num-beams 2 none', async () => {
    const c = capture();
    expect(await main([...RUN, '--model', UL2_TINY, '--length-penalty', '0.5'], c.io)).toBe(0);
    expect(c.err).toEqual([lengthPenalty]);
    expect(texts(c.out)).toHaveLength(2);
    const b = capture();
    expect(await main([...RUN, '--model', UL2_TINY, '--length-penalty', '0.5', '--num-beams', '2'], b.io)).toBe(0);
    expect(b.err).toEqual([]);
  });

  it("a checkpoint's generation_config.json with min_p but no do_sample warns; --do-sample silences it", async () => {
    // (not temperature / top_k / top_p: the CLI always passes its own, 1 / 50 / 1 by default, over the checkpoint's)
    const dir = ul2TinyWith('min-p', { clean_up_tokenization_spaces: true }, { min_p: 0.05 });
    const c = capture();
    expect(await main([...RUN, '--model', dir], c.io)).toBe(0);
    expect(c.err).toEqual([
      'warning: `doSample` is not set to `true`. However, `minP` is set to `0.05` -- this flag is only used in sample-based generation modes. You should set `doSample: true` or unset `minP`.',
    ]);
    const s = capture();
    expect(await main([...RUN, '--model', dir, '--do-sample'], s.io)).toBe(0);
    expect(s.err).toEqual([]);
  });
});

/** A model that generates `script` after the start token, then EOS (1): logits one-hot per position. */
function scripted(script: readonly number[], vocab: number): Seq2Seq<null, number> {
  return {
    encode: () => null,
    decodeStep: (tokens, _enc, cache) => {
      const [b, t] = tokens.shape;
      const past = cache ?? 0;
      const data = new Float32Array(b * t * vocab);
      for (let r = 0; r < b; r++) {
        for (let i = 0; i < t; i++) data[(r * t + i) * vocab + (script[past + i] ?? 1)] = 10;
      }
      return { logits: tf.tensor3d(data, [b, t, vocab]), cache: past + t };
    },
    reorderCache: (c) => c,
    reorderEncoder: (e) => e,
    disposeCache: () => {},
    disposeEncoder: () => {},
  };
}

describe('streamText / generateText on real T5 tokenizer ids, for every clean-up rule', () => {
  let tok: T5Tokenizer;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    tok = await loadT5Tokenizer();
  });
  const T5 = { decoderStartTokenId: 0, eosTokenId: 1, padTokenId: 0, maxNewTokens: 60 };
  // Raw texts (what the ids decode to without clean-up), one per rule, then all of them and a chain (" ' " then " 's").
  const RAW = [
    'The end .', 'Why ?', 'Yes !', 'One , two', "rock ' n roll", "I do n't know", "I 'm here", "it 's fine", "we 've seen", "they 're here",
    "I do n't know , it 's fine ! Why ? we 've seen they 're here , I 'm here . rock ' n roll", "a  ' s",
  ];

  it.each(RAW)('%j: with clean-up the pieces joined are generateText’s text, as without; nothing leaks', async (text) => {
    const ids = tok.encode(text, { addSpecialTokens: false });
    const raw = tok.decode(ids);
    expect(tok.decode(ids, { cleanUpTokenizationSpaces: true })).not.toBe(raw); // the rule fires on these ids
    const model = scripted(ids, 32128);
    const before = tf.memory().numTensors;
    for (const cleanUpTokenizationSpaces of [true, false]) {
      const [whole] = await generateText(model, tok, 'prompt', { ...T5, cleanUpTokenizationSpaces });
      expect(whole).toBe(cleanUpTokenizationSpaces ? cleanUp(raw) : raw);
      const pieces: string[] = [];
      for await (const p of streamText(model, tok, 'prompt', { ...T5, cleanUpTokenizationSpaces })) pieces.push(p);
      expect(pieces.join(''), JSON.stringify(pieces)).toBe(whole);
      if (text.split(' ').filter(Boolean).length > 3) expect(pieces.length).toBeGreaterThan(2); // streamed, not all at the end
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('TextStreamer on random sequences of real T5 ids: the pieces joined are always the decode of all of them', () => {
  // Pieces every clean-up rule uses (and lone "▁", special tokens, which decode skips), from the real T5 tokenizer;
  // sequences from a fixed LCG. With clean-up no piece may be one a later token changes; without it each token's
  // text comes at once, as before the option (per-token delta of the raw decode).
  const CORPUS = "I do n't know . it 's we 've , ? ! ' s rock ' n roll don't can't \"quote\" é x. x , x ; won ' t I ' m they 're ( a ) -- ... ,, '' n t";
  let tok: T5Tokenizer;
  let ids: number[];
  beforeAll(async () => {
    tok = await loadT5Tokenizer();
    const special = ['▁', '<pad>', '</s>', '<unk>', '<extra_id_0>'].map((p) => tok.tokenizer.token_to_id(p) as number);
    ids = [...new Set([...tok.encode(CORPUS, { addSpecialTokens: false }), ...special])];
  });

  it.each([true, false, undefined])('cleanUpTokenizationSpaces %s: 3000 sequences of 1 to 12 tokens', (cleanUpTokenizationSpaces) => {
    expect(ids.length).toBeGreaterThan(30);
    const options = cleanUpTokenizationSpaces === undefined ? undefined : { cleanUpTokenizationSpaces };
    let seed = 20261207;
    const next = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
    const bad: string[] = [];
    let heldBack = 0;
    for (let trial = 0; trial < 3000 && bad.length < 3; trial++) {
      const seq = Array.from({ length: 1 + next(12) }, () => ids[next(ids.length)]!);
      const streamer = new TextStreamer(tok, options);
      const pieces = seq.map((t) => streamer.put(t));
      const last = streamer.end();
      const whole = tok.decode(seq, options);
      if ([...pieces, last].join('') !== whole) bad.push(JSON.stringify({ tokens: seq.map((t) => tok.tokenizer.id_to_token(t)), pieces, last, whole }));
      if (cleanUpTokenizationSpaces !== true) {
        const perToken = seq.map((_, n) => tok.decode(seq.slice(0, n + 1), options).slice(tok.decode(seq.slice(0, n), options).length));
        if (JSON.stringify(pieces) !== JSON.stringify(perToken) || last !== '') bad.push(JSON.stringify({ tokens: seq.map((t) => tok.tokenizer.id_to_token(t)), pieces, perToken, last }));
      } else if (last.length > 0) heldBack++;
    }
    expect(bad).toEqual([]);
    if (cleanUpTokenizationSpaces === true) expect(heldBack).toBeGreaterThan(1000); // the end does hold text back
  });

  it('with clean-up, every sequence of up to 4 chunks that the rules can join across a boundary (11 110 sequences)', () => {
    // T5 has no "▁n" / "▁'" piece: " n" is "▁" + "n", so the rules' chains (" n" + " ' t", "x " + " ' s") need a lone
    // "▁" before the boundary or after it, which random sequences rarely build. Chunks of pieces make them every time.
    const piece = (p: string) => tok.tokenizer.token_to_id(p) as number;
    const CHUNKS = [['▁it'], ['▁'], ['▁', 'n'], ['▁', "'"], ['▁', "'", '▁'], ["'"], ['t'], ['s'], ['▁', '.'], ['n']].map((c) => c.map(piece));
    const options = { cleanUpTokenizationSpaces: true };
    const bad: string[] = [];
    let count = 0;
    const visit = (seq: number[], depth: number): void => {
      if (seq.length > 0) {
        count++;
        const streamer = new TextStreamer(tok, options);
        const pieces = seq.map((t) => streamer.put(t));
        pieces.push(streamer.end());
        const whole = tok.decode(seq, options);
        if (pieces.join('') !== whole && bad.length < 3) bad.push(JSON.stringify({ tokens: seq.map((t) => tok.tokenizer.id_to_token(t)), pieces, whole }));
      }
      if (depth < 4) for (const c of CHUNKS) visit([...seq, ...c], depth + 1);
    };
    visit([], 0);
    expect(count).toBe(11110);
    expect(bad).toEqual([]);
  });
});
