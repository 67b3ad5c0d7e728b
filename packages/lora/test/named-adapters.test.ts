// Several named adapters on one host, with PEFT's semantics (peft_model.py add_adapter / set_adapter /
// delete_adapter, tuners_utils.py BaseTunerLayer.set_adapter / delete_adapter, lora/layer.py
// Linear.forward / merge), on the two-layer fake host: outputs against explicit sums of deltas,
// trainability, deletion, merges, and tf.memory() around every operation.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { injectLora, type LoraLinear, type LoraModel } from '../src/index.js';
import { FrozenVariableLinear, TwoLayerHost, maxAbsDiff } from './helpers.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const input = () => tf.tensor2d(Array.from({ length: 24 }, (_, i) => Math.sin(1.3 * i)), [3, 8]);
const out = (host: TwoLayerHost) => {
  const x = input();
  const y = host.forward(x);
  const v = y.dataSync().slice();
  tf.dispose([x, y]);
  return v;
};
/** The host's forward computed by hand: base + Σ scaling·x·Aᵀ·Bᵀ over `names` (or names by path), layer by layer. */
const expected = (host: TwoLayerHost, layers: ReadonlyMap<string, LoraLinear>, names: string[] | Record<string, string[]>) =>
  tf.tidy(() => {
    let h: tf.Tensor = input();
    for (const path of ['layers.0.q', 'layers.1.v']) {
      const l = layers.get(path)!;
      let y = l.base.apply(h);
      for (const n of Array.isArray(names) ? names : names[path]!) {
        const a = l.adapters.get(n);
        if (a) y = tf.add(y, tf.mul(tf.matMul(tf.matMul(h, a.loraA, false, true), a.loraB, false, true), a.scaling));
      }
      h = path === 'layers.0.q' ? tf.relu(y) : y;
    }
    void host;
    return h.dataSync().slice();
  });
const names = (vars: tf.Variable[]) => vars.map((v) => v.name);
const twoAdapters = () => {
  const host = new TwoLayerHost(5);
  const lora = injectLora(host, { target_modules: ['q', 'v'], r: 2, lora_alpha: 4, init_lora_weights: false }, { seed: 1 });
  return { host, lora };
};
const freeAll = (host: TwoLayerHost, lora: LoraModel) => {
  lora.unload();
  host.dispose();
};

