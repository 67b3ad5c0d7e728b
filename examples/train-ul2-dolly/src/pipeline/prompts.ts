import { ALPACA_TEMPLATE, DOLLY_TEMPLATE, type DollyRecord, type PromptFormat, promptFormatter } from '@conifer/dolly-data';
import type { PromptTemplateName } from '../options.js';

/** `--prompt-template` → `@conifer/dolly-data`'s prompt format (`original`: the original project's). */
export function promptFormat(template: PromptTemplateName = 'original'): PromptFormat {
  switch (template) {
    case 'original':
      return 'original';
    case 'dolly':
      return DOLLY_TEMPLATE;
    case 'alpaca':
      return ALPACA_TEMPLATE;
  }
}

/**
 * The source text of a record in `template` (default: the original project's format, instruction + "\n" + context):
 * what training encoded, so eval's and train's samples prompt the model as it was trained.
 */
export function sourceText(record: DollyRecord, template: PromptTemplateName = 'original'): string {
  return promptFormatter(promptFormat(template))(record).source;
}

/**
 * A raw `generate --prompt` in `template`: the text as the instruction of a record without context (the template's
 * no-context form; `original` gives the text itself, whose tokens equal `instruction + "\n"`'s).
 */
export function promptText(prompt: string, template: PromptTemplateName = 'original'): string {
  return template === 'original' ? prompt : sourceText({ instruction: prompt, context: '', response: '', category: '' }, template);
}

/**
 * How train's and eval's samples show a record: its instruction and, when it has one, its context after it, newlines
 * flattened, cut to `maxChars` — what identifies the example, whatever `--prompt-template` wraps it in (the dolly and
 * alpaca templates open with the same fixed intro, which would fill the line).
 */
export function samplePrompt(record: DollyRecord, maxChars: number): string {
  const text = record.context.length > 0 ? `${record.instruction}\n${record.context}` : record.instruction;
  return text.replace(/\n/g, ' ').slice(0, maxChars);
}
