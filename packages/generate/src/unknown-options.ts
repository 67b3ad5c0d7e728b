/**
 * Unknown option keys: the shared source in the repository's internal/ folder (bundled into this package's dist). This
 * package's error for bad options is {@link GenerationOptionsError} (a list of problems), so each caller words its
 * problems with these helpers and throws that.
 */
export * from '../../../internal/unknown-options.js';
