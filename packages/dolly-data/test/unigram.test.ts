import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { UnigramViterbi, type UnigramModelFields } from '../src/unigram';

// A toy Unigram model with ties and unknown characters.
const vocab: Array<[string, number]> = [
  ['<unk>', 0],
  ['▁', -1],
  ['a', -2],
  ['b', -2],
  ['ab', -3],
  ['▁a', -3], // ties with ▁ + a (-1 + -2)
  ['abc', -4.5],
  ['c', -3],
  ['😀', -1],
];
const toy = () =>
  new Tokenizer(
    { model: { type: 'Unigram', unk_id: 0, vocab }, normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, added_tokens: [] },
    {},
  );

describe('UnigramViterbi', () => {
  const model = toy().model as unknown as UnigramModelFields & { tokenize(w: string): string[] };
  const viterbi = new UnigramViterbi(model);

  it('hand-computed best paths', () => {
    // ▁|ab = -1 - 3 = -4 beats ▁a|b = -5 and ▁|a|b = -5
    expect(viterbi.tokenize('▁ab')).toEqual(['▁', 'ab']);
    // ▁a (-3) ties ▁|a (-3): the path whose last piece begins first wins, as in tokenizers.js
    expect(viterbi.tokenize('▁a')).toEqual(['▁a']);
    // abc (-4.5) beats ab|c (-6) and a|b|c (-7)
    expect(viterbi.tokenize('abc')).toEqual(['abc']);
    // unknown characters are 1-character pieces (fused later), surrogate pairs stay whole
    expect(viterbi.tokenize('ax😀y')).toEqual(['a', 'x', '😀', 'y']);
    expect(viterbi.tokenize('')).toEqual([]);
  });

  it('equals tokenizers.js’ TokenLattice on every string over a small alphabet (length ≤ 5)', () => {
    const alphabet = ['▁', 'a', 'b', 'c', 'x', '😀'];
    let words = [''];
    for (let len = 1; len <= 5; len++) {
      words = words.flatMap((w) => alphabet.map((ch) => w + ch));
      for (const w of words) expect(viterbi.tokenize(w), w).toEqual(model.tokenize(w));
    }
  });
});
