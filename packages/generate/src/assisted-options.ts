import type { Seq2Seq } from './types.js';

/** The resolved options of assisted decoding (`assistantModel`, `promptLookupNumTokens`). */
export interface AssistedOptions {
  /** The draft model; undefined = no assistant. */
  assistantModel: Seq2Seq | undefined;
  numAssistantTokens: number;
  numAssistantTokensSchedule: 'constant' | 'heuristic' | 'heuristic_transient';
  /** 0 = off. */
  assistantConfidenceThreshold: number;
  /** undefined = no prompt lookup. */
  promptLookupNumTokens: number | undefined;
  maxMatchingNgramSize: number;
}

const SCHEDULES = ['constant', 'heuristic', 'heuristic_transient'] as const;
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const SEQ2SEQ_METHODS = ['encode', 'decodeStep', 'cropCache', 'disposeCache', 'disposeEncoder'] as const;

/**
 * Reads and checks the assisted-decoding options of `o`, one message per problem pushed to `p`. Defaults are
 * transformers 5's (`GenerationConfig._get_default_generation_params`: `num_assistant_tokens` 20,
 * `num_assistant_tokens_schedule` "constant", `assistant_confidence_threshold` 0.4; `max_matching_ngram_size` 2,
 * `PromptLookupCandidateGenerator`'s default). As in transformers (`AssistedCandidateGenerator.__init__` reads them
 * from `assistant_model.generation_config`), the assistant's own `generationConfig` gives the three assistant
 * settings when the options do not. `PromptLookupCandidateGenerator` raises "Invalid max_matching_ngram_size or
 * num_output_tokens" for values ≤ 0: refused here.
 */
export function resolveAssistedOptions(o: Record<string, unknown>, p: string[]): AssistedOptions {
  const assistant = o.assistantModel;
  let assistantModel: Seq2Seq | undefined;
  if (assistant !== undefined) {
    const missing = typeof assistant === 'object' && assistant !== null
      ? SEQ2SEQ_METHODS.filter((m) => typeof (assistant as Record<string, unknown>)[m] !== 'function')
      : [...SEQ2SEQ_METHODS];
    if (missing.length > 0) {
      p.push(`\`assistantModel\` must be a Seq2Seq model with ${missing.map((m) => `\`${m}\``).join(', ')} (assisted decoding crops its cache when candidates are rejected)`);
    } else assistantModel = assistant as Seq2Seq;
  }
  const cfg = (assistantModel as { generationConfig?: Record<string, unknown> | null } | undefined)?.generationConfig ?? {};
  const pick = (name: string, key: string): unknown => (o[name] !== undefined ? o[name] : cfg[key] ?? undefined);

  // Each option's valid value (undefined = not given or invalid), tested once: reported when given but invalid.
  const nat = pick('numAssistantTokens', 'num_assistant_tokens');
  const natValid = isInt(nat) && nat >= 0 ? nat : undefined;
  if (nat !== undefined && natValid === undefined) p.push(`\`numAssistantTokens\` must be an integer ≥ 0 (got ${String(nat)})`);
  const sched = pick('numAssistantTokensSchedule', 'num_assistant_tokens_schedule');
  const schedValid = SCHEDULES.find((s) => s === sched);
  if (sched !== undefined && schedValid === undefined) {
    p.push(`\`numAssistantTokensSchedule\` must be "constant", "heuristic" or "heuristic_transient" (got ${JSON.stringify(sched)})`);
  }
  const act = pick('assistantConfidenceThreshold', 'assistant_confidence_threshold');
  const actValid = isNum(act) && act >= 0 && act <= 1 ? act : undefined;
  if (act !== undefined && actValid === undefined) p.push(`\`assistantConfidenceThreshold\` must be a number in [0, 1] (got ${String(act)})`);
  const plt = o.promptLookupNumTokens;
  const pltValid = isInt(plt) && plt >= 1 ? plt : undefined;
  if (plt !== undefined && pltValid === undefined) p.push(`\`promptLookupNumTokens\` must be an integer ≥ 1 (got ${String(plt)})`);
  const mmn = o.maxMatchingNgramSize;
  const mmnValid = isInt(mmn) && mmn >= 1 ? mmn : undefined;
  if (mmn !== undefined && mmnValid === undefined) p.push(`\`maxMatchingNgramSize\` must be an integer ≥ 1 (got ${String(mmn)})`);
  if (assistant !== undefined && plt !== undefined) {
    p.push('set either `assistantModel` or `promptLookupNumTokens`, not both (transformers would silently use prompt lookup and ignore the assistant)');
  }
  return {
    assistantModel,
    numAssistantTokens: natValid ?? 20,
    numAssistantTokensSchedule: schedValid ?? 'constant',
    assistantConfidenceThreshold: actValid ?? 0.4,
    promptLookupNumTokens: pltValid,
    maxMatchingNgramSize: mmnValid ?? 2,
  };
}

/** Whether these options ask for assisted decoding (transformers' `GenerationMode.ASSISTED_GENERATION`). */
export const isAssisted = (o: AssistedOptions): boolean => o.assistantModel !== undefined || o.promptLookupNumTokens !== undefined;

/**
 * What assisted decoding cannot do, with transformers' messages where it has one (`_validate_generation_mode`,
 * `_assisted_decoding`): one prompt, one returned sequence, greedy or sampling (transformers 5 only warns and
 * ignores the assistant with beams; refused here rather than ignored), the cache on, and `cropCache` on the model.
 */
export function assistedProblems(
  o: AssistedOptions & { numBeams: number; numReturnSequences: number; useCache: boolean; doSample: boolean },
  model: object,
  batch: number,
): string[] {
  if (!isAssisted(o)) return [];
  const what = o.assistantModel ? '`assistantModel`' : '`promptLookupNumTokens`';
  const p: string[] = [];
  if (o.numBeams !== 1) p.push(`assisted decoding (${what}) is only supported with greedy search and sampling: \`numBeams\` must be 1 (got ${o.numBeams})`);
  if (o.numReturnSequences !== 1) p.push(`num_return_sequences has to be 1 when doing assisted generate, but is ${o.numReturnSequences} (\`numReturnSequences\`)`);
  if (batch !== 1) p.push(`assisted generate is only supported for batch_size = 1 (${what}; got ${batch} prompts)`);
  if (!o.useCache) p.push(`assisted generate requires \`useCache: true\` (${what})`);
  if (typeof (model as { cropCache?: unknown }).cropCache !== 'function') {
    p.push(`${what} needs \`cropCache(cache, length)\` on the model (transformers' \`DynamicCache.crop\`) to drop rejected candidate tokens`);
  }
  if (o.assistantModel) {
    const vt = vocabSize(model);
    const va = vocabSize(o.assistantModel);
    if (vt !== undefined && va !== undefined && vt !== va) {
      p.push(`\`assistantModel\` has a vocabulary of ${va} tokens and the model ${vt}: assisted decoding needs the same vocabulary (transformers' universal assisted decoding with two tokenizers is not implemented)`);
    }
  }
  return p;
}

/** `config.vocab_size` when the model has one. */
function vocabSize(model: object): number | undefined {
  const v = (model as { config?: { vocab_size?: unknown } }).config?.vocab_size;
  return isInt(v) ? v : undefined;
}
