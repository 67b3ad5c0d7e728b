import { fileURLToPath } from 'node:url';

const pkg = (name: string) => fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url));

/** Tests import sibling packages from their sources, so `pnpm test` needs no build first. */
export const sourceAliases: Record<string, string> = Object.fromEntries(
  ['safetensors', 'dropout', 't5-model', 'int8', 'lora', 'dolly-data', 'trainer', 'generate'].map((n) => [`@conifer/${n}`, pkg(n)]),
);

/** The root setup file that registers tfjs-core's gradients. */
export const setupFiles = [fileURLToPath(new URL('./vitest.setup.ts', import.meta.url))];

/**
 * Inline tfjs-core's ESM files (so the gradient registrations load), but not its CommonJS
 * entry `tf-core.node.js`, which the backends share: one engine, one kernel registry.
 */
export const inlineDeps = [/@tensorflow[\\/]tfjs-core[\\/]dist[\\/](?!tf-core\.node)/];
