/**
 * generation_config.json keys of transformers 5's `GenerationConfig` that change what `generate()` returns
 * and that this package does not implement. When one of them is set to a value that switches its feature on,
 * `generationOptionsFromConfig` refuses the config (one `GenerationOptionsError` naming every such key and
 * value) instead of generating something different from transformers without a word.
 *
 * Each rule is the condition under which transformers 5 uses the key (`get_generation_mode`,
 * `_get_logits_processor`, `generate`), taken on the config alone: a key whose effect also depends on the
 * mode (e.g. `dola_layers` only without beams, `top_h` only when sampling) is refused whatever the mode,
 * since the caller's options may still change it.
 *
 * Not listed, because they do not change the tokens returned by an encoder-decoder `generate` here:
 * output flags (`output_scores`, `output_logits`, `output_attentions`, `output_hidden_states`,
 * `return_dict_in_generate`), cache and speed settings (`use_cache`, `cache_implementation` other than
 * "quantized", `cache_config`, `compile_config`, `disable_compile`, `prefill_chunk_size`), assisted decoding
 * (`prompt_lookup_num_tokens`, `max_matching_ngram_size`, `num_assistant_tokens`, `num_assistant_tokens_schedule`,
 * `assistant_confidence_threshold` are implemented and mapped by `generationOptionsFromConfig`; greedy output is
 * plain greedy's) and the two-tokenizer settings that only matter with an assistant of another vocabulary, which
 * `generate` refuses (`assistant_lookbehind`, `target_lookbehind`), `low_memory` and `diversity_penalty` on their own (only
 * contrastive / group beam search read them; they are named with those), `bos_token_id` (used as the
 * decoder start only when `decoder_start_token_id` is missing, which this package refuses anyway), and the
 * metadata (`transformers_version`, `_from_model_config`, `_commit_hash`, `_original_object_hash`).
 */

/** Python truthiness of a JSON value (`if generation_config.token_healing:`). */
const truthy = (v: unknown): boolean =>
  !(v === undefined || v === null || v === false || v === 0 || v === '' || (Array.isArray(v) && v.length === 0) ||
    (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0));
const isSet = (v: unknown): boolean => v !== undefined && v !== null;
/** Set and not a number at or below `max` (a non-number is refused: transformers would compare it and fail or act). */
const above = (max: number) => (v: unknown): boolean => isSet(v) && !(typeof v === 'number' && v <= max);

interface Rule {
  /** The key that switches the feature on, and the condition (transformers 5's). */
  key: string;
  on: (v: unknown) => boolean;
  /** Other keys of the same feature, named in the message when present. */
  with?: string[];
  what: string;
}

const RULES: Rule[] = [
  { key: 'num_beam_groups', on: above(1), with: ['diversity_penalty'], what: 'diverse (group) beam search (`num_beam_groups > 1`; transformers 5 runs it from the Hub, transformers-community/group-beam-search)' },
  { key: 'penalty_alpha', on: above(0), with: ['low_memory'], what: 'contrastive search (`penalty_alpha > 0` with `top_k > 1`; transformers-community/contrastive-search)' },
  { key: 'dola_layers', on: isSet, what: 'DoLa decoding (transformers-community/dola)' },
  { key: 'constraints', on: isSet, what: 'constrained beam search (transformers-community/constrained-beam-search)' },
  { key: 'force_words_ids', on: isSet, what: 'constrained beam search (transformers-community/constrained-beam-search)' },
  { key: 'assistant_early_exit', on: isSet, what: 'early-exit assisted decoding' },
  { key: 'is_assistant', on: truthy, with: ['assistant_confidence_threshold'], what: "the assistant-model mode (its confidence stopping criterion)" },
  { key: 'guidance_scale', on: (v) => isSet(v) && v !== 1, what: 'classifier-free guidance (`UnbatchedClassifierFreeGuidanceLogitsProcessor`)' },
  { key: 'watermarking_config', on: isSet, what: 'watermarking (a logits processor after the warpers)' },
  { key: 'top_h', on: isSet, what: 'Top-H sampling (`TopHLogitsWarper`)' },
  { key: 'remove_invalid_values', on: (v) => v === true, what: '`InfNanRemoveLogitsProcessor` (NaN → 0, ±inf → the float32 extremes)' },
  { key: 'token_healing', on: truthy, what: 'token healing (the prompt tail is regenerated)' },
  { key: 'max_time', on: isSet, what: 'a wall-clock time limit (`MaxTimeCriteria`)' },
  { key: 'cache_implementation', on: (v) => v === 'quantized', with: ['cache_config'], what: 'a quantized key/value cache (its rounding changes the logits)' },
];

/** One message per feature that `config` switches on and this package does not implement; empty if none. */
export function unsupportedConfigProblems(config: Readonly<Record<string, unknown>>): string[] {
  const show = (k: string) => `\`${k}\`: ${JSON.stringify(config[k])}`;
  return RULES.filter((r) => r.on(config[r.key])).map((r) => {
    const keys = [r.key, ...(r.with ?? []).filter((k) => isSet(config[k]))];
    return `${keys.map(show).join(', ')} — ${r.what} is not implemented by @conifer/generate, so its output would differ from transformers; remove the key (or set it to its default) to generate without it`;
  });
}
