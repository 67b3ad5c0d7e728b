// generation_config.json: the new keys read (and validated), `stop_strings` read, and the keys of transformers 5's
// GenerationConfig that switch on a feature this package lacks refused with one error (generation/configuration_utils.py
// `get_generation_mode`, utils.py `_get_logits_processor` / `generate`).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  generate, generateText, generationOptionsFromConfig, GenerationOptionsError, modelGenerationDefaults, resolveOptions,
  type GenerationConfigJson,
} from '../src/index.js';
import { TableModel } from './fakes.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// /work/shared/golden/models/ul2-tiny/generation_config.json (transformers 5.17), verbatim.
const UL2 = {
  _from_model_config: true, decoder_start_token_id: 0, eos_token_id: 1, output_attentions: false, output_hidden_states: false,
  pad_token_id: 0, transformers_version: '5.17.0', use_cache: true,
};

const problemsOf = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (e) {
    if (e instanceof GenerationOptionsError) return e.problems;
    throw e;
  }
  throw new Error('no error');
};

describe('reading the new keys', () => {
  it('maps them to options (deep copies; stop_strings may be one string); duplicates of sequence_bias resolve like a dict', () => {
    const json: GenerationConfigJson = {
      ...UL2, encoder_repetition_penalty: 1.2, encoder_no_repeat_ngram_size: 3,
      sequence_bias: [[[5, 6], -1.5], [[7], 2.0], [[5, 6], -0.5]], exponential_decay_length_penalty: [4, 1.1],
      renormalize_logits: true, stop_strings: '##',
    };
    const opts = generationOptionsFromConfig(json);
    expect(opts).toEqual({
      decoderStartTokenId: 0, eosTokenId: 1, padTokenId: 0, encoderRepetitionPenalty: 1.2, encoderNoRepeatNgramSize: 3,
      sequenceBias: [[[5, 6], -1.5], [[7], 2], [[5, 6], -0.5]], exponentialDecayLengthPenalty: [4, 1.1], renormalizeLogits: true,
      stopStrings: ['##'],
    });
    json.sequence_bias![0]![0]![0] = 99;
    json.exponential_decay_length_penalty![0] = 99;
    expect(opts.sequenceBias![0]![0]).toEqual([5, 6]);
    expect(opts.exponentialDecayLengthPenalty).toEqual([4, 1.1]);
    // `{tuple(ids): bias}`: (5, 6) keeps its first position and its last bias.
    expect(resolveOptions({ ...opts, tokenizer: { encode: () => [], decode: () => '' } })).toMatchObject({
      encoderRepetitionPenalty: 1.2, encoderNoRepeatNgramSize: 3, sequenceBias: [[[5, 6], -0.5], [[7], 2]],
      exponentialDecayLengthPenalty: [4, 1.1], renormalizeLogits: true, stopStrings: ['##'],
    });
    expect(generationOptionsFromConfig({ stop_strings: ['a', 'b'], sequence_bias: null, renormalize_logits: false })).toEqual({ stopStrings: ['a', 'b'], renormalizeLogits: false });
    // defaults when absent
    expect(resolveOptions({ decoderStartTokenId: 0 })).toMatchObject({
      encoderRepetitionPenalty: 1, encoderNoRepeatNgramSize: 0, sequenceBias: [], exponentialDecayLengthPenalty: undefined, renormalizeLogits: false,
    });
  });

  it('validates them in the one error, with the rules of the processors', () => {
    expect(problemsOf(() => resolveOptions({
      decoderStartTokenId: 0, encoderRepetitionPenalty: 0, encoderNoRepeatNgramSize: 1.5, sequenceBias: [[[0], 1]],
      exponentialDecayLengthPenalty: [1.5, 2] as never, renormalizeLogits: 'yes' as never,
    }))).toEqual([
      '`encoderRepetitionPenalty` must be a number > 0 (got 0)',
      '`encoderNoRepeatNgramSize` must be an integer ≥ 0 (got 1.5)',
      // transformers' list form: `all(isinstance(token_id, int) and token_id > 0 ...)`.
      '`sequenceBias` must be a non-empty list of [token ids, bias] pairs, the ids a non-empty list of integers > 0 and the bias a number (got [[[0],1]])',
      '`exponentialDecayLengthPenalty` must be [startIndex, decayFactor]: an integer and a finite number (got [1.5,2])',
      '`renormalizeLogits` must be a boolean (got yes)',
    ]);
    for (const bad of [[], [[[], 1]], [[[2], 'x']], [[[2], NaN]], [[2, 1]]]) {
      expect(problemsOf(() => resolveOptions({ decoderStartTokenId: 0, sequenceBias: bad as never }))[0]).toMatch(/^`sequenceBias` must be/);
    }
    // ExponentialDecayLengthPenalty(…, `_eos_token_tensor` None, …) fails in transformers.
    expect(problemsOf(() => resolveOptions({ decoderStartTokenId: 0, exponentialDecayLengthPenalty: [2, 1.1] })))
      .toEqual(['`exponentialDecayLengthPenalty` raises the EOS score: it needs `eosTokenId`']);
    expect(resolveOptions({ decoderStartTokenId: 0, sequenceBias: [[[3], -Infinity]] }).sequenceBias).toEqual([[[3], -Infinity]]);
  });
});

