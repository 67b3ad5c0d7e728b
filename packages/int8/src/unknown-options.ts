/**
 * Unknown option keys: the shared source in the repository's internal/ folder (bundled into this package's dist),
 * with this package's error type for bad options, Error, as the default.
 */
import { optionsChecker } from '../../../internal/unknown-options.js';

export { editDistance, suggestOption, unknownOptionProblems, type KnownOptions } from '../../../internal/unknown-options.js';

/** Throws one error naming every unknown key of `options`, with the option each probably meant. */
export const checkOptions = optionsChecker(Error);
