// The README's named-adapters example: run with `npx tsx examples/named-adapters.ts` from packages/lora.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { FloatLinear, injectLora, loadAdapter, type Linear, type LinearHost } from '@conifer/lora';

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
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.layers['mlp.down']!.apply(tf.relu(this.layers['mlp.up']!.apply(x))));
  }
}

await tf.setBackend('cpu');
const model = new TinyMLP();
const upBase = model.layers['mlp.up'];
const x = tf.randomNormal([2, 16], 0, 1, 'float32', 3);
const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!.toExponential(2);
const dir = '/tmp/tiny-mlp-adapters';

// "default" on both layers, then a second adapter on mlp.down only, with another rank (PEFT's add_adapter).
const lora = injectLora(model, { r: 4, lora_alpha: 8, target_modules: ['up', 'down'], init_lora_weights: false }, { seed: 0 });
lora.addAdapter('down-only', { r: 2, lora_alpha: 2, target_modules: ['down'], init_lora_weights: false }, { seed: 1 });
const trainable = () => lora.trainableVariables().map((v) => v.name.replace('base_model.model.', '')).join(', ');
console.log('active:', lora.activeAdapters.join(', '), '| trainable:', trainable());

const base = lora.withAdapterDisabled(() => model.forward(x));
const yDefault = model.forward(x);
lora.setAdapter('down-only'); // the only active adapter, and the only trainable one
console.log('active:', lora.activeAdapters.join(', '), '| trainable:', trainable());
const yDown = model.forward(x);
lora.setAdapter(['default', 'down-only']); // both deltas added in each layer's forward
const yBoth = model.forward(x);
console.log('vs base: default', maxDiff(yDefault, base), '| down-only', maxDiff(yDown, base), '| both', maxDiff(yBoth, base));

await lora.saveAdapter(dir); // PEFT's layout: "default" at the top, the others in dir/<name>/
console.log('saved:', (await readdir(dir, { recursive: true })).sort().join(', '));
lora.unload();

const again = await loadAdapter(model, dir); // PeftModel.from_pretrained(model, dir)
await again.loadAdapter(join(dir, 'down-only'), 'down-only'); // model.load_adapter(dir/down-only, "down-only")
again.setAdapter(['default', 'down-only']);
console.log('reloaded, both active, same output:', maxDiff(model.forward(x), yBoth));
again.deleteAdapter('default'); // frees its variables; "down-only" stays active
console.log('after deleteAdapter("default"): active', again.activeAdapters.join(', '), '| same as down-only alone:', maxDiff(model.forward(x), yDown));
again.mergeAndUnload(); // merges "down-only" into mlp.down; mlp.up gets its base back
console.log('merged and unloaded: mlp.up is its original base', model.layers['mlp.up'] === upBase, '| output', maxDiff(model.forward(x), yDown));
await rm(dir, { recursive: true });
