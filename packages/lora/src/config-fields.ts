/**
 * Names of config fields: which keys of a config are not among the known ones, and which known field a
 * misspelled one probably meant. Pure; the known names come from `peftLoraDefaults()` (see `config.ts`).
 */

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours cost 1. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** `loraAlpha`, `Lora-Alpha`, `LORA_ALPHA` → `loraalpha`: the spelling without case and separators. */
const folded = (s: string) => s.toLowerCase().replace(/[-_]/g, '');

/**
 * The known field `key` probably meant, or undefined: the same name in camelCase (or another case / separator),
 * or one at most 2 edits away (a swap of neighbours is one edit) that is not just a shorter field rewritten.
 * The nearest wins; among equals, the first in `known`.
 */
export function suggestField(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const field of known) {
    const d = folded(key) === folded(field) ? 0 : editDistance(key, field);
    if (d <= 2 && d < field.length && d < bestDistance) {
      best = field;
      bestDistance = d;
    }
  }
  return best;
}

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
