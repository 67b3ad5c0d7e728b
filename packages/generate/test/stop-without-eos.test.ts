/**
 * transformers 5 `GenerationMixin._sample` pads a finished row only `if has_eos_stopping_criteria` (some
 * stopping criterion has an `eos_token_id`): `next_tokens = next_tokens * unfinished_sequences + pad_token_id *
 * (1 - unfinished_sequences)`. Without EOS ids a row stopped by a stop string is not padded: it keeps its
 * argmax / sampled tokens until every row has stopped (the stop strings still end the loop).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { generate, type TextTokenizer } from '../src/index.js';
import { TableModel } from './fakes.js';

// 'a'..'n' = 2..15; a token's text is one letter.
const tokenizer: TextTokenizer = {
  encode: (s) => [...s].map((ch) => ch.charCodeAt(0) - 95),
  decode: (ids) => ids.map((i) => String.fromCharCode(i + 95)).join(''),
};
// Each step's argmax is the input's first token + the decoder length: 'a' → b c d e …, 'g' → h i j k …
const model = () => new TableModel(16, (input, prefix) => Array.from({ length: 16 }, (_, v) => (v === ((input[0] as number) + prefix.length) % 16 ? 5 : 0)));
const inputIds = [[2], [8]];

describe('stop strings without EOS ids', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('a row that hit a stop string keeps its real tokens (no EOS criterion, so no padding) until all rows stop', async () => {
    const before = tf.memory().numTensors;
    const seen: number[][] = [];
    const o = { decoderStartTokenId: 0, maxNewTokens: 4, stopStrings: ['c'], tokenizer, onToken: (t: number[]) => seen.push(t) };
    const { sequences } = await generate(model(), { inputIds }, o);
    // Row 0 completes 'c' at its second token; row 1 never does and runs to max_new_tokens.
    expect(sequences).toEqual([[0, 3, 4, 5, 6], [0, 9, 10, 11, 12]]);
    expect(seen).toEqual([[3, 9], [4, 10], [5, 11], [6, 12]]);
    // A stop string in every row still ends the loop.
    expect((await generate(model(), { inputIds }, { ...o, stopStrings: ['c', 'h'] })).sequences).toEqual([[0, 3, 4], [0, 9, 10]]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('with an EOS id (even one never generated) the stopped row is padded, as before', async () => {
    const o = { decoderStartTokenId: 0, eosTokenId: 1, maxNewTokens: 4, stopStrings: ['c'], tokenizer };
    // No pad id: `pad_token_tensor = eos_token_tensor[0]`.
    expect((await generate(model(), { inputIds }, o)).sequences).toEqual([[0, 3, 4, 1, 1], [0, 9, 10, 11, 12]]);
    expect((await generate(model(), { inputIds }, { ...o, padTokenId: 7 })).sequences).toEqual([[0, 3, 4, 7, 7], [0, 9, 10, 11, 12]]);
  });
});
