import { prepareWebGPUTensorCores, type PrepareWebGPUTensorCoresOptions, type TensorCoreReport } from '@conifer/int8';
import type { BackendInfo } from '../backends.js';

export interface TensorCoreChoice {
  /** --no-tensor-cores clears it. */
  tensorCores: boolean;
  /** The int8 mode in effect ('off' = float32 linears: nothing to enable). */
  int8: string;
  /** The model's d_model: the tuning shape is tokens × d_model × d_model. */
  dModel: number;
  /** Tokens of a typical batch (rows of the projections' matmuls). */
  tokens: number;
}

/**
 * On webgpu, enables @conifer/int8's tensor-core kernels where the GPU offers subgroup matrices
 * (compiled, checked against the tiled kernels and tile-tuned at tokens × d_model × d_model by
 * `prepareWebGPUTensorCores`); returns the line to print, or null on other backends.
 * `prepare` is injectable for tests (the real one needs a GPU with the feature).
 */
export async function enableTensorCores(
  backend: Pick<BackendInfo, 'name' | 'webgpu'>,
  choice: TensorCoreChoice,
  prepare: (o: PrepareWebGPUTensorCoresOptions) => Promise<TensorCoreReport> = prepareWebGPUTensorCores,
): Promise<string | null> {
  if (backend.name !== 'webgpu') return null;
  const label = '  tensor cores';
  if (!choice.tensorCores) return `${label} off (--no-tensor-cores): tiled int8 kernels`;
  if (choice.int8 === 'off') return `${label} not used: the linears are float32 (--int8 off)`;
  if (!backend.webgpu?.subgroupMatrix) return `${label} not offered by this GPU (no chromium-experimental-subgroup-matrix): tiled int8 kernels`;
  // Only the kernels this int8 mode runs: weight-only x·Wᵀ and dY·W, or LLM.int8 x·Wᵀ and dY·W.
  const kinds = choice.int8 === 'llm-int8' ? (['i8', 'f16'] as const) : (['f16', 'f16t'] as const);
  const r = await prepare({ kinds, tuneShape: { M: Math.max(16, Math.min(2048, choice.tokens)), N: choice.dModel, K: choice.dModel } });
  return `${label} LLM.int8 x·Wᵀ: ${r.i8}; dY·W: ${r.f16}; weight-only x·Wᵀ: ${r.f16t}`;
}
