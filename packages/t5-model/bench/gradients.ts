import { register } from 'node:module';

/**
 * tfjs-core's CommonJS bundle (what Node loads) registers no gradients; its ESM files do, but Node
 * cannot import them as they are (extensionless imports). The bench registers a resolve hook for
 * them, then imports `register_all_gradients`; both copies of tfjs-core share one global engine and
 * gradient registry. Apps use `@conifer/trainer`'s `registerCoreGradients()` instead.
 */
export async function registerGradients(): Promise<void> {
  register('../../../scripts/tfjs-esm-hook.mjs', import.meta.url); // the repo's one hook for tfjs-core's ESM files
  await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
}
