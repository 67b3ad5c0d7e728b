import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensorsFile, toFloat32 } from '@conifer/safetensors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FloatLinear, loadAdapter } from '../src/index.js';
import { CheckpointLinears, fixture, maxAbsDiff, relL2 } from './helpers.js';

/** The golden step-3 adapter is a bare state dict; this gives it the folder layout loadAdapter expects. */
let step3Dir: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  step3Dir = await mkdtemp(join(tmpdir(), 'conifer-lora-step3-'));
  await copyFile(fixture('ul2-tiny-qv-r4/adapter_config.json'), join(step3Dir, 'adapter_config.json'));
  await writeFile(join(step3Dir, 'adapter_model.safetensors'), await readFile(fixture('adamw_after_step3.safetensors')));
});
afterAll(async () => {
  await rm(step3Dir, { recursive: true, force: true });
});

describe('merge math against PEFT merge_and_unload (golden merged_qv_after_step3)', () => {
  it('W + 2·B·A from the base checkpoint and the step-3 adapter equals PEFT\'s merged q/v weights', async () => {
    const golden = (await readSafetensorsFile(fixture('merged_qv_after_step3.safetensors'))).tensors;
    expect(golden.size).toBe(16);
    const host = await CheckpointLinears.open(fixture('ul2-tiny/model.safetensors'));
    const lora = await loadAdapter(host, step3Dir);
    const before = tf.memory().numTensors;
    lora.mergeAndUnload();
    expect(tf.memory().numTensors).toBe(before - 16 * 2); // A and B freed; the merged weights replace the bases
    let worstAbs = 0;
    let worstRel = 0;
    for (const [name, t] of golden) {
      const path = name.slice(0, -'.weight'.length);
      const lin = host.linears.get(path);
      expect(lin).toBeInstanceOf(FloatLinear);
      const W = lin!.dequantize!();
      const w = W.dataSync();
      W.dispose();
      const want = toFloat32(t.dtype, t.data);
      worstAbs = Math.max(worstAbs, maxAbsDiff(w, want));
      worstRel = Math.max(worstRel, relL2(w, want));
    }
    console.log(`merged q/v vs PEFT: max |Δ| ${worstAbs.toExponential(2)}, worst rel L2 ${worstRel.toExponential(2)}`);
    // PEFT adds scaling·(B@A) to W in float32 as well; only the summation order of B@A may differ.
    expect(worstAbs).toBeLessThan(1e-6);
    expect(worstRel).toBeLessThan(1e-6);
    host.dispose();
  });

  it('merged forward equals the unmerged forward on the golden weights', async () => {
    const host = await CheckpointLinears.open(fixture('ul2-tiny/model.safetensors'));
    const lora = await loadAdapter(host, step3Dir);
    const q = host.linears.get('decoder.block.1.layer.1.EncDecAttention.q')!;
    const x = tf.randomNormal([5, 64], 0, 1, 'float32', 3);
    const y = q.apply(x);
    lora.merge();
    const ym = q.apply(x);
    expect(relL2(ym.dataSync(), y.dataSync())).toBeLessThan(1e-6);
    lora.unmerge();
    const yu = q.apply(x);
    expect(yu.dataSync()).toEqual(y.dataSync());
    tf.dispose([x, y, ym, yu]);
    lora.unload();
    host.dispose();
  });
});
