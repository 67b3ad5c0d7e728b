// A Node module hook for the bench only: tfjs-core's ESM files (dist/**/*.js) import each other
// without extensions ('./gradients/Abs_grad'), which Node's ESM loader refuses. This retries such
// relative specifiers with '.js' and '/index.js', so that register_all_gradients can be imported.
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (e) {
    const fromTfjs = context.parentURL?.includes('/@tensorflow/tfjs-core/dist/');
    if (!fromTfjs || !(specifier.startsWith('./') || specifier.startsWith('../'))) throw e;
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
