// DoRA (PEFT 0.21 `use_dora`) against fixtures/dora/dora.json, PEFT's formulas transcribed in float64
// (fixtures/dora/generate.py): initial magnitude, forward (eval and with dropout), gradients wrt A, B, m
// and x, merge (float and 8-bit bases), several adapters, the factored norm, leaks and refusals.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { addDoraDelta, directWeightNorm, factoredWeightNorm } from '../src/dora.js';
import { FloatLinear, type Linear, LoraLinear, injectLora, loadAdapter } from '../src/index.js';
import { AdapterNamesBatch } from '../src/mixed-batch.js';
import { Bnb8bitLinear, OneLayerHost, PATH, arr, dora, floatBase, relErr } from './dora-helpers.js';
import { fixture } from './helpers.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const cfg = { r: dora.r, lora_alpha: dora.lora_alpha, target_modules: ['q'], use_dora: true };
const x = () => tf.tensor2d(arr('x'), [dora.n, dora.in]);
const gy = () => tf.tensor2d(arr('gy'), [dora.n, dora.out]);

/** A DoRA layer over `base` holding the fixture's A, B and m. */
function doraLayer(base: Linear = floatBase(), extra: Record<string, unknown> = {}) {
  const host = new OneLayerHost(base);
  const lora = injectLora(host, { ...cfg, ...extra }, { seed: 0 });
  const layer = lora.layers.get(PATH)!;
  layer.setWeights(arr('A'), arr('B'), 'default', arr('m'));
  return { host, lora, layer };
}

/** The loss sum(y ⊙ gy), its gradients wrt A, B, m (variableGrads) and wrt x (tf.grad), with `before` run before each forward. */
function lossAndGrads(layer: LoraLinear, before: () => void = () => {}) {
  const [xs, g] = [x(), gy()];
  const a = layer.adapter('default');
  const loss = (input: tf.Tensor) => tf.sum(tf.mul(layer.apply(input), g)) as tf.Scalar;
  before();
  const { value, grads } = tf.variableGrads(() => loss(xs), [a.loraA, a.loraB, a.magnitude!]);
  before();
  const gx = tf.grad(loss)(xs);
  const out = {
    A: grads[a.loraA.name]!.dataSync(),
    B: grads[a.loraB.name]!.dataSync(),
    m: grads[a.magnitude!.name]!.dataSync(),
    x: gx.dataSync(),
  };
  tf.dispose([value, gx, xs, g, ...Object.values(grads)]);
  return out;
}

