/**
 * Dolly's token lengths under each `--prompt-template`, counted the way `train` encodes the splits
 * (pipeline/data.ts' `prepareData`: `@conifer/dolly-data`'s `encodeRecords` with `promptFormat(template)`,
 * `</s>` included), and the 100 quantiles `--dry-run`'s plan reads (src/dolly-length-quantiles.ts, written by
 * scripts/dolly-lengths.ts from these functions; test/dolly-length-quantiles.test.ts recomputes them).
 */
import { encodeRecords, type DollyRecord, type TextTokenizer } from '@conifer/dolly-data';
import { PROMPT_TEMPLATES, type PromptTemplateName } from './options.js';
import { promptFormat } from './pipeline/prompts.js';

/** Source (prompt) and target (response) token counts, one per record, or their quantiles. */
export interface PromptResponseLengths {
  prompt: readonly number[];
  response: readonly number[];
}

/**
 * `n` quantiles of `lengths`: the i-th is the sorted value at rank ⌊(i + 0.5)·N / n⌋ (the value at (i + 0.5) %
 * for n = 100), so each stands for 1/n of the records.
 */
export function lengthQuantiles(lengths: readonly number[], n = 100): number[] {
  if (lengths.length === 0) throw new RangeError('lengthQuantiles: no lengths');
  const sorted = [...lengths].sort((a, b) => a - b);
  return Array.from({ length: n }, (_, i) => sorted[Math.floor(((i + 0.5) * sorted.length) / n)]!);
}

/** Each record's full (untruncated) source and target length in `template`, as `train` encodes it. */
export function dollyTokenLengths(records: readonly DollyRecord[], tokenizer: TextTokenizer, template: PromptTemplateName): PromptResponseLengths {
  const examples = encodeRecords(records, tokenizer, { format: promptFormat(template) });
  return { prompt: examples.map((e) => e.fullSourceLength), response: examples.map((e) => e.fullTargetLength) };
}

/** {@link dollyTokenLengths} for every prompt template. */
export function dollyLengthsByTemplate(records: readonly DollyRecord[], tokenizer: TextTokenizer): Record<PromptTemplateName, PromptResponseLengths> {
  return Object.fromEntries(PROMPT_TEMPLATES.map((t) => [t, dollyTokenLengths(records, tokenizer, t)])) as Record<PromptTemplateName, PromptResponseLengths>;
}

/** {@link lengthQuantiles} of each template's lengths (e.g. {@link dollyLengthsByTemplate}'s). */
export function quantilesByTemplate(lengths: Record<PromptTemplateName, PromptResponseLengths>): Record<PromptTemplateName, PromptResponseLengths> {
  const out = {} as Record<PromptTemplateName, PromptResponseLengths>;
  for (const t of PROMPT_TEMPLATES) out[t] = { prompt: lengthQuantiles(lengths[t].prompt), response: lengthQuantiles(lengths[t].response) };
  return out;
}

/** {@link lengthQuantiles} of {@link dollyTokenLengths} for every prompt template. */
export function dollyLengthQuantiles(records: readonly DollyRecord[], tokenizer: TextTokenizer): Record<PromptTemplateName, PromptResponseLengths> {
  return quantilesByTemplate(dollyLengthsByTemplate(records, tokenizer));
}
