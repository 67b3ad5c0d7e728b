/**
 * `cleanUpTokenizationSpaces` in `generateText` / `streamText`, and the stream's pieces with it.
 *
 * Reference: transformers' `PreTrainedTokenizerBase.clean_up_tokenization` (src/transformers/tokenization_utils_base.py:
 * ten `str.replace` calls, transcribed in `cleanUp` below; `@huggingface/tokenizers` has the same list) and
 * `TextStreamer.put` / `end` (src/transformers/generation/streamers.py: decode the whole token cache, print what is
 * new, up to the last space; flush at the end). With clean-up, decode is not prefix-stable (`"do n"` then `"don't"`):
 * the stream must never yield text a later token changes, so the pieces joined must equal `generateText`'s text.
 * The real T5 tokenizer's ids for each rule are checked in the example (examples/train-ul2-dolly/test/
 * generate-text-decoding.test.ts: @conifer/dolly-data is not a dependency of this package).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateText, GenerationOptionsError, streamText, TextStreamer, type TextDecodeOptions, type TextTokenizer } from '../src/index.js';
import { cleanUpStableBoundary } from '../src/text-streamer.js';
import { TableModel } from './fakes.js';

/** transformers' `clean_up_tokenization`, replacement by replacement (Python's `str.replace`: every match, left to right). */
const cleanUp = (s: string): string =>
  [' .', ' ?', ' !', ' ,', " ' ", " n't", " 'm", " 's", " 've", " 're"].reduce((t, p) => t.split(p).join(p.slice(1).replace(/ $/, '')), s);

describe('cleanUp (the transcription the tests use)', () => {
  it.each([
    ["do n't .", "don't."], ["I 'm here , it 's so ! why ?", "I'm here, it's so! why?"], ["rock ' n roll", "rock'n roll"],
    ["we 've they 're", "we've they're"], ['  .', ' .'], ["x  ' s", "x's"], ['a ,b', 'a,b'],
  ])('%j → %j', (raw, clean) => expect(cleanUp(raw)).toBe(clean));
});

describe('cleanUpStableBoundary: no later text changes the clean-up of the text before an accepted boundary', () => {
  // Every character the ten rules use, and one they do not.
  const ALPHABET = [' ', "'", 'n', 't', 's', '.', 'v', 'e']; // 'e' also stands for the characters no rule uses
  const strings = (maxLen: number): string[] => {
    const out = [''];
    for (let len = 1, level = ['']; len <= maxLen; len++) {
      level = level.flatMap((s) => ALPHABET.map((c) => s + c));
      out.push(...level);
    }
    return out;
  };
  it.each([[3, 4], [4, 3]])('every `before` of ≤ %i and continuation of ≤ %i characters', (pLen, xLen) => {
    const befores = strings(pLen);
    const afters = strings(xLen).filter((x) => x.length > 0);
    let accepted = 0;
    const bad: string[] = [];
    for (const p of befores) {
      const shown = cleanUp(p);
      for (const x of afters) {
        // The boundary is accepted as soon as some known part of the continuation allows it.
        let ok = false;
        for (let j = 1; j <= x.length && !ok; j++) ok = cleanUpStableBoundary(p, x.slice(0, j));
        if (!ok) continue;
        accepted++;
        if (!cleanUp(p + x).startsWith(shown) && bad.length < 5) bad.push(JSON.stringify([p, x]));
      }
    }
    expect(bad).toEqual([]);
    expect(accepted).toBeGreaterThan(befores.length * 10); // it does accept boundaries
  });

  it.each([
    ['do', ' n', true], ['end', ' .', true], ['x', '\n', true], ['it', "'s", true], ['do', 'n', true], ['x ', ' .', false],
    ["rock '", ' n', false], ['do n', " '", false], ['do n', ' t', true], ['', ' x', false],
    // a word piece or a script without spaces streams, except after the start of a rule
    ['中', '文', true], ['un', 'believ', true], ['x ', '.', false], ['do n', "'t", false], ["do n'", 't', false], ["it '", 's', false],
    ["we 'v", 'e', false], ["they 'r", 'e', false], ['', 'x', true],
  ])('%j + %j → %s', (before, after, ok) => expect(cleanUpStableBoundary(before, after)).toBe(ok));
});

