// Mixed-adapter batches with the golden PEFT 0.21 files on ul2-tiny's 16 q/v linears: the golden
// adapter under two names ("default", "b") plus PEFT's adapter after 3 AdamW steps ("step3"), one
// name per example of a [B, S, 64] input and of T5's flattened [B·S, 64]. PEFT's definition
// (lora/layer.py `LoraLayer._mixed_batch_forward`): each example's rows are what the model gives
// with only that adapter, the base's for "__base__". Checked against PEFT's own numbers where they
// exist — the "step3" rows against x·W'ᵀ with W' PEFT's `merge_and_unload()` weights
// (merged_qv_after_step3) — and bit for bit against the single-adapter forward otherwise.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensorsFile, toFloat32 } from '@conifer/safetensors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_ADAPTER_NAME, loadAdapter, type LoraModel } from '../src/index.js';
import { CheckpointLinears, fixture, relL2 } from './helpers.js';

const QV_R4 = fixture('ul2-tiny-qv-r4');
let step3Dir: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  step3Dir = await mkdtemp(join(tmpdir(), 'conifer-lora-mixed-'));
  await copyFile(join(QV_R4, 'adapter_config.json'), join(step3Dir, 'adapter_config.json'));
  await writeFile(join(step3Dir, 'adapter_model.safetensors'), await readFile(fixture('adamw_after_step3.safetensors')));
});
afterAll(async () => {
  await rm(step3Dir, { recursive: true, force: true });
});

const [B, S, D] = [5, 3, 64];
const NAMES = ['step3', BASE_ADAPTER_NAME, 'b', 'default', 'step3'];
/** Every adapted layer's output on x, by path. */
const outputs = (lora: LoraModel, x: tf.Tensor) => {
  const out = new Map<string, Float32Array>();
  for (const [path, l] of lora.layers) {
    const y = l.apply(x);
    out.set(path, y.dataSync().slice() as Float32Array);
    y.dispose();
  }
  return out;
};
const rowsOf = (y: Float32Array, i: number) => y.slice(i * S * D, (i + 1) * S * D); // every q/v here is 64 → 64

describe('mixed-adapter batch with the golden PEFT adapters (ul2-tiny)', () => {
  it('example i is the forward with only NAMES[i]: "step3" rows = x·(PEFT merged W)ᵀ, the others bit for bit; [B, S, d] = [B·S, d]; no leaks', async () => {
    const merged = (await readSafetensorsFile(fixture('merged_qv_after_step3.safetensors'))).tensors;
    const host = await CheckpointLinears.open(fixture('ul2-tiny/model.safetensors'));
    const lora = await loadAdapter(host, QV_R4);
    await lora.loadAdapter(QV_R4, 'b');
    await lora.loadAdapter(step3Dir, 'step3');
    expect(lora.layers.size).toBe(16);
    const x3 = tf.randomNormal([B, S, D], 0, 1, 'float32', 7);
    const single = new Map<string, Map<string, Float32Array>>();
    for (const n of ['default', 'b', 'step3']) {
      lora.setAdapter(n);
      single.set(n, outputs(lora, x3));
    }
    single.set(BASE_ADAPTER_NAME, lora.withAdapterDisabled(() => outputs(lora, x3)));
    lora.setAdapter('default');
    expect(single.get('default')).not.toEqual(single.get('step3'));

    const before = tf.memory().numTensors;
    const mixed3 = lora.withAdapterNames(NAMES, () => outputs(lora, x3));
    const x2 = tf.reshape(x3, [B * S, D]); // T5's project3d
    const mixed2 = lora.withAdapterNames(NAMES, () => outputs(lora, x2));
    x2.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(mixed2).toEqual(mixed3);

    let worst = 0;
    for (const [path, y] of mixed3) {
      NAMES.forEach((n, i) => expect(rowsOf(y, i), `${path} example ${i} (${n})`).toEqual(rowsOf(single.get(n)!.get(path)!, i)));
      // PEFT's merged weight W' [out, in]: the step3 rows must be x·W'ᵀ.
      const t = merged.get(`${path}.weight`)!;
      const want = tf.tidy(() => tf.matMul(tf.reshape(x3, [B * S, D]), tf.tensor2d(toFloat32(t.dtype, t.data), [D, D]), false, true).dataSync());
      for (const i of [0, 4]) worst = Math.max(worst, relL2(rowsOf(y, i), want.slice(i * S * D, (i + 1) * S * D)));
    }
    console.log(`step3 rows vs x·(PEFT merged W)ᵀ: worst rel L2 ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-6);
    x3.dispose();
    lora.unload();
    host.dispose();
  });
});
