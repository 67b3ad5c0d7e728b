/**
 * Options-argument problems: the shared source in the repository's internal/ folder (bundled into this package's
 * dist). `train()` lists its problems in one RangeError (`option-problems.ts`).
 */
export * from '../../../internal/unknown-options.js';
