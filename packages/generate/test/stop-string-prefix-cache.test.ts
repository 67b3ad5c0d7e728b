/**
 * `hitsStopString` with a decoder prefix (`decoderInputIds`) measures where the prefix's text ends in the row's text
 * (transformers' `StopStringCriteria` only counts stop strings that end after the prompt). The prefix's text is the
 * same at every check, so it is decoded once per `generate` call and prefix, not at every step of every row; not kept
 * across calls (a tokenizer object may decode differently in a later call).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../src/index.js';
import { TableModel } from './fakes.js';

const V = 8;
/** Tokens 2, 3, 4 in turn, never EOS; token t decodes to the letter 'a' + t; records every decode's ids. */
const cycle = () => new TableModel(V, (_i, p) => Array.from({ length: V }, (_, t) => (t === 2 + (p.length % 3) ? 2 : 0)));
function recording(): { decode: (ids: number[]) => string; encode: () => number[]; calls: string[] } {
  const calls: string[] = [];
  return { calls, encode: () => [], decode: (ids) => (calls.push(ids.join(',')), ids.map((t) => String.fromCharCode(97 + t)).join('')) };
}
const O = { decoderStartTokenId: 0, eosTokenId: 1, padTokenId: 0, maxNewTokens: 8, stopStrings: ['zz'] };

describe('stop strings with a decoder prefix: the prefix is decoded once per call', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it.each([
    ['greedy, one prompt', { inputIds: [[3]], decoderInputIds: [[0, 3, 4]] }, {}, ['3,4']],
    ['greedy, two prompts', { inputIds: [[3], [4]], decoderInputIds: [[0, 3, 4], [0, 4, 3]] }, {}, ['3,4', '4,3']],
    ['beams', { inputIds: [[3]], decoderInputIds: [[0, 3, 4]] }, { numBeams: 2 }, ['3,4']],
    ['sampling, 2 sequences', { inputIds: [[3]], decoderInputIds: [[0, 3, 4]] }, { doSample: true, seed: 1, numReturnSequences: 2 }, ['3,4']],
  ] as const)('%s: each prefix decoded once in 8 steps, once again in the next call; nothing leaks', async (_what, inputs, extra, prefixes) => {
    const tokenizer = recording();
    const before = tf.memory().numTensors;
    const out = await generate(cycle(), { inputIds: inputs.inputIds.map((r) => [...r]), decoderInputIds: inputs.decoderInputIds.map((r) => [...r]) }, { ...O, ...extra, tokenizer });
    expect(tf.memory().numTensors).toBe(before);
    const prefixCalls = tokenizer.calls.filter((c) => (prefixes as readonly string[]).includes(c));
    expect(prefixCalls.sort()).toEqual([...prefixes].sort());
    // the row texts are still decoded at every check (8 new tokens per row: each step, every row)
    expect(tokenizer.calls.length).toBeGreaterThanOrEqual(8 * inputs.inputIds.length);
    // a second call with the same tokenizer: the same output, each prefix decoded once more (the cache is the call's)
    const n = tokenizer.calls.length;
    const again = await generate(cycle(), { inputIds: inputs.inputIds.map((r) => [...r]), decoderInputIds: inputs.decoderInputIds.map((r) => [...r]) }, { ...O, ...extra, tokenizer });
    expect(again.sequences).toEqual(out.sequences);
    expect(tokenizer.calls.slice(n).filter((c) => (prefixes as readonly string[]).includes(c)).sort()).toEqual([...prefixes].sort());
  });

  it('a tokenizer object that decodes differently in a later call: that call uses its new text (as a fresh object does)', async () => {
    // Always token 2. Prefix [3, 4]: "zy" + "b"s at first (no "zz"): runs to maxNewTokens. Then the same object decodes
    // 4 as "z" and 2 as "w": the prefix's text is "zz", a stop string wholly inside the prefix, which never stops a row
    // (and "zw…" completes none): the row still runs to maxNewTokens. With the first call's "zy" remembered, "zz" would
    // seem to end after the prefix and stop the row at its first new token.
    const letters: Record<number, string> = { 2: 'b', 3: 'z', 4: 'y' };
    const tokenizer = { encode: () => [], decode: (ids: number[]) => ids.map((t) => letters[t] ?? '?').join('') };
    const always2 = () => new TableModel(V, () => Array.from({ length: V }, (_, t) => (t === 2 ? 2 : 0)));
    const run = async (tok: typeof tokenizer) =>
      (await generate(always2(), { inputIds: [[3]], decoderInputIds: [[0, 3, 4]] }, { ...O, maxNewTokens: 4, tokenizer: tok })).sequences;
    expect(await run(tokenizer)).toEqual([[0, 3, 4, 2, 2, 2, 2]]);
    letters[4] = 'z';
    letters[2] = 'w';
    expect(await run({ ...tokenizer })).toEqual([[0, 3, 4, 2, 2, 2, 2]]);
    expect(await run(tokenizer)).toEqual([[0, 3, 4, 2, 2, 2, 2]]);
  });
});
