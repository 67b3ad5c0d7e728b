import * as tf from '@tensorflow/tfjs-core';
import { create, globals } from 'webgpu';
import { beforeAll } from 'vitest';
import { int8LinearSuite } from './linear-suite';

beforeAll(async () => {
  Object.assign(globalThis, globals);
  Object.defineProperty(globalThis, 'navigator', { value: { gpu: create([]) }, configurable: true });
  await import('@tensorflow/tfjs-backend-webgpu');
  await tf.setBackend('webgpu');
}, 120_000);

int8LinearSuite('webgpu');
