// The README's DoRA example: run with `npx tsx examples/dora.ts` from packages/lora.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { FloatLinear, injectLora, loadAdapter, readAdapter, type Linear, type LinearHost } from '@conifer/lora';

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
const x = tf.randomNormal([2, 16], 0, 1, 'float32', 3);
const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!.toExponential(1);
const dir = '/tmp/tiny-mlp-dora';

const y0 = model.forward(x);
const lora = injectLora(model, { r: 4, lora_alpha: 8, target_modules: ['up', 'down'], use_dora: true }, { seed: 0 });
lora.printTrainableParameters();
for (const v of lora.trainableVariables()) console.log(`  ${v.name} [${v.shape}]`);
console.log('fresh DoRA (m = ‖W‖, B = 0) changes the output by', maxDiff(model.forward(x), y0));

// ... train here; a stand-in for training: move B and scale the magnitudes.
for (const l of lora.layers.values()) {
  const a = l.adapter('default');
  a.loraB.assign(tf.fill(a.loraB.shape, 0.01));
  a.magnitude!.assign(tf.mul(a.magnitude!, 1.1));
}
const y1 = model.forward(x);
console.log('after the update the output moved by', maxDiff(y1, y0));

await lora.saveAdapter(dir);
const { tensors, config } = await readAdapter(dir);
console.log('saved keys of mlp.up:', [...tensors.keys()].filter((k) => k.includes('mlp.up')).map((k) => k.replace('base_model.model.mlp.up.', '')).join(', '));
console.log('adapter_config.json use_dora:', config.use_dora, JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8')).use_dora);

lora.merge(); // W' = m / ‖W + s·B·A‖ · (W + s·B·A) per row
console.log('merged vs unmerged max |Δ|', maxDiff(model.forward(x), y1));
lora.unload();

const again = await loadAdapter(model, dir);
console.log('reloaded; same output:', maxDiff(model.forward(x), y1));
again.mergeAndUnload();
console.log('merged and unloaded; same output:', maxDiff(model.forward(x), y1));
await rm(dir, { recursive: true });