// A Metaspace-like word tokenizer: id → piece ("▁" = a space; the first one dropped, as T5's decoder), 0 = <pad>,
// 1 = </s> (both skipped), with transformers' clean-up when asked.
const PIECES = ['<pad>', '</s>', '▁do', '▁n', "'", 't', '▁.', '▁it', '▁', 's', '▁?', '▁!', '▁,', '▁I', 'm', '▁we', 've', '▁they', 're', '▁rock', '▁roll', '▁end', '\uFFFD', '▁x', "▁'"];
const id = (piece: string): number => {
  const i = PIECES.indexOf(piece);
  if (i < 0) throw new Error(piece);
  return i;
};
function wordTokenizer(calls: Array<TextDecodeOptions | undefined> = []): TextTokenizer {
  return {
    encode: () => [1],
    decode: (ids, options) => {
      calls.push(options);
      const raw = ids.filter((i) => i > 1).map((i) => PIECES[i]!).join('').replace(/▁/g, ' ').replace(/^ /, '');
      return options?.cleanUpTokenizationSpaces ? cleanUp(raw) : raw;
    },
  };
}
const T5 = { decoderStartTokenId: 0, eosTokenId: 1, padTokenId: 0 };
/** A model that generates `script` (piece names), then EOS. */
const scripted = (script: string[]): TableModel =>
  new TableModel(PIECES.length, (_input, prefix) => {
    const next = prefix.length - 1 < script.length ? id(script[prefix.length - 1]!) : 1;
    return PIECES.map((_, i) => (i === next ? 5 : 0));
  });

/** Each clean-up rule once, and all together (each script's raw and cleaned text differ). */
const SCRIPTS: Record<string, string[]> = {
  ' .': ['▁end', '▁.', '▁it'],
  ' ?': ['▁it', '▁?', '▁it'],
  ' !': ['▁it', '▁!'],
  ' ,': ['▁it', '▁,', '▁we'],
  " ' ": ['▁rock', "▁'", '▁n', '▁roll'],
  " n't": ['▁do', '▁n', "'", 't', '▁it'],
  " 'm": ['▁I', "▁'", 'm', '▁.'],
  " 's": ['▁it', "▁'", 's'],
  " 've": ['▁we', "▁'", 've', '▁do'],
  " 're": ['▁they', "▁'", 're'],
  "chain ' s": ['▁x', '▁', "▁'", '▁', 's'],
  all: ['▁I', "▁'", 'm', '▁do', '▁n', "'", 't', '▁,', '▁it', "▁'", 's', '▁rock', "▁'", '▁n', '▁roll', '▁!', '▁we', "▁'", 've', '▁they', "▁'", 're', '▁?', '▁end', '▁.'],
};

/** The stream's pieces and its return value. */
async function pieces(model: TableModel, tokenizer: TextTokenizer, options: object): Promise<string[]> {
  const out: string[] = [];
  for await (const p of streamText(model, tokenizer, 'prompt', { ...T5, maxNewTokens: 40, ...options })) out.push(p);
  return out;
}

