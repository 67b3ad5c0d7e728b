/**
 * Options arguments of every exported function that takes one: an options argument that is not an object (a string,
 * `true`, null, an array) is one GenerationOptionsError naming the function, not read as no options; unknown keys are
 * named with the option probably meant (transformers' snake_case names too), in the same error as the other problems.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { caught } from '../../../internal/caught.js';
import {
  computeTransitionScores,
  generate,
  generateText,
  generationOptionsFromConfig,
  GenerationOptionsError,
  generationOptionsWarnings,
  modelGenerationDefaults,
  processScores,
  resolveOptions,
  streamGenerate,
  streamText,
  TextStreamer,
  withModelDefaults,
  type ProcessorOptions,
  type TextTokenizer,
} from '../src/index.js';
import { TableModel } from './fakes.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const T5 = { decoderStartTokenId: 0, eosTokenId: 1, padTokenId: 0 };
const model = () => new TableModel(4, () => [0, 0, 1, 0]);
const tokenizer: TextTokenizer = { encode: () => [3, 1], decode: (ids) => ids.join(' ') };
const inputs = { inputIds: [[3, 1]] };

/** The error `f` throws or rejects with: a GenerationOptionsError (unless `type`) with exactly `problems`; no tensor left. */
async function expectProblems(f: () => unknown, problems: string[], type: new (...args: never[]) => Error = GenerationOptionsError): Promise<void> {
  const before = tf.memory().numTensors;
  const error = await caught(f);
  expect(error).toBeInstanceOf(type);
  if ((type as unknown) === GenerationOptionsError) expect((error as GenerationOptionsError).problems).toEqual(problems);
  else expect((error as Error).message).toBe(problems.join('; '));
  expect(tf.memory().numTensors).toBe(before);
}

const drain = async (gen: AsyncGenerator<unknown, unknown, void>) => {
  for await (const _ of gen);
};

describe('options that are not an object are one error naming the function, not read as no options', () => {
  it('generate, streamGenerate, generateText, streamText', async () => {
    await expectProblems(() => generate(model(), inputs, true as never), ['generate: options must be an object, got boolean true']);
    await expectProblems(() => generate(model(), inputs, null as never), ['generate: options must be an object, got null']);
    await expectProblems(() => drain(streamGenerate(model(), inputs, 'greedy' as never)), ['streamGenerate: options must be an object, got a string "greedy"']);
    await expectProblems(() => generateText(model(), tokenizer, 'x', [] as never), ['generateText: options must be an object, got an array']);
    await expectProblems(() => drain(streamText(model(), tokenizer, 'x', 3 as never)), ['streamText: options must be an object, got number 3']);
    // undefined is no options (the model's defaults apply: 20 new tokens)
    const withConfig = Object.assign(model(), { config: { decoder_start_token_id: 0, eos_token_id: 1 } });
    expect((await generate(withConfig, inputs, undefined)).sequences[0]).toHaveLength(21);
  });

  it('resolveOptions, withModelDefaults, generationOptionsWarnings, generationOptionsFromConfig, TextStreamer, computeTransitionScores', async () => {
    await expectProblems(() => resolveOptions('maxNewTokens' as never), ['resolveOptions: options must be an object, got a string "maxNewTokens"']);
    await expectProblems(() => withModelDefaults({}, false as never), ['withModelDefaults: options must be an object, got boolean false']);
    await expectProblems(() => generationOptionsWarnings(null as never), ['generationOptionsWarnings: options must be an object, got null']);
    await expectProblems(() => generationOptionsFromConfig('{"num_beams": 2}' as never), ['generationOptionsFromConfig: config must be an object (a parsed generation_config.json), got a string "{\\"num_beams\\": 2}"']);
    await expectProblems(() => modelGenerationDefaults({ generationConfig: '{}' }), ['the model\'s generationConfig must be an object (a parsed generation_config.json), got a string "{}"']);
    await expectProblems(() => new TextStreamer(tokenizer, true as never), ['TextStreamer: options must be an object, got boolean true']);
    const output = { sequences: [[0, 2]], scores: [[new Float32Array([0, 0, 1, 0])]] };
    await expectProblems(() => computeTransitionScores(output, 'normalize' as never), ['computeTransitionScores: options must be an object, got a string "normalize"']);
  });

  it('processScores: a RangeError, as for its other bad arguments', async () => {
    await expectProblems(() => processScores(new Float32Array(4), [0], true as never), ['processScores: options must be an object, got boolean true'], RangeError);
  });
});