describe('DoRA layer (PEFT DoraLinearLayer / DoraLinearVariant)', () => {
  it('initialises m to ‖W + s·B·A‖ per row: ‖W‖ when B = 0, with B random (init_lora_weights=false), with rslora', () => {
    const zero = injectLora(new OneLayerHost(floatBase()), cfg, { seed: 0 });
    expect(relErr(zero.layers.get(PATH)!.adapter('default').magnitude!.dataSync(), arr('m_init_zero_B'))).toBeLessThan(1e-6);
    expect(zero.trainableVariables().map((v) => v.name)).toEqual([
      'base_model.model.layers.0.q.lora_A.weight',
      'base_model.model.layers.0.q.lora_B.weight',
      'base_model.model.layers.0.q.lora_magnitude_vector',
    ]);
    expect(zero.trainableParameterCounts().trainable).toBe(dora.r * dora.in + dora.out * dora.r + dora.out);
    zero.unload();
    // B random: recompute the direct norm with the fixture's A and B through the same init path
    for (const [extra, key, s] of [[{}, 'm_init', dora.scaling], [{ use_rslora: true }, 'm_init_rslora', dora.scaling_rslora]] as const) {
      const lora = injectLora(new OneLayerHost(floatBase()), { ...cfg, ...extra }, { seed: 0 });
      const a = lora.layers.get(PATH)!.adapter('default');
      expect(a.scaling).toBeCloseTo(s, 12);
      a.setWeights(arr('A'), arr('B'));
      const w = tf.tensor2d(arr('W'), [dora.out, dora.in]);
      const n = directWeightNorm(w, a);
      expect(relErr(n.dataSync(), arr(key))).toBeLessThan(1e-6);
      tf.dispose([w, n]);
      lora.unload();
    }
    const rand = injectLora(new OneLayerHost(floatBase()), { ...cfg, init_lora_weights: false }, { seed: 0 });
    const a = rand.layers.get(PATH)!.adapter('default');
    const w = tf.tensor2d(arr('W'), [dora.out, dora.in]);
    const n = directWeightNorm(w, a); // ‖W + s·B₀·A₀‖ with the layer's own random A₀, B₀ ≠ 0
    expect(relErr(a.magnitude!.dataSync(), n.dataSync())).toBeLessThan(1e-6);
    expect(relErr(a.magnitude!.dataSync(), arr('m_init_zero_B'))).toBeGreaterThan(1e-3);
    tf.dispose([w, n]);
    rand.unload();
  });

  it('forward in eval mode equals PEFT (base run once) and gradients wrt A, B, m, x match; nothing leaks', () => {
    const { lora, layer } = doraLayer();
    const xs = x();
    let applies = 0;
    const base = layer.base;
    const counting = { inFeatures: base.inFeatures, outFeatures: base.outFeatures, apply: (t: tf.Tensor) => (applies++, base.apply(t)) };
    const before = tf.memory().numTensors;
    const y = layer.apply(xs);
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(relErr(y.dataSync(), arr('y_eval'))).toBeLessThan(1e-6);
    y.dispose();
    // the DoRA term reuses the base result: one base run on x (+ one on A's r rows for the norm)
    Object.assign(layer, { base: counting });
    const y2 = layer.apply(xs);
    expect(applies).toBe(2);
    Object.assign(layer, { base });
    tf.dispose([y2, xs]);
    const b2 = tf.memory().numTensors;
    const g = lossAndGrads(layer);
    expect(tf.memory().numTensors).toBe(b2);
    expect(relErr(g.A, arr('grad_A'))).toBeLessThan(1e-5);
    expect(relErr(g.B, arr('grad_B'))).toBeLessThan(1e-5);
    expect(relErr(g.m, arr('grad_m'))).toBeLessThan(1e-5);
    expect(relErr(g.x, arr('grad_x'))).toBeLessThan(1e-5);
    lora.unload();
  });

  it('with lora_dropout in training: base term on dropout(x), the same mask as the LoRA path; PEFT values and gradients', () => {
    const { lora, layer } = doraLayer(floatBase(), { lora_dropout: dora.dropout });
    lora.train();
    // the layer draws the fixture's dropout seed (PEFT's mask passed in explicitly in generate.py)
    const rng = { int32: () => dora.dropout_seed, state: () => ({ i: 0, j: 0, S: [] }) };
    const draw = () => Object.assign(layer, { dropoutRng: rng });
    draw();
    const xs = x();
    const y = layer.apply(xs);
    expect(relErr(y.dataSync(), arr('y_train'))).toBeLessThan(1e-6);
    expect(relErr(y.dataSync(), arr('y_eval'))).toBeGreaterThan(1e-2);
    tf.dispose([y, xs]);
    const before = tf.memory().numTensors;
    const g = lossAndGrads(layer, draw);
    expect(tf.memory().numTensors).toBe(before);
    expect(relErr(g.A, arr('train_grad_A'))).toBeLessThan(1e-5);
    expect(relErr(g.B, arr('train_grad_B'))).toBeLessThan(1e-5);
    expect(relErr(g.m, arr('train_grad_m'))).toBeLessThan(1e-5);
    expect(relErr(g.x, arr('train_grad_x'))).toBeLessThan(1e-5);
    lora.unload();
  });

  it('gradient checkpointing: restoring the random state replays the same mask (same output and gradients)', () => {
    const { lora, layer } = doraLayer(floatBase(), { lora_dropout: 0.3 });
    lora.train();
    const s0 = layer.getRandomState();
    const replay = () => layer.setRandomState(s0);
    const g1 = lossAndGrads(layer, replay);
    const g2 = lossAndGrads(layer, replay);
    expect(Array.from(g2.A)).toEqual(Array.from(g1.A));
    expect(Array.from(g2.m)).toEqual(Array.from(g1.m));
    const g3 = lossAndGrads(layer); // the stream moves on: another mask
    expect(relErr(g3.A, g1.A)).toBeGreaterThan(1e-3);
    lora.unload();
  });

  it('the magnitude trains with its adapter: setAdapter / setRequiresGrad switch it with A and B; a loaded adapter is frozen (unless isTrainable)', async () => {
    const { host, lora } = doraLayer();
    lora.addAdapter('other', { ...cfg, r: 2 });
    const names = (model = lora) => model.trainableVariables().map((v) => v.name.replace('base_model.model.layers.0.q.', ''));
    expect(names()).toEqual(['lora_A.weight', 'lora_B.weight', 'lora_magnitude_vector']);
    lora.setAdapter('other');
    expect(names()).toEqual(['lora_A.other.weight', 'lora_B.other.weight', 'lora_magnitude_vector.other.weight']);
    lora.setRequiresGrad('other', false);
    expect(names()).toEqual([]);
    // a DoRA adapter loaded from PEFT files beside them (is_trainable false, PEFT's default): m frozen with A and B
    lora.setRequiresGrad('other', true);
    await lora.loadAdapter(fixture('dora/peft-adapter'), 'loaded');
    const loaded = lora.layers.get(PATH)!.adapter('loaded');
    expect(loaded.magnitude!.trainable).toBe(false);
    expect(loaded.variables.map((v) => v.trainable)).toEqual([false, false, false]);
    expect(names()).toEqual(['lora_A.other.weight', 'lora_B.other.weight', 'lora_magnitude_vector.other.weight']);
    lora.unload();
    // loadAdapter: frozen by default, trainable magnitude with isTrainable
    const frozen = await loadAdapter(host, fixture('dora/peft-adapter'));
    expect(frozen.layers.get(PATH)!.adapter('default').magnitude!.trainable).toBe(false);
    expect(names(frozen)).toEqual([]);
    frozen.unload();
    const trainable = await loadAdapter(host, fixture('dora/peft-adapter'), { isTrainable: true });
    expect(names(trainable)).toEqual(['lora_A.weight', 'lora_B.weight', 'lora_magnitude_vector']);
    trainable.unload();
  });

  it('adding DoRA adapters to a layer keeps its one copy of the base stats: unloading frees every tensor they allocated', () => {
    const host = new OneLayerHost(floatBase());
    const before = tf.memory().numTensors;
    const lora = injectLora(host, cfg, { seed: 0 });
    // A, B, m + the layer's stats ‖W_i‖² and bias
    expect(tf.memory().numTensors).toBe(before + 5);
    const mid = tf.memory().numTensors;
    lora.addAdapter('second', { ...cfg, r: 2 });
    lora.addAdapter('third', { ...cfg, r: 3 });
    expect(tf.memory().numTensors).toBe(mid + 6); // A, B, m of each: the stats are reused, not recomputed
    lora.unload();
    expect(tf.memory().numTensors).toBe(before);
    (host.layer as FloatLinear).dispose();
  });

  it('rslora scaling (lora_alpha / √r) in the forward', () => {
    const { lora, layer } = doraLayer(floatBase(), { use_rslora: true });
    const xs = x();
    const y = layer.apply(xs);
    expect(relErr(y.dataSync(), arr('y_rslora'))).toBeLessThan(1e-6);
    tf.dispose([y, xs]);
    lora.unload();
  });

  it('the factored norm (no W materialised) equals the direct norm ‖W + s·B·A‖ (PEFT get_weight_norm) to float32 rounding', () => {
    const { lora, layer } = doraLayer();
    const a = layer.adapter('default');
    const stats = (layer as unknown as { doraStats: Parameters<typeof factoredWeightNorm>[1] }).doraStats;
    // float64 reference of ‖W + s·B·A‖ from the fixture's float32 inputs
    const [W, A, B] = [arr('W'), arr('A'), arr('B')];
    const want = new Float64Array(dora.out);
    for (let o = 0; o < dora.out; o++) {
      let sq = 0;
      for (let i = 0; i < dora.in; i++) {
        let ba = 0;
        for (let k = 0; k < dora.r; k++) ba += B[o * dora.r + k]! * A[k * dora.in + i]!;
        sq += (W[o * dora.in + i]! + dora.scaling * ba) ** 2;
      }
      want[o] = Math.sqrt(sq);
    }
    const n = factoredWeightNorm(layer.base, stats, a.loraA, a.loraB, a.scaling);
    expect(relErr(n.dataSync(), want)).toBeLessThan(2e-6);
    n.dispose();
    lora.unload();
  });

  it('merge / unmerge / mergeAndUnload: (m/‖W+ΔW‖)·(W+ΔW) as PEFT merge_safe; unmerge restores the base exactly', () => {
    const { host, lora, layer } = doraLayer();
    const xs = x();
    const y0 = layer.apply(xs);
    const w = layer.mergedWeight(['default']);
    expect(relErr(w.dataSync(), arr('merged'))).toBeLessThan(1e-6);
    w.dispose();
    lora.merge();
    const ym = layer.apply(xs);
    expect(relErr(ym.dataSync(), arr('y_eval'))).toBeLessThan(1e-6);
    lora.unmerge();
    const yu = layer.apply(xs);
    expect(Array.from(yu.dataSync())).toEqual(Array.from(y0.dataSync()));
    const before = tf.memory().numTensors;
    lora.mergeAndUnload();
    expect(host.layer).not.toBeInstanceOf(LoraLinear);
    const merged = host.layer.dequantize!();
    expect(relErr(merged.dataSync(), arr('merged'))).toBeLessThan(1e-6);
    // freed: A, B, m, the stats (‖W‖², bias), the base's W and bias; added: the merged W and its bias
    expect(tf.memory().numTensors).toBeLessThan(before);
    tf.dispose([xs, y0, ym, yu, merged]);
    host.layer.dispose?.();
  });

  it('8-bit base (bitsandbytes storage): init from the dequantized W, forward, and the async merge re-quantizes the DoRA weight', async () => {
    const base = new Bnb8bitLinear(Int8Array.from(dora.CB), arr('SCB'), dora.out, dora.in, arr('bias'));
    expect(relErr(base.weight(), arr('W8'))).toBe(0);
    const host = new OneLayerHost(base);
    const lora = injectLora(host, { ...cfg, init_lora_weights: false }, { seed: 0 });
    const layer = lora.layers.get(PATH)!;
    const a = layer.adapter('default');
    a.setWeights(arr('A'), arr('B'));
    const w8 = base.dequantize();
    const n = directWeightNorm(w8, a);
    expect(relErr(n.dataSync(), arr('m_init_int8'))).toBeLessThan(1e-6);
    tf.dispose([w8, n]);
    layer.setWeights(arr('A'), arr('B'), 'default', arr('m'));
    const xs = x();
    const y = layer.apply(xs);
    expect(relErr(y.dataSync(), arr('y_int8'))).toBeLessThan(1e-6);
    tf.dispose([xs, y]);
    await lora.mergeAndUnloadAsync();
    expect(host.layer).toBeInstanceOf(Bnb8bitLinear);
    const want = Bnb8bitLinear.quantize(arr('merged_int8'), dora.out, dora.in, arr('bias'));
    const got = host.layer as Bnb8bitLinear;
    expect(relErr(got.SCB, want.SCB)).toBeLessThan(1e-6);
    expect(got.CB.reduce((m, v, i) => Math.max(m, Math.abs(v - want.CB[i]!)), 0)).toBeLessThanOrEqual(1);
  });

  it('a LoRA adapter and a DoRA adapter active together: the DoRA term scales the running result (PEFT Linear.forward); merge in order', () => {
    const { lora, layer } = doraLayer();
    lora.addAdapter('lora2', { r: dora.lora2_r, lora_alpha: dora.lora2_alpha, target_modules: ['q'] });
    layer.setWeights(arr('A2'), arr('B2'), 'lora2');
    lora.setAdapter(['lora2', 'default']);
    const xs = x();
    const y = layer.apply(xs);
    expect(relErr(y.dataSync(), arr('y_two'))).toBeLessThan(1e-6);
    const w = layer.mergedWeight(['lora2', 'default']);
    expect(relErr(w.dataSync(), arr('merged_two'))).toBeLessThan(1e-6);
    tf.dispose([xs, y, w]);
    lora.unload();
  });

  it('addDoraDelta is the layer forward (internal entry used above), webgpu bypassed: DoRA runs as tensor ops', () => {
    const { lora, layer } = doraLayer();
    const stats = (layer as unknown as { doraStats: Parameters<typeof addDoraDelta>[1] }).doraStats;
    const xs = x();
    const base = layer.base.apply(xs) as tf.Tensor2D;
    const y = addDoraDelta(layer.base, stats, base, xs, layer.adapter('default'), 0, 0);
    expect(relErr(y.dataSync(), arr('y_eval'))).toBeLessThan(1e-6);
    tf.dispose([xs, base, y]);
    lora.unload();
  });
});

