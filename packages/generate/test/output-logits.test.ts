/**
 * `outputLogits` (transformers' `output_logits`): the raw next-token logits of every step, next to the processed
 * `scores`. transformers 5 `GenerationMixin._sample`: `next_token_logits = outputs.logits[:, -1, :]` (float32),
 * `raw_logits += (next_token_logits,)`, `next_token_scores = logits_processor(input_ids, next_token_logits)`;
 * `_beam_search`: `raw_logits += (logits.clone(),)` for the `batch × num_beams` running rows, before
 * `log_softmax` and the processors. Checked against the golden ul2-tiny case (its teacher-forced `logits[:, 0]`
 * are the first step's logits: the decoder input starts with the start token) and the golden greedy / beam ids.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { argmax, generate, logSoftmax, resolveOptions, streamGenerate } from '../src/index.js';
import { TinyTransformer } from './fakes.js';
import { MiniT5 } from './mini-t5.js';

const GOLDEN = process.env.CONIFER_GOLDEN ?? fileURLToPath(new URL('../../t5-model/test/fixtures', import.meta.url));
const T5 = { decoderStartTokenId: 0, eosTokenId: 1, padTokenId: 0 };

interface Case {
  input_ids: number[][];
  attention_mask: number[][];
  logits: { shape: [number, number, number]; data: number[] };
  greedy: { max_new_tokens: number; output: number[][] };
  beam: { num_beams: number; max_new_tokens: number; output: number[][] };
}

const relErr = (a: Float32Array, b: ArrayLike<number>) => {
  let num = 0;
  let den = 0;
  a.forEach((x, i) => { num += (x - (b[i] as number)) ** 2; den += (b[i] as number) ** 2; });
  return Math.sqrt(num / den);
};

describe('outputLogits on the golden ul2-tiny case', () => {
  let c: Case;
  let model: MiniT5;
  let inputs: { inputIds: number[][]; attentionMask: number[][] };
  /** Golden `logits[b, 0, :]`: the logits after the decoder start token. */
  let first: number[][];
  beforeAll(async () => {
    await tf.setBackend('cpu');
    c = JSON.parse(readFileSync(join(GOLDEN, 'cases', 'ul2-tiny.json'), 'utf8')) as Case;
    model = new MiniT5(join(GOLDEN, 'models', 'ul2-tiny'));
    inputs = { inputIds: c.input_ids, attentionMask: c.attention_mask };
    const [b, t, v] = c.logits.shape;
    first = Array.from({ length: b }, (_, i) => c.logits.data.slice(i * t * v, i * t * v + v));
  });
  afterAll(() => model.dispose());

  it('greedy: one raw row per step and sequence, taken before the processors; argmax is the golden token', async () => {
    const before = tf.memory().numTensors;
    const plain = await generate(model, inputs, { ...T5, maxNewTokens: c.greedy.max_new_tokens, outputLogits: true });
    expect(plain.sequences).toEqual(c.greedy.output);
    const logits = plain.logits!;
    expect(logits).toHaveLength(c.greedy.output[0]!.length - 1); // one per generated token
    expect(plain.scores).toBeUndefined();
    for (let b = 0; b < 2; b++) expect(relErr(logits[0]![b]!, first[b]!)).toBeLessThan(1e-5);
    // No processor: the greedy token is the argmax of the raw logits while the row runs (then the pad id).
    c.greedy.output.forEach((row, b) => {
      const end = row.indexOf(1, 1);
      for (let t = 0; t < end; t++) expect(argmax(logits[t]![b]!)).toBe(row[t + 1]);
    });
    // With a repetition penalty the scores change (token 0, the start token, is penalised) but the logits do not.
    const pen = await generate(model, inputs, { ...T5, maxNewTokens: 2, outputLogits: true, outputScores: true, repetitionPenalty: 1.3 });
    for (let b = 0; b < 2; b++) {
      expect(relErr(pen.logits![0]![b]!, first[b]!)).toBeLessThan(1e-5);
      expect(pen.scores![0]![b]![0]).not.toBe(pen.logits![0]![b]![0]);
      expect(pen.scores![0]![b]![0]).toBe(Math.fround(pen.logits![0]![b]![0]! < 0 ? pen.logits![0]![b]![0]! * Math.fround(1.3) : pen.logits![0]![b]![0]! / Math.fround(1.3)));
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('streamGenerate returns the same: the padded prompt alone streams its golden tokens, then generate\'s logits and scores', async () => {
    // transformers `_sample` with a streamer: `streamer.put(next_tokens)` each step, and the same `scores` / `logits` returned.
    const before = tf.memory().numTensors;
    const prompt = { inputIds: [c.input_ids[1]!], attentionMask: [c.attention_mask[1]!] };
    const o = { ...T5, maxNewTokens: c.greedy.max_new_tokens, outputLogits: true, outputScores: true };
    const stream = streamGenerate(model, prompt, o);
    const tokens: number[] = [];
    let r = await stream.next();
    for (; !r.done; r = await stream.next()) tokens.push(r.value);
    const golden = c.greedy.output[1]!;
    expect(tokens).toEqual(golden.slice(1, golden.indexOf(1, 1) + 1)); // to its EOS
    expect(r.value).toEqual(await generate(model, prompt, o));
    expect(r.value.logits).toHaveLength(tokens.length);
    expect(relErr(r.value.logits![0]![0]!, first[1]!)).toBeLessThan(1e-5);
    expect(r.value.scores).toEqual(r.value.logits); // no processor
    expect(tf.memory().numTensors).toBe(before);
  });

  it('beam search: the batch × numBeams running rows, raw; scores are their log-softmax; golden ids unchanged', async () => {
    const before = tf.memory().numTensors;
    const nb = c.beam.num_beams;
    const out = await generate(model, inputs, { ...T5, numBeams: nb, maxNewTokens: c.beam.max_new_tokens, outputLogits: true, outputScores: true });
    expect(out.sequences).toEqual(c.beam.output);
    const logits = out.logits!;
    expect(logits).toHaveLength(out.scores!.length);
    expect(logits.every((step) => step.length === 2 * nb)).toBe(true);
    // Step 0: every beam of input b holds the start token only.
    for (let r = 0; r < 2 * nb; r++) expect(relErr(logits[0]![r]!, first[Math.floor(r / nb)]!)).toBeLessThan(1e-5);
    // `log_probs = log_softmax(logits)`; no processor here, so the scores are exactly that.
    logits.forEach((step, t) => step.forEach((row, r) => expect(out.scores![t]![r]).toEqual(logSoftmax(row))));
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('outputLogits with sampling', () => {
  it('numReturnSequences rows per input (adjacent), raw while the warpers cut the scores; same tokens as without it', async () => {
    await tf.setBackend('cpu');
    const model = new TinyTransformer({ seed: 7, eosAfter: 3 });
    const before = tf.memory().numTensors;
    const o = { ...T5, maxNewTokens: 5, doSample: true, topK: 3, seed: 11, numReturnSequences: 2 };
    const inputIds = [[3, 4, 5, 1], [6, 7, 1, 0]];
    const out = await generate(model, { inputIds }, { ...o, outputLogits: true, outputScores: true });
    expect(out.sequences).toEqual((await generate(model, { inputIds }, o)).sequences);
    const logits = out.logits!;
    expect(logits.every((step) => step.length === 4)).toBe(true);
    // `_expand_inputs_for_generation(expand_size=num_return_sequences)`: rows 0, 1 are input 0's, rows 2, 3 input 1's.
    expect(logits[0]![1]).toEqual(logits[0]![0]);
    expect(logits[0]![3]).toEqual(logits[0]![2]);
    expect(logits[0]![2]).not.toEqual(logits[0]![0]);
    for (const [t, step] of logits.entries()) {
      for (const [r, row] of step.entries()) {
        expect(row.every(Number.isFinite)).toBe(true);
        expect(out.scores![t]![r]!.filter(Number.isFinite)).toHaveLength(3); // top-k 3 of the raw row
      }
    }
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});

describe('outputLogits option', () => {
  it('a boolean, off by default; the snake_case key is caught with a hint', () => {
    expect(resolveOptions(T5).outputLogits).toBe(false);
    expect(resolveOptions({ ...T5, outputLogits: true }).outputLogits).toBe(true);
    expect(() => resolveOptions({ ...T5, outputLogits: 'yes' as unknown as boolean })).toThrow('`outputLogits` must be a boolean (got yes)');
    expect(() => resolveOptions({ ...T5, output_logits: true } as never)).toThrow('unknown option `output_logits` (did you mean `outputLogits`?)');
  });
});
