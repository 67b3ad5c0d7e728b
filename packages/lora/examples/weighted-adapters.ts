// The README's add_weighted_adapter example: run with `npx tsx examples/weighted-adapters.ts` from packages/lora.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { readFile, rm } from 'node:fs/promises';
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
const x = tf.randomNormal([2, 16], 0, 1, 'float32', 3);
const dir = '/tmp/tiny-mlp-weighted';
/** ‖(scaling·B·A of `name`) − Σ wᵢ·sᵢ·Bᵢ·Aᵢ‖ / ‖Σ wᵢ·sᵢ·Bᵢ·Aᵢ‖ on mlp.up */
const relErr = (name: string, parts: Array<[string, number]>) =>
  tf.tidy(() => {
    const up = lora.layers.get('mlp.up')!;
    const want = tf.addN(parts.map(([n, w]) => tf.mul(up.deltaWeight(n), w)));
    return (tf.norm(tf.sub(up.deltaWeight(name), want)).dataSync()[0]! / tf.norm(want).dataSync()[0]!).toExponential(2);
  });

// Two adapters of different ranks on both layers (PEFT's get_peft_model + add_adapter).
const lora = injectLora(model, { r: 4, lora_alpha: 8, target_modules: ['up', 'down'], init_lora_weights: false }, { seed: 0 });
lora.addAdapter('style', { r: 2, lora_alpha: 4, target_modules: ['up', 'down'], init_lora_weights: false }, { seed: 1 });

// cat: exact (rank 4 + 2 = 6); svd: the best approximation of rank svdRank (default: the largest r, 4);
// a negative weight subtracts.
await lora.addWeightedAdapter(['default', 'style'], [0.7, -0.5], 'cat', { combinationType: 'cat' });
await lora.addWeightedAdapter(['default', 'style'], [0.7, -0.5], 'svd', { combinationType: 'svd' });
await lora.addWeightedAdapter(['default', 'style'], [0.7, -0.5], 'svd6', { combinationType: 'svd', svdRank: 6 });
for (const name of ['cat', 'svd', 'svd6']) {
  const c = lora.peftConfig.get(name)!;
  console.log(`${name}: r ${c.r}, lora_alpha ${c.lora_alpha}, rel. error of the delta on mlp.up ${relErr(name, [['default', 0.7], ['style', -0.5]])}`);
}
// linear needs equal ranks and scales A and B by √(w·scaling) each: (√0.5 + √0.5)²·B·A = 2·B·A here.
await lora.addWeightedAdapter(['default', 'default'], [0.5, 0.5], 'twice', { combinationType: 'linear' });
console.log('linear of default twice with [0.5, 0.5]: rel. error vs 2·delta', relErr('twice', [['default', 2]]));
try {
  await lora.addWeightedAdapter(['default', 'style'], [1, 1], 'bad', { combinationType: 'linear' });
} catch (e) {
  console.log('error:', (e as Error).message);
}

// The combination is an ordinary adapter: activate it, save it in PEFT's layout, load it elsewhere.
lora.setAdapter('cat');
const y = model.forward(x);
await lora.saveAdapter(dir, { selectedAdapters: ['cat'] });
const saved = JSON.parse(await readFile(join(dir, 'cat', 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
console.log('saved cat/adapter_config.json: r', saved.r, '| lora_alpha', saved.lora_alpha, '| target_modules', JSON.stringify(saved.target_modules));
lora.unload();
const again = await loadAdapter(model, join(dir, 'cat'));
console.log('reloaded, same output:', tf.max(tf.abs(tf.sub(model.forward(x), y))).dataSync()[0]);
again.unload();
await rm(dir, { recursive: true });
