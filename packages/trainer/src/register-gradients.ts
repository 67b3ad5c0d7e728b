// tfjs-core's CommonJS bundle (what Node loads for the bare '@tensorflow/tfjs-core') registers no
// gradients. Its ESM file `register_all_gradients` does: tsup bundles it (with the relative gradient
// modules it imports) while '@tensorflow/tfjs-core' itself stays external. The gradient registry lives
// on a global shared by every copy of tfjs-core, so the bundled definitions serve the app's engine.
import '@tensorflow/tfjs-core/dist/register_all_gradients';

let registered = false;

/**
 * Makes sure tfjs-core's gradient definitions are registered (idempotent). Importing this package
 * already registers them; call it from apps that differentiate without the trainer to make the
 * dependency explicit (and to keep bundlers from dropping the import).
 */
export function registerCoreGradients(): void {
  registered = true;
}

/** Whether {@link registerCoreGradients} was called. */
export function coreGradientsRegistered(): boolean {
  return registered;
}
