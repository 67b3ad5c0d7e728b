// The processors added for transformers' min_p, typical_p, epsilon_cutoff, eta_cutoff, bad_words_ids,
// suppress_tokens, begin_suppress_tokens, forced_bos_token_id and forced_eos_token_id. Expected masks
// worked out from transformers' logits_process.py (typical and eta also with a plain-Python port of its
// lines, numbers in the comments).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  epsilonCutoff, etaCutoff, forceTokens, generate, generationOptionsFromConfig, minP, noBadWords, processScores, resolveOptions,
  suppress, typicalP, type ProcessorOptions,
} from '../src/index.js';
import { MiniT5 } from './mini-t5.js';

const GOLDEN = process.env.CONIFER_GOLDEN ?? fileURLToPath(new URL('../../t5-model/test/fixtures', import.meta.url));

const I = -Infinity;
const probs = [0.5, 0.3, 0.15, 0.05];
const scoresOf = (p = probs) => Float32Array.from(p, Math.log);
const mask = (s: Float32Array) => Array.from(s, (v) => (v === I ? 'x' : 'k')).join('');

describe('warpers', () => {
  it('MinPLogitsWarper: probability < min_p × the best one removed, the best min_tokens_to_keep kept', () => {
    const at = (p: number, keep = 1) => {
      const s = scoresOf();
      minP(s, p, keep);
      return mask(s);
    };
    expect(at(0.35)).toBe('kkxx'); // threshold .175
    expect(at(0.35, 3)).toBe('kkkx');
    expect(at(0.05)).toBe('kkkk'); // .025
    expect(at(1)).toBe('kxxx');
    expect(at(0)).toBe('kkkk');
  });

  it('TypicalLogitsWarper: tokens nearest the entropy (1.1421 nats) first, cut at the mass', () => {
    // |−log p − H| per token: .449 .0619 .755 1.854 → order 1, 0, 2, 3; cumulative .3 .8 .95 1.
    const at = (mass: number, keep = 1) => {
      const s = scoresOf();
      typicalP(s, mass, keep);
      return mask(s);
    };
    expect(at(0.2)).toBe('xkxx'); // the most probable token is not the most typical
    expect(at(0.2, 2)).toBe('kkxx');
    expect(at(0.5)).toBe('kkxx');
    expect(at(0.9)).toBe('kkkx');
    expect(at(0.97)).toBe('kkkk');
    // A -inf token: -inf · 0 is NaN, left out of the entropy (nansum), so the same cut as without it.
    const withInf = Float32Array.from([...scoresOf(), I]);
    typicalP(withInf, 0.2);
    expect(mask(withInf)).toBe('xkxxx');
  });

  it('EpsilonLogitsWarper and EtaLogitsWarper: probability under the cutoff removed, never the best', () => {
    const eps = (e: number, keep = 1) => { const s = scoresOf(); epsilonCutoff(s, e, keep); return mask(s); };
    expect(eps(0.1)).toBe('kkkx');
    expect(eps(0.6)).toBe('kxxx'); // nothing reaches .6: the best stays
    expect(eps(0.6, 2)).toBe('kkxx');
    // eta = min(ε, √ε·e^−H): ε .2 → .1427 (removes .05); ε .5 → .2257 (removes .15 and .05).
    const eta = (e: number, keep = 1) => { const s = scoresOf(); etaCutoff(s, e, keep); return mask(s); };
    expect(eta(0.2)).toBe('kkkx');
    expect(eta(0.5)).toBe('kkxx');
    // `scores < topk(scores, min_tokens_to_keep)[0][..., -1]` must hold too: the best three stay whatever eta is.
    expect(eta(0.5, 3)).toBe('kkkx');
    expect(eta(0.9, 2)).toBe('kkxx'); // eta = min(.9, .9487 · .3191 = .3027): only .5 reaches it
  });
});

