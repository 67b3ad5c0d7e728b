import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { T5EncoderModel, T5ForConditionalGeneration } from '../src/index.js';
import { neftuneMagnitude } from '../src/neftune.js';
import { int2d, relErr, useBackend } from './helpers.js';
import { addAdapters } from './lora-like.js';
import { captureStackInputs, noiseBatch } from './neftune-helpers.js';

beforeAll(async () => {
  await useBackend('cpu');
});

const config = {
  vocab_size: 96, d_model: 64, d_kv: 8, num_heads: 2, d_ff: 32, num_layers: 1, num_decoder_layers: 1,
  feed_forward_proj: 'gated-silu', dropout_rate: 0, relative_attention_num_buckets: 8, relative_attention_max_distance: 16,
};
const [B, S, T] = [4, 50, 20]; // encoder L = 50, decoder L = 20: different bounds
const batch = noiseBatch(B, S, T, config.vocab_size);

/** The noise the stacks saw, per stack: what they received minus `shared`'s clean output. */
function noiseOf(m: T5ForConditionalGeneration, training: boolean, run = (mm: T5ForConditionalGeneration) => tf.dispose(mm.lossSum(batch, training).sum)) {
  const cap = captureStackInputs(m);
  run(m);
  cap.restore();
  const clean = (ids: Int32Array, rows: number, cols: number) => tf.tidy(() => m.shared.forward(tf.tensor2d(ids, [rows, cols], 'int32')).dataSync());
  const decIds = tf.tidy(() => m.shiftRight(tf.tensor2d(batch.labels, [B, T], 'int32')).dataSync() as Int32Array);
  const sub = (a: Float32Array | Int32Array | Uint8Array, b: ArrayLike<number>) => Float64Array.from(a, (x, i) => x - b[i]!);
  const out = { enc: sub(cap.enc[0]!.dataSync(), clean(batch.inputIds, B, S)), dec: sub(cap.dec[0]!.dataSync(), clean(decIds, B, T)), calls: [cap.enc.length, cap.dec.length] };
  cap.dispose();
  return out;
}

/** Max |x|, mean, variance ratio to a uniform's m²/3, and a 10-bin χ² of x / m. */
function stats(x: Float64Array, m: number) {
  let [max, sum, sq] = [0, 0, 0];
  const bins = new Array(10).fill(0);
  for (const v of x) {
    max = Math.max(max, Math.abs(v));
    sum += v;
    sq += v * v;
    bins[Math.min(9, Math.max(0, Math.floor(((v / m + 1) / 2) * 10)))]++;
  }
  const n = x.length;
  const chi2 = bins.reduce((a, b) => a + (b - n / 10) ** 2 / (n / 10), 0);
  return { max, mean: sum / n, varRatio: sq / n / ((m * m) / 3), chi2, n };
}

