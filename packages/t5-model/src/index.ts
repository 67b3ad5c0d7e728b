export { T5ForConditionalGeneration } from './model.js';
export type {
  FromConfigOptions,
  FromPretrainedOptions,
  T5Batch,
  T5DecoderCache,
  T5EncoderState,
  T5ForwardInputs,
  T5ForwardOutput,
  T5ModelOptions,
} from './model.js';
export { T5EncoderModel, type T5EncoderForwardInputs, type T5EncoderOutput } from './encoder-model.js';
export { parseT5Config, t5ConfigToJSON, T5ConfigError, T5_ACTIVATIONS, type T5Activation, type T5Config } from './config.js';
export { loadGenerationConfig, loadT5Config, T5CheckpointError } from './load.js';
export { savePretrained, type SavableT5Model, type SavePretrainedOptions } from './save.js';
export { downloadPretrained, isHubId, wantedFile, countingFetch, isFileBody, type ByteProgress, type DownloadPretrainedOptions } from './hub.js';
export { Float32Linear, float32LinearFactory } from './linear.js';
export { expectedTensors, OPTIONAL_TENSORS, type ExpectedTensor, type T5StackName } from './weights.js';
export {
  T5Attention,
  T5Block,
  T5DenseActDense,
  T5DenseGatedActDense,
  T5LayerCrossAttention,
  T5LayerFF,
  T5LayerNorm,
  T5LayerSelfAttention,
  relativePositionBucket,
  type KV,
  type LayerCache,
} from './modules.js';
export { T5Stack, trainableVariablesIn, randomStatefulIn, type RandomStateful } from './stack.js';
export { T5Embedding, T5LMHead } from './head.js';
export type { Linear, LinearFactory, LinearHost, LinearSpec, Seq2Seq, WeightData } from './interfaces.js';
export { setAttentionMatMul, getAttentionMatMul, type AttentionMatMulMode } from './attention-matmul.js';
export { rmsNorm, rmsNormOps, registerRmsNormKernels, RMS_NORM, RMS_NORM_GRAD } from './rms-norm.js';
