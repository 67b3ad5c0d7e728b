// Node's ESM resolver refuses directory imports, which tfjs-core's ESM files use
// ('./gradients' → './gradients.js' or './gradients/index.js'). The trainer's sources import those files (tsup bundles
// them for dist/); this hook lets a child process run the sources through tsx.
import { register } from 'node:module';

const hook = `
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (e) {
    if (!e || e.code !== 'ERR_UNSUPPORTED_DIR_IMPORT') throw e;
    try {
      return await next(specifier + '.js', context); // './gradients' is gradients.js beside a gradients/ folder
    } catch {
      return next(specifier + '/index.js', context);
    }
  }
}`;
register('data:text/javascript,' + encodeURIComponent(hook));
