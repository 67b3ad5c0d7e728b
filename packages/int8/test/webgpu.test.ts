import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe } from 'vitest';
import { installDawnNavigator, skipWebGPU } from '../../../vitest.webgpu';
import { int8LinearSuite } from './linear-suite';

// Without a Vulkan driver this skips with the reason (and fails under CONIFER_REQUIRE_WEBGPU=1, as in CI).
const skip = await skipWebGPU();

describe.skipIf(skip)('webgpu (Dawn; lavapipe in CI)', () => {
  beforeAll(async () => {
    await installDawnNavigator();
    await import('@tensorflow/tfjs-backend-webgpu');
    await tf.setBackend('webgpu');
  }, 120_000);

  int8LinearSuite('webgpu');
});
