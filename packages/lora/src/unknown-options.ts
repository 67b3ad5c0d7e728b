/**
 * Unknown option keys: the shared source in the repository's internal/ folder (bundled into this package's dist),
 * with this package's error type for bad arguments, Error, as the default.
 */
import { optionsChecker } from '../../../internal/unknown-options.js';

export * from '../../../internal/unknown-options.js';

/**
 * Throws one error naming every unknown key of `options`, with the option each probably meant; `options` that is not
 * an object (a string, null, an array) is that error too, instead of being read as no options.
 */
export const checkOptions = optionsChecker(Error);
