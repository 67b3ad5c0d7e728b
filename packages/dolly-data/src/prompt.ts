import type { DollyRecord } from './record';

/** A record turned into model text: the encoder input and the decoder target. */
export interface PromptPair {
  source: string;
  target: string;
}

/**
 * A template with `{instruction}`, `{context}`, `{response}` and `{category}` placeholders
 * (`{{` and `}}` give literal braces).
 */
export interface PromptTemplate {
  /** The source text for records with a context. */
  source: string;
  /** The source text for records whose context is empty (default: `source`). */
  sourceNoContext?: string;
  /** The target text (default: `'{response}'`). */
  target?: string;
}

/** The original project's format, a template, or any function. */
export type PromptFormat = 'original' | PromptTemplate | ((record: DollyRecord) => PromptPair);

/**
 * The original project's format: source `instruction + "\n" + context`, target `response`.
 * For an empty context the source ends in `"\n"`, which the T5 normalizer strips, so its ids
 * equal those of the bare instruction.
 */
export function originalPrompt(record: DollyRecord): PromptPair {
  return { source: `${record.instruction}\n${record.context}`, target: record.response };
}

/** The Stanford Alpaca template: its own intro when there is a context, `### Input:` for it; the target is the bare response. */
export const ALPACA_TEMPLATE: PromptTemplate = {
  source:
    'Below is an instruction that describes a task, paired with an input that provides further context. ' +
    'Write a response that appropriately completes the request.\n\n' +
    '### Instruction:\n{instruction}\n\n### Input:\n{context}\n\n### Response:\n',
  sourceNoContext:
    'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n' +
    '### Instruction:\n{instruction}\n\n### Response:\n',
  target: '{response}',
};

/**
 * Databricks Dolly's training format (`training/consts.py` of databrickslabs/dolly): one intro
 * for both cases, `### Instruction:`, the context under a plain `Input:` line, and
 * `### Response:`. Its training text goes on with the response, a blank line and `### End`;
 * here the source ends after `### Response:\n` (Dolly's generation prompt) and the target is
 * `{response}\n\n### End`, so a model learns to write the end key (stop generating at it).
 * For the bare response, use `{ ...DOLLY_TEMPLATE, target: '{response}' }`.
 */
export const DOLLY_TEMPLATE: PromptTemplate = {
  source:
    'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n' +
    '### Instruction:\n{instruction}\n\nInput:\n{context}\n\n### Response:\n',
  sourceNoContext:
    'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n' +
    '### Instruction:\n{instruction}\n\n### Response:\n',
  target: '{response}\n\n### End',
};

const PLACEHOLDER = /\{\{|\}\}|\{([^{}]*)\}/g;
const KEYS = new Set(['instruction', 'context', 'response', 'category']);

/** Checks a template string and returns a function that fills it. */
function compile(template: string): (r: DollyRecord) => string {
  let literalFrom = 0;
  for (const m of template.matchAll(PLACEHOLDER)) {
    checkNoLoneBrace(template, literalFrom, m.index);
    literalFrom = m.index + m[0].length;
    const key = m[1];
    if (key !== undefined && !KEYS.has(key)) {
      throw new Error(`prompt template: unknown placeholder {${key}} (use {instruction}, {context}, {response}, {category}; {{ and }} for braces)`);
    }
  }
  checkNoLoneBrace(template, literalFrom, template.length);
  return (r) =>
    template.replace(PLACEHOLDER, (all, key: string | undefined) =>
      key === undefined ? all[0]! : r[key as keyof DollyRecord],
    );
}

/**
 * A `{` or `}` outside a placeholder and not doubled is an error, as in Python's `str.format`: a typo
 * such as `{instruction` would otherwise reach the model as literal text.
 */
function checkNoLoneBrace(template: string, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    const c = template[i];
    if (c === '{' || c === '}') {
      throw new Error(`prompt template: a lone "${c}" at character ${i + 1} of ${JSON.stringify(template.length > 80 ? `${template.slice(0, 80)}…` : template)} (placeholders are {instruction}, {context}, {response}, {category}; write ${c}${c} for a literal brace)`);
    }
  }
}

/** Turns a {@link PromptFormat} into a function from record to source/target text. */
export function promptFormatter(format: PromptFormat = 'original'): (record: DollyRecord) => PromptPair {
  if (format === 'original') return originalPrompt;
  if (typeof format === 'function') return format;
  const withContext = compile(format.source);
  const noContext = compile(format.sourceNoContext ?? format.source);
  const target = compile(format.target ?? '{response}');
  return (r) => ({ source: (r.context.length > 0 ? withContext : noContext)(r), target: target(r) });
}
