// The README's example: run with `npx tsx examples/readme.ts` from packages/lora.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { readdir, rm } from 'node:fs/promises';
import { FloatLinear, injectLora, loadAdapter, type Linear, type LinearHost } from '@conifer/lora';

// Your model: anything that can list its linears by path and swap one is a LinearHost.
class TinyMLP implements LinearHost {
  layers: Record<string, Linear> = {
    'mlp.up': new FloatLinear(tf.randomNormal([32, 16], 0, 0.1, 'float32', 1) as tf.Tensor2D), // [out, in]
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
const lora = injectLora(model, { r: 4, lora_alpha: 8, lora_dropout: 0.05, target_modules: ['up', 'down'] }, { seed: 0 });
lora.printTrainableParameters();
for (const v of lora.trainableVariables()) console.log(`  ${v.name} [${v.shape}]`);

const x = tf.randomNormal([2, 16], 0, 1, 'float32', 3);
const y0 = model.forward(x); // B starts at zero: the adapter is a no-op until trained
// ... train lora.trainableVariables() here (e.g. with @conifer/trainer); lora.train() turns dropout on.
for (const v of lora.trainableVariables()) if (v.name.includes('lora_B')) v.assign(tf.fill(v.shape, 0.01));
const y1 = model.forward(x);
console.log('adapter changed the output by', tf.max(tf.abs(tf.sub(y1, y0))).dataSync()[0]!.toFixed(4));

await lora.saveAdapter('/tmp/tiny-mlp-adapter'); // PEFT's files: opens with PeftModel.from_pretrained
console.log('saved', (await readdir('/tmp/tiny-mlp-adapter')).join(', '));

lora.merge(); // one float matMul per layer; unmerge() restores the base exactly
console.log('merged vs unmerged max |Δ|', tf.max(tf.abs(tf.sub(model.forward(x), y1))).dataSync()[0]!.toExponential(1));
lora.unload(); // the original linears are back

const loaded = await loadAdapter(model, '/tmp/tiny-mlp-adapter'); // frozen unless { isTrainable: true }
console.log('reloaded; same output:', tf.max(tf.abs(tf.sub(model.forward(x), y1))).dataSync()[0] === 0);
loaded.printTrainableParameters();
loaded.unload();
await rm('/tmp/tiny-mlp-adapter', { recursive: true });
