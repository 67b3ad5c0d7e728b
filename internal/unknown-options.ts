/**
 * Shared source, bundled into each package that imports it (tsup inlines it: no runtime package, each published
 * package stands alone). Imported by @conifer/dolly-data, @conifer/int8, @conifer/t5-model, @conifer/generate,
 * @conifer/lora and @conifer/trainer (each through its src/unknown-options.ts) as `../../../internal/unknown-options.js`.
 *
 * Unknown option keys: a key of an options object that the function does not read (a transformers /
 * datasets snake_case name, a typo) is an error naming every such key, with the option it probably meant,
 * instead of a silent default. Each options type lists its keys once, as a `KnownOptions<T>`.
 */

/** Every key of an options type: a `Record` over its keys, so a new option fails typecheck until it is listed. */
export type KnownOptions<T> = Readonly<Record<keyof T, true>>;

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours cost 1. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** `max_source_length`, `Max-Source-Length`, `maxSourceLength` → `maxsourcelength`: the name without case and separators. */
const folded = (s: string): string => s.toLowerCase().replace(/[-_]/g, '');

/**
 * The known option `key` probably meant, or undefined: the same name in camelCase (or another case /
 * separator), else the nearest one at most 2 edits away (a swap of neighbours is one edit) that is longer
 * than the distance; among equals, the first listed.
 */
export function suggestOption(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of known) {
    const d = folded(key) === folded(name) ? 0 : editDistance(key, name);
    if (d <= 2 && d < name.length && d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * The unknown keys of `options` (own keys not set to `undefined`), each as `` `key` (did you mean `near`?) `` or
 * `` `key` ``. `aliases` maps other libraries' names whose option here is named differently
 * (`llm_int8_threshold` → `threshold`); they are matched in any case or separator.
 */
export function unknownOptionProblems(options: object, known: Readonly<Record<string, true>>, aliases: Readonly<Record<string, string>> = {}): string[] {
  return nestedOptionProblems('', options, known, aliases);
}

/**
 * {@link unknownOptionProblems} of an options object nested under `path` (`hub`, `tiles[0]`), each key and
 * suggestion named by its path — `` `hub.revison` (did you mean `hub.revision`?) `` —, to list with the outer
 * object's in one error. An empty `path`: the keys as they are.
 */
export function nestedOptionProblems(path: string, options: object, known: Readonly<Record<string, true>>, aliases: Readonly<Record<string, string>> = {}): string[] {
  const names = Object.keys(known);
  const aliased = new Map(Object.entries(aliases).map(([k, v]) => [folded(k), v]));
  const o = options as Record<string, unknown>;
  const at = (key: string) => `\`${path === '' ? '' : `${path}.`}${key}\``;
  return Object.keys(o)
    .filter((key) => o[key] !== undefined && !Object.hasOwn(known, key))
    .map((key) => {
      const near = aliased.get(folded(key)) ?? suggestOption(key, names);
      return near === undefined ? at(key) : `${at(key)} (did you mean ${at(near)}?)`;
    });
}

/** `` unknown option `a` `` or `` unknown options `a`, `b` `` for a non-empty list from {@link unknownOptionProblems}. */
export function unknownOptionsText(problems: readonly string[]): string {
  return `unknown option${problems.length === 1 ? '' : 's'} ${problems.join(', ')}`;
}

/**
 * Why `options` is not an options object (`a string "main"`, `null`, `an array`, `a function`), or undefined when
 * it is one (or `undefined`, i.e. absent).
 */
export function notAnOptionsObject(options: unknown): string | undefined {
  if (options === undefined || (typeof options === 'object' && options !== null && !Array.isArray(options))) return undefined;
  if (options === null) return 'null';
  if (Array.isArray(options)) return 'an array';
  if (typeof options === 'string') return `a string ${JSON.stringify(options)}`;
  return typeof options === 'function' ? 'a function' : `${typeof options} ${String(options)}`;
}

/**
 * A value as an error message shows it: strings quoted, `a function`, arrays and plain objects as JSON-like text,
 * numbers as JavaScript prints them (`NaN`, `Infinity`, also inside arrays), `undefined`.
 */
export function showValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'function') return 'a function';
  if (Array.isArray(v)) return `[${v.map(showValue).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    try {
      return JSON.stringify(v) ?? String(v);
    } catch {
      return String(v); // a cycle
    }
  }
  return String(v);
}

/** What is wrong with an options argument, nested objects included: unknown keys (as {@link unknownOptionProblems} words them) and bad values. */
export interface OptionProblems {
  unknown: string[];
  values: string[];
}

/**
 * One message for all of `problems` — `where: unknown options `a`, `b.c`; b.d must be …` —, or undefined when there
 * are none.
 */
export function optionProblemsMessage(where: string, { unknown, values }: OptionProblems): string | undefined {
  const parts = [...(unknown.length > 0 ? [unknownOptionsText(unknown)] : []), ...values];
  return parts.length > 0 ? `${where}: ${parts.join('; ')}` : undefined;
}

/** What an options argument is checked against by {@link optionsMessage}. */
export interface OptionsSpec {
  /** Its keys ({@link KnownOptions}). */
  known: Readonly<Record<string, true>>;
  /** Other libraries' names of its options: see {@link unknownOptionProblems}. */
  aliases?: Readonly<Record<string, string>>;
  /** The options must be given: what they hold (`{ r, loraAlpha, … }`), for the message when they are `undefined`. */
  required?: string;
  /** Adds the problems of nested objects (their keys by path, {@link nestedOptionProblems}) and of values to `p`. */
  more?: (options: Record<string, unknown>, p: OptionProblems) => void;
}

/**
 * The one message naming everything wrong with `options` — `where: options must be an object, got …` for a string,
 * null, an array or a function (instead of reading it as no options); else `where: unknown options …; <value
 * problems>` — or undefined when nothing is. `undefined` options are none (`{}`), unless `spec.required`.
 */
export function optionsMessage(where: string, options: unknown, spec: OptionsSpec): string | undefined {
  const wrong = notAnOptionsObject(options);
  if (wrong !== undefined) return `${where}: options must be an object, got ${wrong}`;
  if (options === undefined && spec.required !== undefined) return `${where}: options ${spec.required} are required, got undefined`;
  const o = (options ?? {}) as Record<string, unknown>;
  const p: OptionProblems = { unknown: unknownOptionProblems(o, spec.known, spec.aliases), values: [] };
  spec.more?.(o, p);
  return optionProblemsMessage(where, p);
}

/**
 * Throws one error naming every unknown key of `options` (`where: unknown option `max_source_length` (did you
 * mean `maxSourceLength`?)`); a key set to `undefined` counts as absent. `options` that is not an object (a string,
 * null, an array, a function) is that error too (`where: options must be an object, got a string "main"`), instead
 * of being read as no options. `aliases`: see {@link unknownOptionProblems}.
 */
export function checkOptions(
  where: string,
  options: unknown,
  known: Readonly<Record<string, true>>,
  aliases: Readonly<Record<string, string>> = {},
  makeError: (message: string) => Error,
): void {
  const message = optionsMessage(where, options, { known, aliases });
  if (message !== undefined) throw makeError(message);
}

/** {@link checkOptions} with a package's own error type for bad options as the default. */
export function optionsChecker(defaultError: new (message: string) => Error) {
  return (
    where: string,
    options: unknown,
    known: Readonly<Record<string, true>>,
    aliases: Readonly<Record<string, string>> = {},
    makeError: (message: string) => Error = (m) => new defaultError(m),
  ): void => checkOptions(where, options, known, aliases, makeError);
}
