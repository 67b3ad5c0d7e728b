import { type DollyRecord, originalPrompt } from '@conifer/dolly-data';

/** The source text of a record in the original project's format (instruction + "\n" + context). */
export function sourceText(record: DollyRecord): string {
  return originalPrompt(record).source;
}
