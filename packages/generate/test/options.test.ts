import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { generate, generateText, generationOptionsFromConfig, GenerationOptionsError, modelGenerationDefaults, resolveOptions, type GenerateOptions } from '../src/index.js';
import { TinyTransformer } from './fakes.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// /work/shared/golden/models/ul2-tiny/generation_config.json (transformers 5.17), verbatim.
const UL2_TINY_GENERATION_CONFIG = {
  _from_model_config: true,
  decoder_start_token_id: 0,
  eos_token_id: 1,
  output_attentions: false,
  output_hidden_states: false,
  pad_token_id: 0,
  transformers_version: '5.17.0',
  use_cache: true,
};

const errorOf = (o: GenerateOptions): GenerationOptionsError => {
  try {
    resolveOptions(o);
  } catch (e) {
    if (e instanceof GenerationOptionsError) return e;
    throw e;
  }
  throw new Error('no error');
};

describe('options', () => {
  it("reads a generation_config.json and applies transformers' defaults", () => {
    const fromFile = generationOptionsFromConfig(UL2_TINY_GENERATION_CONFIG);
    expect(fromFile).toEqual({ decoderStartTokenId: 0, eosTokenId: 1, padTokenId: 0 });
    const o = resolveOptions(fromFile);
    expect(o).toMatchObject({
      // The file has no max_length: transformers 5 generates its default 20 *new* tokens (max_length 20 + the start token).
      maxLength: 21, minLength: 0, minNewTokens: 0, numBeams: 1, lengthPenalty: 1, earlyStopping: false,
      numReturnSequences: 1, doSample: false, temperature: 1, topK: 50, topP: 1, repetitionPenalty: 1,
      noRepeatNgramSize: 0, eosTokenIds: [1], padTokenId: 0, decoderStartTokenId: 0, useCache: true,
      beamFillTokenId: 1, // `pad_token_id or eos_token_id[0]`: pad 0 is falsy in Python
    });
    // the original project's settings, spread over the file's
    const p = resolveOptions({ ...fromFile, minLength: 10, maxLength: 250 });
    expect([p.minLength, p.maxLength]).toEqual([10, 250]);
    expect(generationOptionsFromConfig({ max_new_tokens: null, early_stopping: 'never', eos_token_id: [1, 2] }))
      .toEqual({ earlyStopping: 'never', eosTokenId: [1, 2] });
  });

  it('maxNewTokens counts new tokens: maxLength = maxNewTokens + 1 (the decoder start token)', () => {
    expect(resolveOptions({ decoderStartTokenId: 0, maxNewTokens: 12, maxLength: 5 }).maxLength).toBe(13);
  });

  it('pad falls back to the first EOS id; the beam fill value follows transformers', () => {
    expect(resolveOptions({ decoderStartTokenId: 0, eosTokenId: [2, 3] })).toMatchObject({ padTokenId: 2, beamFillTokenId: 2 });
    expect(resolveOptions({ decoderStartTokenId: 0, eosTokenId: 1, padTokenId: 5 }).beamFillTokenId).toBe(5);
    expect(resolveOptions({ decoderStartTokenId: 0 }).beamFillTokenId).toBe(-1);
  });

  it('numReturnSequences > numBeams is an error', () => {
    expect(() => resolveOptions({ decoderStartTokenId: 0, numBeams: 2, numReturnSequences: 3 })).toThrow(
      'Invalid generation options: `numReturnSequences` (3) has to be smaller or equal to `numBeams` (2)',
    );
  });

  it('reports every invalid option in one error', () => {
    const e = errorOf({
      maxNewTokens: 0, temperature: -1, topP: 1.5, topK: -1, repetitionPenalty: -1, numBeams: 1.5,
      earlyStopping: 'sometimes' as never, max_new_tokens: 5, seed: {} as never,
    } as GenerateOptions);
    expect(e.problems).toEqual([
      'unknown option `max_new_tokens` (did you mean `maxNewTokens`?)',
      '`maxNewTokens` must be an integer ≥ 1 (got 0)',
      '`numBeams` must be an integer ≥ 1 (got 1.5)',
      '`temperature` must be a number ≥ 0 (got -1)',
      '`topK` must be an integer ≥ 0 (got -1)',
      '`topP` must be a number in [0, 1] (got 1.5)',
      '`repetitionPenalty` must be a number > 0 (got -1)',
      '`earlyStopping` must be true, false or "never" (got "sometimes")',
      '`seed` must be a number or a string (got [object Object])',
      '`decoderStartTokenId` is required for encoder-decoder generation (T5: 0): the model has no `generationConfig` or `config` giving `decoder_start_token_id`; set it or pass generationOptionsFromConfig(generation_config.json)',
    ]);
    expect(e.message.startsWith('Invalid generation options: unknown option `max_new_tokens`')).toBe(true);
  });

  it('temperature 0 is accepted without sampling (transformers only warns: the warper is built for do_sample) and rejected with it', async () => {
    // GenerationConfig.validate: `do_sample` False with `temperature` set is a minor issue (a warning);
    // TemperatureLogitsWarper, built only when sampling, raises for temperature 0.
    const m = new TinyTransformer();
    try {
      const greedy = await generate(m, { inputIds: [[3, 4, 1]] }, { decoderStartTokenId: 0, eosTokenId: 1, maxNewTokens: 5 });
      expect(await generate(m, { inputIds: [[3, 4, 1]] }, { decoderStartTokenId: 0, eosTokenId: 1, maxNewTokens: 5, temperature: 0 })).toEqual(greedy);
      const fromHub = generationOptionsFromConfig({ ...UL2_TINY_GENERATION_CONFIG, do_sample: false, temperature: 0.0 });
      expect(resolveOptions(fromHub).temperature).toBe(0);
    } finally {
      m.dispose();
    }
    expect(errorOf({ decoderStartTokenId: 0, doSample: true, temperature: 0 }).problems).toEqual([
      '`temperature` must be a number > 0 when sampling (for greedy decoding leave `doSample` false) (got 0)',
    ]);
  });

  it('rejects greedy with several return sequences, onToken with beams, impossible min lengths', () => {
    expect(errorOf({ decoderStartTokenId: 0, numReturnSequences: 2 }).problems).toEqual([
      'greedy decoding (numBeams 1, doSample false) returns one sequence per input; `numReturnSequences` is 2',
    ]);
    expect(errorOf({ decoderStartTokenId: 0, numBeams: 2, onToken: () => {} }).problems[0]).toMatch(/onToken/);
    expect(errorOf({ decoderStartTokenId: 0, maxNewTokens: 4, minNewTokens: 5 }).problems[0]).toMatch(/minNewTokens/);
    expect(errorOf({ decoderStartTokenId: 0, eosTokenId: [1, -2] }).problems[0]).toMatch(/eosTokenId/);
  });

  it("takes the model's defaults as transformers does: generationConfig, else config's token ids; the caller's options win", async () => {
    // generation_config.json first; config.json's generation keys when there is none; nothing else.
    expect(modelGenerationDefaults({ generationConfig: { ...UL2_TINY_GENERATION_CONFIG, max_length: 7 }, config: { decoder_start_token_id: 5 } }))
      .toEqual({ decoderStartTokenId: 0, eosTokenId: 1, padTokenId: 0, maxLength: 7 });
    expect(modelGenerationDefaults({ generationConfig: null, config: { d_model: 8, decoder_start_token_id: 0, eos_token_id: 1, pad_token_id: 0 } }))
      .toEqual({ decoderStartTokenId: 0, eosTokenId: 1, padTokenId: 0 });
    expect(modelGenerationDefaults({})).toEqual({});

    const bare = new TinyTransformer();
    const withDefaults = Object.assign(new TinyTransformer(), { generationConfig: { ...UL2_TINY_GENERATION_CONFIG, max_new_tokens: 4 } });
    try {
      const explicit = await generate(bare, { inputIds: [[3, 4, 1]] }, { decoderStartTokenId: 0, eosTokenId: 1, padTokenId: 0, maxNewTokens: 4 });
      // No options at all: the model's generation config supplies the token ids and max_new_tokens.
      expect(await generate(withDefaults, { inputIds: [[3, 4, 1]] })).toEqual(explicit);
      // The caller's options win; `undefined` does not erase a default.
      const longer = await generate(withDefaults, { inputIds: [[3, 4, 1]] }, { maxNewTokens: 6, padTokenId: undefined });
      expect(longer.sequences[0]!.length).toBeGreaterThan(explicit.sequences[0]!.length);
      const tok = { encode: (t: string) => [...t].map((c) => c.charCodeAt(0) % 14 + 2).concat(1), decode: (ids: number[]) => ids.join(',') };
      expect(await generateText(withDefaults, tok, 'ab')).toEqual(await generateText(bare, tok, 'ab', { decoderStartTokenId: 0, eosTokenId: 1, padTokenId: 0, maxNewTokens: 4 }));
      // A model without defaults still gets the one clear error.
      await expect(generate(bare, { inputIds: [[3, 1]] })).rejects.toThrow(/`decoderStartTokenId` is required/);
    } finally {
      bare.dispose();
      withDefaults.dispose();
    }
  });

  it('generate rejects invalid options before touching the model, allocating nothing', async () => {
    const m = new TinyTransformer();
    const before = tf.memory().numTensors;
    await expect(generate(m, { inputIds: [[3, 1]] }, { decoderStartTokenId: 0, numBeams: 2, numReturnSequences: 4 }))
      .rejects.toBeInstanceOf(GenerationOptionsError);
    expect(m.calls.encode).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });
});
