// Issue 10's CI check: on the webgpu backend (lavapipe in CI) a LoRA training step of the golden
// ul2-tiny (+ the golden PEFT adapter) gives the same loss and LoRA gradients as the cpu backend and
// as PEFT (grads_step0), with float32 and with int8 (weight-only) base linears.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { readFileSync } from 'node:fs';
import { int8LinearFactory, quantizeAllButLmHead } from '@conifer/int8';
import { loadAdapter } from '@conifer/lora';
import { readSafetensorsFile, toFloat32 } from '@conifer/safetensors';
import { T5ForConditionalGeneration } from '@conifer/t5-model';
import { afterAll, describe, expect, it } from 'vitest';
import { LORA_FIXTURES, goldenBatch, relL2 } from './helpers.js';
import { skipWebGPU } from '../../../../vitest.webgpu';
import { setupWebGPUNode, type WebGPUSetup } from '../../src/webgpu-node.js';

const skip = await skipWebGPU();
const LORA = LORA_FIXTURES;
const c = JSON.parse(readFileSync(`${LORA}/lora-ul2-tiny.json`, 'utf8')) as { input_ids: number[][]; attention_mask: number[][]; labels: number[][]; losses: number[] };


/** Loss and the LoRA gradients of one step on the current backend. */
async function step(int8: boolean): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  const model = await T5ForConditionalGeneration.fromPretrained(`${LORA}/ul2-tiny`, int8 ? { makeLinear: int8LinearFactory({ mode: 'weight-only', shouldQuantize: quantizeAllButLmHead }) } : {});
  const lora = await loadAdapter(model, `${LORA}/ul2-tiny-qv-r4`, { isTrainable: true });
  lora.train();
  const batch = goldenBatch(c);
  let count = 0;
  const lossGrads = () =>
    tf.variableGrads(() => {
      const r = model.lossSum(batch, true);
      count = r.count;
      return r.sum;
    }, lora.trainableVariables());
  // The first backward caches transposed copies of the frozen weights; measure leaks on the second.
  const warm = lossGrads();
  tf.dispose([warm.value, ...Object.values(warm.grads)]);
  const before = tf.memory().numTensors;
  const { value, grads } = lossGrads();
  const loss = (await value.data())[0]! / count;
  const out = new Map<string, Float32Array>();
  for (const [name, g] of Object.entries(grads)) out.set(name.replace(/#\d+$/, ''), Float32Array.from(await g.data(), (v) => v / count));
  tf.dispose([value, ...Object.values(grads)]);
  expect(tf.memory().numTensors).toBe(before);
  lora.dispose();
  model.dispose();
  return { loss, grads: out };
}

describe.skipIf(skip)('LoRA training step on webgpu equals cpu and PEFT', () => {
  let setup: WebGPUSetup | undefined;
  afterAll(async () => {
    await tf.setBackend('cpu');
    setup?.dispose();
  });

  for (const int8 of [false, true]) {
    it(`${int8 ? 'int8 weight-only' : 'float32'} base: loss and gradients (cpu vs webgpu ≤ 1e-3 rel)`, async () => {
      await tf.setBackend('cpu');
      const cpu = await step(int8);
      if (setup) await tf.setBackend('webgpu');
      else setup = await setupWebGPUNode();
      expect(tf.getBackend()).toBe('webgpu');
      const gpu = await step(int8);
      await tf.setBackend('cpu');
      expect(Math.abs(gpu.loss - cpu.loss) / cpu.loss).toBeLessThan(1e-4);
      if (!int8) expect(Math.abs(cpu.loss - c.losses[0]!) / c.losses[0]!).toBeLessThan(1e-4);
      const golden = new Map<string, Float32Array>();
      for (const [k, t] of (await readSafetensorsFile(`${LORA}/grads_step0.safetensors`)).tensors) golden.set(k, toFloat32(t.dtype, t.data));
      let worst = 0;
      for (const [name, g] of cpu.grads) {
        const w = gpu.grads.get(name);
        expect(w, name).toBeDefined();
        worst = Math.max(worst, relL2(w!, g));
        if (!int8) expect(relL2(g, golden.get(name)!), name).toBeLessThan(1e-4);
      }
      console.log(`${int8 ? 'int8' : 'float32'}: loss cpu ${cpu.loss.toFixed(6)} webgpu ${gpu.loss.toFixed(6)}; worst grad rel L2 ${worst.toExponential(2)} over ${cpu.grads.size} tensors`);
      expect(cpu.grads.size).toBe(golden.size);
      expect(worst).toBeLessThan(1e-3);
    });
  }
});
