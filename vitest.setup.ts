// tfjs-core's CommonJS bundle (what Node loads for '@tensorflow/tfjs-core') registers no gradients.
// Its ESM sources do; vitest inlines them (see vitest.shared.ts) so every test can differentiate.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