describe('processors', () => {
  it('NoBadWordsLogitsProcessor: one token always; a longer sequence when the decoder sequence ends with its prefix', () => {
    const s = new Float32Array(12);
    noBadWords(s, [0, 5, 6], [[7], [6, 8], [5, 9], [5, 6, 10], [4, 6, 11], [9, 9, 9, 9, 9]]);
    expect([7, 8, 9, 10, 11].map((t) => s[t] === I)).toEqual([true, true, false, true, false]);
    expect(() => noBadWords(new Float32Array(4), [0], [[2, 7]])).toThrow(/vocabulary size is 4, but \[2,7\]/);
    expect(() => forceTokens(new Float32Array(4), [9])).toThrow(/forced token 9 is past the model's vocabulary \(4\)/);
  });

  it('forced tokens and suppression', () => {
    const s = scoresOf();
    forceTokens(s, [2]);
    expect(Array.from(s)).toEqual([I, I, 0, I]);
    const t = scoresOf();
    suppress(t, [0, 3, 99]); // ids past the vocabulary are ignored (isin)
    expect(mask(t)).toBe('xkkx');
  });

  it("processScores: transformers' order and steps (forced BOS at length 1, begin-suppress after it, forced EOS at max_length − 1)", () => {
    const base: ProcessorOptions = {
      repetitionPenalty: 1, noRepeatNgramSize: 0, minLength: 0, minNewTokens: 0, eosTokenIds: [1], doSample: false,
      temperature: 1, topK: 0, topP: 1, minTokensToKeep: 1, maxLength: 5,
    };
    const run = (ids: number[], o: Partial<ProcessorOptions>) => {
      const s = scoresOf();
      processScores(s, ids, { ...base, ...o });
      return mask(s);
    };
    expect(run([0], { forcedBosTokenId: 2 })).toBe('xxkx');
    expect(run([0, 2], { forcedBosTokenId: 2 })).toBe('kkkk');
    expect(run([0], { beginSuppressTokens: [0] })).toBe('xkkk');
    expect(run([0, 3], { beginSuppressTokens: [0] })).toBe('kkkk');
    expect(run([0, 2], { beginSuppressTokens: [0], forcedBosTokenId: 2 })).toBe('xkkk'); // begin index moves to 2
    expect(run([0, 2, 2, 2], { forcedEosTokenIds: [1] })).toBe('xkxx'); // length 4 = max_length − 1
    expect(run([0, 2, 2], { forcedEosTokenIds: [1] })).toBe('kkkk');
    // Bad words before the forced EOS: a banned EOS is forced anyway (the later processor wins).
    expect(run([0, 2, 2, 2], { forcedEosTokenIds: [1], badWordsIds: [[1]] })).toBe('xkxx');
    // Suppression after the forced BOS: suppressing the forced token leaves nothing (as in transformers).
    expect(run([0], { forcedBosTokenId: 2, suppressTokens: [2] })).toBe('xxxx');
    // Warpers only when sampling, after top-p: top-p .9 removes only .05, then min-p .35 (of .5) removes .15;
    // epsilon .1 and eta .2 remove .05 (each alone), eta .5 also .15.
    expect(run([0], { doSample: true, topP: 0.9 })).toBe('kkkx');
    expect(run([0], { doSample: true, topP: 0.9, minP: 0.35 })).toBe('kkxx');
    expect(run([0], { doSample: true, epsilonCutoff: 0.1 })).toBe('kkkx');
    expect(run([0], { doSample: true, etaCutoff: 0.2 })).toBe('kkkx');
    expect(run([0], { doSample: true, etaCutoff: 0.5 })).toBe('kkxx');
    // The order: probs .4 .3 .2 .1, top-p .75 then min-p .3 keeps three ('kkkx'); min-p first would remove .1,
    // and top-p on the renormalised .444 .333 .222 would then remove .2 as well ('kkxx').
    const ordered = scoresOf([0.4, 0.3, 0.2, 0.1]);
    processScores(ordered, [0], { ...base, doSample: true, topP: 0.75, minP: 0.3 });
    expect(mask(ordered)).toBe('kkkx');
    expect(run([0], { doSample: false, minP: 0.35, typicalP: 0.2 })).toBe('kkkk');
    expect(run([0], { doSample: true, typicalP: 0.2 })).toBe('xkxx');
  });
});

describe('options', () => {
  it('validated in one error; single-EOS bad words dropped; generation_config.json keys mapped', () => {
    const ok = resolveOptions({ decoderStartTokenId: 0, eosTokenId: 1, badWordsIds: [[1], [1, 2], [3]], minP: 0.1, typicalP: 0.9, forcedEosTokenId: 1, suppressTokens: [4] });
    expect(ok.badWordsIds).toEqual([[1, 2], [3]]);
    expect(ok).toMatchObject({ minP: 0.1, typicalP: 0.9, epsilonCutoff: 0, etaCutoff: 0, forcedEosTokenIds: [1], suppressTokens: [4], beginSuppressTokens: [], forcedBosTokenId: undefined });
    expect(() => resolveOptions({ decoderStartTokenId: 0, minP: 2, typicalP: 0, epsilonCutoff: 1, etaCutoff: -1, badWordsIds: [[]], suppressTokens: [-1], forcedBosTokenId: 1.5, forcedEosTokenId: [-2] }))
      .toThrow(/`minP` must be a number in \[0, 1\].*`typicalP` must be a number in \(0, 1\].*`epsilonCutoff`.*`etaCutoff`.*`suppressTokens` must be a list of token ids.*`badWordsIds` must be a non-empty list of non-empty lists.*`forcedEosTokenId`.*`forcedBosTokenId` must be an integer ≥ 0/);
    expect(generationOptionsFromConfig({ min_p: 0.05, typical_p: 0.95, epsilon_cutoff: 3e-4, eta_cutoff: null, bad_words_ids: [[5, 6]], suppress_tokens: [7], begin_suppress_tokens: [8], forced_bos_token_id: 9, forced_eos_token_id: [1] }))
      .toEqual({ minP: 0.05, typicalP: 0.95, epsilonCutoff: 3e-4, badWordsIds: [[5, 6]], suppressTokens: [7], beginSuppressTokens: [8], forcedBosTokenId: 9, forcedEosTokenId: [1] });
  });
});

describe('through generate (mini T5, cpu)', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('forced BOS/EOS, suppressed and banned tokens change greedy output as asked; an out-of-vocabulary bad word rejects and leaks nothing', async () => {
    const model = new MiniT5(join(GOLDEN, 'models', 'ul2-tiny'));
    const inputIds = [[5, 6, 7, 1]];
    const o = { decoderStartTokenId: 0, eosTokenId: 1, maxNewTokens: 4 };
    const vocab = 512;
    const before = tf.memory().numTensors;
    const plain = (await generate(model, { inputIds }, o)).sequences[0]!;
    const first = plain[1]!;
    const bos = (first + 1) % vocab;
    expect((await generate(model, { inputIds }, { ...o, forcedBosTokenId: bos })).sequences[0]![1]).toBe(bos);
    expect((await generate(model, { inputIds }, { ...o, suppressTokens: [first] })).sequences[0]![1]).not.toBe(first);
    expect((await generate(model, { inputIds }, { ...o, beginSuppressTokens: [first] })).sequences[0]![1]).not.toBe(first);
    expect((await generate(model, { inputIds }, { ...o, badWordsIds: [[first]] })).sequences[0]).not.toContain(first);
    const forcedEos = (await generate(model, { inputIds }, { ...o, forcedEosTokenId: 1 })).sequences[0]!;
    expect(forcedEos.length <= 5 && forcedEos[forcedEos.length - 1] === 1).toBe(true);
    await expect(generate(model, { inputIds }, { ...o, badWordsIds: [[first, 100000]] })).rejects.toThrow(/vocabulary size/);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
