// Cross-package golden test: @conifer/lora on @conifer/t5-model against PEFT 0.21 (fixtures of
// @conifer/lora: packages/lora/test/fixtures, see PROVENANCE.md there). Not run in packages/lora
// (which must not depend on t5-model); meant for the example package's tests. Written against:
//   T5ForConditionalGeneration.fromPretrained(dir) (a LinearHost), model.forward({ inputIds, attentionMask, labels })
//   → { logits, loss, … } with loss the mean over non-ignored labels, and model.dispose();
//   and @conifer/int8's int8LinearFactory() for the int8-base test.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensorsFile, toFloat32 } from '@conifer/safetensors';
import { T5ForConditionalGeneration } from '@conifer/t5-model';
import { Int8Linear, int8LinearFactory, quantizeFloat32 } from '@conifer/int8';
import { loadAdapter, mergeAdapterIntoCheckpoint, type LoraModel } from '@conifer/lora';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loraFixture, relL2 } from './helpers.js';


interface LoraCase {
  input_ids: number[][];
  attention_mask: number[][];
  labels: number[][];
  logits_step0: { shape: number[]; data: number[] };
  losses: number[];
  optimizer: { lr: number; betas: [number, number]; eps: number; weight_decay: number };
  merged_loss_after_step3: number;
}
const c = JSON.parse(readFileSync(loraFixture('lora-ul2-tiny.json'), 'utf8')) as LoraCase;

const int2d = (rows: number[][]) => tf.tensor2d(rows.flat(), [rows.length, rows[0]!.length], 'int32');
const readTensors = async (file: string) => {
  const out = new Map<string, Float32Array>();
  for (const [k, t] of (await readSafetensorsFile(file)).tensors) out.set(k, toFloat32(t.dtype, t.data));
  return out;
};

let inputIds: tf.Tensor2D;
let attentionMask: tf.Tensor2D;
let labels: tf.Tensor2D;
let tmp: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  inputIds = int2d(c.input_ids);
  attentionMask = int2d(c.attention_mask);
  labels = int2d(c.labels);
  tmp = await mkdtemp(join(tmpdir(), 'conifer-lora-golden-'));
});
afterAll(async () => {
  tf.dispose([inputIds, attentionMask, labels]);
  await rm(tmp, { recursive: true, force: true });
});

/** A bare golden state dict (grads/after-step files) as an adapter folder with the r4 config. */
async function adapterDir(name: string, stateDictFile: string): Promise<string> {
  const dir = join(tmp, name);
  await mkdir(dir, { recursive: true });
  await copyFile(loraFixture('ul2-tiny-qv-r4/adapter_config.json'), join(dir, 'adapter_config.json'));
  await writeFile(join(dir, 'adapter_model.safetensors'), await readFile(stateDictFile));
  return dir;
}

/** The mean loss alone (the other outputs are freed by the tidy). */
const loss = (model: T5ForConditionalGeneration) => tf.tidy(() => model.forward({ inputIds, attentionMask, labels }).loss! as tf.Scalar);

