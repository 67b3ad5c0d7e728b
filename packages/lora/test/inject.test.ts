import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { FloatLinear, LoraLinear, injectLora, isTargetModule, resolveLoraConfig } from '../src/index.js';
import { FrozenVariableLinear, TwoLayerHost, maxAbsDiff, randomValues } from './helpers.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const T5_PATHS = [
  'encoder.block.0.layer.0.SelfAttention.q',
  'encoder.block.0.layer.0.SelfAttention.k',
  'encoder.block.0.layer.0.SelfAttention.v',
  'encoder.block.0.layer.1.DenseReluDense.wi_0',
  'decoder.block.1.layer.1.EncDecAttention.q',
  'decoder.block.1.layer.1.EncDecAttention.v',
  'lm_head',
];
const matching = (cfg: Parameters<typeof resolveLoraConfig>[0]) => T5_PATHS.filter((p) => isTargetModule(resolveLoraConfig(cfg), p));

describe('target_modules, as PEFT check_target_module_exists', () => {
  it('a list matches a path equal to an entry or ending with "." + entry', () => {
    expect(matching({ target_modules: ['q', 'v'] })).toEqual([T5_PATHS[0], T5_PATHS[2], T5_PATHS[4], T5_PATHS[5]]);
    expect(matching({})).toEqual(matching({ target_modules: ['q', 'v'] })); // T5 default
    expect(matching({ target_modules: ['EncDecAttention.q'] })).toEqual([T5_PATHS[4]]);
    expect(matching({ target_modules: ['lm_head'] })).toEqual(['lm_head']);
    expect(matching({ target_modules: ['wi'] })).toEqual([]); // not a suffix match: wi_0 ≠ wi
    expect(matching({ target_modules: ['0.q'] })).toEqual([]); // entries match whole trailing segments: "…SelfAttention.q" does not end with ".0.q"
  });

  it('a string is a regex that must match the whole path (re.fullmatch)', () => {
    expect(matching({ target_modules: '.*SelfAttention\\.(q|v)' })).toEqual([T5_PATHS[0], T5_PATHS[2]]);
    expect(matching({ target_modules: 'SelfAttention\\.q' })).toEqual([]); // not a search
    expect(matching({ target_modules: 'all-linear' })).toEqual(T5_PATHS.slice(0, -1));
  });

  it('exclude_modules and layers_to_transform follow PEFT (including its layer-index regex)', () => {
    expect(matching({ target_modules: ['q', 'v'], exclude_modules: ['EncDecAttention.q'] })).toEqual([T5_PATHS[0], T5_PATHS[2], T5_PATHS[5]]);
    expect(matching({ target_modules: ['q', 'v'], exclude_modules: 'decoder\\..*' })).toEqual([T5_PATHS[0], T5_PATHS[2]]);
    // PEFT's default regex `.*\.[^.]*\.(\d+)\.` is greedy: for T5 it picks the index after "layer", not "block".
    expect(matching({ target_modules: ['q', 'v'], layers_to_transform: [1] })).toEqual([T5_PATHS[4], T5_PATHS[5]]);
    expect(matching({ target_modules: ['q', 'v'], layers_to_transform: 1, layers_pattern: 'block' })).toEqual([T5_PATHS[4], T5_PATHS[5]]);
    expect(matching({ target_modules: ['q', 'v'], layers_to_transform: [0], layers_pattern: ['block'] })).toEqual([T5_PATHS[0], T5_PATHS[2]]);
  });
});

