/**
 * Shared source, bundled into each package that imports it (tsup inlines it: no runtime package, each published
 * package stands alone). Imported by @conifer/dolly-data, @conifer/int8 and @conifer/t5-model as
 * `../../../internal/unknown-options.js`.
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
  const names = Object.keys(known);
  const aliased = new Map(Object.entries(aliases).map(([k, v]) => [folded(k), v]));
  const o = options as Record<string, unknown>;
  return Object.keys(o)
    .filter((key) => o[key] !== undefined && !Object.hasOwn(known, key))
    .map((key) => {
      const near = aliased.get(folded(key)) ?? suggestOption(key, names);
      return near === undefined ? `\`${key}\`` : `\`${key}\` (did you mean \`${near}\`?)`;
    });
}

/**
 * Throws one error naming every unknown key of `options` (`where: unknown option `max_source_length` (did you
 * mean `maxSourceLength`?)`); a key set to `undefined` counts as absent. A non-object `options` is left to the caller.
 * `aliases`: see {@link unknownOptionProblems}.
 */
export function checkOptions(
  where: string,
  options: unknown,
  known: Readonly<Record<string, true>>,
  aliases: Readonly<Record<string, string>> = {},
  makeError: (message: string) => Error,
): void {
  if (typeof options !== 'object' || options === null) return;
  const problems = unknownOptionProblems(options, known, aliases);
  if (problems.length > 0) throw makeError(`${where}: unknown option${problems.length === 1 ? '' : 's'} ${problems.join(', ')}`);
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