describe('LoRA on ul2-tiny against PEFT 0.21 (r 4, alpha 8, q and v)', () => {
  it('logits with the golden adapter (≤ 1e-4 rel) and the step-0 loss', async () => {
    const model = await T5ForConditionalGeneration.fromPretrained(loraFixture('ul2-tiny'));
    const lora = await loadAdapter(model, loraFixture('ul2-tiny-qv-r4'));
    const out = model.forward({ inputIds, attentionMask, labels });
    expect(out.logits.shape).toEqual(c.logits_step0.shape);
    const err = relL2(out.logits.dataSync(), c.logits_step0.data);
    console.log('logits_step0 rel L2', err);
    expect(err).toBeLessThan(1e-4);
    expect(Math.abs(out.loss!.dataSync()[0]! - c.losses[0]!) / c.losses[0]!).toBeLessThan(1e-4);
    // the adapter matters: without it the logits differ
    const off = lora.withAdapterDisabled(() => model.forward({ inputIds, attentionMask, labels }));
    expect(relL2(off.logits.dataSync(), c.logits_step0.data)).toBeGreaterThan(1e-3);
    tf.dispose([out, off] as unknown as tf.TensorContainer);
    lora.unload();
    model.dispose();
  });

  it('first-step gradients of A and B equal grads_step0 (≤ 1e-4 rel per tensor), no leaks', async () => {
    const model = await T5ForConditionalGeneration.fromPretrained(loraFixture('ul2-tiny'));
    const lora = await loadAdapter(model, loraFixture('ul2-tiny-qv-r4'), { isTrainable: true });
    lora.train(); // dropout is 0 in this config: same numbers, exercises the training path
    const golden = await readTensors(loraFixture('grads_step0.safetensors'));
    const vars = lora.trainableVariables();
    expect(vars.map((v) => v.name).sort()).toEqual([...golden.keys()].sort());
    // warm-up: t5-model keeps 41 tensors it builds on the first forward/backward (caches); later calls leak nothing
    const warm = tf.variableGrads(() => loss(model), vars);
    tf.dispose([warm.value, ...Object.values(warm.grads)]);
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() => loss(model), vars);
    let worst = 0;
    for (const [k, g] of golden) worst = Math.max(worst, relL2(grads[k]!.dataSync(), g));
    console.log('grads_step0 worst rel L2', worst);
    expect(worst).toBeLessThan(1e-4);
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    lora.unload();
    model.dispose();
  });

  it('three AdamW steps (torch formula, written out here) follow losses and adamw_after_step{1,3}', async () => {
    const model = await T5ForConditionalGeneration.fromPretrained(loraFixture('ul2-tiny'));
    const lora: LoraModel = await loadAdapter(model, loraFixture('ul2-tiny-qv-r4'), { isTrainable: true });
    const { lr, betas, eps, weight_decay: wd } = c.optimizer;
    const vars = lora.trainableVariables();
    const m = new Map(vars.map((v) => [v.name, new Float64Array(v.size)]));
    const s = new Map(vars.map((v) => [v.name, new Float64Array(v.size)]));
    const after = new Map<number, Map<string, Float32Array>>([
      [1, await readTensors(loraFixture('adamw_after_step1.safetensors'))],
      [3, await readTensors(loraFixture('adamw_after_step3.safetensors'))],
    ]);
    for (let step = 1; step <= 3; step++) {
      const { value, grads } = tf.variableGrads(() => loss(model), vars);
      expect(Math.abs(value.dataSync()[0]! - c.losses[step - 1]!) / c.losses[step - 1]!).toBeLessThan(1e-4);
      for (const v of vars) {
        // torch.optim.AdamW: p *= 1 - lr·wd; m, v moments; p -= lr/(1-β1^t) · m / (√v/√(1-β2^t) + eps)
        const p = Float64Array.from(v.dataSync());
        const g = grads[v.name]!.dataSync();
        const mm = m.get(v.name)!;
        const ss = s.get(v.name)!;
        for (let i = 0; i < p.length; i++) {
          p[i]! *= 1 - lr * wd;
          mm[i] = betas[0] * mm[i]! + (1 - betas[0]) * g[i]!;
          ss[i] = betas[1] * ss[i]! + (1 - betas[1]) * g[i]! ** 2;
          p[i]! -= (lr / (1 - betas[0] ** step)) * (mm[i]! / (Math.sqrt(ss[i]!) / Math.sqrt(1 - betas[1] ** step) + eps));
        }
        v.assign(tf.tensor(Float32Array.from(p), v.shape));
      }
      tf.dispose([value, ...Object.values(grads)]);
      const want = after.get(step);
      if (want) {
        let worst = 0;
        for (const [k, t] of lora.stateDict()) worst = Math.max(worst, relL2(t.data, want.get(k)!));
        console.log(`adapter after step ${step}: worst rel L2 ${worst}`);
        expect(worst).toBeLessThan(1e-4);
      }
    }
    lora.unload();
    model.dispose();
  });

  it('merge_and_unload after step 3: q/v weights equal merged_qv_after_step3, loss equals merged_loss_after_step3', async () => {
    const model = await T5ForConditionalGeneration.fromPretrained(loraFixture('ul2-tiny'));
    const lora = await loadAdapter(model, await adapterDir('step3', loraFixture('adamw_after_step3.safetensors')));
    const unmerged = loss(model);
    lora.merge();
    const merged = loss(model);
    expect(Math.abs(merged.dataSync()[0]! - unmerged.dataSync()[0]!)).toBeLessThan(1e-5);
    lora.unmerge();
    lora.mergeAndUnload();
    const golden = await readTensors(loraFixture('merged_qv_after_step3.safetensors'));
    const linears = new Map(model.listLinears());
    let worst = 0;
    for (const [name, w] of golden) {
      const W = linears.get(name.slice(0, -'.weight'.length))!.dequantize!();
      worst = Math.max(worst, relL2(W.dataSync(), w));
      W.dispose();
    }
    expect(worst).toBeLessThan(1e-6);
    const l = loss(model);
    expect(Math.abs(l.dataSync()[0]! - c.merged_loss_after_step3) / c.merged_loss_after_step3).toBeLessThan(1e-4);
    // PEFT's next step, save_pretrained of the merged model: the saved q/v are the merged golden
    // weights, and the saved folder loads back to the same loss.
    const out = join(tmp, 'merged-saved');
    await model.savePretrained(out);
    const saved = await readTensors(join(out, 'model.safetensors'));
    for (const [name, w] of golden) expect(relL2(saved.get(name)!, w), name).toBeLessThan(1e-6);
    const reloaded = await T5ForConditionalGeneration.fromPretrained(out);
    const l2 = loss(reloaded);
    expect(l2.dataSync()[0]).toBeCloseTo(l.dataSync()[0]!, 5);
    tf.dispose([unmerged, merged, l, l2]);
    reloaded.dispose();
    model.dispose();
  });

  it("merge on the files (mergeAdapterIntoCheckpoint, the CLI's merge): the merged folder loads with no adapter and its loss is PEFT's merged_loss_after_step3", async () => {
    const out = join(tmp, 'merged-files');
    const result = await mergeAdapterIntoCheckpoint(loraFixture('ul2-tiny'), await adapterDir('step3-files', loraFixture('adamw_after_step3.safetensors')), out);
    expect(result.merged).toHaveLength(16);
    const model = await T5ForConditionalGeneration.fromPretrained(out);
    const before = tf.memory().numTensors;
    const l = loss(model);
    expect(Math.abs(l.dataSync()[0]! - c.merged_loss_after_step3) / c.merged_loss_after_step3).toBeLessThan(1e-5);
    l.dispose();
    expect(tf.memory().numTensors).toBe(before);
    // The unmerged base gives another loss: the merge is what moved it.
    const plain = await T5ForConditionalGeneration.fromPretrained(loraFixture('ul2-tiny'));
    const l0 = loss(plain);
    expect(Math.abs(l0.dataSync()[0]! - c.merged_loss_after_step3)).toBeGreaterThan(1e-3);
    l0.dispose();
    plain.dispose();
    model.dispose();
  });

  it('8 bit end to end: an int8 model saved in 8 bit (bitsandbytes form), the adapter merged into those files, loaded back in 8 bit: loss within int8 error of PEFT\'s merged loss', async () => {
    const int8Dir = join(tmp, 'ul2-tiny-8bit');
    const makeLinear = int8LinearFactory();
    const int8Model = await T5ForConditionalGeneration.fromPretrained(loraFixture('ul2-tiny'), { makeLinear });
    await int8Model.savePretrained(int8Dir, { keepInt8: true });
    int8Model.dispose();
    const out = join(tmp, 'merged-8bit');
    expect((await mergeAdapterIntoCheckpoint(int8Dir, await adapterDir('step3-8bit', loraFixture('adamw_after_step3.safetensors')), out)).merged).toHaveLength(16);
    const merged = await T5ForConditionalGeneration.fromPretrained(out, { makeLinear });
    expect(merged.listLinears().filter(([, l]) => l instanceof Int8Linear)).toHaveLength(merged.listLinears().length);
    const l = loss(merged);
    const err = Math.abs(l.dataSync()[0]! - c.merged_loss_after_step3) / c.merged_loss_after_step3;
    console.log(`8-bit merged ul2-tiny: loss ${l.dataSync()[0]!.toFixed(5)} vs PEFT's float merge ${c.merged_loss_after_step3.toFixed(5)} (rel ${err.toExponential(2)})`);
    expect(err).toBeLessThan(1.5e-3); // measured 7.5e-4: two int8 roundings of q/v and the rest
    l.dispose();
    merged.dispose();
  });

  it('on int8 bases: the adapter trains the same way, merge gives float linears ≈ unmerged, unmerge is exact', async () => {
    const model = await T5ForConditionalGeneration.fromPretrained(loraFixture('ul2-tiny'), { makeLinear: int8LinearFactory() });
    const lora = await loadAdapter(model, loraFixture('ul2-tiny-qv-r4'), { isTrainable: true });
    const vars = lora.trainableVariables();
    const { value, grads } = tf.variableGrads(() => loss(model), vars);
    expect(Object.keys(grads).sort()).toEqual(vars.map((v) => v.name).sort());
    // int8 rounding of the frozen weights moves the loss a little, not much
    expect(Math.abs(value.dataSync()[0]! - c.losses[0]!) / c.losses[0]!).toBeLessThan(2e-2);
    tf.dispose([value, ...Object.values(grads)]);
    const out = tf.tidy(() => model.forward({ inputIds, attentionMask, labels }).logits);
    lora.merge();
    const merged = tf.tidy(() => model.forward({ inputIds, attentionMask, labels }).logits);
    expect(relL2(merged.dataSync(), out.dataSync())).toBeLessThan(1e-5);
    lora.unmerge();
    const again = tf.tidy(() => model.forward({ inputIds, attentionMask, labels }).logits);
    expect(again.dataSync()).toEqual(out.dataSync());
    tf.dispose([out, merged, again]);
    lora.unload();
    model.dispose();
  });

  it('mergeAndUnloadAsync keeps int8 bases int8 (PEFT re-quantizes on merge): each merged layer is W + ΔW quantized once, logits ≈ the float merge', async () => {
    const load = async () => {
      const m = await T5ForConditionalGeneration.fromPretrained(loraFixture('ul2-tiny'), { makeLinear: int8LinearFactory() });
      return { m, lora: await loadAdapter(m, loraFixture('ul2-tiny-qv-r4')) };
    };
    const a = await load();
    const b = await load();
    // The float32 merged weights, to quantize by hand.
    const expected = new Map<string, Float32Array>();
    for (const [path, layer] of a.lora.layers) {
      const w = layer.dequantize();
      expected.set(path, (await w.data()) as Float32Array);
      w.dispose();
    }
    b.lora.mergeAndUnload(); // float32 merged, for the logits
    const before = tf.memory().numTensors;
    await a.lora.mergeAndUnloadAsync();
    for (const [path, lin] of a.m.listLinears()) {
      expect(lin, path).toBeInstanceOf(Int8Linear); // adapted or not, every projection is int8
      const want = expected.get(path);
      if (!want) continue;
      const q = quantizeFloat32(want, lin.outFeatures, lin.inFeatures);
      expect(Array.from((await (lin as Int8Linear).packed.data()) as Int32Array), path).toEqual(Array.from(q.packed));
      expect(Array.from(await (lin as Int8Linear).scale.data()), path).toEqual(Array.from(q.scale));
    }
    expect(b.m.listLinears().filter(([p]) => expected.has(p)).every(([, l]) => !(l instanceof Int8Linear))).toBe(true);
    // The adapters' A and B are freed, the old int8 bases replaced by new int8 layers of the same size.
    expect(tf.memory().numTensors).toBe(before - 2 * expected.size);
    const la = tf.tidy(() => a.m.forward({ inputIds, attentionMask, labels }).logits);
    const lb = tf.tidy(() => b.m.forward({ inputIds, attentionMask, labels }).logits);
    const err = relL2(la.dataSync(), lb.dataSync());
    expect(err).toBeLessThan(2e-2); // one more int8 rounding of the adapted weights
    expect(err).toBeGreaterThan(0);
    tf.dispose([la, lb]);
    a.m.dispose();
    b.m.dispose();
  });
});
