export { DOLLY_CATEGORIES, DOLLY_FIELDS, type DollyField, type DollyRecord, type FieldMap } from './record';
export { DollyFormatError } from './errors';
export { parseDollyLine } from './parse-line';
export { loadDolly, parseDolly, readDolly, type ReadDollyOptions } from './read-dolly';
export { splitLines } from './line-ends';
export { DOLLY_HUB_FILE, DOLLY_HUB_REPO, downloadDolly, hubCachePath, readDollyFromHub, type HubDollyOptions } from './hub';
export { bundledDollyPath, bundledTokenizerDir } from './bundled';
export { ALPACA_TEMPLATE, DOLLY_TEMPLATE, originalPrompt, promptFormatter, type PromptFormat, type PromptPair, type PromptTemplate } from './prompt';
export { loadT5Tokenizer, T5Tokenizer, type DecodeOptions, type TextTokenizer, type TokenizerOptions } from './tokenizer';
export { encodeRecord, encodeRecords, makeEncoder, truncateIds, type EncodedExample, type EncodeOptions } from './encode';
export { makeRng, permutation, shuffleInPlace, type Rng } from './rng';
export { pick, splitIndices, type Split, type SplitOptions } from './split';
export {
  fixedBatchPlan,
  paddingStats,
  tokenBudgetPlan,
  type BatchPlan,
  type ExampleLength,
  type FixedBatchOptions,
  type PaddingStats,
  type PaddingStatsOptions,
  type TokenBudgetOptions,
} from './plan';
export { collate, IGNORE_INDEX, roundUp, type Batch, type CollateOptions } from './batch';
export { BatchSampler, type Batching, type BatchSamplerOptions, type Cursor, type SampledBatch } from './sampler';
export { datasetStats, lengthStats, percentile, type DatasetStats, type DatasetStatsOptions, type LengthStats } from './stats';
