// Loading an adapter whose shapes do not fit the model: one error that names the first keys, counts
// the rest, and says when the rank is what differs (a config whose r does not describe its weights).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FloatLinear, injectLora, loadAdapter } from '../src/index.js';
import { MapHost } from './helpers.js';

let dir: string;

/** `blocks` blocks of q and v, each [out, 8]. */
class Host extends MapHost {
  constructor(blocks: number, out = 8) {
    super();
    for (let b = 0; b < blocks; b++) {
      for (const m of ['q', 'v']) this.linears.set(`block.${b}.${m}`, new FloatLinear(tf.randomNormal([out, 8], 0, 0.1, 'float32', 2 * b + (m === 'q' ? 1 : 2)) as tf.Tensor2D));
    }
  }
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'lora-shapes-'));
  const host = new Host(6);
  const lora = injectLora(host, { r: 4, lora_alpha: 8, target_modules: ['q', 'v'] });
  await lora.saveAdapter(dir);
  lora.unload();
  host.dispose();
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function loadError(host: Host, from: string): Promise<string> {
  const before = [...host.linears.values()];
  const tensors = tf.memory().numTensors;
  const e = await loadAdapter(host, from).then(
    () => null,
    (err: unknown) => err as Error,
  );
  expect(e).toBeInstanceOf(Error);
  expect([...host.linears.values()]).toEqual(before);
  expect(tf.memory().numTensors).toBe(tensors);
  return e!.message;
}

describe('adapter shapes that do not fit', () => {
  it('another rank in the config than in the weights: 8 keys named, the count of all, and the rank named as the cause', async () => {
    const wrongR = await mkdtemp(join(tmpdir(), 'lora-shapes-r-'));
    const config = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(wrongR, 'adapter_config.json'), JSON.stringify({ ...config, r: 3 }));
    await writeFile(join(wrongR, 'adapter_model.safetensors'), await readFile(join(dir, 'adapter_model.safetensors')));
    const host = new Host(6);
    const msg = await loadError(host, wrongR);
    expect(msg).toMatch(/^LoRA: adapter shapes do not match the model: base_model\.model\.block\.0\.q\.lora_A\.weight is \[4,8\], the model needs \[3,8\]; base_model\.model\.block\.0\.q\.lora_B\.weight is \[8,4\], the model needs \[8,3\];/);
    expect(msg.match(/the model needs/g)).toHaveLength(8); // 24 tensors do not fit: the first 8 are named
    expect(msg).toMatch(/; … \(24 tensors in all\) — 24 of them with another rank than the adapter's r \(or rank_pattern\) gives that layer: the weights do not belong to this config$/);
    host.dispose();
    await rm(wrongR, { recursive: true, force: true });
  });

  it('another out_features in the model: the keys, no rank hint, no count when all are named', async () => {
    const host = new Host(2, 6);
    const msg = await loadError(host, dir);
    expect(msg).toBe(
      'LoRA: adapter shapes do not match the model: ' +
        ['block.0.q', 'block.0.v', 'block.1.q', 'block.1.v'].map((p) => `base_model.model.${p}.lora_B.weight is [8,4], the model needs [6,4]`).join('; '),
    );
    host.dispose();
  });
});
