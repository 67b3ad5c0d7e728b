import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { setupBackend, TFJS_NODE_GPU_MISSING } from '../src/backends.js';
import { CliError } from '../src/errors.js';
import { main } from '../src/main.js';

describe('setupBackend', () => {
  it('tensorflow without @tensorflow/tfjs-node-gpu: one clear message, exit 1', async () => {
    // It is deliberately not installed here (the user installs it on a CUDA machine).
    const err = await setupBackend('tensorflow').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).message).toBe(TFJS_NODE_GPU_MISSING);
    expect((err as CliError).exitCode).toBe(1);
    expect(TFJS_NODE_GPU_MISSING).toMatch(/CUDA 11/);
    expect(TFJS_NODE_GPU_MISSING).toMatch(/add -O @tensorflow\/tfjs-node-gpu/);

    const out: string[] = [];
    const errs: string[] = [];
    const code = await main(['train', '--backend', 'tensorflow'], { stdout: (s) => void out.push(s), stderr: (s) => void errs.push(s) });
    expect(code).toBe(1);
    expect(errs).toEqual([`conifer-train-ul2-dolly: ${TFJS_NODE_GPU_MISSING}`]);
  });

  it('tensorflow installed but broken: says so, with the cause', async () => {
    const err = await setupBackend('tensorflow', {
      importModule: () => Promise.reject(new Error('libcudart.so.11.0: cannot open shared object file')),
    }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/installed but failed to load: libcudart\.so\.11\.0/);
  });

  it('cpu and wasm select themselves', async () => {
    const wasm = await setupBackend('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(wasm.detail).toMatch(/^wasm \(SIMD/);
    expect(Array.from(await tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]])).data())).toEqual([11]);
    await setupBackend('cpu');
    expect(tf.getBackend()).toBe('cpu');
  });
});
