// Review of the DoRA 'direct' base term under dropout (src/dora.ts, weightBaseTerm): x'·Wᵀ from the dequantized W
// runs as plain matMuls forward and backward (the package's layout: a transposeB matMul over the (N, in) operand is
// ~10× slower on tfjs-backend-wasm), and no float copy of W stays alive from the forward to the backward; and the
// same on webgpu (output and gradients equal cpu and the fixture, the kept norm of the frozen adapter, no leaks).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { skipWebGPU, useWebGPUBackend } from '../../../vitest.webgpu';
import { type Linear, injectLora } from '../src/index.js';
import { OneLayerHost, PATH, arr, dora, floatBase, relErr } from './dora-helpers.js';

const skip = await skipWebGPU();

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** A base for {@link trainingLayer}: a linear the test frees itself. */
type Base = Linear & { dispose(): void };

/**
 * The fixture's W (no bias) as a frozen linear laid out as `@conifer/t5-model`'s Float32Linear: Wᵀ held, forward
 * x·Wᵀ and backward dy·W both plain matMuls; records the tensors its `dequantize()` returns.
 */
class PlainBase implements Linear {
  readonly bias = null;
  readonly inFeatures = dora.in;
  readonly outFeatures = dora.out;
  readonly w = tf.tensor2d(arr('W'), [dora.out, dora.in]);
  readonly wT = tf.keep(tf.transpose(this.w));
  readonly dequantized: tf.Tensor[] = [];
  private readonly f = tf.customGrad(((x: tf.Tensor2D) => ({
    value: tf.matMul(x, this.wT),
    gradFunc: (dy: tf.Tensor) => tf.matMul(dy, this.w),
  })) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor2D) => tf.Tensor2D;
  apply(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.reshape(this.f(tf.reshape(x, [-1, dora.in]) as tf.Tensor2D), [...x.shape.slice(0, -1), dora.out]));
  }
  dequantize(): tf.Tensor2D {
    const w = tf.transpose(this.wT) as tf.Tensor2D;
    this.dequantized.push(w);
    return w;
  }
  dispose(): void {
    tf.dispose([this.w, this.wT]);
  }
}

/** A DoRA layer in training with dropout, doraWeightNorm 'direct', the fixture's A, B, m and mask. */
function trainingLayer(base: Base) {
  const lora = injectLora(new OneLayerHost(base), { r: dora.r, lora_alpha: dora.lora_alpha, target_modules: ['q'], use_dora: true, lora_dropout: dora.dropout }, { doraWeightNorm: 'direct' });
  const layer = lora.layers.get(PATH)!;
  layer.setWeights(arr('A'), arr('B'), 'default', arr('m'));
  lora.train();
  Object.assign(layer, { dropoutRng: { int32: () => dora.dropout_seed } });
  return { lora, layer, adapter: layer.adapter('default') };
}

