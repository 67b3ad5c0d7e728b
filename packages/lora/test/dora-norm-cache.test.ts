// DoRA's weight norm kept while an adapter's A and B are frozen (src/dora-norm-cache.ts): computed once,
// recomputed when A or B get new data, when the norm mode changes, or after the adapter was trainable
// (an in-place optimizer keeps the data ids); never kept for a trainable adapter; freed with the adapter.
// And 'direct' with dropout: the base term x'·Wᵀ from the dequantized W, as PEFT's F.linear(dropout(x), W).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { FloatLinear, type Linear, type LoraLinear, injectLora } from '../src/index.js';
import { OneLayerHost, PATH, arr, dora, floatBase, relErr } from './dora-helpers.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const cfg = { r: dora.r, lora_alpha: dora.lora_alpha, target_modules: ['q'], use_dora: true };
const x = () => tf.tensor2d(arr('x'), [dora.n, dora.in]);

/**
 * The fixture's float base, counting its calls; with `quantizeInputs` its apply rounds x to multiples of
 * 1/8 first (as an `llm-int8` base quantizes activations) while `dequantize()` stays the exact W.
 */
class CountingBase implements Linear {
  readonly inner = floatBase();
  readonly inFeatures = dora.in;
  readonly outFeatures = dora.out;
  applies = 0;
  dequantizes = 0;
  constructor(readonly quantizeInputs = false) {}
  apply(x: tf.Tensor): tf.Tensor {
    this.applies++;
    if (!this.quantizeInputs) return this.inner.apply(x);
    return tf.tidy(() => this.inner.apply(tf.div(tf.round(tf.mul(x, 8)), 8)));
  }
  dequantize(): tf.Tensor2D {
    this.dequantizes++;
    return this.inner.dequantize();
  }
  dispose(): void {
    this.inner.dispose();
  }
}

/** A DoRA layer on a counting base with the fixture's A, B and m; frozen unless `trainable`. */
function layerOn(base: CountingBase, options: { doraWeightNorm?: 'factored' | 'direct'; trainable?: boolean; loraDropout?: number } = {}) {
  const host = new OneLayerHost(base);
  const lora = injectLora(host, { ...cfg, lora_dropout: options.loraDropout ?? 0 }, options.doraWeightNorm ? { doraWeightNorm: options.doraWeightNorm } : {});
  const layer = lora.layers.get(PATH)!;
  layer.setWeights(arr('A'), arr('B'), 'default', arr('m'));
  lora.setTrainable(options.trainable ?? false);
  lora.eval();
  return { lora, layer, adapter: layer.adapter('default') };
}

/** The layer's output on the fixture's x, read back; the input and output freed. */
function run(layer: LoraLinear): Float32Array {
  const xs = x();
  const y = layer.apply(xs);
  const out = y.dataSync() as Float32Array;
  tf.dispose([xs, y]);
  return out;
}

/** Base calls one forward makes: [apply, dequantize]. */
function callsOf(base: CountingBase, f: () => void): [number, number] {
  const [a, d] = [base.applies, base.dequantizes];
  f();
  return [base.applies - a, base.dequantizes - d];
}

