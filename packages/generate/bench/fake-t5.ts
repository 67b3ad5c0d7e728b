/**
 * A RANDOMLY INITIALISED, T5-SHAPED FAKE encoder-decoder for benchmarking @conifer/generate only: it has
 * T5's per-step work (per decoder layer: self-attention with a key/value cache, cross-attention over
 * precomputed encoder keys/values, a gated feed-forward; then the vocabulary projection) but no relative
 * position bias, no trained weights, and its outputs mean nothing. Swap in @conifer/t5-model for real numbers.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Seq2Seq } from '../src/index.js';

export interface FakeShape {
  vocab: number;
  dModel: number;
  numHeads: number;
  dKv: number;
  dFf: number;
  numDecoderLayers: number;
}

/** google/flan-t5-small's decoder shape (config.json). */
export const FLAN_T5_SMALL: FakeShape = { vocab: 32128, dModel: 512, numHeads: 6, dKv: 64, dFf: 1024, numDecoderLayers: 8 };
/** A quarter-width, half-depth variant that keeps the same structure (for quick runs). */
export const SMALL: FakeShape = { vocab: 8192, dModel: 256, numHeads: 4, dKv: 64, dFf: 512, numDecoderLayers: 4 };

interface Layer { q: tf.Tensor2D; k: tf.Tensor2D; v: tf.Tensor2D; o: tf.Tensor2D; cq: tf.Tensor2D; ck: tf.Tensor2D; cv: tf.Tensor2D; co: tf.Tensor2D; wi0: tf.Tensor2D; wi1: tf.Tensor2D; wo: tf.Tensor2D }
export interface FakeEnc { cross: Array<{ k: tf.Tensor4D; v: tf.Tensor4D }>; bias: tf.Tensor4D }
export type FakeCache = Array<{ k: tf.Tensor4D; v: tf.Tensor4D }>;

export class FakeT5 implements Seq2Seq<FakeEnc, FakeCache> {
  private readonly emb: tf.Tensor2D;
  private readonly head: tf.Tensor2D;
  private readonly layers: Layer[];

  constructor(readonly shape: FakeShape, seed = 1) {
    const { vocab, dModel: d, numHeads: h, dKv, dFf } = shape;
    const inner = h * dKv;
    let s = seed;
    const w = (r: number, c: number) => tf.randomNormal([r, c], 0, 1 / Math.sqrt(r), 'float32', s++) as tf.Tensor2D;
    this.emb = w(vocab, d);
    this.head = w(d, vocab);
    this.layers = Array.from({ length: shape.numDecoderLayers }, () => ({
      q: w(d, inner), k: w(d, inner), v: w(d, inner), o: w(inner, d),
      cq: w(d, inner), ck: w(d, inner), cv: w(d, inner), co: w(inner, d),
      wi0: w(d, dFf), wi1: w(d, dFf), wo: w(dFf, d),
    }));
  }

