export { Int8Dequantize, Int8MatMul, type Int8DequantizeAttrs, type Int8MatMulAttrs, type Int8Mode } from './kernel-names';
export { packInt8, unpackInt8, packedWidth, unpackByte } from './pack';
export { halfToFloat, type WeightData } from './decode';
export { quantizeFloat32, quantizeWeightData, dequantizeFloat32, roundHalfAway, type QuantizedWeight } from './quantize';
export { fromBitsAndBytes, toBitsAndBytes, dequantizeBitsAndBytes, type BitsAndBytesInt8 } from './bitsandbytes';
export { llmInt8MatMulJs } from './kernels/llm-int8-js';
export { int8MatMul, int8Dequantize, type Int8MatMulOptions } from './int8-matmul';
export { registerInt8Kernels, int8KernelConfigs, int8MatMulGradConfig } from './register';
export { Int8Linear, type Int8LinearOptions } from './int8-linear';
export { Float32Linear } from './float32-linear';
export { int8LinearFactory, isSkippedModule, quantizeAllButLmHead, skipModules, type Int8LinearFactoryOptions, type Linear, type LinearFactory, type LinearSpec } from './factory';
export { measureHeldBytes, planT5Memory, type PlanT5MemoryOptions, type T5ConfigLike, type T5MemoryPlan } from './memory';
export {
  webgpuInt8MatMul, webgpuInt8Dequantize, setWebGPUInt8Kernels, prepareWebGPUTensorCores, compareTensorCoreWithTiled,
  timeInt8MatMul, TENSOR_CORE_TUNE_SHAPE, type PrepareWebGPUTensorCoresOptions, type WebGPUInt8KernelOptions,
} from './kernels/webgpu-kernels';
export {
  prepareTensorCoreKernels, disableTensorCoreKernels, setTensorCoreEmulation, int8TensorCoreShader, int8StagedTensorCoreShader, f16TensorCoreShader, f16StagedTensorCoreShader,
  tensorCoreShader, tensorCoreWorkgroupBytes, compileComputeShader, tensorCoreDispatchCount, finishQueuedWork, TENSOR_CORE_VARIANTS,
  TENSOR_CORE_TILE_CANDIDATES, TENSOR_CORE_KINDS, type PrepareTensorCoreOptions, type TensorCoreKind, type TensorCoreReport, type TensorCoreTiles, type ShaderVariant,
} from './kernels/webgpu-tensor-core';
export { tiledInt8Program, type TiledCols, type TiledKind, type TiledRows } from './kernels/webgpu-tiled';
export * as webgpuPrograms from './kernels/webgpu-programs';
