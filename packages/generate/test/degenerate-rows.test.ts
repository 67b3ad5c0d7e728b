/**
 * Score rows with fewer usable tokens than the step asks for, against what PyTorch does with them:
 *
 * - Beam sampling draws `beams_to_keep` continuations with `torch.multinomial(softmax(accumulated_log_probs),
 *   num_samples=beams_to_keep)` (transformers 5 `GenerationMixin._get_top_k_continuations`), without replacement.
 *   PyTorch computes that as `topk(probs / q, k)` with `q ~ Exp(1)` (aten Distributions.cpp, `multinomial`), so when
 *   fewer than k continuations have a positive probability (a tight top-k / top-p / min-p, and on the first step only
 *   beam 0 counts) the probability-0 ones fill the rest: no error. It refuses only k > the number of entries.
 * - `torch.multinomial` raises on NaN probabilities: `softmax` of a row that is all -inf, or holds +inf, is NaN.
 * - The warpers keep `min_tokens_to_keep = len(eos_token_id) + 1` per row with beam sampling
 *   (`GenerationMixin._get_logits_processor`), 1 otherwise.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate, softmax, type GenerateOptions } from '../src/index.js';
import { makeRng, sampleFromScores, sampleWithoutReplacement } from '../src/sampling.js';
import { TableModel, TinyTransformer } from './fakes.js';

const I = -Infinity;
const T5 = { decoderStartTokenId: 0, eosTokenId: 1, padTokenId: 0 } satisfies GenerateOptions;

describe('torch.multinomial at its edges', () => {
  it('without replacement: the positive probabilities first, then the probability-0 entries (index order); k > entries refused', () => {
    const scores = Float32Array.from([0, I, Math.log(0.5), I, I]);
    for (const seed of [1, 2, 3]) {
      const got = sampleWithoutReplacement(scores, 4, makeRng(seed));
      expect([...got.slice(0, 2)].sort()).toEqual([0, 2]);
      expect(got.slice(2)).toEqual([1, 3]);
    }
    expect(() => sampleWithoutReplacement(scores, 6, makeRng(1))).toThrow('cannot draw 6 without replacement from 5 entries');
  });

  it('softmax of an all -inf row is NaN (as PyTorch), and sampling it names the cause; so does +inf', () => {
    expect(Array.from(softmax(Float32Array.from([I, I, I])))).toEqual([NaN, NaN, NaN]);
    const rng = makeRng(1);
    expect(() => sampleFromScores(Float32Array.from([I, I]), rng)).toThrow("every token's processed score is -Infinity");
    expect(() => sampleFromScores(Float32Array.from([0, Infinity]), rng)).toThrow('a processed score is +Infinity');
    expect(() => sampleFromScores(Float32Array.from([0, NaN]), rng)).toThrow('a processed score is NaN');
    expect(() => sampleWithoutReplacement(Float32Array.from([I, I, I]), 2, rng)).toThrow("every continuation's processed score is -Infinity");
  });
});

describe('generate with degenerate rows', () => {
  let model: TinyTransformer;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    model = new TinyTransformer({ seed: 7, eosAfter: 3 });
  });
  afterAll(() => model.dispose());
  const inputs = { inputIds: [[3, 4, 5, 1], [6, 7, 1, 0]] };

  it('beam sampling with top-k 1 keeps len(eos) + 1 tokens per row and runs with fewer positive continuations than it draws', async () => {
    const before = tf.memory().numTensors;
    for (const eosTokenId of [1, [1, 2]]) {
      const o: GenerateOptions = { ...T5, eosTokenId, numBeams: 2, doSample: true, topK: 1, seed: 3, maxNewTokens: 5, outputScores: true };
      const out = await generate(model, inputs, o);
      // `TopKLogitsWarper(top_k=max(1, min_tokens_to_keep))`: 2 finite scores per row with one EOS id, 3 with two.
      const kept = Array.isArray(eosTokenId) ? eosTokenId.length + 1 : 2;
      for (const step of out.scores!) for (const row of step) expect(row.filter(Number.isFinite)).toHaveLength(kept);
      // The -inf continuations that fill the draws are never returned: each returned token's processed score is finite.
      out.sequences.forEach((seq, i) => {
        out.beamIndices![i]!.forEach((r, t) => { if (r >= 0) expect(Number.isFinite(out.scores![t]![r]![seq[t + 1]!]!)).toBe(true); });
      });
      expect((await generate(model, inputs, o)).sequences).toEqual(out.sequences); // seeded
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('sampling a row with no token left, or with +inf scores, rejects with the cause and frees everything', async () => {
    const before = tf.memory().numTensors;
    const all = Array.from({ length: model.vocab }, (_, i) => i);
    await expect(generate(model, inputs, { ...T5, doSample: true, seed: 1, suppressTokens: all })).rejects.toThrow("every token's processed score is -Infinity");
    await expect(generate(model, inputs, { ...T5, doSample: true, seed: 1, numBeams: 2, suppressTokens: all })).rejects.toThrow("every continuation's processed score is -Infinity");
    // f32(1e-40) is a subnormal: every logit / it overflows to ±inf.
    await expect(generate(model, inputs, { ...T5, doSample: true, seed: 1, temperature: 1e-40 })).rejects.toThrow('a processed score is +Infinity');
    expect(tf.memory().numTensors).toBe(before);
  });

  it('beam search with fewer continuations than beams_to_keep (numBeams × vocabulary) is one clear error, as torch.topk raises', async () => {
    const one = new TableModel(1, () => [0.3]);
    const before = tf.memory().numTensors;
    for (const doSample of [false, true]) {
      await expect(generate(one, { inputIds: [[0]] }, { decoderStartTokenId: 0, maxNewTokens: 2, numBeams: 2, doSample, seed: 1 }))
        .rejects.toThrow('= 4 continuations per input each step, more than the 2 there are (numBeams 2 × vocabulary 1)');
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});