  /** (B, T, d) · (d, e) → (B, T, e) */
  private lin(x: tf.Tensor3D, m: tf.Tensor2D): tf.Tensor3D {
    const [b, t, d] = x.shape;
    return tf.reshape(tf.matMul(tf.reshape(x, [b * t, d]), m), [b, t, m.shape[1]]);
  }
  /** (B, T, h·dKv) → (B, h, T, dKv) */
  private heads(x: tf.Tensor3D): tf.Tensor4D {
    const [b, t] = x.shape;
    return tf.transpose(tf.reshape(x, [b, t, this.shape.numHeads, this.shape.dKv]), [0, 2, 1, 3]);
  }
  private merge(x: tf.Tensor4D): tf.Tensor3D {
    const [b, , t] = x.shape;
    return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [b, t, this.shape.numHeads * this.shape.dKv]);
  }
  private rms(x: tf.Tensor3D): tf.Tensor3D {
    return tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), 1e-6)));
  }

  encode(inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D): FakeEnc {
    return tf.tidy(() => {
      const hidden = this.rms(tf.gather(this.emb, inputIds) as unknown as tf.Tensor3D); // (B, S, d)
      const bias = tf.reshape(tf.mul(tf.sub(1, tf.cast(attentionMask, 'float32')), -1e9), [attentionMask.shape[0], 1, 1, attentionMask.shape[1]]) as tf.Tensor4D;
      const cross = this.layers.map((l) => ({ k: this.heads(this.lin(hidden, l.ck)), v: this.heads(this.lin(hidden, l.cv)) }));
      return { cross, bias };
    });
  }

  decodeStep(tokens: tf.Tensor2D, enc: FakeEnc, cache: FakeCache | null): { logits: tf.Tensor3D; cache: FakeCache } {
    const [, t] = tokens.shape;
    const past = cache ? (cache[0] as { k: tf.Tensor4D }).k.shape[2] : 0;
    const out = tf.tidy(() => {
      let x = tf.gather(this.emb, tokens) as unknown as tf.Tensor3D; // (B, T, d)
      const l = past + t;
      const causal = tf.tensor2d(Float32Array.from({ length: t * l }, (_, n) => (n % l <= past + Math.floor(n / l) ? 0 : -1e9)), [t, l]);
      const next: FakeCache = [];
      this.layers.forEach((w, i) => {
        const h = this.rms(x);
        const q = this.heads(this.lin(h, w.q)); // (B, H, T, dKv)
        let k = this.heads(this.lin(h, w.k));
        let v = this.heads(this.lin(h, w.v));
        if (cache) {
          k = tf.concat([(cache[i] as FakeCache[number]).k, k], 2); // (B, H, L, dKv)
          v = tf.concat([(cache[i] as FakeCache[number]).v, v], 2);
        }
        next.push({ k: tf.keep(k), v: tf.keep(v) });
        const att = tf.softmax(tf.add(tf.matMul(q, k, false, true), causal)); // (B, H, T, L)
        x = tf.add(x, this.lin(this.merge(tf.matMul(att, v)), w.o));
        const hc = this.rms(x);
        const cq = this.heads(this.lin(hc, w.cq));
        const c = enc.cross[i] as FakeEnc['cross'][number];
        const catt = tf.softmax(tf.add(tf.matMul(cq, c.k, false, true), enc.bias)); // (B, H, T, S)
        x = tf.add(x, this.lin(this.merge(tf.matMul(catt, c.v)), w.co));
        const hf = this.rms(x);
        const gated = tf.mul(tf.tanh(this.lin(hf, w.wi0)), this.lin(hf, w.wi1)); // gated feed-forward
        x = tf.add(x, this.lin(gated as tf.Tensor3D, w.wo));
      });
      return { logits: this.lin(this.rms(x), this.head), cache: next }; // (B, T, V)
    });
    if (cache) this.disposeCache(cache);
    return out;
  }

  reorderCache(cache: FakeCache, indices: tf.Tensor1D): FakeCache {
    const next = cache.map((c) => ({ k: tf.gather(c.k, indices) as tf.Tensor4D, v: tf.gather(c.v, indices) as tf.Tensor4D }));
    this.disposeCache(cache);
    return next;
  }

  /** `DynamicCache.crop`: the first `length` positions, (B, H, L, dKv) → (B, H, length, dKv). Consumes `cache`. */
  cropCache(cache: FakeCache, length: number): FakeCache {
    const next = cache.map((c) => ({ k: tf.slice(c.k, [0, 0, 0, 0], [-1, -1, length, -1]), v: tf.slice(c.v, [0, 0, 0, 0], [-1, -1, length, -1]) }));
    this.disposeCache(cache);
    return next;
  }

  reorderEncoder(enc: FakeEnc, indices: tf.Tensor1D): FakeEnc {
    return {
      cross: enc.cross.map((c) => ({ k: tf.gather(c.k, indices) as tf.Tensor4D, v: tf.gather(c.v, indices) as tf.Tensor4D })),
      bias: tf.gather(enc.bias, indices) as tf.Tensor4D,
    };
  }

  disposeCache(cache: FakeCache): void {
    for (const c of cache) tf.dispose([c.k, c.v]);
  }

  disposeEncoder(enc: FakeEnc): void {
    for (const c of enc.cross) tf.dispose([c.k, c.v]);
    enc.bias.dispose();
  }

  dispose(): void {
    tf.dispose([this.emb, this.head, ...this.layers.flatMap((l) => Object.values(l))]);
  }
}