describe('refusing what transformers would use and this package lacks', () => {
  const everything = {
    ...UL2, num_beams: 4, num_beam_groups: 2, diversity_penalty: 0.5, penalty_alpha: 0.6, top_k: 4, low_memory: true,
    dola_layers: 'high', constraints: [{}], force_words_ids: [[5]], prompt_lookup_num_tokens: 10, max_matching_ngram_size: 2,
    assistant_early_exit: 4, is_assistant: true, guidance_scale: 1.5, watermarking_config: { greenlist_ratio: 0.25 },
    top_h: 0.4, remove_invalid_values: true, token_healing: true, max_time: 5, cache_implementation: 'quantized',
    cache_config: { nbits: 4 },
  };

  it('one GenerationOptionsError naming every such key and its value', () => {
    const problems = problemsOf(() => generationOptionsFromConfig(everything));
    expect(problems.map((p) => p.split(' — ')[0])).toEqual([
      '`num_beam_groups`: 2, `diversity_penalty`: 0.5',
      '`penalty_alpha`: 0.6, `low_memory`: true',
      '`dola_layers`: "high"',
      '`constraints`: [{}]',
      '`force_words_ids`: [[5]]',
      '`assistant_early_exit`: 4',
      '`is_assistant`: true',
      '`guidance_scale`: 1.5',
      '`watermarking_config`: {"greenlist_ratio":0.25}',
      '`top_h`: 0.4',
      '`remove_invalid_values`: true',
      '`token_healing`: true',
      '`max_time`: 5',
      '`cache_implementation`: "quantized", `cache_config`: {"nbits":4}',
    ]);
    expect(problems[0]).toBe(
      '`num_beam_groups`: 2, `diversity_penalty`: 0.5 — diverse (group) beam search (`num_beam_groups > 1`; transformers 5 runs it from the Hub, transformers-community/group-beam-search) is not implemented by @conifer/generate, so its output would differ from transformers; remove the key (or set it to its default) to generate without it',
    );
  });

  it('accepts those keys at their defaults, the ones that change nothing here, and an old config.json with every default', () => {
    const harmless = {
      ...UL2, num_beam_groups: 1, diversity_penalty: 0.7, penalty_alpha: 0, low_memory: true, dola_layers: null, constraints: null,
      force_words_ids: null, prompt_lookup_num_tokens: null, assistant_early_exit: null, is_assistant: false, guidance_scale: 1.0,
      watermarking_config: null, top_h: null, remove_invalid_values: false, token_healing: false, max_time: null,
      cache_implementation: 'static', cache_config: null, output_scores: true, output_logits: true, return_dict_in_generate: true,
      num_assistant_tokens: 20, num_assistant_tokens_schedule: 'constant', assistant_confidence_threshold: 0.4,
      assistant_lookbehind: 10, target_lookbehind: 10, max_matching_ngram_size: 2, compile_config: null, disable_compile: false,
      prefill_chunk_size: 64, bos_token_id: 0, _commit_hash: 'abc',
    };
    // The assisted-decoding keys are mapped (they only act with an assistant or prompt lookup).
    expect(generationOptionsFromConfig(harmless)).toEqual({
      decoderStartTokenId: 0, eosTokenId: 1, padTokenId: 0, numAssistantTokens: 20, numAssistantTokensSchedule: 'constant',
      assistantConfidenceThreshold: 0.4, maxMatchingNgramSize: 2,
    });
    // A transformers 4 config.json that serialised every generation default (PretrainedConfig.to_dict).
    const oldConfig = {
      d_model: 64, bad_words_ids: null, begin_suppress_tokens: null, chunk_size_feed_forward: 0, decoder_start_token_id: 0,
      diversity_penalty: 0.0, do_sample: false, early_stopping: false, encoder_no_repeat_ngram_size: 0, eos_token_id: 1,
      exponential_decay_length_penalty: null, forced_bos_token_id: null, forced_eos_token_id: null, length_penalty: 1.0,
      max_length: 20, min_length: 0, no_repeat_ngram_size: 0, num_beam_groups: 1, num_beams: 1, num_return_sequences: 1,
      output_scores: false, pad_token_id: 0, remove_invalid_values: false, repetition_penalty: 1.0, return_dict_in_generate: false,
      sequence_bias: null, suppress_tokens: null, temperature: 1.0, top_k: 50, top_p: 1.0, typical_p: 1.0, use_cache: true,
    };
    expect(modelGenerationDefaults({ config: oldConfig })).toMatchObject({ decoderStartTokenId: 0, numBeams: 1, maxLength: 20 });
    expect(resolveOptions(modelGenerationDefaults({ config: oldConfig }))).toMatchObject({ encoderNoRepeatNgramSize: 0, sequenceBias: [] });
  });

  it("generate and generateText refuse a model whose generation config has one, before touching the model", async () => {
    const m = Object.assign(new TableModel(4, () => [0, 1, 0, 0]), { generationConfig: { ...UL2, guidance_scale: 3 } });
    const before = tf.memory().numTensors;
    await expect(generate(m, { inputIds: [[2, 1]] })).rejects.toThrow('Invalid generation options: `guidance_scale`: 3 — classifier-free guidance');
    await expect(generateText(m, { encode: () => [2, 1], decode: () => '' }, 'x')).rejects.toBeInstanceOf(GenerationOptionsError);
    expect(m.calls.encode).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe("the model's stop_strings", () => {
  // Prefix length L → token L + 1 (2, 3, 4, …); the tokenizer spells ids 2.. as a, b, c, …
  const counting = (generationConfig: Record<string, unknown>) =>
    Object.assign(new TableModel(10, (_input, prefix) => Array.from({ length: 10 }, (_, t) => (t === prefix.length + 1 ? 5 : 0))), { generationConfig });
  const tok = { encode: () => [2, 1], decode: (ids: number[]) => ids.map((i) => String.fromCharCode(95 + i)).join('') };

  it('generateText passes its tokenizer for them; generate without a tokenizer refuses (transformers raises too)', async () => {
    expect(await generateText(counting({ ...UL2, max_new_tokens: 6 }), tok, 'x')).toEqual(['abcdef']);
    expect(await generateText(counting({ ...UL2, max_new_tokens: 6, stop_strings: 'c' }), tok, 'x')).toEqual(['abc']);
    await expect(generate(counting({ ...UL2, max_new_tokens: 6, stop_strings: 'c' }), { inputIds: [[2, 1]] })).rejects.toThrow(/`stopStrings` needs `tokenizer`/);
  });
});
