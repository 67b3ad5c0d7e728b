import { resolveAssistedOptions, type AssistedOptions } from './assisted-options.js';
import { resolveBiasAndEncoderOptions, type BiasAndEncoderOptions } from './processor-options.js';
import type { PrefixAllowedTokensFn } from './logits-process.js';
import type { GenerateOptions, TextGenerateOptions } from './types.js';
import { type KnownOptions, notAnOptionsObject, unknownOptionProblems, unknownOptionsText } from './unknown-options.js';
import type { LogitsProcessorFn, StoppingCriterionFn } from './user-processors.js';
import { unsupportedConfigProblems } from './unsupported-config.js';

/** Thrown for invalid generation options; `problems` lists every problem found, not just the first. */
export class GenerationOptionsError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid generation options: ${problems.join('; ')}`);
    this.name = 'GenerationOptionsError';
    this.problems = problems;
  }
}

/** Options after defaults and validation. Lengths count decoder tokens including the start token. */
export interface ResolvedOptions extends BiasAndEncoderOptions, AssistedOptions {
  maxLength: number;
  minLength: number;
  minNewTokens: number;
  numBeams: number;
  lengthPenalty: number;
  earlyStopping: boolean | 'never';
  numReturnSequences: number;
  doSample: boolean;
  temperature: number;
  topK: number;
  topP: number;
  repetitionPenalty: number;
  noRepeatNgramSize: number;
  eosTokenIds: number[];
  padTokenId: number;
  /** transformers' `decoder_prompt_len` / `input_ids_length`: the decoder tokens before generation starts (the start
   *  token, and the caller's `decoderInputIds` after it). 1 without a decoder prefix. */
  decoderPromptLength: number;
  /** Whether a pad id was given or came from the EOS id (transformers then infers a missing attention mask). */
  hasPadTokenId: boolean;
  /** transformers' `output_fill_value` of beam search: `pad_token_id or eos_token_id[0] if eos else -1`. */
  beamFillTokenId: number;
  decoderStartTokenId: number;
  seed: number | string | undefined;
  useCache: boolean;
  onToken: ((tokens: number[], step: number) => void) | undefined;
  signal: AbortSignal | undefined;
  stopStrings: string[];
  tokenizer: { decode(ids: number[]): string } | undefined;
  outputScores: boolean;
  outputLogits: boolean;
  minP: number | undefined;
  typicalP: number;
  epsilonCutoff: number;
  etaCutoff: number;
  /** Without single EOS tokens (as transformers filters them). */
  badWordsIds: number[][];
  suppressTokens: number[];
  beginSuppressTokens: number[];
  forcedBosTokenId: number | undefined;
  forcedEosTokenIds: number[];
  /** The caller's processors, run after the built-in ones (before the warpers). */
  logitsProcessor: LogitsProcessorFn[];
  /** The caller's criteria, checked after the built-in ones. */
  stoppingCriteria: StoppingCriterionFn[];
  prefixAllowedTokensFn: PrefixAllowedTokensFn | undefined;
}

/** Every key of {@link GenerateOptions} (a `Record` over its keys: a new option fails typecheck until it is listed). */
export const GENERATE_OPTIONS: KnownOptions<GenerateOptions> = {
  maxNewTokens: true, maxLength: true, minNewTokens: true, minLength: true, numBeams: true, lengthPenalty: true, earlyStopping: true,
  numReturnSequences: true, doSample: true, temperature: true, topK: true, topP: true, repetitionPenalty: true, noRepeatNgramSize: true,
  eosTokenId: true, padTokenId: true, decoderStartTokenId: true, seed: true, useCache: true, onToken: true, signal: true, stopStrings: true,
  tokenizer: true, outputScores: true, outputLogits: true, minP: true, typicalP: true, epsilonCutoff: true, etaCutoff: true, badWordsIds: true,
  suppressTokens: true, beginSuppressTokens: true, forcedBosTokenId: true, forcedEosTokenId: true, encoderRepetitionPenalty: true,
  encoderNoRepeatNgramSize: true, sequenceBias: true, exponentialDecayLengthPenalty: true, renormalizeLogits: true, assistantModel: true,
  numAssistantTokens: true, numAssistantTokensSchedule: true, assistantConfidenceThreshold: true, promptLookupNumTokens: true,
  maxMatchingNgramSize: true, logitsProcessor: true, stoppingCriteria: true, prefixAllowedTokensFn: true,
};

/** The keys of `generateText` / `streamText` options: `generate`'s and the decode options. */
export const TEXT_GENERATE_OPTIONS: KnownOptions<TextGenerateOptions> = { ...GENERATE_OPTIONS, cleanUpTokenizationSpaces: true };
/**
 * The keys of {@link ResolvedOptions} (what `resolveOptions` returns, which `processScores` takes as `generate` passes it):
 * `generate`'s, less the ones it resolves into others (`maxNewTokens` → `maxLength`, the EOS ids into lists).
 */
const { maxNewTokens: _maxNewTokens, eosTokenId: _eosTokenId, forcedEosTokenId: _forcedEosTokenId, ...RESOLVED_FROM_GENERATE } = GENERATE_OPTIONS;
export const RESOLVED_OPTIONS: KnownOptions<ResolvedOptions> = {
  ...RESOLVED_FROM_GENERATE, eosTokenIds: true, forcedEosTokenIds: true, decoderPromptLength: true, hasPadTokenId: true, beamFillTokenId: true,
};

/**
 * transformers' `generate` keyword arguments (any case or separator) that are named differently here, or are not options
 * here; the snake_case forms of our options are matched without this list.
 */
export const TRANSFORMERS_NAMES: Readonly<Record<string, string>> = {
  generation_config: '...generationOptionsFromConfig(generation_config.json)',
  streamer: 'onToken` or `streamGenerate',
  input_ids: 'inputs.inputIds',
  attention_mask: 'inputs.attentionMask',
  decoder_input_ids: 'inputs.decoderInputIds',
};

/**
 * The problems of an options argument's keys, or a problem for an argument that is not an object: `where: options must
 * be an object, got boolean true` (`undefined` is no options). Each problem as {@link GenerationOptionsError} lists them.
 */
export function optionKeyProblems(where: string, options: unknown, known: Readonly<Record<string, true>> = GENERATE_OPTIONS): string[] {
  const wrong = notAnOptionsObject(options);
  if (wrong !== undefined) return [`${where}: options must be an object, got ${wrong}`];
  if (options === undefined) return [];
  const unknown = unknownOptionProblems(options as object, known, TRANSFORMERS_NAMES);
  return unknown.length > 0 ? [unknownOptionsText(unknown)] : [];
}

/** Throws a {@link GenerationOptionsError} when `options` is not an object (`where: options must be an object, got …`). */
export function checkOptionsObject(where: string, options: unknown): void {
  const wrong = notAnOptionsObject(options);
  if (wrong !== undefined) throw new GenerationOptionsError([`${where}: options must be an object, got ${wrong}`]);
}

/** transformers' global default `max_length` (`GenerationConfig._get_default_generation_params`). */
const DEFAULT_MAX_LENGTH = 20;

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * Applies transformers' defaults and checks every option, throwing one `GenerationOptionsError` that
 * lists all problems. The rules are transformers' (`GenerationConfig.validate`, the logits warpers'
 * constructors, `generate`'s checks); unknown keys are rejected so a snake_case typo is caught.
 */
export function resolveOptions(options: GenerateOptions, decoderPromptLength = 1): ResolvedOptions {
  checkOptionsObject('resolveOptions', options);
  return resolveOptionsWith(options ?? {}, decoderPromptLength);
}

/**
 * {@link resolveOptions} for a function whose options have more keys (`known`), and with problems found before
 * (`problems`: e.g. the text functions' decode options) listed in the same error.
 */
export function resolveOptionsWith(options: GenerateOptions, decoderPromptLength = 1, known: Readonly<Record<string, true>> = GENERATE_OPTIONS, problems: readonly string[] = []): ResolvedOptions {
  const o = options as Record<string, unknown>;
  const p: string[] = [...optionKeyProblems('resolveOptions', o, known), ...problems];
  const intAtLeast = (name: keyof GenerateOptions, min: number, dflt: number): number => {
    const v = o[name];
    if (v === undefined) return dflt;
    if (!isInt(v) || v < min) p.push(`\`${name}\` must be an integer ≥ ${min} (got ${String(v)})`);
    return isInt(v) ? v : dflt;
  };
  const num = (name: keyof GenerateOptions, dflt: number, ok: (v: number) => boolean, rule: string): number => {
    const v = o[name];
    if (v === undefined) return dflt;
    if (!isNum(v) || !ok(v)) p.push(`\`${name}\` must be ${rule} (got ${String(v)})`);
    return isNum(v) ? v : dflt;
  };

  const maxNewTokens = intAtLeast('maxNewTokens', 1, 0);
  // transformers 5 (`generate` / `_prepare_generated_length`): max_length = max_new_tokens + `input_ids_length` (the
  // decoder prompt: the start token, and `decoderInputIds` after it) when max_new_tokens is set; when no max_length
  // was given either (`has_default_max_length`: not by the caller nor the model's generation config) it is the global
  // default 20 plus that length, i.e. 20 new tokens. A max_length that was given (here, or in the model's
  // generation_config.json) is used as is: it counts the decoder prompt.
  const promptLen = decoderPromptLength;
  const maxLengthOpt = intAtLeast('maxLength', 2, DEFAULT_MAX_LENGTH + promptLen);
  const maxLength = options.maxNewTokens !== undefined ? maxNewTokens + promptLen : maxLengthOpt;
  const minLengthOpt = intAtLeast('minLength', 0, 0);
  const minNewTokens = intAtLeast('minNewTokens', 0, 0);
  // `_prepare_generated_length`: a set min_new_tokens takes precedence, min_length = min_new_tokens + input_ids_length.
  const minLength = options.minNewTokens !== undefined ? minNewTokens + promptLen : minLengthOpt;
  const numBeams = intAtLeast('numBeams', 1, 1);
  const numReturnSequences = intAtLeast('numReturnSequences', 1, 1);
  const lengthPenalty = num('lengthPenalty', 1, () => true, 'a finite number');
  // `TemperatureLogitsWarper` (sampling only) requires > 0; greedy / beam search ignore the value (transformers
  // only warns), so a generation_config.json with `"temperature": 0.0, "do_sample": false` is valid.
  const sampling = o.doSample === true;
  const temperature = num('temperature', 1, (v) => v > 0 || (v === 0 && !sampling),
    sampling ? 'a number > 0 when sampling (for greedy decoding leave `doSample` false)' : 'a number ≥ 0');
  const topK = intAtLeast('topK', 0, 50);
  const topP = num('topP', 1, (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
  const repetitionPenalty = num('repetitionPenalty', 1, (v) => v > 0, 'a number > 0');
  const noRepeatNgramSize = intAtLeast('noRepeatNgramSize', 0, 0);
  const minP = o.minP === undefined ? undefined : num('minP', 0, (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
  const typicalP = num('typicalP', 1, (v) => v > 0 && v <= 1, 'a number in (0, 1]');
  const epsilonCutoff = num('epsilonCutoff', 0, (v) => v >= 0 && v < 1, 'a number in [0, 1)');
  const etaCutoff = num('etaCutoff', 0, (v) => v >= 0 && v < 1, 'a number in [0, 1)');
  const isIdList = (v: unknown): v is number[] => Array.isArray(v) && v.every((t) => isInt(t) && t >= 0);
  const idList = (name: keyof GenerateOptions): number[] => {
    const v = o[name];
    if (v === undefined) return [];
    if (!isIdList(v)) p.push(`\`${name}\` must be a list of token ids (got ${JSON.stringify(v)})`);
    return isIdList(v) ? [...v] : [];
  };
  const suppressTokens = idList('suppressTokens');
  const beginSuppressTokens = idList('beginSuppressTokens');
  const bad = o.badWordsIds;
  let badWordsIds: number[][] = [];
  if (bad !== undefined) {
    if (!Array.isArray(bad) || bad.length === 0 || !bad.every((w) => isIdList(w) && w.length > 0)) {
      p.push(`\`badWordsIds\` must be a non-empty list of non-empty lists of token ids (got ${JSON.stringify(bad)})`);
    } else badWordsIds = (bad as number[][]).map((w) => [...w]);
  }
  const more = resolveBiasAndEncoderOptions(o, p);
  const assisted = resolveAssistedOptions(o, p);
  const fe = o.forcedEosTokenId;
  const forcedEosTokenIds = fe === undefined ? [] : isIdList(Array.isArray(fe) ? fe : [fe]) ? (Array.isArray(fe) ? [...fe] : [fe as number]) : [];
  if (fe !== undefined && !isIdList(Array.isArray(fe) ? fe : [fe])) p.push(`\`forcedEosTokenId\` must be a token id or a list of them (got ${JSON.stringify(fe)})`);

  const es = o.earlyStopping;
  if (es !== undefined && es !== true && es !== false && es !== 'never') {
    p.push(`\`earlyStopping\` must be true, false or "never" (got ${JSON.stringify(es)})`);
  }
  const earlyStopping = es === true || es === 'never' ? es : false;
  const ds = o.doSample;
  if (ds !== undefined && typeof ds !== 'boolean') p.push(`\`doSample\` must be a boolean (got ${String(ds)})`);
  const doSample = ds === true;
  const uc = o.useCache;
  if (uc !== undefined && typeof uc !== 'boolean') p.push(`\`useCache\` must be a boolean (got ${String(uc)})`);
  const seed = o.seed;
  if (seed !== undefined && typeof seed !== 'number' && typeof seed !== 'string') {
    p.push(`\`seed\` must be a number or a string (got ${String(seed)})`);
  }
  const onToken = o.onToken;
  if (onToken !== undefined && typeof onToken !== 'function') p.push('`onToken` must be a function');
  const signal = o.signal;
  if (signal !== undefined && !(typeof signal === 'object' && signal !== null && typeof (signal as AbortSignal).throwIfAborted === 'function')) {
    p.push('`signal` must be an AbortSignal');
  }
  // transformers' `logits_processor` / `stopping_criteria` lists and `prefix_allowed_tokens_fn` (arguments of
  // `generate`, never in a generation config).
  const fnList = (name: 'logitsProcessor' | 'stoppingCriteria'): Array<(...args: never[]) => unknown> => {
    const v = o[name];
    if (v === undefined) return [];
    const bad = !Array.isArray(v) ? 'not an array' : v.map((f, i) => (typeof f === 'function' ? '' : `[${i}] is ${f === null ? 'null' : typeof f}`)).filter(Boolean).join(', ');
    if (bad) {
      p.push(`\`${name}\` must be an array of functions (${bad})`);
      return [];
    }
    return [...(v as Array<(...args: never[]) => unknown>)];
  };
  const logitsProcessor = fnList('logitsProcessor') as LogitsProcessorFn[];
  const stoppingCriteria = fnList('stoppingCriteria') as StoppingCriterionFn[];
  const patf = o.prefixAllowedTokensFn;
  if (patf !== undefined && typeof patf !== 'function') p.push(`\`prefixAllowedTokensFn\` must be a function (batchId, tokenIds) => allowed token ids (got ${patf === null ? 'null' : typeof patf})`);
  const stopStrings = o.stopStrings ?? [];
  const tokenizer = o.tokenizer as ResolvedOptions['tokenizer'];
  if (!Array.isArray(stopStrings) || !stopStrings.every((s) => typeof s === 'string' && s.length > 0)) {
    p.push('`stopStrings` must be a list of non-empty strings');
  } else if (stopStrings.length > 0 && typeof tokenizer?.decode !== 'function') {
    p.push('`stopStrings` needs `tokenizer` (generateText and streamText pass theirs)');
  }

  const tokenId = (name: keyof GenerateOptions): number | undefined => {
    const v = o[name];
    if (v === undefined) return undefined;
    if (!isInt(v) || v < 0) p.push(`\`${name}\` must be an integer ≥ 0 (got ${String(v)})`);
    return isInt(v) ? v : undefined;
  };
  let eosTokenIds: number[] = [];
  const eos = o.eosTokenId;
  if (eos !== undefined) {
    const list = Array.isArray(eos) ? eos : [eos];
    if (!list.every((v) => isInt(v) && v >= 0)) p.push(`\`eosTokenId\` must be a token id or a list of them (got ${JSON.stringify(eos)})`);
    else eosTokenIds = list as number[];
  }
  const padOpt = tokenId('padTokenId');
  const forcedBosTokenId = tokenId('forcedBosTokenId');
  const decoderStartTokenId = tokenId('decoderStartTokenId');
  if (o.decoderStartTokenId === undefined) {
    p.push('`decoderStartTokenId` is required for encoder-decoder generation (T5: 0): the model has no `generationConfig` or `config` giving `decoder_start_token_id`; set it or pass generationOptionsFromConfig(generation_config.json)');
  }

  // Combinations, with transformers' messages where it has one.
  if (numBeams > 1 && numReturnSequences > numBeams) {
    p.push(`\`numReturnSequences\` (${numReturnSequences}) has to be smaller or equal to \`numBeams\` (${numBeams})`);
  }
  if (numBeams === 1 && !doSample && numReturnSequences > 1) {
    p.push(`greedy decoding (numBeams 1, doSample false) returns one sequence per input; \`numReturnSequences\` is ${numReturnSequences}`);
  }
  const outputScores = o.outputScores ?? false;
  if (typeof outputScores !== 'boolean') p.push(`\`outputScores\` must be a boolean (got ${String(outputScores)})`);
  const outputLogits = o.outputLogits ?? false;
  if (typeof outputLogits !== 'boolean') p.push(`\`outputLogits\` must be a boolean (got ${String(outputLogits)})`);
  if (numBeams > 1 && onToken !== undefined) {
    p.push('`onToken` streams greedy or sampled decoding only (beam search chooses its output at the end)');
  }
  if (options.minNewTokens === undefined && minLength > maxLength) p.push(`\`minLength\` (${minLength}) is larger than the maximum length (${maxLength})`);
  if (minNewTokens > maxLength - promptLen) p.push(`\`minNewTokens\` (${minNewTokens}) is larger than the new tokens allowed (${maxLength - promptLen})`);
  // `_validate_generated_length`: "Input length of decoder_input_ids is …, but `max_length` is set to …".
  if (promptLen > 1 && promptLen >= maxLength) {
    p.push(`Input length of decoderInputIds is ${promptLen} (the decoder start token included), but \`maxLength\` is set to ${maxLength}: nothing could be generated; increase \`maxLength\` or, better yet, set \`maxNewTokens\` (transformers raises too)`);
  }
  // `ExponentialDecayLengthPenalty(..., generation_config._eos_token_tensor, ...)`: `torch.tensor(None)` fails without EOS ids.
  if (more.exponentialDecayLengthPenalty && eosTokenIds.length === 0) p.push('`exponentialDecayLengthPenalty` raises the EOS score: it needs `eosTokenId`');

  if (p.length > 0) throw new GenerationOptionsError(p);

  // transformers: pad_token_id falls back to the first EOS id.
  const padTokenId = padOpt ?? eosTokenIds[0] ?? 0;
  const padForFill = padOpt ?? eosTokenIds[0];
  // `output_fill_value = pad_token_id or eos_token_id[0] if eos_token_id is not None else -1`: a pad id of 0 is
  // falsy in Python, so T5's beam outputs are filled with the EOS id.
  const first = eosTokenIds[0];
  const beamFillTokenId = first === undefined ? -1 : padForFill ? padForFill : first;
  return {
    maxLength, minLength, minNewTokens, decoderPromptLength: promptLen, numBeams, lengthPenalty, earlyStopping, numReturnSequences, doSample,
    temperature, topK, topP, repetitionPenalty, noRepeatNgramSize, eosTokenIds, padTokenId, beamFillTokenId,
    hasPadTokenId: padForFill !== undefined,
    decoderStartTokenId: decoderStartTokenId ?? 0, seed: seed as number | string | undefined,
    useCache: uc !== false, onToken: onToken as ResolvedOptions['onToken'], signal: signal as AbortSignal | undefined,
    stopStrings: Array.isArray(stopStrings) ? [...(stopStrings as string[])] : [], tokenizer, outputScores: outputScores === true, outputLogits: outputLogits === true,
    logitsProcessor, stoppingCriteria, prefixAllowedTokensFn: typeof patf === 'function' ? (patf as PrefixAllowedTokensFn) : undefined,
    minP, typicalP, epsilonCutoff, etaCutoff, suppressTokens, beginSuppressTokens, forcedBosTokenId, forcedEosTokenIds, ...more, ...assisted,
    // transformers drops the bad "words" that are a single EOS token.
    badWordsIds: badWordsIds.filter((w) => !(w.length === 1 && eosTokenIds.includes(w[0] as number))),
  };
}

/**
 * The keys of a Hugging Face `generation_config.json` that this package reads. Keys that would make
 * transformers generate differently and that this package does not implement (group beam search,
 * contrastive search, guidance, watermarking, …: see `unsupported-config.ts`) are refused when set;
 * the rest (output flags, cache settings, metadata) are ignored.
 */
export interface GenerationConfigJson {
  max_length?: number;
  max_new_tokens?: number | null;
  min_length?: number;
  min_new_tokens?: number | null;
  num_beams?: number;
  length_penalty?: number;
  early_stopping?: boolean | 'never';
  num_return_sequences?: number;
  do_sample?: boolean;
  temperature?: number | null;
  top_k?: number | null;
  top_p?: number | null;
  repetition_penalty?: number | null;
  no_repeat_ngram_size?: number | null;
  eos_token_id?: number | number[] | null;
  pad_token_id?: number | null;
  decoder_start_token_id?: number | null;
  min_p?: number | null;
  typical_p?: number | null;
  epsilon_cutoff?: number | null;
  eta_cutoff?: number | null;
  bad_words_ids?: number[][] | null;
  suppress_tokens?: number[] | null;
  begin_suppress_tokens?: number[] | null;
  forced_bos_token_id?: number | null;
  forced_eos_token_id?: number | number[] | null;
  encoder_repetition_penalty?: number | null;
  encoder_no_repeat_ngram_size?: number | null;
  /** transformers' list form: `[[token ids], bias]` pairs. */
  sequence_bias?: Array<[number[], number]> | null;
  /** `[start_index, decay_factor]`. */
  exponential_decay_length_penalty?: [number, number] | null;
  renormalize_logits?: boolean | null;
  /** A string or a list of them; needs a tokenizer (`generateText` / `streamText` pass theirs). */
  stop_strings?: string | string[] | null;
  /** Assisted decoding by prompt lookup (`PromptLookupCandidateGenerator`). */
  prompt_lookup_num_tokens?: number | null;
  max_matching_ngram_size?: number | null;
  /** Assistant settings (transformers reads them from the assistant's own generation config). */
  num_assistant_tokens?: number | null;
  /** "constant", "heuristic" or "heuristic_transient". */
  num_assistant_tokens_schedule?: string | null;
  assistant_confidence_threshold?: number | null;
  [key: string]: unknown;
}

const FROM_CONFIG: Array<[keyof GenerationConfigJson & string, keyof GenerateOptions]> = [
  ['max_length', 'maxLength'], ['max_new_tokens', 'maxNewTokens'], ['min_length', 'minLength'],
  ['min_new_tokens', 'minNewTokens'], ['num_beams', 'numBeams'], ['length_penalty', 'lengthPenalty'],
  ['early_stopping', 'earlyStopping'], ['num_return_sequences', 'numReturnSequences'], ['do_sample', 'doSample'],
  ['temperature', 'temperature'], ['top_k', 'topK'], ['top_p', 'topP'], ['repetition_penalty', 'repetitionPenalty'],
  ['no_repeat_ngram_size', 'noRepeatNgramSize'], ['eos_token_id', 'eosTokenId'], ['pad_token_id', 'padTokenId'],
  ['decoder_start_token_id', 'decoderStartTokenId'], ['min_p', 'minP'], ['typical_p', 'typicalP'],
  ['epsilon_cutoff', 'epsilonCutoff'], ['eta_cutoff', 'etaCutoff'], ['bad_words_ids', 'badWordsIds'],
  ['suppress_tokens', 'suppressTokens'], ['begin_suppress_tokens', 'beginSuppressTokens'],
  ['forced_bos_token_id', 'forcedBosTokenId'], ['forced_eos_token_id', 'forcedEosTokenId'],
  ['encoder_repetition_penalty', 'encoderRepetitionPenalty'], ['encoder_no_repeat_ngram_size', 'encoderNoRepeatNgramSize'],
  ['sequence_bias', 'sequenceBias'], ['exponential_decay_length_penalty', 'exponentialDecayLengthPenalty'],
  ['renormalize_logits', 'renormalizeLogits'], ['stop_strings', 'stopStrings'],
  ['prompt_lookup_num_tokens', 'promptLookupNumTokens'], ['max_matching_ngram_size', 'maxMatchingNgramSize'],
  ['num_assistant_tokens', 'numAssistantTokens'], ['num_assistant_tokens_schedule', 'numAssistantTokensSchedule'],
  ['assistant_confidence_threshold', 'assistantConfidenceThreshold'],
];

/**
 * Generation options from a parsed `generation_config.json` (transformers' keys → camelCase; null and
 * absent keys are left out so transformers' defaults apply). Spread your own options over the result:
 * `generate(model, inputs, { ...generationOptionsFromConfig(json), maxNewTokens: 64 })`.
 *
 * @throws GenerationOptionsError naming every key that switches on a transformers feature this package
 * does not implement (e.g. `num_beam_groups: 2`, `guidance_scale: 1.5`, `watermarking_config`), since the
 * output would differ from transformers'. This is checked here, on the file, because those keys have no
 * option to carry them (and the check does not depend on what the caller's options later override).
 */
export function generationOptionsFromConfig(config: GenerationConfigJson): GenerateOptions {
  const wrong = notAnOptionsObject(config);
  if (wrong !== undefined || config === undefined) {
    throw new GenerationOptionsError([`generationOptionsFromConfig: config must be an object (a parsed generation_config.json), got ${wrong ?? 'undefined'}`]);
  }
  const unsupported = unsupportedConfigProblems(config);
  if (unsupported.length > 0) throw new GenerationOptionsError(unsupported);
  const out: Record<string, unknown> = {};
  for (const [key, name] of FROM_CONFIG) {
    const v = config[key];
    if (v === undefined || v === null) continue;
    // transformers' `stop_strings` may be one string.
    out[name] = key === 'stop_strings' && typeof v === 'string' ? [v] : deepCopy(v);
  }
  return out as GenerateOptions;
}

const deepCopy = (v: unknown): unknown => (Array.isArray(v) ? v.map(deepCopy) : v);

/**
 * The generation defaults a model carries (transformers: `model.generation_config`): its
 * `generationConfig` (a parsed `generation_config.json`) when it has one, else the generation keys
 * of its `config` (T5: `decoder_start_token_id`, `eos_token_id`, `pad_token_id`); `{}` for neither.
 */
export function modelGenerationDefaults(model: object): GenerateOptions {
  const m = model as { generationConfig?: unknown; config?: unknown };
  const wrong = m.generationConfig === null ? undefined : notAnOptionsObject(m.generationConfig);
  if (wrong !== undefined) throw new GenerationOptionsError([`the model's generationConfig must be an object (a parsed generation_config.json), got ${wrong}`]);
  const source = isObject(m.generationConfig) ? m.generationConfig : isObject(m.config) ? m.config : null;
  return source ? generationOptionsFromConfig(source as GenerationConfigJson) : {};
}

/** `options` over the model's defaults ({@link modelGenerationDefaults}); options set to `undefined` do not erase a default. */
export function withModelDefaults(model: object, options: GenerateOptions): GenerateOptions {
  checkOptionsObject('withModelDefaults', options);
  const out: Record<string, unknown> = { ...modelGenerationDefaults(model) };
  for (const [k, v] of Object.entries(options ?? {})) if (v !== undefined) out[k] = v;
  return out as GenerateOptions;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