describe('unknown keys: one error with every other problem, the option meant named', () => {
  it("generate: transformers' names point to ours (typos by edit distance, not only snake_case)", async () => {
    await expectProblems(() => generate(model(), inputs, { ...T5, numBeam: 2, generation_config: {}, streamer: {}, decoder_input_ids: [[0]], temperature: -1 } as never), [
      'unknown options `numBeam` (did you mean `numBeams`?), `generation_config` (did you mean `...generationOptionsFromConfig(generation_config.json)`?), '
      + '`streamer` (did you mean `onToken` or `streamGenerate`?), `decoder_input_ids` (did you mean `inputs.decoderInputIds`?)',
      '`temperature` must be a number ≥ 0 (got -1)',
    ]);
  });

  it('generateText / streamText: cleanUpTokenizationSpaces is known (its snake_case too), and its bad value is in the same error', async () => {
    const bad = { ...T5, clean_up_tokenization_spaces: true, cleanUpTokenizationSpaces: 'yes', maxNewToken: 2 } as never;
    const problems = [
      'unknown options `clean_up_tokenization_spaces` (did you mean `cleanUpTokenizationSpaces`?), `maxNewToken` (did you mean `maxNewTokens`?)',
      "`cleanUpTokenizationSpaces` must be a boolean (got yes): transformers' clean_up_tokenization_spaces, e.g. your tokenizer_config.json's value",
    ];
    await expectProblems(() => generateText(model(), tokenizer, 'x', bad), problems);
    await expectProblems(() => drain(streamText(model(), tokenizer, 'x', bad)), problems);
    // generate itself does not decode text: the key is unknown there
    await expectProblems(() => generate(model(), inputs, { ...T5, cleanUpTokenizationSpaces: true } as never), ['unknown option `cleanUpTokenizationSpaces`']);
    expect(await generateText(model(), tokenizer, 'x', { ...T5, maxNewTokens: 2, cleanUpTokenizationSpaces: true })).toEqual(['2 2']);
  });

  it('generationOptionsWarnings: the keys generate or generateText know', async () => {
    await expectProblems(() => generationOptionsWarnings({ temprature: 0.5, do_sample: false } as never), [
      'generationOptionsWarnings: unknown options `temprature` (did you mean `temperature`?), `do_sample` (did you mean `doSample`?)',
    ]);
    expect(generationOptionsWarnings({ temperature: 0.5, cleanUpTokenizationSpaces: true })).toHaveLength(1);
  });

  it('TextStreamer and computeTransitionScores: unknown keys and a non-boolean flag in one error', async () => {
    await expectProblems(() => new TextStreamer(tokenizer, { clean_up_tokenization_spaces: true, cleanUpTokenizationSpaces: 1 } as never), [
      'TextStreamer: unknown option `clean_up_tokenization_spaces` (did you mean `cleanUpTokenizationSpaces`?)',
      "`cleanUpTokenizationSpaces` must be a boolean (got 1): transformers' clean_up_tokenization_spaces, e.g. your tokenizer_config.json's value",
    ]);
    const output = { sequences: [[0, 2]], scores: [[new Float32Array([0, 0, 1, 0])]] };
    await expectProblems(() => computeTransitionScores(output, { normalize_logits: true, normalizeLogits: 'yes' } as never), [
      'computeTransitionScores: unknown option `normalize_logits` (did you mean `normalizeLogits`?)',
      '`normalizeLogits` must be a boolean (got yes)',
    ]);
    expect(computeTransitionScores(output, { normalizeLogits: false })).toEqual([new Float32Array([1])]);
  });

  it('processScores: keys ProcessorOptions lacks are a RangeError, the row untouched', async () => {
    const base: ProcessorOptions = { repetitionPenalty: 1, noRepeatNgramSize: 0, minLength: 0, minNewTokens: 0, eosTokenIds: [1], doSample: false, temperature: 1, topK: 0, topP: 1, minTokensToKeep: 1 };
    const row = new Float32Array([0, 1, 2, 3]);
    await expectProblems(() => processScores(row, [0], { ...base, eosTokenId: 1, bad_words_ids: [[2]] } as never), [
      'processScores: unknown options `eosTokenId` (did you mean `eosTokenIds`?), `bad_words_ids` (did you mean `badWordsIds`?)',
    ], RangeError);
    expect(row).toEqual(new Float32Array([0, 1, 2, 3]));
    processScores(row, [0], { ...base, badWordsIds: [[2]] });
    expect(row[2]).toBe(-Infinity);
    // options built as generate builds them: resolveOptions' result (its other keys are not read) and the processor's own
    const resolved = new Float32Array([0, 1, 2, 3]);
    processScores(resolved, [0], { ...resolveOptions({ ...T5, badWordsIds: [[2]] }), minTokensToKeep: 1 });
    expect(resolved).toEqual(new Float32Array([0, 1, -Infinity, 3]));
  });
});
