import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll } from 'vitest';
import { int8LinearSuite } from './linear-suite';

beforeAll(async () => {
  await tf.setBackend('wasm');
});

int8LinearSuite('wasm');
