import { defineProject } from 'vitest/config';
import { inlineDeps, setupFiles, sourceAliases } from '../../vitest.shared';

export default defineProject({
  resolve: { alias: sourceAliases },
  server: { deps: { inline: inlineDeps } },
  test: { name: '@conifer/dropout', include: ['test/**/*.test.ts'], setupFiles, testTimeout: 300_000 },
});
