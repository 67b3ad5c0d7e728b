import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { prepareTensorCoreKernels, prepareWebGPUTensorCores } from '../src/index';

// prepareWebGPUTensorCores needs a webgpu backend to do anything; its argument is checked before the
// backend is, so every check below runs on the cpu backend.
beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** The message `p` rejects with (null when it resolves); no tensor left behind. */
async function rejection(p: () => Promise<unknown>): Promise<string | null> {
  const before = tf.memory().numTensors;
  const message = await p().then(() => null, (e: unknown) => (e as Error).message);
  expect(tf.memory().numTensors).toBe(before);
  return message;
}

const NOT_WEBGPU = 'prepareWebGPUTensorCores: the current backend is cpu, not webgpu';

describe('prepareWebGPUTensorCores: a bare TensorCoreTiles (the 0.x signature) is checked like options, before the backend', () => {
  it('a key other than TM, TN, staged is refused, not taken silently', async () => {
    expect(await rejection(() => prepareWebGPUTensorCores({ TM: 16, TN: 16, tk: 32 } as never))).toBe('prepareWebGPUTensorCores(tiles): unknown option `tk`');
    expect(await rejection(() => prepareWebGPUTensorCores({ TM: 2, TN: 2, stagd: true } as never))).toBe('prepareWebGPUTensorCores(tiles): unknown option `stagd` (did you mean `staged`?)');
  });

  it('TM and TN must be positive integers and staged a boolean; keys and values are one error', async () => {
    expect(await rejection(() => prepareWebGPUTensorCores({ TM: 0, TN: 2.5, staged: 'yes' } as never))).toBe(
      'prepareWebGPUTensorCores(tiles): TM must be a positive integer, got 0; TN must be a positive integer, got 2.5; staged must be true or false, got "yes"');
    expect(await rejection(() => prepareWebGPUTensorCores({ TM: 4, tk: 32, tn: 2 } as never))).toBe(
      'prepareWebGPUTensorCores(tiles): unknown options `tk`, `tn` (did you mean `TN`?); TN must be a positive integer, got undefined');
    // TM forgotten: read as bare tiles all the same (it was "unknown option `TN`")
    expect(await rejection(() => prepareWebGPUTensorCores({ TN: 2 } as never))).toBe('prepareWebGPUTensorCores(tiles): TM must be a positive integer, got undefined');
    expect(await rejection(() => prepareWebGPUTensorCores({ TM: Number.NaN, TN: '2' } as never))).toBe(
      'prepareWebGPUTensorCores(tiles): TM must be a positive integer, got NaN; TN must be a positive integer, got "2"');
  });

  it('valid bare tiles reach the backend check', async () => {
    expect(await rejection(() => prepareWebGPUTensorCores({ TM: 2, TN: 2 }))).toBe(NOT_WEBGPU);
    expect(await rejection(() => prepareWebGPUTensorCores({ TM: 4, TN: 2, staged: true, ignored: undefined } as never))).toBe(NOT_WEBGPU);
  });
});

describe('prepareWebGPUTensorCores options: nested tiles and tuneShape, values, all in one error before the backend', () => {
  it('unknown keys at every level and every bad value are named together', async () => {
    const options = { tiles: [{ TM: 2, TN: 2 }, { TM: 4, tn: 2 }], tuneShape: { M: 2048, n: 4096, K: 0 }, tuneReps: 0, kinds: ['f61'], tuneRep: 3 };
    expect(await rejection(() => prepareWebGPUTensorCores(options as never))).toBe(
      'prepareWebGPUTensorCores: unknown options `tuneRep` (did you mean `tuneReps`?), `tiles[1].tn` (did you mean `tiles[1].TN`?), `tuneShape.n` (did you mean `tuneShape.N`?); '
      + 'tiles[1].TN must be a positive integer, got undefined; tuneShape.N must be a positive integer, got undefined; tuneShape.K must be a positive integer, got 0; '
      + 'tuneReps must be a positive integer, got 0; kinds must be a list of "i8", "f16", "f16t", got ["f61"]');
  });

  it('tiles: one object, a non-empty list or "tune"; tuneShape an object', async () => {
    expect(await rejection(() => prepareWebGPUTensorCores({ tiles: { TM: 2, TN: 2, tk: 1 } } as never))).toBe('prepareWebGPUTensorCores: unknown option `tiles.tk`');
    expect(await rejection(() => prepareWebGPUTensorCores({ tiles: [] }))).toBe("prepareWebGPUTensorCores: tiles must not be an empty list (give 'tune', one { TM, TN } or several)");
    expect(await rejection(() => prepareWebGPUTensorCores({ tiles: 'tuned', tuneShape: [2048, 4096, 4096] } as never))).toBe(
      'prepareWebGPUTensorCores: tiles must be \'tune\', { TM, TN, staged? } or a list of them, got "tuned"; tuneShape must be { M, N, K }, got an array');
    expect(await rejection(() => prepareWebGPUTensorCores({ tiles: [null] } as never))).toBe('prepareWebGPUTensorCores: tiles[0] must be { TM, TN, staged? }, got null');
  });

  it('an argument that is not an object is refused; valid options reach the backend check', async () => {
    expect(await rejection(() => prepareWebGPUTensorCores('tune' as never))).toBe('prepareWebGPUTensorCores: options must be an object, got a string "tune"');
    expect(await rejection(() => prepareWebGPUTensorCores())).toBe(NOT_WEBGPU);
    expect(await rejection(() => prepareWebGPUTensorCores({ tiles: 'tune', tuneShape: { M: 1, N: 16, K: 32 }, tuneReps: 1, kinds: [] }))).toBe(NOT_WEBGPU);
    expect(await rejection(() => prepareWebGPUTensorCores({ tiles: [{ TM: 2, TN: 4, staged: false }, { TM: 1, TN: 8 }], kinds: ['i8', 'f16t'] }))).toBe(NOT_WEBGPU);
  });
});

describe('prepareTensorCoreKernels: tiles and kinds checked with the keys, one error', () => {
  it('names every problem before touching the backend', async () => {
    expect(await rejection(() => prepareTensorCoreKernels({}, { tiles: [{ TM: 2, TN: 2, stagd: true }, { TM: -4, TN: 2 }], kinds: ['i8', 'f32'] } as never))).toBe(
      'prepareTensorCoreKernels: unknown option `tiles[0].stagd` (did you mean `tiles[0].staged`?); tiles[1].TM must be a positive integer, got -4; '
      + 'kinds must be a list of "i8", "f16", "f16t", got ["i8","f32"]');
    expect(await rejection(() => prepareTensorCoreKernels({}, { tiles: [] }))).toBe("prepareTensorCoreKernels: tiles must not be an empty list (give 'tune', one { TM, TN } or several)");
  });

  it('valid options on a device without the feature: the report says so', async () => {
    const report = await prepareTensorCoreKernels({ device: { features: new Set<string>() } }, { tiles: { TM: 2, TN: 2, staged: true }, kinds: ['i8'] });
    expect(report.feature).toBe(false);
    expect(report.i8).toBe('feature absent');
  });
});
