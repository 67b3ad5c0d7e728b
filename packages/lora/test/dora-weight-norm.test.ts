// DoRA's `doraWeightNorm` option: 'direct' (PEFT's get_weight_norm on base.dequantize()) against the
// fixture (fixtures/dora/dora.json: forward, gradients) and, with 'factored', against a float64
// reference ‖W + s·B·A‖ computed here where s·B·A cancels W down to a fraction c of its norm.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import seedrandom from 'seedrandom';
import { beforeAll, describe, expect, it } from 'vitest';
import { dequantizedWeightNorm, factoredWeightNorm } from '../src/dora.js';
import { FloatLinear, type LoraLinear, injectLora, loadAdapter } from '../src/index.js';
import { OneLayerHost, PATH, arr, dora, floatBase, relErr } from './dora-helpers.js';
import { fixture } from './helpers.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const cfg = { r: dora.r, lora_alpha: dora.lora_alpha, target_modules: ['q'], use_dora: true };
const x = () => tf.tensor2d(arr('x'), [dora.n, dora.in]);

/** Gradients of sum(y ⊙ gy) wrt A, B, m and x. */
function grads(layer: LoraLinear) {
  const a = layer.adapter('default');
  const [xs, g] = [x(), tf.tensor2d(arr('gy'), [dora.n, dora.out])];
  const loss = (input: tf.Tensor) => tf.sum(tf.mul(layer.apply(input), g)) as tf.Scalar;
  const { value, grads: gv } = tf.variableGrads(() => loss(xs), [a.loraA, a.loraB, a.magnitude!]);
  const gx = tf.grad(loss)(xs);
  const out = { A: gv[a.loraA.name]!.dataSync(), B: gv[a.loraB.name]!.dataSync(), m: gv[a.magnitude!.name]!.dataSync(), x: gx.dataSync() };
  tf.dispose([value, gx, xs, g, ...Object.values(gv)]);
  return out;
}

/**
 * A layer whose W + s·B·A is c·U·V + 1e-7·N (U [out, r], V [r, in] and N random, W = U·V + 1e-7·N,
 * A = V, B = −(1 − c)/s·U): ‖W + s·B·A‖/‖W‖ ≈ c per row. m = 1, so y = x·(W + s·B·A)ᵀ/‖W + s·B·A‖ + bias.
 * Returns the layer and the float64 references of the norm and of y.
 */
function cancelling(c: number, doraWeightNorm: 'factored' | 'direct') {
  const [out, inF, r, n, alpha] = [16, 32, 4, 3, 8];
  const rng = seedrandom(`cancel:${c}`);
  const rand = (k: number) => Float64Array.from({ length: k }, () => 2 * rng() - 1);
  const [U, V, N, X] = [rand(out * r), rand(r * inF), rand(out * inF), rand(n * inF)];
  const s = alpha / r;
  const f32 = (a: Float64Array) => Float32Array.from(a);
  const W = f32(Float64Array.from({ length: out * inF }, (_, k) => U.slice(Math.floor(k / inF) * r, Math.floor(k / inF) * r + r).reduce((t, u, j) => t + u * V[j * inF + (k % inF)]!, 0) + 1e-7 * N[k]!));
  const [A, B] = [f32(V), f32(U.map((u) => (-(1 - c) / s) * u))];
  // float64 reference from the float32 inputs: M = W + s·B·A, norm per row, y = x·Mᵀ/norm
  const M = Float64Array.from(W, (w, k) => w + s * Array.from({ length: r }, (_, j) => B[Math.floor(k / inF) * r + j]! * A[j * inF + (k % inF)]!).reduce((t, v) => t + v, 0));
  const norm = Float64Array.from({ length: out }, (_, o) => Math.sqrt(M.slice(o * inF, (o + 1) * inF).reduce((t, v) => t + v * v, 0)));
  const xf = f32(X);
  const y = Float64Array.from({ length: n * out }, (_, k) => {
    const [i, o] = [Math.floor(k / out), k % out];
    let t = 0;
    for (let j = 0; j < inF; j++) t += xf[i * inF + j]! * M[o * inF + j]!;
    return t / norm[o]!;
  });
  const host = new OneLayerHost(FloatLinear.fromArray(W, out, inF, new Float32Array(out)));
  const lora = injectLora(host, { r, lora_alpha: alpha, target_modules: ['q'], use_dora: true }, { doraWeightNorm });
  const layer = lora.layers.get(PATH)!;
  layer.setWeights(A, B, 'default', new Float32Array(out).fill(1));
  return { lora, layer, norm, y, xs: tf.tensor2d(xf, [n, inF]) };
}

