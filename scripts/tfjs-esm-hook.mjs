// One Node module hook for the repo's benches and child-process tests (not for published code):
// tfjs-core's ESM files (dist/**/*.js) import each other without extensions and by folder
// ('./gradients/Abs_grad', './gradients'), which Node's ESM loader refuses. Such relative
// specifiers are retried with '.js' and then '/index.js', so that `register_all_gradients` and
// the sources that import tfjs-core's gradient files can run under plain Node or tsx.
//   node --import <repo>/scripts/tfjs-esm-hook.mjs script.js     (registers itself)
//   register('<repo>/scripts/tfjs-esm-hook.mjs', import.meta.url)  (as a hook module)
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (e) {
    const relative = specifier.startsWith('./') || specifier.startsWith('../');
    const fromTfjs = context.parentURL?.includes('/@tensorflow/tfjs-core/dist/');
    if (!relative || !(fromTfjs || e?.code === 'ERR_UNSUPPORTED_DIR_IMPORT')) throw e;
    for (const suffix of ['.js', '/index.js']) {
      try {
        return await next(specifier + suffix, context);
      } catch {
        // try the next form
      }
    }
    throw e;
  }
}

// Imported with --import (main thread): register this file as a hook. Loaded as a hook (the
// loader's own thread): just provide `resolve`.
if (isMainThread) register(import.meta.url);
