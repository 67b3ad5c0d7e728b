import { GenerationOptionsError, optionKeyProblems, TEXT_GENERATE_OPTIONS, withModelDefaults } from './options.js';
import type { GenerateOptions, TextGenerateOptions } from './types.js';

/** Options read only when sampling, and the value that leaves each without effect (`undefined`: any value warns). */
const SAMPLING_ONLY: Array<[keyof GenerateOptions, number | undefined]> = [
  ['temperature', 1], ['topP', 1], ['minP', undefined], ['typicalP', 1], ['topK', 50], ['epsilonCutoff', 0], ['etaCutoff', 0],
];
/** Options read only by beam search, and the value that leaves each without effect. */
const BEAM_ONLY: Array<[keyof GenerateOptions, boolean | number]> = [['earlyStopping', false], ['lengthPenalty', 1]];

/**
 * The "minor issues" transformers' `GenerationConfig.validate()` warns about (transformers 5,
 * src/transformers/generation/configuration_utils.py, steps 2.1 and 2.2; `generate` validates the merged
 * config), for these options, in its words with this package's option names. Nothing is printed: show them as
 * you like. Empty when there is nothing to say.
 *
 * - A sampling-only option (`temperature` ≠ 1, `topP` ≠ 1, `minP` set, `typicalP` ≠ 1, `topK` ≠ 50, `epsilonCutoff` ≠ 0,
 *   `etaCutoff` ≠ 0) while `doSample` is not `true`: greedy and beam search ignore it.
 * - A beam-only option (`earlyStopping` other than `false`, `lengthPenalty` ≠ 1) while `numBeams` is 1: greedy and
 *   sampling ignore it.
 *
 * What `validate()` raises for (`earlyStopping` not a boolean or "never", `maxNewTokens` ≤ 0, `numReturnSequences` > 1
 * when greedy or > `numBeams`) `generate` refuses too (a `GenerationOptionsError`), and a negative `padTokenId`, which
 * `validate()` only warns about, is refused there as well; `validate()`'s other warnings concern settings this package
 * has no option for (`top_h`, `cache_implementation` / `cache_config` without the cache, `return_dict_in_generate`).
 *
 * @throws GenerationOptionsError for keys `generate` (or `generateText`) does not know, or options that are not an object.
 * @param model when given, its generation defaults (`generationConfig`, else `config`) under `options`, as `generate`
 * merges them; so a checkpoint's generation_config.json that sets `temperature` without `do_sample` warns too.
 */
export function generationOptionsWarnings(options: TextGenerateOptions, model?: object): string[] {
  const problems = optionKeyProblems('generationOptionsWarnings', options, TEXT_GENERATE_OPTIONS);
  // named, as generate's own errors are not: this is not a generate call
  if (problems.length > 0) throw new GenerationOptionsError(problems.map((p) => (p.startsWith('generationOptionsWarnings: ') ? p : `generationOptionsWarnings: ${p}`)));
  options ??= {};
  const o = (model ? withModelDefaults(model, options) : options) as Record<string, unknown>;
  const out: string[] = [];
  // 2.1: `if self.do_sample is not True` (a missing doSample is greedy).
  if (o.doSample !== true) {
    for (const [name, neutral] of SAMPLING_ONLY) {
      const v = o[name];
      if (v === undefined || v === null || v === neutral) continue;
      out.push(`\`doSample\` is not set to \`true\`. However, \`${name}\` is set to \`${String(v)}\` -- this flag is only used in sample-based generation modes. You should set \`doSample: true\` or unset \`${name}\`.`);
    }
  }
  // 2.2: `if self.num_beams is None or self.num_beams == 1`.
  if ((o.numBeams ?? 1) === 1) {
    for (const [name, neutral] of BEAM_ONLY) {
      const v = o[name];
      if (v === undefined || v === null || v === neutral) continue;
      out.push(`\`numBeams\` is set to 1. However, \`${name}\` is set to \`${String(v)}\` -- this flag is only used in beam-based generation modes. You should set \`numBeams > 1\` or unset \`${name}\`.`);
    }
  }
  return out;
}