describe('NEFTune (transformers neftune_noise_alpha)', () => {
  it('training adds uniform noise bounded by α/√(L·d) to the embeddings, each stack with its own L, spread over the bound, mean 0', () => {
    const alpha = 5;
    const m = T5ForConditionalGeneration.fromConfig(config, { seed: 1, neftuneNoiseAlpha: alpha });
    expect(m.neftuneNoiseAlpha).toBe(alpha);
    const { enc, dec, calls } = noiseOf(m, true);
    expect(calls).toEqual([1, 1]);
    const mEnc = neftuneMagnitude(alpha, S, 64); // 5 / √3200 ≈ 0.0884
    const mDec = neftuneMagnitude(alpha, T, 64); // 5 / √1280 ≈ 0.1398
    expect(mEnc).toBeCloseTo(5 / Math.sqrt(3200), 12);
    for (const [x, mag] of [[enc, mEnc], [dec, mDec]] as const) {
      const s = stats(x, mag);
      expect(s.max).toBeLessThanOrEqual(mag * (1 + 1e-6) + 1e-7); // the embedding sum rounds in float32
      expect(s.max).toBeGreaterThan(0.99 * mag); // reaches the bound
      expect(Math.abs(s.mean)).toBeLessThan((6 * mag) / Math.sqrt(3 * s.n)); // 6 σ of the mean
      expect(Math.abs(s.varRatio - 1)).toBeLessThan(0.1); // a uniform's variance (4 σ ≈ 0.06 at n = 5120)
      expect(s.chi2).toBeLessThan(40); // 9 degrees of freedom: p ≈ 6e-6
    }
    // The decoder's bound is its own: its noise goes past the encoder's bound.
    expect(stats(dec, mDec).max).toBeGreaterThan(1.2 * mEnc);
    m.dispose();
  });

  it('no noise with α = 0, with training: false, in encode / decodeStep; the same seed gives the same noise and loss', () => {
    const m = T5ForConditionalGeneration.fromConfig(config, { seed: 1, neftuneNoiseAlpha: 0 });
    const zero = noiseOf(m, true);
    expect(zero.enc.every((v) => v === 0) && zero.dec.every((v) => v === 0)).toBe(true);
    m.neftuneNoiseAlpha = 3;
    const evalNoise = noiseOf(m, false);
    expect(evalNoise.enc.every((v) => v === 0) && evalNoise.dec.every((v) => v === 0)).toBe(true);
    const gen = noiseOf(m, true, (mm) => {
      const [ids, mask] = [tf.tensor2d(batch.inputIds, [B, S], 'int32'), tf.tensor2d(batch.attentionMask, [B, S], 'int32')];
      const enc = mm.encode(ids, mask);
      const step = mm.decodeStep(int2d(Array.from({ length: B }, () => [0])), enc, null);
      tf.dispose([ids, mask, step.logits]);
      mm.disposeCache(step.cache);
      mm.disposeEncoder(enc);
      tf.dispose(mm.lossSum(batch, false).sum); // and a decoder stack call, for the capture
    });
    expect(gen.enc.every((v) => v === 0)).toBe(true);
    // Seeded: the same seed gives the same noise and the same loss; the next call, or another seed, other noise.
    const loss = () => tf.tidy(() => m.lossSum(batch, true).sum.dataSync()[0]!);
    m.setDropoutSeed(7);
    const a = noiseOf(m, true);
    const la = loss();
    m.setDropoutSeed(7);
    const b = noiseOf(m, true);
    expect(Array.from(b.enc)).toEqual(Array.from(a.enc));
    expect(Array.from(b.dec)).toEqual(Array.from(a.dec));
    expect(loss()).toBe(la);
    const next = noiseOf(m, true);
    expect(relErr(next.enc, a.enc)).toBeGreaterThan(1);
    m.setDropoutSeed(8);
    expect(relErr(noiseOf(m, true).enc, a.enc)).toBeGreaterThan(1);
    const evalLoss = tf.tidy(() => m.lossSum(batch, false).sum.dataSync()[0]!);
    expect(Math.abs(la - evalLoss)).toBeGreaterThan(1e-4); // the noise changes the loss
    m.dispose();
  });

  it('the noise is additive: adapter gradients equal those of the noise-free model fed the same noisy embeddings', () => {
    const mk = (alpha: number) => {
      const m = T5ForConditionalGeneration.fromConfig(config, { seed: 2, neftuneNoiseAlpha: alpha, dropoutSeed: 9 });
      return { m, vars: addAdapters(m, /\.(q|v|wo)$/, 2, 21) };
    };
    const noisy = mk(5);
    const plain = mk(0);
    const cap = captureStackInputs(noisy.m);
    const { value, grads } = tf.variableGrads(() => noisy.m.lossSum(batch, true).sum, noisy.vars);
    cap.restore();
    // Feed the noise-free twin the same embeddings: its stacks get the captured (noisy) inputs.
    const replay = (stack: typeof plain.m.encoder, saved: tf.Tensor3D) => {
      const original = stack.forward;
      stack.forward = function (_embeds, ...rest) {
        return original.call(this, saved, ...rest);
      };
      return () => (stack.forward = original);
    };
    const r1 = replay(plain.m.encoder, cap.enc[0]!);
    const r2 = replay(plain.m.decoder, cap.dec[0]!);
    const twin = tf.variableGrads(() => plain.m.lossSum(batch, true).sum, plain.vars);
    r1();
    r2();
    expect(value.dataSync()[0]).toBe(twin.value.dataSync()[0]);
    noisy.vars.forEach((v, i) => {
      const g = grads[v.name]!.dataSync();
      expect(g.some((x) => x !== 0)).toBe(true);
      expect(Array.from(g)).toEqual(Array.from(twin.grads[plain.vars[i]!.name]!.dataSync()));
    });
    tf.dispose([value, twin.value, ...Object.values(grads), ...Object.values(twin.grads)]);
    cap.dispose();
    noisy.m.dispose();
    plain.m.dispose();
  });

  it('gradient checkpointing gives the same loss and gradients with NEFTune and dropout on; turning NEFTune on keeps the dropout masks; no leaks', () => {
    const cfg = { ...config, dropout_rate: 0.2, num_layers: 2, num_decoder_layers: 2 };
    const m = T5ForConditionalGeneration.fromConfig(cfg, { seed: 4, neftuneNoiseAlpha: 5 });
    const vars = addAdapters(m, /\.(q|v)$/, 2, 31);
    const run = (checkpointing: boolean) => {
      m.gradientCheckpointing = checkpointing;
      m.setDropoutSeed(42);
      const { value, grads } = tf.variableGrads(() => m.lossSum(batch, true).sum, vars);
      const out = { loss: value.dataSync()[0]!, grads: vars.map((v) => grads[v.name]!.dataSync().slice()) };
      tf.dispose([value, ...Object.values(grads)]);
      return out;
    };
    const off = run(false);
    const on = run(true);
    expect(Math.abs(on.loss - off.loss)).toBeLessThan(1e-5 * Math.abs(off.loss));
    on.grads.forEach((g, i) => expect(relErr(g, off.grads[i]!)).toBeLessThan(1e-5));
    // The dropout stream is the same with and without NEFTune: the difference of the two losses is the noise's
    // effect alone, which α → tiny makes vanish (with other dropout masks it would not).
    m.neftuneNoiseAlpha = 1e-6;
    const tiny = run(false).loss;
    m.neftuneNoiseAlpha = 0;
    const none = run(false).loss;
    expect(Math.abs(tiny - none)).toBeLessThan(1e-4 * Math.abs(none));
    m.neftuneNoiseAlpha = 5;
    const before = tf.memory().numTensors;
    run(true);
    run(false);
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });

  it('T5EncoderModel: the same noise on its embeddings in training only', () => {
    const m = T5EncoderModel.fromConfig(config, { seed: 1, neftuneNoiseAlpha: 5 });
    const ids = tf.tensor2d(batch.inputIds, [B, S], 'int32');
    const mask = tf.tensor2d(batch.attentionMask, [B, S], 'int32');
    const seen: tf.Tensor3D[] = [];
    const original = m.encoder.forward;
    m.encoder.forward = function (embeds, ...rest) {
      seen.push(tf.keep(tf.clone(embeds)));
      return original.call(this, embeds, ...rest);
    };
    tf.dispose(m.forward({ inputIds: ids, attentionMask: mask }, { training: true }).lastHiddenState);
    tf.dispose(m.forward({ inputIds: ids, attentionMask: mask }).lastHiddenState);
    m.encoder.forward = original;
    const clean = m.shared.forward(ids);
    const d = tf.tidy(() => tf.max(tf.abs(tf.sub(seen[0]!, clean))).dataSync()[0]!);
    expect(d).toBeLessThanOrEqual(neftuneMagnitude(5, S, 64) * (1 + 1e-6) + 1e-7);
    expect(d).toBeGreaterThan(0.99 * neftuneMagnitude(5, S, 64));
    expect(Array.from(seen[1]!.dataSync())).toEqual(Array.from(clean.dataSync()));
    tf.dispose([ids, mask, clean, ...seen]);
    m.dispose();
  });

  it('wasm gives the same noisy embeddings as cpu, bit for bit', async () => {
    const run = () => {
      const m = T5ForConditionalGeneration.fromConfig(config, { seed: 1, neftuneNoiseAlpha: 5, dropoutSeed: 3 });
      const cap = captureStackInputs(m);
      tf.dispose(m.lossSum(batch, true).sum);
      cap.restore();
      const out = [Array.from(cap.enc[0]!.dataSync()), Array.from(cap.dec[0]!.dataSync())];
      cap.dispose();
      m.dispose();
      return out;
    };
    const cpu = run();
    await useBackend('wasm');
    try {
      const wasm = run();
      expect(wasm[0]).toEqual(cpu[0]);
      expect(wasm[1]).toEqual(cpu[1]);
    } finally {
      await useBackend('cpu');
    }
  });

  it('a bad α is one error naming neftuneNoiseAlpha and the value, before anything is allocated', async () => {
    const m = T5ForConditionalGeneration.fromConfig(config);
    const before = tf.memory().numTensors;
    for (const bad of [-1, Number.NaN, Infinity, '5' as unknown as number]) {
      expect(() => (m.neftuneNoiseAlpha = bad), String(bad)).toThrow(new RegExp(`neftuneNoiseAlpha must be a finite number ≥ 0 \\(0 = off\\), got ${typeof bad === 'string' ? JSON.stringify(bad) : String(bad)}`));
      expect(() => T5ForConditionalGeneration.fromConfig(config, { neftuneNoiseAlpha: bad })).toThrow(/neftuneNoiseAlpha must be/);
      expect(() => T5EncoderModel.fromConfig(config, { neftuneNoiseAlpha: bad })).toThrow(/neftuneNoiseAlpha must be/);
    }
    await expect(T5ForConditionalGeneration.fromPretrained('/nonexistent-dir', { neftuneNoiseAlpha: -2 })).rejects.toThrow(/neftuneNoiseAlpha must be a finite number ≥ 0 \(0 = off\), got -2/);
    expect(tf.memory().numTensors).toBe(before);
    expect(m.neftuneNoiseAlpha).toBe(0);
    m.dispose();
  });
});