describe('injectLora on a two-layer fake host', () => {
  it('wraps the targets, counts parameters in PEFT words, trains only A and B, and leaks nothing', () => {
    const host = new TwoLayerHost();
    const lora = injectLora(host, { r: 2, lora_alpha: 4, target_modules: ['q', 'v'], init_lora_weights: false });
    expect([...lora.layers.keys()]).toEqual(['layers.0.q', 'layers.1.v']);
    expect(host.linears.get('layers.0.q')).toBeInstanceOf(LoraLinear);
    // A [2,8] + B [6,2] + A [2,6] + B [4,2] = 16 + 12 + 12 + 8 = 48; base 48 + 24 = 72 → all 120
    expect(lora.trainableParameterCounts()).toEqual({ trainable: 48, all: 120, percent: 40 });
    expect(lora.printTrainableParameters(null)).toBe('trainable params: 48 || all params: 120 || trainable%: 40.0000');
    expect(lora.trainableVariables().map((v) => v.name)).toEqual([
      'base_model.model.layers.0.q.lora_A.weight',
      'base_model.model.layers.0.q.lora_B.weight',
      'base_model.model.layers.1.v.lora_A.weight',
      'base_model.model.layers.1.v.lora_B.weight',
    ]);

    const x = tf.tensor2d(randomValues(24, 5), [3, 8]);
    const f = () => tf.sum(host.forward(x)) as tf.Scalar;
    f().dispose();
    const before = tf.memory().numTensors;
    for (let step = 0; step < 2; step++) {
      const { value, grads } = tf.variableGrads(f); // every trainable variable of the engine
      expect(Object.keys(grads).sort()).toEqual(lora.trainableVariables().map((v) => v.name));
      for (const w of host.baseWeights) expect(grads[w.name]).toBeUndefined();
      tf.dispose([value, ...Object.values(grads)]);
    }
    expect(tf.memory().numTensors).toBe(before);
    lora.unload();
    expect(host.linears.get('layers.0.q')).toBeInstanceOf(FrozenVariableLinear); // the original base is back
    tf.dispose(x);
    host.dispose();
  });

  it('enable/disable, merge ≈ unmerged, unmerge bit-for-bit, mergeAndUnload', () => {
    const host = new TwoLayerHost(3);
    const x = tf.tensor2d(randomValues(16, 8), [2, 8]);
    const yBase = host.forward(x);
    const lora = injectLora(host, { r: 2, lora_alpha: 2, target_modules: ['q', 'v'], init_lora_weights: false });
    const y = host.forward(x);
    expect(maxAbsDiff(y.dataSync(), yBase.dataSync())).toBeGreaterThan(1e-3);
    const yOff = lora.withAdapterDisabled(() => host.forward(x));
    expect(yOff.dataSync()).toEqual(yBase.dataSync());
    lora.merge();
    const yMerged = host.forward(x);
    expect(maxAbsDiff(yMerged.dataSync(), y.dataSync())).toBeLessThan(1e-5);
    lora.unmerge();
    const yAgain = host.forward(x);
    expect(yAgain.dataSync()).toEqual(y.dataSync());
    lora.mergeAndUnload();
    expect(host.linears.get('layers.1.v')).toBeInstanceOf(FloatLinear);
    const yUnloaded = host.forward(x);
    expect(maxAbsDiff(yUnloaded.dataSync(), y.dataSync())).toBeLessThan(1e-5);
    expect(() => lora.trainableVariables()).toThrow(/unloaded/);
    tf.dispose([x, yBase, y, yOff, yMerged, yAgain, yUnloaded]);
    host.dispose();
  });

  it('withAdapterDisabled with an async fn keeps the adapters off until its promise settles (as generate needs), also on rejection, and until the last of overlapping or nested calls ends', async () => {
    const host = new TwoLayerHost(3);
    const x = tf.tensor2d(randomValues(16, 8), [2, 8]);
    const yBase = host.forward(x);
    const lora = injectLora(host, { r: 2, lora_alpha: 2, target_modules: ['q', 'v'], init_lora_weights: false });
    const y = host.forward(x);
    const before = tf.memory().numTensors;
    const tick = () => new Promise((r) => setTimeout(r, 0));
    const yOff = await lora.withAdapterDisabled(async () => {
      await tick(); // a forward after the first await: a plain finally would have turned the adapters back on
      return host.forward(x);
    });
    expect(yOff.dataSync()).toEqual(yBase.dataSync());
    const yOn = host.forward(x); // back on once settled
    expect(yOn.dataSync()).toEqual(y.dataSync());
    await expect(
      lora.withAdapterDisabled(async () => {
        await tick();
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const yOn2 = host.forward(x);
    expect(yOn2.dataSync()).toEqual(y.dataSync());
    // Overlapping (two generates at once): the first settles after 1 tick, the second's forward runs after 3.
    const forwardAfter = async (ticks: number) => {
      for (let i = 0; i < ticks; i++) await tick();
      return host.forward(x);
    };
    const [first, second] = await Promise.all([lora.withAdapterDisabled(() => forwardAfter(1)), lora.withAdapterDisabled(() => forwardAfter(3))]);
    expect(first.dataSync()).toEqual(yBase.dataSync());
    expect(second.dataSync()).toEqual(yBase.dataSync());
    // Nested: the inner end leaves the outer fn's later forward on the base.
    const nested = lora.withAdapterDisabled(() => {
      expect(lora.withAdapterDisabled(() => 7)).toBe(7);
      return host.forward(x);
    });
    expect(nested.dataSync()).toEqual(yBase.dataSync());
    const yOn3 = host.forward(x); // back on after the last
    expect(yOn3.dataSync()).toEqual(y.dataSync());
    tf.dispose([yOff, yOn, yOn2, first, second, nested, yOn3]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, yBase, y]);
    lora.unload();
    host.dispose();
  });

  it('mergeAndUnloadAsync: a base with requantize gets its own kind back (holding W + ΔW), others float; a failure replaces nothing', async () => {
    const host = new TwoLayerHost(4);
    // layers.0.q "requantizes" into a frozen-variable linear (a stand-in for an int8 base), layers.1.v cannot.
    const q = host.linears.get('layers.0.q') as FrozenVariableLinear;
    const made: Float32Array[] = [];
    Object.assign(q, { requantize: (w: Float32Array) => (made.push(w), new FrozenVariableLinear(tf.variable(tf.tensor2d(w, [6, 8]), false) as tf.Variable<tf.Rank.R2>)) });
    const lora = injectLora(host, { r: 2, lora_alpha: 2, target_modules: ['q', 'v'], init_lora_weights: false });
    const x = tf.tensor2d(randomValues(16, 9), [2, 8]);
    const y = host.forward(x);
    const want = lora.layers.get('layers.0.q')!.dequantize();
    await lora.mergeAndUnloadAsync();
    expect(host.linears.get('layers.0.q')).toBeInstanceOf(FrozenVariableLinear);
    expect(host.linears.get('layers.1.v')).toBeInstanceOf(FloatLinear);
    expect(Array.from(made[0]!)).toEqual(Array.from(want.dataSync()));
    const y2 = host.forward(x);
    expect(maxAbsDiff(y2.dataSync(), y.dataSync())).toBeLessThan(1e-5);
    tf.dispose([x, y, y2, want]);
    host.dispose();
    // A requantize that throws: nothing is replaced, nothing leaked, the adapter still works.
    const host2 = new TwoLayerHost(5);
    Object.assign(host2.linears.get('layers.1.v')!, { requantize: () => { throw new Error('no'); } });
    const lora2 = injectLora(host2, { r: 2, lora_alpha: 2, target_modules: ['q', 'v'] });
    const before = tf.memory().numTensors;
    await expect(lora2.mergeAndUnloadAsync()).rejects.toThrow('no');
    expect(tf.memory().numTensors).toBe(before);
    expect(lora2.trainableVariables()).toHaveLength(4);
    lora2.dispose();
    host2.dispose();
  });

  it('train()/eval() switch dropout; merged layers refuse training', () => {
    const host = new TwoLayerHost();
    const lora = injectLora(host, { lora_dropout: 0.5, init_lora_weights: false, target_modules: ['q'] });
    const x = tf.tensor2d(randomValues(16, 2), [2, 8]);
    const e = host.forward(x);
    lora.train();
    expect(lora.training).toBe(true);
    const t = host.forward(x);
    expect(maxAbsDiff(t.dataSync(), e.dataSync())).toBeGreaterThan(0);
    lora.eval();
    const e2 = host.forward(x);
    expect(e2.dataSync()).toEqual(e.dataSync());
    lora.merge();
    lora.train();
    expect(() => host.forward(x)).toThrow(/unmerge\(\) before training/);
    lora.eval();
    lora.unload();
    tf.dispose([x, e, t, e2]);
    host.dispose();
  });

  it('trainable(model): lossSum sets train/eval to match, setDropoutSeed reseeds host and every layer reproducibly', async () => {
    const host = new TwoLayerHost();
    const lora = injectLora(host, { r: 2, lora_alpha: 4, lora_dropout: 0.5, target_modules: ['q', 'v'], init_lora_weights: false }, { seed: 1 });
    const hostSeeds: number[] = [];
    const x = tf.tensor2d(randomValues(5 * 8, 9), [5, 8]);
    const model = {
      lossSum: (_batch: null, _training: boolean) => ({ sum: tf.tidy(() => tf.sum(tf.square(host.forward(x)))) as tf.Scalar, count: 5 }),
      setDropoutSeed: (seed: number) => { hostSeeds.push(seed); },
    };
    const unit = lora.trainable(model);
    expect(unit.trainableVariables().map((v) => v.name)).toEqual(lora.trainableVariables().map((v) => v.name));
    const loss = async (seed: number, training: boolean) => {
      unit.setDropoutSeed(seed);
      const { sum } = unit.lossSum(null, training);
      const v = (await sum.data())[0]!;
      sum.dispose();
      return v;
    };
    const a = await loss(3, true);
    expect(lora.training).toBe(true);
    expect(await loss(3, true)).toBe(a); // same seed, same masks
    expect(await loss(4, true)).not.toBe(a); // dropout 0.5 is really drawn
    const e = await loss(3, false);
    expect(lora.training).toBe(false);
    expect(await loss(4, false)).toBe(e); // no dropout in eval
    expect(hostSeeds).toEqual([3, 3, 4, 3, 4]);
    // The layers get different streams: two layers seeded alike would share their first draws.
    const [l0, l1] = [...lora.layers.values()];
    expect(JSON.stringify(l0!.getRandomState())).not.toBe(JSON.stringify(l1!.getRandomState()));
    x.dispose();
    lora.dispose();
    host.dispose();
  });

  it('errors name the targets that matched nothing, and unsupported options', () => {
    const host = new TwoLayerHost();
    expect(() => injectLora(host, { target_modules: ['q', 'wo', 'k'] })).toThrow(/target_modules \["k","wo"\] matched no linear.*layers\.0\.q/);
    expect(() => injectLora(host, { target_modules: 'layers\\.9\\..*' })).toThrow(/regex "layers\\\\.9\\\\..\*" matched no linear/);
    expect(() => injectLora(host, { bias: 'all' })).toThrow(/bias "all" is not supported: only "none"/);
    expect(() => injectLora(host, { lora_bias: true })).toThrow(/lora_bias = true: a LoRA bias is not supported/);
    expect(() => injectLora(host, { r: 0 })).toThrow(/r must be a positive integer/);
    // nothing was replaced by the failed attempts
    expect([...host.linears.values()].every((l) => l instanceof FrozenVariableLinear)).toBe(true);
    const partial = injectLora(host, { target_modules: ['q', 'k'] }, { allowUnmatchedTargets: true });
    expect([...partial.layers.keys()]).toEqual(['layers.0.q']);
    expect(() => injectLora(host, { target_modules: ['q'] })).toThrow(/already has a LoRA adapter/);
    partial.unload();
    host.dispose();
  });

  it('rank_pattern / alpha_pattern set per-layer r and alpha', () => {
    const host = new TwoLayerHost();
    const lora = injectLora(host, { r: 2, lora_alpha: 4, rank_pattern: { v: 3 }, alpha_pattern: { 'layers\\.0\\.q': 12 } });
    expect(lora.layers.get('layers.1.v')!.r).toBe(3);
    expect(lora.layers.get('layers.1.v')!.scaling).toBeCloseTo(4 / 3);
    expect(lora.layers.get('layers.0.q')!.r).toBe(2);
    expect(lora.layers.get('layers.0.q')!.scaling).toBe(6);
    lora.unload();
    // Each pattern dict is searched on its own (PEFT's r_key and alpha_key): a rank key matching a path
    // does not hide an alpha key that also matches it.
    const both = injectLora(host, { r: 2, lora_alpha: 4, rank_pattern: { q: 4 }, alpha_pattern: { '0\\.q': 16 } });
    expect(both.layers.get('layers.0.q')!.r).toBe(4);
    expect(both.layers.get('layers.0.q')!.scaling).toBe(4); // 16 / 4
    expect(both.layers.get('layers.1.v')!.scaling).toBe(2); // 4 / 2
    both.unload();
    host.dispose();
  });
});
