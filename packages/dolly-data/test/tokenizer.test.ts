import { beforeAll, describe, expect, it } from 'vitest';
import { bundledTokenizerDir, loadT5Tokenizer, T5Tokenizer } from '../src';
import { readJsonFixture, type TokenizerCase } from './helpers';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const { cases } = readJsonFixture<{ cases: TokenizerCase[] }>('tokenizer-t5.json');

describe('T5 tokenizer against the Rust tokenizer (tokenizer-t5.json)', () => {
  let tok: T5Tokenizer;
  beforeAll(async () => {
    tok = await loadT5Tokenizer();
  });

  it('has the 609 reference cases', () => {
    expect(cases).toHaveLength(609);
  });

  it('encodes all 609 texts to the reference ids, with </s>', () => {
    const wrong = cases.filter((c) => JSON.stringify(tok.encode(c.text)) !== JSON.stringify(c.ids)).map((c) => c.text);
    expect(wrong).toEqual([]);
  });

  it('encodes all 609 texts to the reference ids without special tokens', () => {
    const wrong = cases
      .filter((c) => JSON.stringify(tok.encode(c.text, { addSpecialTokens: false })) !== JSON.stringify(c.ids_no_special))
      .map((c) => c.text);
    expect(wrong).toEqual([]);
  });

  it('decodes the reference ids (special tokens skipped, no space clean-up) to the reference text', () => {
    const wrong = cases.filter((c) => tok.decode(c.ids) !== c.decoded).map((c) => c.text);
    expect(wrong).toEqual([]);
  });

  it("cleanUpTokenizationSpaces: transformers' clean_up_tokenization on the reference text; the bundled config asks for it", () => {
    // transformers' PreTrainedTokenizerBase.clean_up_tokenization (tokenization_utils_base.py), transcribed
    const clean = (s: string) =>
      s.replace(/ \./g, '.').replace(/ \?/g, '?').replace(/ !/g, '!').replace(/ ,/g, ',').replace(/ ' /g, "'")
        .replace(/ n't/g, "n't").replace(/ 'm/g, "'m").replace(/ 's/g, "'s").replace(/ 've/g, "'ve").replace(/ 're/g, "'re");
    const cleaned = cases.filter((c) => clean(c.decoded) !== c.decoded);
    expect(cleaned.length).toBe(16); // texts whose transformers decode differs from the Rust tokenizers' one
    const wrong = cases.filter((c) => tok.decode(c.ids, { cleanUpTokenizationSpaces: true }) !== clean(c.decoded)).map((c) => c.text);
    expect(wrong).toEqual([]);
    for (const c of cleaned) expect(tok.decode(c.ids, { cleanUpTokenizationSpaces: false })).toBe(c.decoded);
    expect(tok.decode(cleaned[0]!.ids)).toBe(cleaned[0]!.decoded); // default: no clean-up
    // T5's original tokenizer_config.json (bundled) says true, as transformers' decode would use; absent or false: false
    expect(tok.configCleanUpTokenizationSpaces).toBe(true);
    const json = JSON.parse(readFileSync(join(bundledTokenizerDir(), 'tokenizer.json'), 'utf8')) as object;
    expect(T5Tokenizer.fromJSON(json, {}).configCleanUpTokenizationSpaces).toBe(false);
    expect(T5Tokenizer.fromJSON(json, { clean_up_tokenization_spaces: false }).configCleanUpTokenizationSpaces).toBe(false);
  });

  it('spot checks: the first case, the empty text, pad and eos ids', () => {
    expect(tok.encode('Write a story about an lamb named Dolly that went to the zoo.')).toEqual([
      8733, 3, 9, 733, 81, 46, 17871, 2650, 531, 6073, 24, 877, 12, 8, 3, 172, 32, 32, 5, 1,
    ]);
    expect(tok.encode('')).toEqual([1]);
    expect(tok.padId).toBe(0);
    expect(tok.eosId).toBe(1);
    // skipSpecialTokens: false keeps them
    expect(tok.decode([8733, 1, 0], { skipSpecialTokens: false })).toBe('Write</s><pad>');
    expect(tok.decode([])).toBe('');
    expect(tok.decode(Int32Array.from([8733, 1]))).toBe('Write');
  });

  it('gives the same ids with the word cache off (plain tokenizers.js Viterbi over the whole text)', () => {
    const dir = bundledTokenizerDir();
    const plain = T5Tokenizer.fromJSON(
      JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as object,
      JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')) as object,
      { wordCacheSize: 0 },
    );
    for (const c of cases.slice(0, 120)) expect(plain.encode(c.text)).toEqual(c.ids);
    // a tiny cache that is cleared constantly still gives the same ids
    const tiny = new T5Tokenizer(plain.tokenizer, { wordCacheSize: 0 });
    expect(tiny.encode(cases[0]!.text)).toEqual(cases[0]!.ids);
  });

  it('a cache smaller than the vocabulary of the texts still gives the reference ids', async () => {
    const small = T5Tokenizer.fromJSON(
      JSON.parse(readFileSync(join(bundledTokenizerDir(), 'tokenizer.json'), 'utf8')) as object,
      {},
      { wordCacheSize: 5 },
    );
    for (const c of cases.slice(0, 60)) expect(small.encode(c.text)).toEqual(c.ids);
  });

  it('the per-word Viterbi equals tokenizers.js\' own lattice on hard text (unknowns, surrogates, long words)', () => {
    const dir = bundledTokenizerDir();
    const plain = T5Tokenizer.fromJSON(JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as object, {}, { wordCacheSize: 0 });
    const texts = [
      '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🙂🙂🙂 ☃☃ a☃b 数字数字 ünïcödé',
      'Pneumonoultramicroscopicsilicovolcanoconiosis antidisestablishmentarianism',
      'x'.repeat(300),
      '  ▁▁ ▁x▁ ▁ ',
      'tab\there, new\nline, nbsp\u00a0here, zero\u200bwidth, ﬁ ligature, Ａｂｃ full width',
      'code: `const x = a?.b ?? c;` <extra_id_5> {json: [1, 2]} #hashtag @user https://example.com/a_b?c=d',
      ...cases.slice(9, 200).map((c) => c.text),
    ];
    for (const t of texts) expect(tok.encode(t)).toEqual(plain.encode(t));
  });

  it('rejects a folder without tokenizer.json', async () => {
    await expect(loadT5Tokenizer('/nonexistent-dir')).rejects.toThrow(/tokenizer\.json/);
  });
});
