import { describe, expect, it } from 'vitest';
import type { PrepareWebGPUTensorCoresOptions, TensorCoreReport } from '@conifer/int8';
import { enableTensorCores } from '../src/pipeline/tensor-cores.js';

// The real prepareWebGPUTensorCores needs a GPU with subgroup matrices (none here; lavapipe's
// "not offered" path runs in e2e-webgpu.test.ts): a stand-in records what it is asked.
function fakePrepare() {
  const calls: PrepareWebGPUTensorCoresOptions[] = [];
  const report: TensorCoreReport = { feature: true, i8: 'ready (i8)', f16: 'ready (f16)', f16t: 'compile error x', chosen: {} };
  return { calls, prepare: async (o: PrepareWebGPUTensorCoresOptions) => (calls.push(o), report) };
}

const gpu = (subgroupMatrix: boolean) => ({ name: 'webgpu' as const, webgpu: { subgroupMatrix } as never });
const choice = { tensorCores: true, int8: 'weight-only', dModel: 4096, tokens: 4096 };

describe('enableTensorCores', () => {
  it('prepares on a webgpu device with subgroup matrices, tuned at min(2048, tokens) × d_model × d_model, and prints the report', async () => {
    const f = fakePrepare();
    const line = await enableTensorCores(gpu(true), choice, f.prepare);
    expect(f.calls).toEqual([{ kinds: ['f16', 'f16t'], tuneShape: { M: 2048, N: 4096, K: 4096 } }]);
    expect(line).toBe('  tensor cores LLM.int8 x·Wᵀ: ready (i8); dY·W: ready (f16); weight-only x·Wᵀ: compile error x');
    await enableTensorCores(gpu(true), { ...choice, int8: 'llm-int8', dModel: 64, tokens: 200 }, f.prepare);
    expect(f.calls[1]).toEqual({ kinds: ['i8', 'f16'], tuneShape: { M: 200, N: 64, K: 64 } });
  });

  it('says why it does nothing: --no-tensor-cores, float32 linears, no feature; other backends print nothing', async () => {
    const f = fakePrepare();
    expect(await enableTensorCores(gpu(true), { ...choice, tensorCores: false }, f.prepare)).toMatch(/off \(--no-tensor-cores\): tiled int8 kernels$/);
    expect(await enableTensorCores(gpu(true), { ...choice, int8: 'off' }, f.prepare)).toMatch(/not used: the linears are float32/);
    expect(await enableTensorCores(gpu(false), choice, f.prepare)).toMatch(/not offered by this GPU/);
    for (const name of ['cpu', 'wasm', 'tensorflow'] as const) expect(await enableTensorCores({ name }, choice, f.prepare)).toBeNull();
    expect(f.calls).toEqual([]);
  });
});
