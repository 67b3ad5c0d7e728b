import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll } from 'vitest';
import { int8LinearSuite } from './linear-suite';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

int8LinearSuite('cpu');
