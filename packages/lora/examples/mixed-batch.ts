// The README's mixed-adapter batch example: run with `npx tsx examples/mixed-batch.ts` from packages/lora.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { FloatLinear, injectLora, type Linear, type LinearHost } from '@conifer/lora';

// TinyMLP, fed as T5 feeds its linears: x [B, S, 16] flattened to [B·S, 16] rows.
class TinyMLP implements LinearHost {
  layers: Record<string, Linear> = {
    'mlp.up': new FloatLinear(tf.randomNormal([32, 16], 0, 0.1, 'float32', 1) as tf.Tensor2D),
    'mlp.down': new FloatLinear(tf.randomNormal([16, 32], 0, 0.1, 'float32', 2) as tf.Tensor2D),
  };
  listLinears(): Array<[string, Linear]> {
    return Object.entries(this.layers);
  }
  replaceLinear(path: string, linear: Linear): void {
    this.layers[path] = linear;
  }
  forward(x: tf.Tensor3D): tf.Tensor3D {
    const [b, s, d] = x.shape;
    return tf.tidy(() => {
      const h = tf.relu(this.layers['mlp.up']!.apply(tf.reshape(x, [b * s, d]))); // (B·S, 32)
      return tf.reshape(this.layers['mlp.down']!.apply(h), [b, s, d]); // (B, S, 16)
    });
  }
}

await tf.setBackend('cpu');
const model = new TinyMLP();
const lora = injectLora(model, { r: 4, lora_alpha: 8, target_modules: ['up', 'down'], init_lora_weights: false }, { seed: 0 });
lora.addAdapter('style', { r: 2, lora_alpha: 4, target_modules: ['up', 'down'], init_lora_weights: false }, { seed: 1 });
const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!.toExponential(2));
const example = (y: tf.Tensor, i: number) => tf.slice(y, [i, 0, 0], [1, -1, -1]);

// Three examples of 5 tokens, one adapter each ("__base__": the base model alone).
const x = tf.randomNormal([3, 5, 16], 0, 1, 'float32', 3) as tf.Tensor3D;
const names = ['default', '__base__', 'style'];
const y = lora.withAdapterNames(names, () => model.forward(x));

// Example i is exactly what the whole batch gives with only names[i]'s adapter.
const alone = new Map([
  ['default', model.forward(x)],
  ['__base__', lora.withAdapterDisabled(() => model.forward(x))],
]);
lora.setAdapter('style');
alone.set('style', model.forward(x));
lora.setAdapter('default');
names.forEach((n, i) => {
  const [yi, ref, base] = [example(y, i), example(alone.get(n)!, i), example(alone.get('__base__')!, i)];
  console.log(`example ${i} (${n}): max |Δ| vs the batch with only ${n}: ${maxDiff(yi, ref)} (vs the base: ${maxDiff(yi, base)})`);
});
console.log('active adapters afterwards:', lora.activeAdapters.join(', '));

// Beam search / numReturnSequences repeat each example's rows in place (row b·numBeams + beam):
// the same three names serve the 6 rows, without a numBeams argument.
const beams = tf.reshape(tf.tile(tf.reshape(x, [3, 1, 5, 16]), [1, 2, 1, 1]), [6, 5, 16]) as tf.Tensor3D;
const yBeams = lora.withAdapterNames(names, () => model.forward(beams));
console.log('2 beams per example: beam 1 of example 2 vs example 2:', maxDiff(example(yBeams, 5), example(y, 2)));

// An async fn (e.g. @conifer/generate's generate) keeps the names until its promise settles.
const yAsync = await lora.withAdapterNames(names, async () => {
  await new Promise((resolve) => setTimeout(resolve, 1));
  return model.forward(x);
});
console.log('async:', maxDiff(yAsync, y));

// Refused, one error each, nothing changed.
const attempts: Array<[string, () => unknown]> = [
  ['unknown name', () => lora.withAdapterNames(['default', 'typo', 'style'], () => model.forward(x))],
  ['2 names, 15 rows', () => lora.withAdapterNames(['default', 'style'], () => model.forward(x))],
  ['training mode', () => {
    lora.train();
    try {
      return lora.withAdapterNames(names, () => model.forward(x));
    } finally {
      lora.eval();
    }
  }],
  ['merged', () => {
    lora.merge();
    try {
      return lora.withAdapterNames(names, () => model.forward(x));
    } finally {
      lora.unmerge();
    }
  }],
];
for (const [what, attempt] of attempts) {
  try {
    attempt();
  } catch (e) {
    console.log(`${what}: ${(e as Error).message}`);
  }
}
