export type { Linear, LinearHost } from './types.js';
export {
  type LoraConfig,
  type LoraConfigInput,
  type InitLoraWeights,
  LoraConfigError,
  PEFT_FORMAT_VERSION,
  T5_DEFAULT_TARGET_MODULES,
  loraScaling,
  peftLoraDefaults,
  resolveLoraConfig,
} from './config.js';
export { FloatLinear } from './float-linear.js';
export { LoraLinear, type LoraLinearOptions, peftKey } from './lora-linear.js';
export { DEFAULT_ADAPTER_NAME, LoraAdapter, type LoraAdapterOptions, adapterVariableName, magnitudeVariableName, peftMagnitudeKey } from './lora-adapter.js';
export { LoraModel } from './lora-model.js';
export type { DoraWeightNorm } from './dora.js';
export { BASE_ADAPTER_NAME } from './mixed-batch.js';
export { type AddWeightedAdapterOptions, COMBINATION_TYPES, type CombinationType } from './weighted-adapter.js';
export type { MajoritySignMethod } from './merge-utils.js';
export { injectLora, loadAdapter } from './load-adapter.js';
export type {
  AddAdapterOptions,
  AdapterFileOptions,
  InjectOptions,
  LoadAdapterOptions,
  LoadNamedAdapterOptions,
  LossModel,
  LoraTrainable,
  ParameterCounts,
  SaveAdapterOptions,
} from './model-options.js';
export { isTargetModule, unmatchedTargets } from './target.js';
export type { LoadStateDictOptions } from './adapter-state.js';
export {
  ADAPTER_BIN_NAME,
  ADAPTER_CONFIG_NAME,
  ADAPTER_SAFETENSORS_NAME,
  type AdapterTensor,
  type ParseAdapterConfigOptions,
  type ReadAdapterOptions,
  adapterConfigJson,
  adapterSafetensorsBytes,
  parseAdapterConfig,
  readAdapter,
  writeAdapter,
} from './adapter-files.js';
export { ALLOWED_PICKLE_GLOBALS, TorchPickleError, type TorchTensor, readTorchStateDict, restrictedUnpickle } from './torch-bin.js';
export { kaimingUniformA5 } from './init.js';
export { setWebGPULoraKernels, type WebGPULoraKernelOptions } from './lora-webgpu.js';
export { resolveAdapterDir, isAdapterHubId, type AdapterHubOptions } from './hub.js';
export { type AdapterLocation, type AdapterSource, mergeAdapterIntoCheckpoint, type MergeAdapterOptions, type MergeAdapterResult, type MergedDtype } from './merge-files.js';
