import { defineProject } from 'vitest/config';

// The GPU bench's pure parts (bench-lib.ts); the bench itself needs a GPU (docs/gpu.md).
export default defineProject({
  test: { name: 'gpu-bench', include: ['*.test.ts'] },
});
