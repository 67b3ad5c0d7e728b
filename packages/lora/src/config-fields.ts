/**
 * Names of config fields: which keys of a config are not among the known ones, and which known field a
 * misspelled one probably meant (the near-miss search is internal/unknown-options.ts, shared with dolly-data, int8 and
 * t5-model). Pure; the known names come from `peftLoraDefaults()` (see `config.ts`).
 */

import { editDistance, suggestOption } from './unknown-options.js';

export { editDistance };

/**
 * The known field `key` probably meant, or undefined: the shared `suggestOption` (internal/, bundled): the same name in
 * camelCase (or another case / separator), or one at most 2 edits away that is not just a shorter field rewritten.
 */
export const suggestField = suggestOption;

/** The keys of `input` that are not in `known`, in `input`'s order. */
export function unknownFields(input: object, known: readonly string[]): string[] {
  const set = new Set(known);
  return Object.keys(input).filter((k) => !set.has(k));
}

/** `lora_alhpa (did you mean lora_alpha?)`, or the bare key when nothing is near. */
export function describeUnknownField(key: string, known: readonly string[]): string {
  const near = suggestField(key, known);
  return near === undefined ? key : `${key} (did you mean ${near}?)`;
}

/**
 * On a config read from `adapter_config.json`: the file's fields PEFT's `LoraConfig` lacks. An enumerable symbol
 * property, so `{ ...lora.config, r: 4 }` carries it and those fields pass the check of a config given in code (PEFT,
 * which drops them on load, would take its loaded config back), while JSON never writes it.
 */
export const FILE_FIELDS: unique symbol = Symbol.for('@conifer/lora.fileFields') as never;

/** The fields a config read from a file brought along ({@link FILE_FIELDS}), or none. */
export function fileFields(config: object): readonly string[] {
  const v = (config as { [FILE_FIELDS]?: unknown })[FILE_FIELDS];
  return Array.isArray(v) ? (v as string[]) : [];
}
