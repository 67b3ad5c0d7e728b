/**
 * Options-argument problems: the shared source in the repository's internal/ folder (bundled into this package's
 * dist). This package throws `Error` for bad arguments; each caller words its problems with these helpers.
 */
export * from '../../../internal/unknown-options.js';