describe('DoRA weight norm kept while A and B are frozen', () => {
  for (const mode of ['factored', 'direct'] as const) {
    it(`${mode}: computed on the first forward, kept (one tensor) and reused after; outputs bit-equal to the uncached forward and PEFT's`, () => {
      const base = new CountingBase();
      const start = tf.memory().numTensors;
      const { lora, layer, adapter } = layerOn(base, { doraWeightNorm: mode });
      const injected = tf.memory().numTensors;
      // the norm: factored runs the base on A's rows (a second apply), direct dequantizes W
      const first = mode === 'factored' ? [2, 0] : [1, 1];
      let y1: Float32Array = new Float32Array();
      expect(callsOf(base, () => (y1 = run(layer)))).toEqual(first);
      expect(adapter.normCache.size).toBe(1);
      expect(tf.memory().numTensors).toBe(injected + 1); // the kept norm alone
      let y2: Float32Array = new Float32Array();
      expect(callsOf(base, () => (y2 = run(layer)))).toEqual([1, 0]); // the base on x only
      expect(tf.memory().numTensors).toBe(injected + 1);
      expect(Array.from(y2)).toEqual(Array.from(y1));
      expect(relErr(y2, arr('y_eval'))).toBeLessThan(1e-6);
      // the same adapter trainable computes the norm every forward and keeps nothing: same values
      adapter.trainable = true;
      expect(adapter.normCache.size).toBe(0);
      expect(tf.memory().numTensors).toBe(injected);
      let y3: Float32Array = new Float32Array();
      expect(callsOf(base, () => (y3 = run(layer)))).toEqual(first);
      expect(callsOf(base, () => run(layer))).toEqual(first);
      expect(tf.memory().numTensors).toBe(injected);
      expect(Array.from(y3)).toEqual(Array.from(y1));
      adapter.trainable = false;
      run(layer);
      lora.unload(); // frees the kept norm with the adapter
      expect(tf.memory().numTensors).toBe(start);
      base.dispose();
    });
  }

  it('new A or B data (setWeights, a replaced variable) and a changed norm mode recompute it; the old one is freed', () => {
    const base = new CountingBase();
    const { lora, layer, adapter } = layerOn(base);
    // B halved: a fresh layer with those weights is the reference
    const halfB = arr('B').map((v) => v / 2);
    const ref = layerOn(new CountingBase());
    ref.layer.setWeights(arr('A'), halfB, 'default', arr('m'));
    const want = run(ref.layer);
    run(layer);
    const kept = tf.memory().numTensors; // both layers' norms kept
    layer.setWeights(arr('A'), halfB, 'default', arr('m'));
    expect(Array.from(run(layer))).toEqual(Array.from(want));
    expect(relErr(run(layer), arr('y_eval'))).toBeGreaterThan(1e-3); // the change shows
    expect(tf.memory().numTensors).toBe(kept); // this layer's old norm freed, the new one kept
    // A assigned directly (new data id)
    tf.tidy(() => adapter.loraA.assign(tf.mul(adapter.loraA, 0.5)));
    ref.layer.setWeights(arr('A').map((v) => v * 0.5), halfB, 'default', arr('m'));
    expect(relErr(run(layer), run(ref.layer))).toBe(0);
    // mode: direct recomputes from the dequantized W, factored again after
    adapter.doraWeightNorm = 'direct';
    expect(callsOf(base, () => run(layer))).toEqual([1, 1]);
    expect(callsOf(base, () => run(layer))).toEqual([1, 0]);
    adapter.doraWeightNorm = 'factored';
    expect(callsOf(base, () => run(layer))).toEqual([2, 0]);
    expect(tf.memory().numTensors).toBe(kept);
    ref.lora.unload();
    lora.unload();
    base.dispose();
  });

  it('an in-place update while trainable (same data id, as the webgpu AdamW) is seen after freezing again, however trainability changed', () => {
    const base = new CountingBase();
    const { lora, layer, adapter } = layerOn(base);
    const inPlace = (v: tf.Variable, f: number) => {
      // the cpu backend's own buffer, written in place: the data id stays
      const values = (tf.backend() as unknown as { data: { get(id: object): { values: Float32Array } } }).data.get(v.dataId).values;
      for (let i = 0; i < values.length; i++) values[i]! *= f;
    };
    const y0 = run(layer);
    const id = adapter.loraB.dataId;
    // through the adapter's setter (LoraModel.setTrainable / setRequiresGrad / setAdapter): cleared there
    adapter.trainable = true;
    inPlace(adapter.loraB, 0.5);
    adapter.trainable = false;
    expect(adapter.loraB.dataId).toBe(id);
    const y1 = run(layer);
    const ref = layerOn(new CountingBase());
    ref.layer.setWeights(arr('A'), arr('B').map((v) => v * 0.5), 'default', arr('m'));
    expect(relErr(y1, run(ref.layer))).toBeLessThan(1e-7);
    expect(relErr(y1, y0)).toBeGreaterThan(1e-3);
    // the variable's own flag flipped, a forward while trainable (a training step's), then frozen again
    adapter.loraB.trainable = true;
    run(layer);
    expect(adapter.normCache.size).toBe(0);
    inPlace(adapter.loraB, 2);
    adapter.loraB.trainable = false;
    expect(relErr(run(layer), y0)).toBeLessThan(1e-7);
    ref.lora.unload();
    lora.unload();
    base.dispose();
  });

  it('a frozen A and B with a trainable magnitude: gradients wrt m and x equal PEFT\'s on the kept norm, nothing leaks', () => {
    const base = new CountingBase();
    const { lora, layer, adapter } = layerOn(base);
    adapter.magnitude!.trainable = true;
    run(layer);
    expect(adapter.normCache.size).toBe(1);
    const before = tf.memory().numTensors;
    const g = tf.tensor2d(arr('gy'), [dora.n, dora.out]);
    const xs = x();
    const loss = (input: tf.Tensor) => tf.sum(tf.mul(layer.apply(input), g)) as tf.Scalar;
    for (let round = 0; round < 2; round++) {
      const calls = callsOf(base, () => {
        const { value, grads } = tf.variableGrads(() => loss(xs), [adapter.magnitude!]);
        const gx = tf.grad(loss)(xs);
        expect(relErr(grads[adapter.magnitude!.name]!.dataSync(), arr('grad_m'))).toBeLessThan(1e-5);
        expect(relErr(gx.dataSync(), arr('grad_x'))).toBeLessThan(1e-5);
        tf.dispose([value, gx, ...Object.values(grads)]);
      });
      expect(calls).toEqual([2, 0]); // two forwards, the base on x only
    }
    tf.dispose([g, xs]);
    expect(tf.memory().numTensors).toBe(before);
    lora.unload();
    base.dispose();
  });
});

