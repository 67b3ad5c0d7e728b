/**
 * The argument checks of transformers' warper and processor constructors, for the functions exported one by one
 * (`temperature(row, 0)` would otherwise divide by zero, `topK(row, 0)` keep one token). `generate` checks its
 * options before (`resolveOptions`) and calls these only with values that pass, so they never fire from there.
 */

/** Throws one RangeError naming the function, the argument and its value when `ok` is false. */
export function checkArg(fn: string, name: string, value: number, ok: boolean, rule: string): void {
  if (!ok) throw new RangeError(`${fn}: \`${name}\` must be ${rule} (got ${String(value)}), as transformers' ${TRANSFORMERS[fn] ?? fn} requires`);
}

const TRANSFORMERS: Readonly<Record<string, string>> = {
  temperature: 'TemperatureLogitsWarper',
  topK: 'TopKLogitsWarper',
  topP: 'TopPLogitsWarper',
  repetitionPenalty: 'RepetitionPenaltyLogitsProcessor',
};

/** `min_tokens_to_keep`: "has to be a non-negative integer" there, ≥ 1 in the warpers that check it. */
export function checkMinTokensToKeep(fn: string, n: number): void {
  checkArg(fn, 'minTokensToKeep', n, Number.isInteger(n) && n >= 1, 'an integer >= 1');
}