describe("DoRA 'direct' with dropout: the base term x'·Wᵀ", () => {
  it('runs every matMul untransposed, forward and backward (wrt x, A, B, m), with the same gradients', async () => {
    const base = new PlainBase();
    const { lora, layer, adapter } = trainingLayer(base);
    const xs = tf.tensor2d(arr('x'), [dora.n, dora.in]);
    const g = tf.tensor2d(arr('gy'), [dora.n, dora.out]);
    const loss = (input: tf.Tensor) => tf.sum(tf.mul(layer.apply(input), g)) as tf.Scalar;
    let gx: tf.Tensor | null = null;
    let grads: tf.NamedTensorMap = {};
    const info = await tf.profile(() => {
      gx = tf.grad(loss)(xs);
      const r = tf.variableGrads(() => loss(xs), [adapter.loraA, adapter.loraB, adapter.magnitude!]);
      r.value.dispose();
      grads = r.grads;
    });
    const matMuls = info.kernels.filter((k) => k.name === 'BatchMatMul');
    expect(matMuls.length).toBeGreaterThan(0);
    // a transposed operand shows as inner dimensions that differ: [N, in]·[out, in] is x'·Wᵀ with transposeB
    const transposed = matMuls.filter((k) => k.inputShapes[0]!.at(-1) !== k.inputShapes[1]!.at(-2)).map((k) => JSON.stringify(k.inputShapes));
    expect(transposed).toEqual([]);
    // the fixture's gradients (PEFT's; the bias-free base adds nothing to them)
    expect(relErr(gx!.dataSync(), arr('train_grad_x'))).toBeLessThan(1e-5);
    expect(relErr(grads[adapter.loraA.name]!.dataSync(), arr('train_grad_A'))).toBeLessThan(1e-5);
    expect(relErr(grads[adapter.loraB.name]!.dataSync(), arr('train_grad_B'))).toBeLessThan(1e-5);
    expect(relErr(grads[adapter.magnitude!.name]!.dataSync(), arr('train_grad_m'))).toBeLessThan(1e-5);
    tf.dispose([gx!, ...Object.values(grads), xs, g]);
    lora.dispose();
    base.dispose();
  });

  it('keeps no float copy of W alive from the forward to the backward, frees the backward\'s once used, and leaks nothing', () => {
    const base = new PlainBase();
    const { lora, layer } = trainingLayer(base);
    const xs = tf.tensor2d(arr('x'), [dora.n, dora.in]);
    const g = tf.tensor2d(arr('gy'), [dora.n, dora.out]);
    const before = tf.memory().numTensors;
    const alive = (t: tf.Tensor) => (tf.engine().state as unknown as { tensorInfo: WeakMap<object, unknown> }).tensorInfo.has(t.dataId);
    let heldAfterForward: boolean[] = [];
    let inBackward: tf.Tensor[] = [];
    let heldAfterLayerBackward: boolean[] = [];
    // x passes through an identity whose gradient runs after the layer's backward: it looks at the W the backward dequantized
    const probe = tf.customGrad(((x: tf.Tensor) => ({
      value: tf.mul(x, 1),
      gradFunc: (dy: tf.Tensor) => {
        inBackward = base.dequantized.slice(1);
        heldAfterLayerBackward = inBackward.map(alive);
        return tf.mul(dy, 1);
      },
    })) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor;
    const gx = tf.grad((input: tf.Tensor) => {
      base.dequantized.length = 0;
      const y = layer.apply(probe(input)); // the forward is done: what the tape holds is what the backward needs
      heldAfterForward = base.dequantized.map(alive);
      return tf.sum(tf.mul(y, g)) as tf.Scalar;
    })(xs);
    expect(heldAfterForward.length).toBe(1); // the forward's W (base term and norm)
    expect(heldAfterForward).toEqual([false]);
    expect(inBackward.length).toBe(1); // dy·W
    expect(heldAfterLayerBackward).toEqual([false]);
    expect(relErr(gx.dataSync(), arr('train_grad_x'))).toBeLessThan(1e-5);
    gx.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([xs, g]);
    lora.dispose();
    base.dispose();
  });
});

describe.skipIf(skip)("DoRA 'direct' on webgpu", () => {
  useWebGPUBackend(tf, () => import('@tensorflow/tfjs-backend-webgpu'));

  it('dropout in training: output and gradients wrt x, A, B, m equal cpu and the fixture; frozen, the kept norm gives the eval forward; nothing leaks', async () => {
    const run = async (backend: 'webgpu' | 'cpu') => {
      await tf.setBackend(backend);
      const base = floatBase();
      const { lora, layer, adapter } = trainingLayer(base);
      const xs = tf.tensor2d(arr('x'), [dora.n, dora.in]);
      const g = tf.tensor2d(arr('gy'), [dora.n, dora.out]);
      const before = tf.memory().numTensors;
      const loss = (input: tf.Tensor) => tf.sum(tf.mul(layer.apply(input), g)) as tf.Scalar;
      const y = layer.apply(xs);
      const gx = tf.grad(loss)(xs);
      const { value, grads } = tf.variableGrads(() => loss(xs), [adapter.loraA, adapter.loraB, adapter.magnitude!]);
      const out = {
        y: await y.data(),
        gx: await gx.data(),
        gA: await grads[adapter.loraA.name]!.data(),
        gB: await grads[adapter.loraB.name]!.data(),
        gm: await grads[adapter.magnitude!.name]!.data(),
        frozen: [] as Float32Array[],
      };
      tf.dispose([y, gx, value, ...Object.values(grads)]);
      expect(tf.memory().numTensors).toBe(before);
      lora.setTrainable(false);
      lora.eval();
      for (let i = 0; i < 2; i++) {
        const yf = layer.apply(xs);
        out.frozen.push((await yf.data()) as Float32Array);
        yf.dispose();
      }
      expect(adapter.normCache.size).toBe(1);
      expect(tf.memory().numTensors).toBe(before + 1); // the kept norm
      lora.dispose();
      expect(tf.memory().numTensors).toBe(before - 5); // A, B, m, ‖W_i‖² and the bias freed; the kept norm too
      tf.dispose([xs, g]);
      base.dispose();
      return out;
    };
    const gpu = await run('webgpu');
    const cpu = await run('cpu');
    await tf.setBackend('webgpu');
    const want = { y: arr('y_train'), gx: arr('train_grad_x'), gA: arr('train_grad_A'), gB: arr('train_grad_B'), gm: arr('train_grad_m') };
    for (const k of ['y', 'gx', 'gA', 'gB', 'gm'] as const) {
      expect(relErr(gpu[k], cpu[k]), k).toBeLessThan(1e-5);
      expect(relErr(gpu[k], want[k]), k).toBeLessThan(1e-5);
    }
    for (const yf of gpu.frozen) expect(relErr(yf, arr('y_eval'))).toBeLessThan(1e-5);
  });
});