describe("DoRA doraWeightNorm: 'direct' (PEFT get_weight_norm) or 'factored'", () => {
  it("'direct' forward and gradients equal PEFT's (fixture), in eval and with dropout; nothing leaks", () => {
    const host = new OneLayerHost(floatBase());
    const lora = injectLora(host, { ...cfg, lora_dropout: dora.dropout }, { doraWeightNorm: 'direct' });
    const layer = lora.layers.get(PATH)!;
    expect(layer.adapter('default').doraWeightNorm).toBe('direct');
    layer.setWeights(arr('A'), arr('B'), 'default', arr('m'));
    lora.eval();
    const xs = x();
    const before = tf.memory().numTensors;
    const y = layer.apply(xs);
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(relErr(y.dataSync(), arr('y_eval'))).toBeLessThan(1e-6);
    y.dispose();
    const g = grads(layer);
    expect(tf.memory().numTensors).toBe(before);
    expect(relErr(g.A, arr('grad_A'))).toBeLessThan(1e-5);
    expect(relErr(g.B, arr('grad_B'))).toBeLessThan(1e-5);
    expect(relErr(g.m, arr('grad_m'))).toBeLessThan(1e-5);
    expect(relErr(g.x, arr('grad_x'))).toBeLessThan(1e-5);
    lora.train();
    Object.assign(layer, { dropoutRng: { int32: () => dora.dropout_seed } });
    const yt = layer.apply(xs);
    expect(relErr(yt.dataSync(), arr('y_train'))).toBeLessThan(1e-6);
    tf.dispose([yt, xs]);
    lora.unload();
  });

  it("where s·B·A cancels W (‖W + s·B·A‖/‖W‖ = c): 'direct' loses ~1e-8/c, 'factored' ~1e-8/c² (NaN output at c = 1e-4)", () => {
    const table: string[] = [];
    const ratio = (c: number) => {
      const { lora, layer, norm, xs } = cancelling(c, 'direct');
      const w = layer.base.dequantize!();
      const wn = tf.sqrt(tf.sum(tf.square(w), 1));
      const rows = wn.dataSync();
      const q = Math.max(...Array.from(norm, (v, o) => v / rows[o]!));
      tf.dispose([w, wn, xs]);
      lora.unload();
      return q;
    };
    for (const c of [0.4, 0.1, 0.01, 1e-3, 1e-4]) {
      const errs: Record<string, { norm: number; y: number }> = {};
      for (const mode of ['factored', 'direct'] as const) {
        const { lora, layer, norm, y, xs } = cancelling(c, mode);
        const a = layer.adapter('default');
        const stats = (layer as unknown as { doraStats: Parameters<typeof factoredWeightNorm>[1] }).doraStats;
        const t0 = tf.memory().numTensors;
        const n = mode === 'factored' ? factoredWeightNorm(layer.base, stats, a.loraA, a.loraB, a.scaling) : dequantizedWeightNorm(layer.base, a);
        expect(tf.memory().numTensors).toBe(t0 + 1); // the norm alone
        const before = tf.memory().numTensors;
        const got = layer.apply(xs);
        expect(tf.memory().numTensors).toBe(before + 1);
        errs[mode] = { norm: relErr(n.dataSync(), norm), y: relErr(got.dataSync(), y) };
        tf.dispose([n, got, xs]);
        lora.unload();
      }
      table.push(`c=${c} (‖W+sBA‖/‖W‖ ${ratio(c).toExponential(1)}): norm factored ${errs.factored!.norm.toExponential(1)} direct ${errs.direct!.norm.toExponential(1)}; y factored ${errs.factored!.y.toExponential(1)} direct ${errs.direct!.y.toExponential(1)}`);
      // direct: W + s·B·A rounded to float32 (as PEFT's float32 sum) costs ~1e-8/c relative; factored: ~1e-8/c²
      expect(errs.direct!.norm).toBeLessThan(Math.max(1e-6, 3e-8 / c));
      expect(errs.direct!.y).toBeLessThan(Math.max(1e-5, 1e-7 / c));
      if (c <= 0.01) expect(errs.factored!.norm).toBeGreaterThan(100 * errs.direct!.norm);
      if (c <= 1e-3) expect(errs.factored!.norm).toBeGreaterThan(1e-2);
      if (c === 1e-4) expect(Number.isFinite(errs.factored!.y)).toBe(false);
    }
    console.log(table.join('\n'));
  });

  it('loadAdapter, addAdapter and injectLora pass doraWeightNorm on; the default is factored', async () => {
    const host = new OneLayerHost(floatBase());
    const lora = await loadAdapter(host, fixture('dora/peft-adapter'), { doraWeightNorm: 'direct' });
    expect(lora.layers.get(PATH)!.adapter('default').doraWeightNorm).toBe('direct');
    const xs = x();
    const y = host.layer.apply(xs);
    expect(relErr(y.dataSync(), arr('y_eval'))).toBeLessThan(1e-6);
    lora.addAdapter('other', cfg, { doraWeightNorm: 'direct' });
    lora.addAdapter('third', cfg);
    expect(lora.layers.get(PATH)!.adapter('other').doraWeightNorm).toBe('direct');
    expect(lora.layers.get(PATH)!.adapter('third').doraWeightNorm).toBe('factored');
    tf.dispose([xs, y]);
    lora.unload();
  });

  it('a bad doraWeightNorm is one error naming the option and value, before anything is allocated', async () => {
    const host = new OneLayerHost(floatBase());
    const base = host.layer;
    const before = tf.memory().numTensors;
    const bad = { doraWeightNorm: 'exact' as 'direct' };
    expect(() => injectLora(host, cfg, bad)).toThrow(/doraWeightNorm must be "factored" or "direct", got "exact"/);
    await expect(loadAdapter(host, fixture('dora/peft-adapter'), bad)).rejects.toThrow(/doraWeightNorm must be "factored" or "direct", got "exact"/);
    expect(host.layer).toBe(base);
    expect(tf.memory().numTensors).toBe(before);
    const lora = injectLora(host, cfg);
    const mid = tf.memory().numTensors;
    expect(() => lora.addAdapter('x', cfg, bad)).toThrow(/doraWeightNorm must be "factored" or "direct", got "exact"/);
    expect(tf.memory().numTensors).toBe(mid);
    expect([...lora.peftConfig.keys()]).toEqual(['default']);
    lora.unload();
  });
});
