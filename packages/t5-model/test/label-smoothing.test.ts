import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { T5EncoderModel, T5ForConditionalGeneration } from '../src/index.js';
import { tokenLosses } from '../src/loss.js';
import { fixtures, goldenBatch, int2d, loadCase, modelDir, relErr, useBackend } from './helpers.js';
import { addAdapters } from './lora-like.js';

interface SmoothingFixture {
  shape: [number, number, number];
  labels: number[][];
  cases: Array<{ epsilon: number; loss: number; loss_f32: number }>;
  grad: { epsilon: number; data: number[] };
}
const ref = JSON.parse(readFileSync(fixtures('label-smoothing/label-smoothing.json'), 'utf8')) as SmoothingFixture;
const c = loadCase('ul2-tiny');

beforeAll(async () => {
  await useBackend('cpu');
});

describe('label smoothing (transformers LabelSmoother, label_smoothing_factor)', () => {
  it('lossSum / count with the golden checkpoint equals LabelSmoother on the golden logits for each ε, in training and eval', async () => {
    const m = await T5ForConditionalGeneration.fromPretrained(modelDir('ul2-tiny'));
    expect(m.labelSmoothingFactor).toBe(0);
    const seen: number[] = [];
    for (const { epsilon, loss } of ref.cases) {
      m.labelSmoothingFactor = epsilon;
      for (const training of [false, true]) {
        const { sum, count } = m.lossSum(goldenBatch(c), training); // dropout_rate 0: training differs only by the mode
        expect(count).toBe(16);
        const got = sum.dataSync()[0]! / count;
        sum.dispose();
        expect(Math.abs(got - loss) / loss, `ε ${epsilon} training ${training}`).toBeLessThan(1e-5);
        seen.push(got);
      }
    }
    // The factor matters: ε = 0.1 moves the loss by far more than the tolerance (2.8e-3 relative here).
    expect(Math.abs(seen[2]! - seen[0]!) / seen[0]!).toBeGreaterThan(1e-3);
    m.dispose();
  });

  it("forward's loss, lossSum and tokenLoss use the factor (the mean over the non-ignored labels; 0 where -100)", async () => {
    const m = await T5ForConditionalGeneration.fromPretrained(modelDir('ul2-tiny'), { labelSmoothingFactor: 0.2 });
    expect(m.labelSmoothingFactor).toBe(0.2);
    const [ids, mask, labels] = [int2d(c.input_ids), int2d(c.attention_mask), int2d(c.labels)];
    const out = m.forward({ inputIds: ids, attentionMask: mask, labels });
    const want = ref.cases.find((x) => x.epsilon === 0.2)!.loss;
    expect(Math.abs(out.loss!.dataSync()[0]! - want) / want).toBeLessThan(1e-5);
    expect(Math.abs(out.lossSum!.dataSync()[0]! - 16 * want) / (16 * want)).toBeLessThan(1e-5);
    const tok = out.tokenLoss!.arraySync();
    expect(tok[1]!.slice(7)).toEqual([0, 0]);
    tf.dispose([ids, mask, labels, out.logits, out.encoderLastHiddenState, out.loss!, out.lossSum!, out.tokenLoss!, out.tokenCount!]);
    m.dispose();
  });

  it('the gradient wrt the logits equals torch autograd of LabelSmoother (ε = 0.1); smoothing takes no extra [tokens, vocab] memory', async () => {
    const z = tf.tensor3d(c.logits.data, ref.shape);
    const labels = int2d(ref.labels);
    const eps = ref.grad.epsilon;
    const before = tf.memory().numTensors;
    const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => tf.div(tf.sum(tokenLosses(x as tf.Tensor3D, labels, eps)), 16))(z);
    const want = ref.cases.find((x) => x.epsilon === eps)!.loss;
    expect(Math.abs(value.dataSync()[0]! - want) / want).toBeLessThan(1e-6);
    const err = relErr(grad.dataSync(), ref.grad.data);
    expect(err).toBeLessThan(1e-5); // measured ≈ 2e-7 (float32 vs torch float64)
    // The padded rows get no gradient.
    const g = grad.arraySync() as number[][][];
    expect(g[1]![7]!.every((x) => x === 0) && g[1]![8]!.every((x) => x === 0)).toBe(true);
    tf.dispose([value, grad]);
    expect(tf.memory().numTensors).toBe(before);
    // Memory, in units of one [N, V] float32 tensor: what the forward leaves for the backward, and the backward's peak.
    const unit = 18 * 512 * 4;
    const footprint = async (e: number) => {
      const base = tf.memory().numBytes;
      let kept = 0;
      const prof = await tf.profile(() =>
        tf.grad((x: tf.Tensor) => {
          const r = tf.sum(tokenLosses(x as tf.Tensor3D, labels, e));
          kept = tf.memory().numBytes - base;
          return r;
        })(z),
      );
      (prof.result as tf.Tensor).dispose();
      const last = prof.kernels.findIndex((k) => k.name === 'Sum' && k.outputShapes[0]!.length === 0); // the forward's last kernel
      const backwardPeak = Math.max(...prof.kernels.slice(last + 1).map((k) => k.totalBytesSnapshot)) - base;
      return { kept: kept / unit, backwardPeak: backwardPeak / unit };
    };
    const plain = await footprint(0);
    const smooth = await footprint(eps);
    expect(smooth.kept).toBeLessThan(plain.kept + 0.1); // smoothing keeps no extra [N, V] tensor
    expect(smooth.backwardPeak).toBeLessThan(plain.backwardPeak + 0.1); // nor needs one more in the backward
    expect(plain.kept).toBeLessThan(2.1); // measured 2.01 (autodiff of sum(logp · onehot) kept 5.01)
    expect(plain.backwardPeak).toBeLessThan(6.1); // measured 6.02 (autodiff: 12.03; smoothed with a second sum: 14.10)
    tf.dispose([z, labels]);
  });

  it("a label outside [0, V) other than -100 never reads another token's logits: loss 0 and no gradient there, as the one-hot pick gave (forward reads nothing back, so cannot refuse it)", () => {
    // The flat gather index is n·V + label: label V would pick the next token's first logit, -1 the previous token's last.
    const z = tf.tensor3d(c.logits.data, ref.shape);
    const good = ref.labels.map((row) => row.slice());
    const bad = ref.labels.map((row) => row.slice());
    bad[0]![3] = 512; // = V
    bad[1]![2] = -1;
    const [lg, lb] = [int2d(good), int2d(bad)];
    const before = tf.memory().numTensors;
    for (const eps of [0, 0.1]) {
      const run = (labels: tf.Tensor2D) => tf.valueAndGrad((x: tf.Tensor) => tf.sum(tokenLosses(x as tf.Tensor3D, labels, eps)))(z);
      const tokG = tf.tidy(() => tokenLosses(z, lg, eps).arraySync());
      const tokB = tf.tidy(() => tokenLosses(z, lb, eps).arraySync());
      expect([tokB[0]![3], tokB[1]![2]], `ε ${eps}`).toEqual([0, 0]);
      tokG[0]![3] = 0;
      tokG[1]![2] = 0;
      expect(tokB).toEqual(tokG); // every other token as with valid labels
      const { value, grad } = run(lb);
      const g = grad.arraySync() as number[][][];
      expect(g[0]![3]!.every((x) => x === 0) && g[1]![2]!.every((x) => x === 0)).toBe(true);
      expect(g[0]![4]!.some((x) => x !== 0) && g[1]![1]!.some((x) => x !== 0)).toBe(true); // the neighbours keep theirs
      tf.dispose([value, grad]);
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([z, lg, lb]);
  });

  it('adapter gradients through the model follow the smoothed loss (central finite differences), without leaks', () => {
    const config = {
      vocab_size: 48, d_model: 16, d_kv: 4, num_heads: 2, d_ff: 24, num_layers: 1, num_decoder_layers: 2,
      feed_forward_proj: 'gated-silu', dropout_rate: 0, relative_attention_num_buckets: 8, relative_attention_max_distance: 16,
    };
    const m = T5ForConditionalGeneration.fromConfig(config, { seed: 3, labelSmoothingFactor: 0.3 });
    const vars = addAdapters(m, /\.(q|v)$/, 2, 11);
    const batch = {
      inputIds: Int32Array.from([5, 6, 7, 1, 9, 10, 1, 0]), attentionMask: Int32Array.from([1, 1, 1, 1, 1, 1, 1, 0]),
      labels: Int32Array.from([3, 4, 1, 11, 1, -100]), batchSize: 2, sourceLength: 4, targetLength: 3,
    };
    const loss = () => tf.tidy(() => m.lossSum(batch, true).sum.dataSync()[0]!);
    const warm = tf.variableGrads(() => m.lossSum(batch, true).sum, vars); // the first backward caches each W[out, in]
    tf.dispose([warm.value, ...Object.values(warm.grads)]);
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() => m.lossSum(batch, true).sum, vars);
    const v = vars[0]!;
    const g = grads[v.name]!.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    const w = v.dataSync().slice();
    const h = 1e-2;
    for (const i of [0, 5, 17]) {
      const at = (d: number) => {
        const x = w.slice();
        x[i] = w[i]! + d;
        v.assign(tf.tensor(x, v.shape));
        return loss();
      };
      const fd = (at(h) - at(-h)) / (2 * h);
      expect(Math.abs(fd - g[i]!), `element ${i}: fd ${fd} vs ${g[i]}`).toBeLessThan(2e-3 * Math.max(1, Math.abs(g[i]!)));
    }
    m.dispose();
  });

  it('a bad factor is one error naming labelSmoothingFactor and the value, before anything is allocated', async () => {
    const m = T5ForConditionalGeneration.fromConfig({ vocab_size: 8, d_model: 4, d_kv: 2, num_heads: 2, d_ff: 4, num_layers: 1 });
    const before = tf.memory().numTensors;
    for (const bad of [-0.1, 1, 1.5, Number.NaN, Infinity, '0.1' as unknown as number]) {
      expect(() => (m.labelSmoothingFactor = bad), String(bad)).toThrow(new RegExp(`labelSmoothingFactor must be a finite number in \\[0, 1\\), got ${typeof bad === 'string' ? JSON.stringify(bad) : String(bad)}`));
      expect(() => T5ForConditionalGeneration.fromConfig({ vocab_size: 8, d_model: 4, d_kv: 2, num_heads: 2, d_ff: 4, num_layers: 1 }, { labelSmoothingFactor: bad })).toThrow(/labelSmoothingFactor must be/);
    }
    await expect(T5ForConditionalGeneration.fromPretrained(modelDir('ul2-tiny'), { labelSmoothingFactor: 1 })).rejects.toThrow(/labelSmoothingFactor must be a finite number in \[0, 1\), got 1/);
    expect(() => T5EncoderModel.fromConfig({ vocab_size: 8, d_model: 4, d_kv: 2, num_heads: 2, d_ff: 4, num_layers: 1 }, { labelSmoothingFactor: 0.1 })).toThrow(/labelSmoothingFactor: T5EncoderModel computes no loss, got 0.1/);
    expect(tf.memory().numTensors).toBe(before);
    expect(m.labelSmoothingFactor).toBe(0);
    m.dispose();
  });
});
