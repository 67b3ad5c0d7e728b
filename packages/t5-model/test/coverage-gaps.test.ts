// Paths a coverage run showed no test reached: the untied head (Flan-UL2 and T5 v1.1 are untied;
// every fixture is tied) in the forward, the backward and savePretrained; the activations T5 configs
// may name besides relu / gelu_new / silu; config, batch and checkpoint errors; cleanup when a load
// fails half-way; gradient checkpointing with adapter variables held in a Map.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { parseSafetensors, serializeSafetensors, toFloat32, type TensorToWrite } from '@conifer/safetensors';
import { beforeAll, describe, expect, it } from 'vitest';
import { Float32Linear, parseT5Config, T5CheckpointError, T5ConfigError, T5ForConditionalGeneration, T5LMHead, type Linear } from '../src/index.js';
import { activation } from '../src/modules.js';
import { goldenBatch, loadCase, modelDir, relErr, tempDirs, useBackend } from './helpers.js';
import { addAdapters } from './lora-like.js';

const tmpIn = tempDirs();
const tmp = (prefix = 't5-gaps-') => tmpIn(prefix);
beforeAll(async () => {
  await useBackend('cpu');
});

const c = loadCase('ul2-tiny');
const batch = () => goldenBatch(c);
const goldenConfig = () => JSON.parse(readFileSync(join(modelDir('ul2-tiny'), 'config.json'), 'utf8')) as Record<string, unknown>;
const goldenTensors = () => {
  const { tensors } = parseSafetensors(readFileSync(join(modelDir('ul2-tiny'), 'model.safetensors')));
  return new Map<string, TensorToWrite>([...tensors].map(([k, v]) => [k, { dtype: v.dtype, shape: v.shape, data: v.data.slice() }]));
};
/** A checkpoint folder: ul2-tiny's tensors and config, both edited. */
function checkpoint(editTensors?: (t: Map<string, TensorToWrite>) => void, editConfig?: (c: Record<string, unknown>) => void): string {
  const dir = tmp();
  const t = goldenTensors();
  editTensors?.(t);
  const config = goldenConfig();
  editConfig?.(config);
  writeFileSync(join(dir, 'model.safetensors'), serializeSafetensors(t));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}
/** ul2-tiny untied: the config says tie_word_embeddings false and lm_head.weight is a copy of shared.weight. */
const untiedCopy = () =>
  checkpoint(
    (t) => t.set('lm_head.weight', { ...t.get('shared.weight')!, data: t.get('shared.weight')!.data.slice() }),
    (cfg) => Object.assign(cfg, { tie_word_embeddings: false, scale_decoder_outputs: false }),
  );

function grads(m: T5ForConditionalGeneration, vars: tf.Variable[]) {
  const { value, grads: g } = tf.variableGrads(() => m.lossSum(batch(), false).sum, vars);
  const out = { loss: value.dataSync()[0]!, grads: vars.map((v) => g[v.name]!.dataSync().slice()) };
  tf.dispose([value, ...Object.values(g)]);
  return out;
}