describe('generateText / streamText with cleanUpTokenizationSpaces', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it.each(Object.entries(SCRIPTS))('%j: the pieces joined are generateText’s text, with and without clean-up; nothing leaks', async (_rule, script) => {
    const model = scripted(script);
    const tokenizer = wordTokenizer();
    const raw = tokenizer.decode(script.map(id));
    expect(cleanUp(raw)).not.toBe(raw); // the rule fires
    const before = tf.memory().numTensors;
    for (const cleanUpTokenizationSpaces of [true, false, undefined]) {
      const opts = cleanUpTokenizationSpaces === undefined ? {} : { cleanUpTokenizationSpaces };
      const [text] = await generateText(model, tokenizer, 'prompt', { ...T5, maxNewTokens: 40, ...opts });
      expect(text).toBe(cleanUpTokenizationSpaces ? cleanUp(raw) : raw);
      const got = await pieces(model, tokenizer, opts);
      expect(got.join(''), JSON.stringify({ cleanUpTokenizationSpaces, got })).toBe(text);
      // without clean-up: one piece per token, as soon as it is decoded (the behaviour before the option existed)
      if (!cleanUpTokenizationSpaces) expect(got).toEqual(script.map((_, n) => tokenizer.decode(script.slice(0, n + 1).map(id)).slice(tokenizer.decode(script.slice(0, n).map(id)).length)).filter((p) => p.length > 0));
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('with clean-up the text still streams, a word behind', async () => {
    const script = SCRIPTS.all!;
    const model = scripted(script);
    const tokenizer = wordTokenizer();
    const got = await pieces(model, tokenizer, { cleanUpTokenizationSpaces: true });
    expect(got.join('')).toBe("I'm don't, it's rock'n roll! we've they're? end.");
    // a piece ends at each boundary before a space-led token (here all of them: none after "'", a space, or " n" + " '")
    expect(got).toEqual(['I', "'m", ' do', "n't", ',', ' it', "'s", ' rock', "'n", ' roll', '!', ' we', "'ve", ' they', "'re", '?', ' end', '.']);
  });

  it('streamText as it was without the option: "do n" is shown, then "\'t" (garbage with a cleaning tokenizer, hence the option)', async () => {
    const model = scripted(SCRIPTS[" n't"]!);
    expect(await pieces(model, wordTokenizer(), {})).toEqual(['do', ' n', "'", 't', ' it']);
  });

  it('decode gets `{ cleanUpTokenizationSpaces }` only when it was given (raw decodes of the stream: `false`)', async () => {
    const model = scripted(SCRIPTS[' .']!);
    for (const [opts, expected] of [
      [{}, [undefined]],
      [{ cleanUpTokenizationSpaces: false }, [{ cleanUpTokenizationSpaces: false }]],
      [{ cleanUpTokenizationSpaces: true }, [{ cleanUpTokenizationSpaces: true }, { cleanUpTokenizationSpaces: false }]],
    ] as const) {
      const calls: Array<TextDecodeOptions | undefined> = [];
      await generateText(model, wordTokenizer(calls), 'prompt', { ...T5, maxNewTokens: 5, ...opts });
      expect(calls).toEqual([expected[0]]);
      calls.length = 0;
      await pieces(model, wordTokenizer(calls), opts);
      expect(new Set(calls.map((c) => JSON.stringify(c ?? null)))).toEqual(new Set(expected.map((c) => JSON.stringify(c ?? null))));
    }
  });

  it('a trailing half character (U+FFFD) at the end of the stream is flushed, so the pieces are generateText’s text', async () => {
    const script = ['▁it', '\uFFFD'];
    const model = scripted(script);
    const tokenizer = wordTokenizer();
    for (const opts of [{}, { cleanUpTokenizationSpaces: true }]) {
      const [text] = await generateText(model, tokenizer, 'prompt', { ...T5, maxNewTokens: 5, ...opts });
      expect(text).toBe('it\uFFFD');
      expect((await pieces(model, tokenizer, opts)).join('')).toBe(text);
    }
  });

  it('a non-boolean cleanUpTokenizationSpaces: one GenerationOptionsError naming it, before the model runs', async () => {
    const model = scripted(['▁it']);
    const bad = { ...T5, cleanUpTokenizationSpaces: 'yes' as unknown as boolean };
    await expect(generateText(model, wordTokenizer(), 'prompt', bad)).rejects.toThrow(GenerationOptionsError);
    await expect(generateText(model, wordTokenizer(), 'prompt', bad)).rejects.toThrow(/`cleanUpTokenizationSpaces` must be a boolean \(got yes\)/);
    await expect(pieces(model, wordTokenizer(), bad)).rejects.toThrow(/`cleanUpTokenizationSpaces` must be a boolean/);
    expect(model.calls.encode).toBe(0);
  });

  it('TextStreamer alone: put / end over a token list', () => {
    const s = new TextStreamer(wordTokenizer(), { cleanUpTokenizationSpaces: true });
    const out = ['▁do', '▁n', "'", 't', '▁.', '▁it'].map((p) => s.put(id(p)));
    // "do" once " n" follows it; "n't" once " ." follows (raw "do n't ."), "." once " it" follows
    expect(out).toEqual(['', 'do', '', '', "n't", '.']);
    expect(s.end()).toBe(' it');
    expect(new TextStreamer(wordTokenizer()).end()).toBe('');
  });
});
