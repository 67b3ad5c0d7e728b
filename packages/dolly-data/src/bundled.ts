import { fileURLToPath } from 'node:url';

/*
 * The data folder sits beside `src/` and `dist/`, one level above this module in both the
 * sources (vitest, tsx) and the builds (tsup shims `import.meta.url` in the CommonJS build).
 */
const dataDir = (): string => fileURLToPath(new URL('../data/', import.meta.url));

/** The folder holding the bundled T5 tokenizer (`tokenizer.json`, `tokenizer_config.json`). */
export function bundledTokenizerDir(): string {
  return `${dataDir()}t5-tokenizer`;
}

/** The bundled `databricks-dolly-15k.jsonl` (CC BY-SA 3.0, final 2023-05-04 revision). */
export function bundledDollyPath(): string {
  return `${dataDir()}dolly/databricks-dolly-15k.jsonl`;
}