describe('untied lm_head (tie_word_embeddings false, as Flan-UL2)', () => {
  it('T5LMHead without a shared weight: dh = dy · W (PyTorch autograd of h · Wᵀ); its transposed copy is freed by dispose and made again after', () => {
    const before = tf.memory().numTensors;
    const w = tf.randomNormal([7, 3], 0, 1, 'float32', 3) as tf.Tensor2D; // (V, d)
    const head = new T5LMHead(tf.transpose(w), null);
    expect(head.tied).toBe(false);
    const h = tf.randomNormal([2, 5, 3], 0, 1, 'float32', 4) as tf.Tensor3D;
    const dy = tf.randomNormal([2, 5, 7], 0, 1, 'float32', 5);
    const loss = (x: tf.Tensor) => tf.sum(tf.mul(head.forward(x as tf.Tensor3D), dy));
    // ∂/∂h Σ (h·Wᵀ)∘dy = dy · W, in float64
    const [hv, wv, dyv] = [h.dataSync(), w.dataSync(), dy.dataSync()];
    const ref = new Float64Array(2 * 5 * 3);
    for (let r = 0; r < 10; r++) for (let v = 0; v < 7; v++) for (let d = 0; d < 3; d++) ref[r * 3 + d]! += dyv[r * 7 + v]! * wv[v * 3 + d]!;
    expect(hv.length).toBe(30);
    const g1 = tf.grad(loss)(h);
    expect(relErr(g1.dataSync(), ref)).toBeLessThan(1e-6);
    const withCopy = tf.memory().numTensors; // the transposed copy is kept for the next backward
    const g2 = tf.grad(loss)(h);
    expect(tf.memory().numTensors).toBe(withCopy + 1); // g2 only: the copy is reused
    expect(g2.dataSync()).toEqual(g1.dataSync());
    tf.dispose([g1, g2]);
    head.dispose(); // weightT and the copy
    tf.dispose([w, h, dy]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('an untied checkpoint whose lm_head equals shared gives the golden logits and the tied model\'s gradients', async () => {
    const untied = await T5ForConditionalGeneration.fromPretrained(untiedCopy());
    expect(untied.lm_head.tied).toBe(false);
    const tied = await T5ForConditionalGeneration.fromPretrained(modelDir('ul2-tiny'));
    const ids = tf.tensor2d(c.input_ids, undefined, 'int32');
    const mask = tf.tensor2d(c.attention_mask, undefined, 'int32');
    const dec = tf.tensor2d(c.decoder_input_ids, undefined, 'int32');
    const logits = untied.forward({ inputIds: ids, attentionMask: mask, decoderInputIds: dec }).logits;
    expect(relErr(logits.dataSync(), c.logits.data)).toBeLessThan(1e-5);
    tf.dispose([ids, mask, dec, logits]);
    const v1 = addAdapters(untied, /\.(q|v)$/, 4, 3);
    const v2 = addAdapters(tied, /\.(q|v)$/, 4, 3);
    v2.forEach((v, i) => v.assign(v1[i]!));
    const a = grads(untied, v1);
    const b = grads(tied, v2);
    expect(Math.abs(a.loss - b.loss) / b.loss).toBeLessThan(1e-6);
    a.grads.forEach((g, i) => expect(relErr(g, b.grads[i]!)).toBeLessThan(1e-5));
    untied.dispose();
    tied.dispose();
  });

  it('savePretrained writes lm_head.weight [vocab, d_model] (the head\'s own values) and tie_word_embeddings false; the reload scores the same', async () => {
    const config = { ...goldenConfig(), tie_word_embeddings: false };
    const m = T5ForConditionalGeneration.fromConfig(config, { seed: 7 });
    const before = tf.memory().numTensors;
    const out = tmp();
    expect(await m.savePretrained(out)).toEqual(['model.safetensors', 'config.json']);
    expect(tf.memory().numTensors).toBe(before);
    const { tensors } = parseSafetensors(readFileSync(join(out, 'model.safetensors')));
    const head = tensors.get('lm_head.weight')!;
    expect(head.shape).toEqual([512, 64]);
    const wT = m.lm_head.weightT.dataSync(); // [d_model, vocab]
    const values = toFloat32(head.dtype, head.data);
    for (const [v, d] of [[0, 0], [3, 17], [511, 63], [200, 5]] as const) expect(values[v * 64 + d]).toBe(wT[d * 512 + v]);
    expect(values).not.toEqual(toFloat32(tensors.get('shared.weight')!.dtype, tensors.get('shared.weight')!.data)); // its own, not the embedding
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'))).toMatchObject({ tie_word_embeddings: false });
    const again = await T5ForConditionalGeneration.fromPretrained(out);
    expect(again.lm_head.tied).toBe(false);
    const l1 = m.lossSum(batch(), false);
    const l2 = again.lossSum(batch(), false);
    expect(l2.sum.dataSync()[0]).toBe(l1.sum.dataSync()[0]);
    tf.dispose([l1.sum, l2.sum]);
    again.dispose();
    m.dispose();
  });
});

describe("activations (transformers' ACT2FN)", () => {
  /** erf in float64: Maclaurin series for |z| < 2.5, else 1 − erfc by its continued fraction. */
  const erf = (z: number): number => {
    if (Math.abs(z) >= 2.5) {
      const a = Math.abs(z);
      let t = 0;
      for (let k = 80; k >= 1; k--) t = k / 2 / (a + t);
      return Math.sign(z) * (1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / (a + t));
    }
    let sum = 0;
    let term = z; // (−1)^n z^(2n+1) / n!
    for (let n = 0; n < 60; n++) {
      sum += term / (2 * n + 1);
      term *= (-z * z) / (n + 1);
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  };
  const xs = [-4, -2.5, -1, -0.3, 0, 0.2, 0.5, 1, 1.7, 3, 4];
  const refs: Record<string, (x: number) => number> = {
    gelu: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)), // nn.functional.gelu (erf)
    quick_gelu: (x) => x / (1 + Math.exp(-1.702 * x)), // x · sigmoid(1.702 x)
    tanh: Math.tanh,
    sigmoid: (x) => 1 / (1 + Math.exp(-x)),
    gelu_new: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  };

  for (const [name, ref] of Object.entries(refs)) {
    it(`${name} equals PyTorch's formula; feed_forward_proj "${name}" selects it`, () => {
      const y = tf.tidy(() => activation(name as Parameters<typeof activation>[0], tf.tensor1d(xs)).dataSync());
      xs.forEach((x, i) => expect(Math.abs(y[i]! - ref(x))).toBeLessThan(2e-6));
      expect(parseT5Config({ feed_forward_proj: name })).toMatchObject({ dense_act_fn: name, is_gated_act: false });
      // transformers maps "gated-gelu" to gelu_new (backwards compatibility); every other gated-X to X
      expect(parseT5Config({ feed_forward_proj: `gated-${name}` })).toMatchObject({ dense_act_fn: name === 'gelu' ? 'gelu_new' : name, is_gated_act: true });
    });
  }

  it('the exact gelu is not the tanh approximation (they differ by 1.5e-4 at x = 1)', () => {
    const [a, b] = tf.tidy(() => [activation('gelu', tf.scalar(1)).dataSync()[0]!, activation('gelu_new', tf.scalar(1)).dataSync()[0]!]);
    expect(a).toBeCloseTo(0.8413447460685429, 6);
    expect(Math.abs(a - b)).toBeGreaterThan(1e-4);
  });

  it('a model with an erf-GELU feed-forward uses it: its FF output is wo(gelu(wi · x))', () => {
    const m = T5ForConditionalGeneration.fromConfig({ vocab_size: 32, d_model: 8, d_kv: 2, num_heads: 2, d_ff: 16, num_layers: 1, num_decoder_layers: 1, feed_forward_proj: 'gelu' }, { seed: 3 });
    const ff = m.encoder.block[0]!.feedForward.DenseReluDense;
    const x = tf.randomNormal([1, 2, 8], 0, 2, 'float32', 9) as tf.Tensor3D;
    const [wi, wo] = ['encoder.block.0.layer.1.DenseReluDense.wi', 'encoder.block.0.layer.1.DenseReluDense.wo'].map((p) => (m.listLinears().find(([q]) => q === p)![1] as Float32Linear).dequantize!().dataSync());
    const got = tf.tidy(() => (ff as { forward(x: tf.Tensor3D, ctx: unknown): tf.Tensor3D }).forward(x, { dropout: (t: tf.Tensor) => t }).dataSync());
    const xv = x.dataSync();
    for (let r = 0; r < 2; r++) {
      const h = Array.from({ length: 16 }, (_, j) => refs.gelu!(Array.from({ length: 8 }, (_, k) => xv[r * 8 + k]! * wi![j * 8 + k]!).reduce((s, v) => s + v, 0)));
      for (let o = 0; o < 8; o++) expect(got[r * 8 + o]).toBeCloseTo(h.reduce((s, v, j) => s + v * wo![o * 16 + j]!, 0), 5);
    }
    x.dispose();
    m.dispose();
  });
});

describe('config, batch and save errors', () => {
  it('config: a root that is not an object, a non-string feed_forward_proj, a dense_act_fn that contradicts it; eos lists', () => {
    for (const bad of [null, [], 'relu', 3]) expect(() => parseT5Config(bad)).toThrow(T5ConfigError);
    expect(() => parseT5Config([])).toThrow(/must be a JSON object/);
    expect(() => parseT5Config({ feed_forward_proj: 3 })).toThrow(/feed_forward_proj.*must be a string, got 3/);
    expect(() => parseT5Config({ feed_forward_proj: 'gated-gelu', dense_act_fn: 'gelu' })).toThrow(
      /dense_act_fn.*is "gelu" but feed_forward_proj "gated-gelu" implies "gelu_new"/,
    );
    expect(parseT5Config({ feed_forward_proj: 'gated-gelu', dense_act_fn: 'gelu_new' }).dense_act_fn).toBe('gelu_new');
    expect(parseT5Config({ eos_token_id: [1, 7] }).eos_token_id).toEqual([1, 7]);
    for (const eos of [[], [1, -1], [1.5], '1']) expect(() => parseT5Config({ eos_token_id: eos })).toThrow(/eos_token_id.*must be a token id or a list of ids/);
  });

  it('forward without decoder inputs or labels, Int32Array batches without their dims or of the wrong length: one error each; decoderInputIds in lossSum are used', async () => {
    const m = await T5ForConditionalGeneration.fromPretrained(modelDir('ul2-tiny'));
    const before = tf.memory().numTensors;
    const ids = tf.tensor2d(c.input_ids, undefined, 'int32');
    const mask = tf.tensor2d(c.attention_mask, undefined, 'int32');
    expect(() => m.forward({ inputIds: ids, attentionMask: mask })).toThrow('forward: give decoderInputIds or labels');
    const { batchSize: _b, ...noDims } = batch();
    expect(() => m.lossSum(noDims, false)).toThrow('lossSum: Int32Array batches need batchSize, sourceLength and targetLength');
    expect(() => m.lossSum({ ...batch(), sourceLength: 12 }, false)).toThrow('lossSum: array of 26 values, expected 2×12');
    tf.dispose([ids, mask]);
    expect(tf.memory().numTensors).toBe(before);
    // the golden decoder_input_ids are the shifted labels: the golden loss; other ones: forward's loss for them
    const golden = m.lossSum({ ...batch(), decoderInputIds: Int32Array.from(c.decoder_input_ids.flat()) }, false);
    expect(Math.abs(golden.sum.dataSync()[0]! / golden.count - c.loss) / c.loss).toBeLessThan(1e-5);
    const other = Int32Array.from(c.decoder_input_ids.flat(), (v, i) => (i % 9 === 3 ? 7 : v));
    const mine = m.lossSum({ ...batch(), decoderInputIds: other }, false);
    const t = (x: number[][] | Int32Array, cols: number) => tf.tensor2d(Array.isArray(x) ? x.flat() : Array.from(x), [2, cols], 'int32');
    const out = m.forward({ inputIds: t(c.input_ids, 13), attentionMask: t(c.attention_mask, 13), decoderInputIds: t(other, 9), labels: t(c.labels, 9) });
    expect(Math.abs(mine.sum.dataSync()[0]! - out.lossSum!.dataSync()[0]!)).toBeLessThan(1e-4);
    expect(Math.abs(mine.sum.dataSync()[0]! - golden.sum.dataSync()[0]!)).toBeGreaterThan(1e-3);
    tf.dispose([golden.sum, mine.sum, ...Object.values(out).filter((v): v is tf.Tensor => v instanceof tf.Tensor)]);
    m.dispose();
  });

  it('savePretrained refuses a dtype other than F32 / BF16 before writing anything', async () => {
    const m = T5ForConditionalGeneration.fromConfig(goldenConfig(), { seed: 1 });
    const out = join(tmp(), 'never');
    // @ts-expect-error not a stored dtype
    await expect(m.savePretrained(out, { dtype: 'F16' })).rejects.toThrow('savePretrained: dtype "F16" is not F32 or BF16');
    expect(() => readFileSync(join(out, 'config.json'))).toThrow(/ENOENT/);
    m.dispose();
  });

  it('Float32Linear.fromSpec refuses a weight of the wrong size, an 8-bit one without a matching SCB', () => {
    const data = new Uint8Array(new Float32Array(6).buffer);
    expect(() => Float32Linear.fromSpec({ path: 'x.q', inFeatures: 4, outFeatures: 2, weight: { dtype: 'F32', shape: [2, 3], data } })).toThrow(
      'x.q: weight has 6 values, expected 2×4',
    );
    expect(() => Float32Linear.fromSpec({ path: 'x.k', inFeatures: 3, outFeatures: 2, weight: { dtype: 'I8', shape: [2, 3], data: new Uint8Array(6), SCB: new Float32Array(1) } })).toThrow(
      'x.k: an 8-bit weight needs 2×3 int8 values and 2 SCB values',
    );
  });
});

describe('loading failures', () => {
  it('a folder without config.json is one error naming the file', async () => {
    const dir = tmp();
    await expect(T5ForConditionalGeneration.fromPretrained(dir)).rejects.toThrow(new RegExp(`^${join(dir, 'config.json').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: cannot read \\(ENOENT`));
  });

  it('a mis-shaped lm_head.weight is reported with the other mismatches', async () => {
    const dir = checkpoint((t) => t.set('lm_head.weight', { dtype: 'F32', shape: [512, 32], data: new Uint8Array(512 * 32 * 4) }), (cfg) => Object.assign(cfg, { tie_word_embeddings: false }));
    const err = (await T5ForConditionalGeneration.fromPretrained(dir).then(() => null, (e: unknown) => e)) as T5CheckpointError;
    expect(err).toBeInstanceOf(T5CheckpointError);
    expect(err.misshaped).toEqual(['lm_head.weight (F32[512,32], expected F32/F16/BF16[512,64])']);
  });

  it('a factory that returns the wrong features, or throws, half-way: its error, and every tensor made so far freed', async () => {
    const before = tf.memory().numTensors;
    let made = 0;
    const wrongAt = (target: string) => (spec: Parameters<typeof Float32Linear.fromSpec>[0]): Linear => {
      const l = Float32Linear.fromSpec(spec);
      made++;
      if (spec.path !== target) return l;
      return { inFeatures: l.outFeatures, outFeatures: l.inFeatures, apply: (x) => l.apply(x), dispose: () => l.dispose() };
    };
    const last = 'encoder.block.1.layer.1.DenseReluDense.wi_1'; // streamed after every decoder projection
    await expect(T5ForConditionalGeneration.fromPretrained(modelDir('ul2-tiny'), { makeLinear: wrongAt(last) })).rejects.toThrow(
      `makeLinear(${last}) returned a 128→64 linear, expected 64→128`,
    );
    expect(made).toBeGreaterThan(30);
    expect(tf.memory().numTensors).toBe(before);
    let calls = 0;
    const throwing = (spec: Parameters<typeof Float32Linear.fromSpec>[0]) => {
      if (++calls === 20) throw new Error('out of device memory');
      return Float32Linear.fromSpec(spec);
    };
    await expect(T5ForConditionalGeneration.fromPretrained(modelDir('ul2-tiny'), { makeLinear: throwing })).rejects.toThrow(/^out of device memory$/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('an 8-bit projection whose SCB holds NaN or a negative absmax: one error naming the row; nothing leaked', async () => {
    const path = 'encoder.block.1.layer.1.DenseReluDense.wi_1';
    for (const [bad, shown] of [[Number.NaN, 'NaN'], [-1, '-1']] as const) {
      const dir = checkpoint((t) => {
        const w = toFloat32('F32', t.get(`${path}.weight`)!.data as Uint8Array); // [128, 64]
        const CB = new Int8Array(128 * 64);
        const SCB = new Float32Array(128);
        for (let r = 0; r < 128; r++) {
          for (let k = 0; k < 64; k++) SCB[r] = Math.max(SCB[r]!, Math.abs(w[r * 64 + k]!));
          for (let k = 0; k < 64; k++) CB[r * 64 + k] = Math.round((w[r * 64 + k]! * 127) / SCB[r]!);
        }
        SCB[5] = bad;
        t.set(`${path}.weight`, { dtype: 'I8', shape: [128, 64], data: new Uint8Array(CB.buffer) });
        t.set(`${path}.SCB`, { dtype: 'F32', shape: [128], data: new Uint8Array(SCB.buffer) });
      });
      const before = tf.memory().numTensors;
      await expect(T5ForConditionalGeneration.fromPretrained(dir)).rejects.toThrow(`${path}.SCB[5] = ${shown} is not a finite absmax ≥ 0`);
      expect(tf.memory().numTensors).toBe(before);
    }
  });
});

describe('gradient checkpointing', () => {
  /** An adapter linear that keeps its variables in a Map (as PEFT keys lora_A / lora_B by adapter name). */
  class MapAdapter implements Linear {
    readonly adapters = new Map<string, { A: tf.Variable; B: tf.Variable }>();
    constructor(readonly base: Linear, seed: number) {
      this.adapters.set('default', {
        A: tf.variable(tf.randomNormal([base.inFeatures, 2], 0, 0.3, 'float32', seed), true),
        B: tf.variable(tf.randomNormal([2, base.outFeatures], 0, 0.3, 'float32', seed + 1), true),
      });
    }
    get inFeatures() {
      return this.base.inFeatures;
    }
    get outFeatures() {
      return this.base.outFeatures;
    }
    apply(x: tf.Tensor): tf.Tensor {
      const { A, B } = this.adapters.get('default')!;
      return tf.tidy(() => {
        const x2 = tf.reshape(x, [-1, this.inFeatures]);
        return tf.reshape(tf.add(this.base.apply(x2), tf.matMul(tf.matMul(x2, A), B)), [...x.shape.slice(0, -1), this.outFeatures]);
      });
    }
  }

  it('finds adapter variables held in a Map: the same gradients with and without it', async () => {
    const m = await T5ForConditionalGeneration.fromPretrained(modelDir('ul2-tiny'));
    const vars: tf.Variable[] = [];
    let seed = 11;
    for (const [path, lin] of m.listLinears()) {
      if (!/\.v$/.test(path)) continue;
      const a = new MapAdapter(lin, (seed += 2));
      m.replaceLinear(path, a);
      const { A, B } = a.adapters.get('default')!;
      vars.push(A, B);
    }
    m.gradientCheckpointing = false;
    const off = grads(m, vars);
    m.gradientCheckpointing = true;
    const on = grads(m, vars);
    expect(Math.abs(on.loss - off.loss)).toBeLessThan(1e-5 * off.loss);
    on.grads.forEach((g, i) => {
      expect(g.some((v) => v !== 0)).toBe(true);
      expect(relErr(g, off.grads[i]!)).toBeLessThan(1e-5);
    });
    tf.dispose(vars);
    m.dispose();
  });
});