describe('named adapters: add, switch, combine (PEFT add_adapter / set_adapter)', () => {
  it('addAdapter names its variables, is neither active nor trainable, and changes no output until setAdapter', () => {
    const { host, lora } = twoAdapters();
    const y0 = out(host);
    const before = tf.memory().numTensors;
    lora.addAdapter('b', { target_modules: ['q', 'v'], r: 3, lora_alpha: 3, init_lora_weights: false }, { seed: 2 });
    expect(tf.memory().numTensors).toBe(before + 4); // A and B on two layers
    expect([...lora.peftConfig.keys()]).toEqual(['default', 'b']);
    expect(lora.activeAdapters).toEqual(['default']);
    expect(lora.activeAdapter).toBe('default');
    const q = lora.layers.get('layers.0.q')!;
    expect(q.adapters.get('default')!.loraA.name).toBe('base_model.model.layers.0.q.lora_A.weight'); // unchanged
    expect(q.adapters.get('b')!.loraA.name).toBe('base_model.model.layers.0.q.lora_A.b.weight'); // PEFT's in-model name
    expect(q.adapters.get('b')!.loraB.shape).toEqual([6, 3]);
    expect(q.r).toBe(2); // the layer's first adapter
    expect(names(lora.trainableVariables())).toEqual([
      'base_model.model.layers.0.q.lora_A.weight', 'base_model.model.layers.0.q.lora_B.weight',
      'base_model.model.layers.1.v.lora_A.weight', 'base_model.model.layers.1.v.lora_B.weight',
    ]);
    expect(out(host)).toEqual(y0);
    expect(() => lora.addAdapter('b', {})).toThrow(/an adapter named "b" already exists/);
    for (const bad of ['', 'a.b', 'x/y', '..']) expect(() => lora.addAdapter(bad, {})).toThrow(/adapter name .* is not allowed/);
    expect(tf.memory().numTensors).toBe(before + 4);
    freeAll(host, lora);
  });

  it('setAdapter(name): only its delta, only its A and B trainable; setAdapter([a, b]) sums both deltas in the forward and trains both', () => {
    const { host, lora } = twoAdapters();
    lora.addAdapter('b', { target_modules: ['q', 'v'], r: 3, lora_alpha: 3, init_lora_weights: false }, { seed: 2 });
    const before = tf.memory().numTensors;
    lora.setAdapter('b');
    expect(tf.memory().numTensors).toBe(before);
    expect(lora.activeAdapters).toEqual(['b']);
    expect(lora.config.r).toBe(3); // PEFT's active_peft_config
    expect(maxAbsDiff(out(host), expected(host, lora.layers, ['b']))).toBeLessThan(1e-5);
    expect(maxAbsDiff(out(host), expected(host, lora.layers, ['default']))).toBeGreaterThan(1e-3);
    expect(names(lora.trainableVariables())).toEqual([
      'base_model.model.layers.0.q.lora_A.b.weight', 'base_model.model.layers.0.q.lora_B.b.weight',
      'base_model.model.layers.1.v.lora_A.b.weight', 'base_model.model.layers.1.v.lora_B.b.weight',
    ]);
    expect(lora.trainableParameterCounts().trainable).toBe(3 * 8 + 6 * 3 + 3 * 6 + 4 * 3);

    lora.setAdapter(['default', 'b']);
    const both = out(host);
    expect(maxAbsDiff(both, expected(host, lora.layers, ['default', 'b']))).toBeLessThan(1e-5);
    expect(lora.trainableVariables()).toHaveLength(8);
    // gradients reach both adapters' A and B through the summed forward
    const x = input();
    const { value, grads } = tf.variableGrads(() => tf.sum(host.forward(x)) as tf.Scalar, lora.trainableVariables());
    expect(Object.keys(grads).sort()).toEqual(names(lora.trainableVariables()));
    for (const g of Object.values(grads)) expect(maxAbsDiff(g.dataSync(), new Float32Array(g.size))).toBeGreaterThan(0);
    tf.dispose([x, value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);

    lora.setAdapter('default', { inferenceMode: true }); // PEFT's inference_mode: active, frozen
    expect(lora.trainableVariables()).toEqual([]);
    expect(maxAbsDiff(out(host), expected(host, lora.layers, ['default']))).toBeLessThan(1e-5);
    expect(() => lora.setAdapter(['default', 'c'])).toThrow(/no adapter named "c" \(adapters: default, b\)/);
    expect(lora.activeAdapters).toEqual(['default']);
    freeAll(host, lora);
  });

  it('adapters with different targets and ranks: a new layer joins `layers` in host order and adds nothing until active', () => {
    const host = new TwoLayerHost(6);
    const lora = injectLora(host, { target_modules: ['v'], r: 2, init_lora_weights: false });
    lora.train();
    const y0 = out(host);
    lora.addAdapter('qonly', { target_modules: ['q'], r: 4, lora_alpha: 8, init_lora_weights: false });
    expect([...lora.layers.keys()]).toEqual(['layers.0.q', 'layers.1.v']);
    const q = lora.layers.get('layers.0.q')!;
    expect([...q.adapters.keys()]).toEqual(['qonly']);
    expect(q.activeAdapters).toEqual(['default']); // PEFT: a new layer follows the model's active adapters
    expect(q.training).toBe(true); // the model's mode
    expect(q.adapters.get('qonly')!.trainable).toBe(false);
    lora.eval();
    expect(maxAbsDiff(out(host), y0)).toBeLessThan(1e-6);
    lora.setAdapter(['default', 'qonly']);
    expect(maxAbsDiff(out(host), expected(host, lora.layers, ['default', 'qonly']))).toBeLessThan(1e-5);
    lora.setAdapter('qonly');
    expect(maxAbsDiff(out(host), expected(host, lora.layers, ['qonly']))).toBeLessThan(1e-5);
    freeAll(host, lora);
    expect(host.linears.get('layers.0.q')).toBeInstanceOf(FrozenVariableLinear);
  });

  it('disableAdapterLayers turns every active adapter off; setTrainable / setRequiresGrad act on the named adapters', () => {
    const { host, lora } = twoAdapters();
    const base = lora.withAdapterDisabled(() => out(host));
    lora.addAdapter('b', { target_modules: ['q', 'v'], init_lora_weights: false });
    lora.setAdapter(['default', 'b']);
    expect(maxAbsDiff(lora.withAdapterDisabled(() => out(host)), base)).toBe(0);
    expect(maxAbsDiff(out(host), base)).toBeGreaterThan(1e-3);
    lora.setTrainable(false); // the active adapters
    expect(lora.trainableVariables()).toEqual([]);
    lora.setRequiresGrad('b');
    expect(lora.trainableVariables().every((v) => v.name.includes('.b.'))).toBe(true);
    expect(lora.trainableVariables()).toHaveLength(4);
    expect(() => lora.setRequiresGrad('zz')).toThrow(/no adapter named "zz"/);
    freeAll(host, lora);
  });

  it('dropout with two active adapters: one stream per layer, replayed by getRandomState / setRandomState', () => {
    const host = new TwoLayerHost(7);
    const lora = injectLora(host, { r: 2, lora_dropout: 0.5, init_lora_weights: false });
    lora.addAdapter('b', { r: 2, lora_dropout: 0.3, init_lora_weights: false });
    lora.setAdapter(['default', 'b']);
    lora.train();
    const layers = [...lora.layers.values()];
    const states = layers.map((l) => l.getRandomState());
    const a = out(host);
    layers.forEach((l, i) => l.setRandomState(states[i]));
    expect(out(host)).toEqual(a);
    expect(maxAbsDiff(out(host), a)).toBeGreaterThan(0); // the next masks differ
    lora.eval();
    expect(maxAbsDiff(out(host), expected(host, lora.layers, ['default', 'b']))).toBeLessThan(1e-5);
    freeAll(host, lora);
  });
});

describe('named adapters: delete (PEFT delete_adapter)', () => {
  it('frees the variables; the remaining active adapters stay, else the first by sorted name becomes active and trainable', () => {
    const { host, lora } = twoAdapters();
    const before = tf.memory().numTensors;
    lora.addAdapter('zeta', { init_lora_weights: false });
    lora.addAdapter('beta', { init_lora_weights: false });
    lora.setAdapter(['default', 'zeta']);
    lora.deleteAdapter('zeta');
    expect(lora.activeAdapters).toEqual(['default']);
    expect(Object.keys(tf.engine().registeredVariables).some((n) => n.includes('.zeta.'))).toBe(false);
    expect(lora.layers.get('layers.0.q')!.activeAdapters).toEqual(['default']);
    lora.deleteAdapter('beta'); // not active: nothing else changes
    expect(lora.activeAdapters).toEqual(['default']);
    expect(tf.memory().numTensors).toBe(before);

    lora.addAdapter('b', { init_lora_weights: false });
    lora.addAdapter('a', { init_lora_weights: false });
    lora.deleteAdapter('default'); // the only active one: PEFT picks sorted(remaining)[0]
    expect(lora.activeAdapters).toEqual(['a']);
    expect(names(lora.trainableVariables()).every((n) => n.includes('.a.'))).toBe(true);
    expect(maxAbsDiff(out(host), expected(host, lora.layers, ['a']))).toBeLessThan(1e-5);
    expect(() => lora.stateDict()).toThrow(/no adapter named "default" \(adapters: b, a\)/);
    expect(() => lora.deleteAdapter('default')).toThrow(/no adapter named "default"/);

    lora.merge();
    expect(() => lora.deleteAdapter('a')).toThrow(/cannot delete adapter "a" while it is merged/);
    lora.unmerge();
    lora.layers.get('layers.1.v')!.merge(['a']); // merged in the second layer only: the first must keep it too
    expect(() => lora.deleteAdapter('a')).toThrow(/cannot delete adapter "a" while it is merged/);
    expect([...lora.layers.values()].map((l) => l.adapters.has('a'))).toEqual([true, true]);
    expect(lora.peftConfig.has('a')).toBe(true);
    lora.unmerge();
    lora.deleteAdapter('a');
    lora.deleteAdapter('b'); // the last one: no active adapter, the layers compute their bases
    expect(lora.activeAdapters).toEqual([]);
    expect(() => lora.config).toThrow(/no active adapter/);
    expect(maxAbsDiff(out(host), lora.withAdapterDisabled(() => out(host)))).toBe(0);
    expect(tf.memory().numTensors).toBe(before - 4); // default's A and B are gone too
    lora.unload();
    expect(host.linears.get('layers.0.q')).toBeInstanceOf(FrozenVariableLinear);
    host.dispose();
  });
});

describe('named adapters: merge (PEFT merge / unmerge / merge_and_unload(adapter_names))', () => {
  it('merge() merges the active adapters, merge(names) those; merged ≈ unmerged; setAdapter unmerges first', () => {
    const { host, lora } = twoAdapters();
    lora.addAdapter('b', { target_modules: ['v'], r: 3, init_lora_weights: false });
    lora.setAdapter(['default', 'b']);
    const y = out(host);
    const before = tf.memory().numTensors;
    lora.merge();
    expect(lora.layers.get('layers.1.v')!.mergedAdapters).toEqual(['default', 'b']);
    expect(lora.layers.get('layers.0.q')!.mergedAdapters).toEqual(['default']); // b does not target q
    expect(maxAbsDiff(out(host), y)).toBeLessThan(1e-5);
    lora.unmerge();
    expect(out(host)).toEqual(y); // bases exact
    expect(tf.memory().numTensors).toBe(before);

    // v merged with b computes W + Δb whatever is active (PEFT's merged forward); q, which b does not
    // target, stays unmerged and adds its active adapters (default).
    lora.merge(['b']);
    expect(lora.layers.get('layers.0.q')!.isMerged).toBe(false);
    expect(maxAbsDiff(out(host), expected(host, lora.layers, { 'layers.0.q': ['default'], 'layers.1.v': ['b'] }))).toBeLessThan(1e-5);
    lora.setAdapter('default');
    lora.merge(['b']);
    expect(maxAbsDiff(out(host), expected(host, lora.layers, { 'layers.0.q': ['default'], 'layers.1.v': ['b'] }))).toBeLessThan(1e-5);
    lora.merge(['default']); // added to what is merged
    expect(lora.layers.get('layers.1.v')!.mergedAdapters).toEqual(['b', 'default']);
    expect(maxAbsDiff(out(host), y)).toBeLessThan(1e-5);
    lora.setAdapter('default');
    expect(lora.layers.get('layers.1.v')!.isMerged).toBe(false);
    expect(maxAbsDiff(out(host), expected(host, lora.layers, ['default']))).toBeLessThan(1e-5);
    expect(() => lora.merge(['nope'])).toThrow(/no adapter named "nope"/);
    expect(tf.memory().numTensors).toBe(before);
    freeAll(host, lora);
  });

  it('mergeAndUnload(["b"]): W + Δb where b exists, the base back where it does not; every adapter freed', () => {
    const { host, lora } = twoAdapters();
    lora.addAdapter('b', { target_modules: ['v'], r: 3, init_lora_weights: false });
    lora.setAdapter('b');
    const want = out(host);
    const qBase = lora.layers.get('layers.0.q')!.base;
    const before = tf.memory().numTensors;
    lora.mergeAndUnload(['b']);
    expect(host.linears.get('layers.0.q')).toBe(qBase); // nothing of b to merge there
    expect(host.linears.get('layers.1.v')!.constructor.name).toBe('FloatLinear');
    expect(maxAbsDiff(out(host), want)).toBeLessThan(1e-5);
    // freed: default's A, B on q and v, b's on v, v's frozen base (its W); added: the merged W and bias of v
    expect(tf.memory().numTensors).toBe(before - 4 - 2 - 1 + 2);
    host.dispose();
  });

  it('mergeAndUnloadAsync(names) merges the named adapters too', async () => {
    const { host, lora } = twoAdapters();
    lora.addAdapter('b', { init_lora_weights: false });
    lora.setAdapter(['default', 'b']);
    const want = out(host);
    lora.setAdapter('default');
    await lora.mergeAndUnloadAsync(['default', 'b']);
    expect(maxAbsDiff(out(host), want)).toBeLessThan(1e-5);
    host.dispose();
  });
});

describe('injectLora on a host that already has LoRA', () => {
  it('is refused, naming the way to add another adapter', () => {
    const { host, lora } = twoAdapters();
    expect(() => injectLora(host, { target_modules: ['q'] }, { adapterName: 'b' })).toThrow(/already has a LoRA adapter; add another to its LoraModel with loadAdapter\(dir, name\) or addAdapter\(name, config\)/);
    freeAll(host, lora);
  });
});
