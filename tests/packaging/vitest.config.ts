import { defineProject } from 'vitest/config';

// Runs against the built packages (dist/), packed and installed: no source aliases here.
export default defineProject({
  test: { name: 'packaging', include: ['*.test.ts'], testTimeout: 300_000, hookTimeout: 600_000 },
});
