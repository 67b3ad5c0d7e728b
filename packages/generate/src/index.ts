export { generate, streamGenerate } from './generate.js';
export { generateText, streamText, generatedTokens } from './text.js';
export { TextStreamer } from './text-streamer.js';
export { generationOptionsWarnings } from './generation-warnings.js';
export {
  generationOptionsFromConfig,
  modelGenerationDefaults,
  withModelDefaults,
  resolveOptions,
  GenerationOptionsError,
  type GenerationConfigJson,
  type ResolvedOptions,
} from './options.js';
export {
  repetitionPenalty,
  noRepeatNgram,
  minLength,
  minNewTokens,
  temperature,
  topK,
  topP,
  minP,
  typicalP,
  epsilonCutoff,
  etaCutoff,
  noBadWords,
  forceTokens,
  suppress,
  softmax,
  logSoftmax,
  argmax,
  processScores,
  prefixAllowedTokens,
  type ProcessorOptions,
  type PrefixAllowedTokensFn,
} from './logits-process.js';
export type { LogitsProcessorFn, LogitsProcessorStep, StoppingCriterionFn } from './user-processors.js';
export { computeTransitionScores } from './transition-scores.js';
export { encoderRepetitionPenalty, encoderNoRepeatNgram } from './encoder-processors.js';
export { sequenceBias, sequenceBiasEntries, type SequenceBiasEntry } from './sequence-bias.js';
export { exponentialDecayLengthPenalty } from './length-decay.js';
export { topKIndices } from './beam-search.js';
export type { Seq2Seq, TextTokenizer, TextDecodeOptions, TextGenerateOptions, GenerateInputs, GenerateOptions, GenerateOutput } from './types.js';
