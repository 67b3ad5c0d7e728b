import { defineConfig } from 'tsup';

export default defineConfig([
  {
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    // Both builds run in parallel: keep the bin's output when cleaning.
    clean: ['!cli.js', '!cli.js.map'],
    // `import.meta.url` in the CommonJS build (bundled data paths).
    shims: true,
    target: 'node20',
  },
  {
    // The `conifer-dolly` bin: ESM (the package is `type: module`) with a shebang.
    entry: ['src/cli.ts'],
    format: ['esm'],
    sourcemap: true,
    shims: true,
    target: 'node20',
    banner: { js: '#!/usr/bin/env node' },
  },
]);
