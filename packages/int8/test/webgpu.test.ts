import * as tf from '@tensorflow/tfjs-core';
import { describe } from 'vitest';
import { skipWebGPU, useWebGPUBackend } from '../../../vitest.webgpu';
import { int8LinearSuite } from './linear-suite';

// Without a Vulkan driver this skips with the reason (and fails under CONIFER_REQUIRE_WEBGPU=1, as in CI).
const skip = await skipWebGPU();

describe.skipIf(skip)('webgpu (Dawn; lavapipe in CI)', () => {
  useWebGPUBackend(tf, () => import('@tensorflow/tfjs-backend-webgpu'));

  int8LinearSuite('webgpu');
});
