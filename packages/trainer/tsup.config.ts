import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  // tfjs-core's gradient definitions (its ESM files, reached through this side-effect import) are
  // bundled; the bare '@tensorflow/tfjs-core' stays external (one engine, shared through a global).
  noExternal: [/@tensorflow\/tfjs-core\/dist\/register_all_gradients/],
});