describe('DoRA refusals (one error, nothing allocated or changed)', () => {
  it('a base without dequantize() is refused before anything is created', () => {
    const bare: Linear = { inFeatures: 40, outFeatures: 24, apply: (t) => tf.matMul(t, tf.zeros([40, 24])) };
    const host = new OneLayerHost(bare);
    const before = tf.memory().numTensors;
    expect(() => injectLora(host, cfg)).toThrow(/use_dora needs base linears with dequantize\(\).*layers\.0\.q/);
    expect(tf.memory().numTensors).toBe(before);
    expect(host.layer).toBe(bare);
    expect(Object.keys(tf.engine().registeredVariables).some((n) => n.includes('lora_magnitude_vector#'))).toBe(false);
  });

  it('PEFT config checks: use_dora not a boolean; DoRA with megatron_config', () => {
    expect(() => injectLora(new OneLayerHost(floatBase()), { ...cfg, use_dora: 'yes' as unknown as boolean })).toThrow(/use_dora must be a boolean, got "yes"/);
    expect(() => injectLora(new OneLayerHost(floatBase()), { ...cfg, megatron_config: { a: 1 } })).toThrow(/DoRA does not support megatron_core/);
  });

  it('mixed-adapter batches with a DoRA adapter (PEFT: "Cannot pass `adapter_names` when DoRA is enabled."); a LoRA name beside it still runs', () => {
    const { lora, layer } = doraLayer();
    lora.addAdapter('plain', { r: 2, lora_alpha: 2, target_modules: ['q'] });
    const xs = x();
    const before = tf.memory().numTensors;
    expect(() => lora.withAdapterNames(['default', '__base__', 'plain', 'plain', 'default', '__base__'], () => layer.apply(xs))).toThrow(
      /Cannot pass `adapter_names` when DoRA is enabled.*default/,
    );
    expect(lora.adapterNames).toBeNull();
    expect(tf.memory().numTensors).toBe(before);
    // refused by the model before fn runs, not by the first layer inside it
    let ran = false;
    expect(() => lora.withAdapterNames(['default'], () => (ran = true))).toThrow(/^LoRA: Cannot pass `adapter_names` when DoRA is enabled/);
    expect(ran).toBe(false);
    // and by the layer itself (PEFT's per-layer _check_forward_args), e.g. for a batch set on it directly
    const batch = new AdapterNamesBatch(['default', '__base__', 'default', 'plain', 'plain', '__base__']);
    layer.setAdapterNamesBatch(batch);
    expect(() => layer.apply(xs)).toThrow(/^LoRA layer layers\.0\.q: Cannot pass `adapter_names` when DoRA is enabled \(DoRA adapter default\)/);
    layer.setAdapterNamesBatch(null);
    batch.dispose();
    const y = lora.withAdapterNames(['plain', '__base__', 'plain', 'plain', '__base__', '__base__'], () => layer.apply(xs));
    expect(y.shape).toEqual([dora.n, dora.out]);
    tf.dispose([xs, y]);
    lora.unload();
  });

  it('addWeightedAdapter of DoRA adapters is refused (their magnitudes cannot be combined)', async () => {
    const { lora } = doraLayer();
    await expect(lora.addWeightedAdapter(['default'], [1], 'w')).rejects.toThrow(/addWeightedAdapter does not combine DoRA adapters \(default\)/);
    expect([...lora.peftConfig.keys()]).toEqual(['default']);
    lora.unload();
  });

  it('a magnitude for a plain LoRA adapter, or of the wrong length, is refused', () => {
    const lora = injectLora(new OneLayerHost(floatBase()), { ...cfg, use_dora: false });
    const layer = lora.layers.get(PATH)!;
    expect(() => layer.setWeights(arr('A'), arr('B'), 'default', arr('m'))).toThrow(/not a DoRA adapter/);
    lora.unload();
    const { lora: l2, layer: d } = doraLayer();
    expect(() => d.setWeights(arr('A'), arr('B'), 'default', new Float32Array(3))).toThrow(/lora_magnitude_vector of "default" needs 24 values, got 3/);
    l2.unload();
  });
});
