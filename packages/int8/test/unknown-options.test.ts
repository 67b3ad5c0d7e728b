import '@tensorflow/tfjs-backend-cpu';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { suggestOption } from '../src/unknown-options';
import {
  Int8Linear,
  int8LinearFactory,
  int8MatMul,
  planT5Memory,
  prepareTensorCoreKernels,
  prepareWebGPUTensorCores,
  quantizeFloat32,
  setWebGPUInt8Kernels,
} from '../src/index';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Options with a typo and a snake_case key besides the valid ones (as a caller's plain object would come). */
const bad = (valid: object, typo: string, snake: string): never => ({ ...valid, [typo]: 1, [snake]: 2 }) as never;
const message = (where: string, typo: [string, string], snake: [string, string]): string =>
  `${where}: unknown options \`${typo[0]}\` (did you mean \`${typo[1]}\`?), \`${snake[0]}\` (did you mean \`${snake[1]}\`?)`;

/** `f` throws one Error with `message(...)` and leaves no tensor behind. */
function expectUnknown(f: () => unknown, where: string, typo: [string, string], snake: [string, string]): void {
  const before = tf.memory().numTensors;
  expect(f).toThrow(message(where, typo, snake));
  expect(tf.memory().numTensors).toBe(before);
}

const w = new Float32Array([1, -2, 3, 0.5, 4, -1, 2, 2]);
const q = quantizeFloat32(w, 2, 4);

describe('suggestOption', () => {
  it('the camelCase of a snake_case key, else a known key within 2 edits that is not just a shorter name rewritten', () => {
    expect(suggestOption('in_features', ['mode', 'inFeatures'])).toBe('inFeatures');
    expect(suggestOption('thrshld', ['mode', 'threshold'])).toBe('threshold'); // 2 edits
    expect(suggestOption('thrsld', ['mode', 'threshold'])).toBeUndefined(); // 3 edits
    expect(suggestOption('ab', ['a'])).toBeUndefined();
  });
});

describe('unknown option keys are one Error naming each, with the option meant', () => {
  it('Int8Linear.fromFloat32 / fromWeightData / fromQuantized, before anything is quantized or allocated', () => {
    const t = tf.tensor2d(w, [2, 4]);
    expectUnknown(() => Int8Linear.fromFloat32(t, undefined, bad({ mode: 'llm-int8' }, 'treshold', 'llm_int8_threshold')), 'Int8Linear.fromFloat32', ['treshold', 'threshold'], ['llm_int8_threshold', 'threshold']);
    const data = { dtype: 'F32' as const, shape: [2, 4], data: new Uint8Array(w.buffer) };
    expectUnknown(() => Int8Linear.fromWeightData(data, bad({}, 'mdoe', 'llm_int8_threshold')), 'Int8Linear.fromWeightData', ['mdoe', 'mode'], ['llm_int8_threshold', 'threshold']);
    expectUnknown(() => Int8Linear.fromQuantized(q, bad({}, 'bais', 'llm_int8_threshold')), 'Int8Linear.fromQuantized', ['bais', 'bias'], ['llm_int8_threshold', 'threshold']);
    // a key without a near option is named bare; `undefined` counts as absent
    expect(() => Int8Linear.fromQuantized(q, { dtype: 'int8' } as never)).toThrow(/^Int8Linear\.fromQuantized: unknown option `dtype`$/);
    const layer = Int8Linear.fromFloat32(t, undefined, { mode: 'llm-int8', threshold: 0, bias: new Float32Array(2), llm_int8_threshold: undefined } as never);
    expect(layer.threshold).toBe(0);
    layer.dispose();
    t.dispose();
  });

  it('int8LinearFactory refuses at creation (bitsandbytes names point to ours); the made layers are unchanged', () => {
    expectUnknown(() => int8LinearFactory(bad({ mode: 'llm-int8' }, 'fallbak', 'llm_int8_threshold')), 'int8LinearFactory', ['fallbak', 'fallback'], ['llm_int8_threshold', 'threshold']);
    expect(() => int8LinearFactory({ llm_int8_skip_modules: ['wo'] } as never)).toThrow('int8LinearFactory: unknown option `llm_int8_skip_modules` (did you mean `shouldQuantize: skipModules([...])`?)');
    const spec = { path: 'encoder.block.0.layer.0.SelfAttention.q', inFeatures: 4, outFeatures: 2, weight: { dtype: 'F32' as const, shape: [2, 4], data: new Uint8Array(w.buffer) } };
    const layer = int8LinearFactory({ mode: 'llm-int8', threshold: 2, shouldQuantize: () => true, fallback: undefined })(spec) as Int8Linear;
    expect([layer.mode, layer.threshold]).toEqual(['llm-int8', 2]);
    layer.dispose();
  });

  it('int8MatMul, before any kernel runs', () => {
    const x = tf.tensor2d([[1, 2, 3, 4]]);
    const packed = tf.tensor2d(q.packed, [2, 1], 'int32');
    const scale = tf.tensor1d(q.scale);
    expectUnknown(() => int8MatMul(x, packed, scale, bad({}, 'inFeature', 'in_features')), 'int8MatMul', ['inFeature', 'inFeatures'], ['in_features', 'inFeatures']);
    const y = int8MatMul(x, packed, scale, { inFeatures: 4, mode: 'weight-only', threshold: 6 });
    expect(y.shape).toEqual([1, 2]);
    tf.dispose([x, packed, scale, y]);
  });

  it('planT5Memory', () => {
    const config = JSON.parse(readFileSync(new URL('./fixtures/flan-ul2-config.json', import.meta.url), 'utf8')) as Record<string, unknown>;
    expectUnknown(() => planT5Memory(config, bad({}, 'quantizeLMHead', 'quantize_lm_head')), 'planT5Memory', ['quantizeLMHead', 'quantizeLmHead'], ['quantize_lm_head', 'quantizeLmHead']);
    expect(planT5Memory({ ...config, tie_word_embeddings: false }, { quantizeLmHead: true }).float32Parameters).toBeLessThan(planT5Memory({ ...config, tie_word_embeddings: false }).float32Parameters);
  });

  it('setWebGPUInt8Kernels leaves the kernel options unchanged; the tensor-core preparations refuse before looking at the backend', async () => {
    expectUnknown(() => setWebGPUInt8Kernels(bad({ path: 'tiled' }, 'tiledCol', 'tiled_rows')), 'setWebGPUInt8Kernels', ['tiledCol', 'tiledCols'], ['tiled_rows', 'tiledRows']);
    const now = setWebGPUInt8Kernels({});
    expect(now).toEqual({ path: 'auto', tiledRows: 'auto', tiledCols: 4 });
    const err = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e as Error);
    expect((await err(prepareWebGPUTensorCores(bad({ kinds: ['f16'] }, 'tuneRep', 'tune_shape'))))?.message).toBe(message('prepareWebGPUTensorCores', ['tuneRep', 'tuneReps'], ['tune_shape', 'tuneShape']));
    // a valid bare TensorCoreTiles (the 0.x signature) passes the argument checks: the backend check answers
    expect((await err(prepareWebGPUTensorCores({ TM: 2, TN: 2 } as never)))?.message).toMatch(/not webgpu/);
    expect((await err(prepareTensorCoreKernels({}, bad({ tiles: 'tune' }, 'tmie', 'shader_transform'))))?.message).toBe(`${message('prepareTensorCoreKernels', ['tmie', 'time'], ['shader_transform', 'shaderTransform'])}; tiles 'tune' needs a time function`);
  });
});