describe("DoRA 'direct' with dropout: base term from the dequantized W (PEFT's F.linear(dropout(x), W))", () => {
  /** The layer's DoRA term alone (y − base(x)) in training with the fixture's mask, its base given. */
  function trainDelta(base: Linear, mode: 'factored' | 'direct'): Float32Array {
    const host = new OneLayerHost(base);
    const lora = injectLora(host, { ...cfg, lora_dropout: dora.dropout }, { doraWeightNorm: mode });
    const layer = lora.layers.get(PATH)!;
    layer.setWeights(arr('A'), arr('B'), 'default', arr('m'));
    lora.train();
    Object.assign(layer, { dropoutRng: { int32: () => dora.dropout_seed } });
    const xs = x();
    const d = tf.tidy(() => tf.sub(layer.apply(xs), base.apply(xs)));
    const out = d.dataSync() as Float32Array;
    tf.dispose([xs, d]);
    lora.unload();
    return out;
  }

  it("a base that quantizes its inputs: 'direct' gives PEFT's term (from the exact W), 'factored' the base's own", () => {
    const float = floatBase();
    const quantizing = new CountingBase(true);
    const xs = x();
    const wantY = tf.tensor1d(arr('y_train'));
    const peft = tf.tidy(() => tf.sub(wantY, tf.reshape(float.apply(xs), [-1]))).dataSync(); // PEFT's DoRA term
    tf.dispose([xs, wantY]);
    expect(relErr(trainDelta(float, 'direct'), peft)).toBeLessThan(1e-5);
    const before = tf.memory().numTensors;
    const dq = callsOf(quantizing, () => expect(relErr(trainDelta(quantizing, 'direct'), peft)).toBeLessThan(1e-5));
    expect(tf.memory().numTensors).toBe(before);
    expect(dq[1]).toBeGreaterThanOrEqual(2); // injection's init, then the forward's W (the norm is from that same W)
    // factored keeps base(x') − bias: the rounding of the inputs shows in its term
    expect(relErr(trainDelta(quantizing, 'factored'), peft)).toBeGreaterThan(1e-4);
    float.dispose();
    quantizing.dispose();
  });

  it("'direct' with dropout: gradients wrt A, B, m and x equal PEFT's (the fixture), through the dequantized W", () => {
    const base = new FloatLinear(tf.tensor2d(arr('W'), [dora.out, dora.in]), tf.tensor1d(arr('bias')));
    const host = new OneLayerHost(base);
    const lora = injectLora(host, { ...cfg, lora_dropout: dora.dropout }, { doraWeightNorm: 'direct' });
    const layer = lora.layers.get(PATH)!;
    const a = layer.adapter('default');
    layer.setWeights(arr('A'), arr('B'), 'default', arr('m'));
    lora.train();
    Object.assign(layer, { dropoutRng: { int32: () => dora.dropout_seed } });
    const [xs, g] = [x(), tf.tensor2d(arr('gy'), [dora.n, dora.out])];
    const before = tf.memory().numTensors;
    const loss = (input: tf.Tensor) => tf.sum(tf.mul(layer.apply(input), g)) as tf.Scalar;
    const { value, grads } = tf.variableGrads(() => loss(xs), [a.loraA, a.loraB, a.magnitude!]);
    const gx = tf.grad(loss)(xs);
    expect(relErr(grads[a.loraA.name]!.dataSync(), arr('train_grad_A'))).toBeLessThan(1e-5);
    expect(relErr(grads[a.loraB.name]!.dataSync(), arr('train_grad_B'))).toBeLessThan(1e-5);
    expect(relErr(grads[a.magnitude!.name]!.dataSync(), arr('train_grad_m'))).toBeLessThan(1e-5);
    expect(relErr(gx.dataSync(), arr('train_grad_x'))).toBeLessThan(1e-5);
    tf.dispose([value, gx, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([xs, g]);
    lora.dispose();
  });
});
