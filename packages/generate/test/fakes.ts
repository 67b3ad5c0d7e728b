/**
 * Small fake encoder-decoders implementing the Seq2Seq contract, for tests.
 *
 * - `TinyTransformer`: a one-layer tfjs encoder-decoder with random (seeded) weights, a real self-attention
 *   key/value cache that grows by one position per step, cross-attention over the masked encoder states.
 *   Its next-token logits depend on the (unpadded) input and the whole prefix.
 * - `TableModel`: logits computed in plain JS by a function of (input row without padding, decoder prefix);
 *   its cache is the int32 tensor of the prefix tokens so far, so a wrong cache gather gives wrong logits.
 */
import * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';
import type { Seq2Seq } from '../src/index.js';

/** Counts what the generator asked of a model. */
export interface Calls {
  encode: number;
  decodeWidths: number[];
  reorderCache: number[][];
  reorderEncoder: number[][];
  /** The length of every `cropCache`. */
  cropCache: number[];
}
const newCalls = (): Calls => ({ encode: 0, decodeWidths: [], reorderCache: [], reorderEncoder: [], cropCache: [] });

export interface TinyEnc { hidden: tf.Tensor3D; maskBias: tf.Tensor3D }
export interface TinyCache { k: tf.Tensor3D; v: tf.Tensor3D }

export class TinyTransformer implements Seq2Seq<TinyEnc, TinyCache> {
  readonly calls = newCalls();
  readonly vocab: number;
  private readonly d: number;
  private readonly w: Record<'emb' | 'pos' | 'wq' | 'wk' | 'wv' | 'wo' | 'wc' | 'out', tf.Tensor2D>;

  private readonly eosId: number;
  private readonly eosAfter: number;

  /** `eosAfter`: from this decoder position on, the EOS logit gets +1.5 per position (rows end). */
  constructor({ vocab = 16, d = 8, seed = 1, scale = 4, maxPos = 64, eosId = 1, eosAfter = 6 } = {}) {
    this.vocab = vocab;
    this.d = d;
    this.eosId = eosId;
    this.eosAfter = eosAfter;
    const rng = seedrandom(`tiny-${seed}`);
    const mat = (r: number, c: number, s: number) => tf.tensor2d(Float32Array.from({ length: r * c }, () => (rng() * 2 - 1) * s), [r, c]);
    this.w = {
      emb: mat(vocab, d, 1), pos: mat(maxPos, d, 1), wq: mat(d, d, 0.7), wk: mat(d, d, 0.7), wv: mat(d, d, 0.7),
      wo: mat(d, d, 0.7), wc: mat(d, d, 0.7), out: mat(d, vocab, scale),
    };
  }

  /** x (B, T, d) · W (d, e) → (B, T, e). */
  private lin(x: tf.Tensor3D, w: tf.Tensor2D): tf.Tensor3D {
    const [b, t, d] = x.shape;
    return tf.reshape(tf.matMul(tf.reshape(x, [b * t, d]), w), [b, t, w.shape[1]]);
  }

  encode(inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D): TinyEnc {
    this.calls.encode++;
    return tf.tidy(() => {
      const x = tf.gather(this.w.emb, inputIds) as unknown as tf.Tensor3D; // (B, S, d)
      const hidden = tf.tanh(tf.add(x, this.lin(x, this.w.wv))) as tf.Tensor3D;
      const maskBias = tf.expandDims(tf.mul(tf.sub(1, tf.cast(attentionMask, "float32")), -1e9), 1) as unknown as tf.Tensor3D; // (B, 1, S)
      return { hidden, maskBias };
    });
  }

  decodeStep(tokens: tf.Tensor2D, enc: TinyEnc, cache: TinyCache | null): { logits: tf.Tensor3D; cache: TinyCache } {
    const [b, t] = tokens.shape;
    this.calls.decodeWidths.push(t);
    const past = cache ? cache.k.shape[1] : 0;
    const out = tf.tidy(() => {
      const x = tf.add(tf.gather(this.w.emb, tokens) as unknown as tf.Tensor3D, tf.slice(this.w.pos, [past, 0], [t, this.d])) as tf.Tensor3D; // (B, T, d)
      const q = this.lin(x, this.w.wq);
      const kNew = this.lin(x, this.w.wk);
      const vNew = this.lin(x, this.w.wv);
      const k = cache ? tf.concat([cache.k, kNew], 1) : kNew; // (B, L, d)
      const v = cache ? tf.concat([cache.v, vNew], 1) : vNew;
      const l = past + t;
      // causal: query at absolute position past+i sees keys j ≤ past+i
      const causal = tf.tensor2d(Float32Array.from({ length: t * l }, (_, n) => (n % l <= past + Math.floor(n / l) ? 0 : -1e9)), [t, l]);
      const att = tf.softmax(tf.add(tf.div(tf.matMul(q, k, false, true), Math.sqrt(this.d)), causal)); // (B, T, L)
      const h = tf.add(x, this.lin(tf.matMul(att, v) as tf.Tensor3D, this.w.wo)) as tf.Tensor3D;
      const cq = this.lin(h, this.w.wc);
      const cross = tf.softmax(tf.add(tf.matMul(cq, enc.hidden, false, true), enc.maskBias)); // (B, T, S)
      const h2 = tf.add(h, tf.matMul(cross, enc.hidden)) as tf.Tensor3D;
      const bias = Float32Array.from({ length: t * this.vocab }, (_, n) =>
        n % this.vocab === this.eosId ? Math.max(0, past + Math.floor(n / this.vocab) - this.eosAfter) * 1.5 : 0);
      const logits = tf.add(this.lin(tf.tanh(h2) as tf.Tensor3D, this.w.out), tf.tensor2d(bias, [t, this.vocab])) as tf.Tensor3D; // (B, T, V)
      return { logits, cache: { k: tf.keep(k as tf.Tensor3D), v: tf.keep(v as tf.Tensor3D) } };
    });
    if (cache) this.disposeCache(cache); // consumed
    if (out.logits.shape[0] !== b) throw new Error('bad batch');
    return out;
  }

  reorderCache(cache: TinyCache, indices: tf.Tensor1D): TinyCache {
    this.calls.reorderCache.push(Array.from(indices.dataSync()));
    const next = { k: tf.gather(cache.k, indices) as tf.Tensor3D, v: tf.gather(cache.v, indices) as tf.Tensor3D };
    this.disposeCache(cache);
    return next;
  }

  /** Keeps the first `length` cached positions: (B, L, d) → (B, length, d). Consumes `cache`. */
  cropCache(cache: TinyCache, length: number): TinyCache {
    this.calls.cropCache.push(length);
    const [b, , d] = cache.k.shape;
    const next = { k: tf.slice(cache.k, [0, 0, 0], [b, length, d]), v: tf.slice(cache.v, [0, 0, 0], [b, length, d]) };
    this.disposeCache(cache);
    return next;
  }

  reorderEncoder(enc: TinyEnc, indices: tf.Tensor1D): TinyEnc {
    this.calls.reorderEncoder.push(Array.from(indices.dataSync()));
    return { hidden: tf.gather(enc.hidden, indices) as tf.Tensor3D, maskBias: tf.gather(enc.maskBias, indices) as tf.Tensor3D };
  }

  disposeCache(cache: TinyCache): void {
    cache.k.dispose();
    cache.v.dispose();
  }

  disposeEncoder(enc: TinyEnc): void {
    enc.hidden.dispose();
    enc.maskBias.dispose();
  }

  dispose(): void {
    Object.values(this.w).forEach((t) => t.dispose());
  }
}

/** logits of the next token given the input (padding removed) and the decoder prefix (start token first). */
export type LogitsFn = (input: number[], prefix: number[]) => number[];

export interface TableEnc { rows: number[][] }

export class TableModel implements Seq2Seq<TableEnc, tf.Tensor2D> {
  readonly calls = newCalls();
  constructor(readonly vocab: number, private readonly fn: LogitsFn) {}

  encode(inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D): TableEnc {
    this.calls.encode++;
    const ids = inputIds.arraySync();
    const mask = attentionMask.arraySync();
    return { rows: ids.map((r, i) => r.filter((_, j) => mask[i]?.[j] === 1)) };
  }

  decodeStep(tokens: tf.Tensor2D, enc: TableEnc, cache: tf.Tensor2D | null): { logits: tf.Tensor3D; cache: tf.Tensor2D } {
    const [b, t] = tokens.shape;
    this.calls.decodeWidths.push(t);
    const next = cache ? tf.concat([cache, tokens], 1) : tf.clone(tokens); // (B, L)
    cache?.dispose();
    const prefixes = next.arraySync();
    const data: number[] = [];
    for (let r = 0; r < b; r++) {
      const p = prefixes[r] as number[];
      for (let i = 0; i < t; i++) data.push(...this.fn(enc.rows[r] as number[], p.slice(0, p.length - t + i + 1)));
    }
    return { logits: tf.tensor3d(data, [b, t, this.vocab], 'float32'), cache: next };
  }

  reorderCache(cache: tf.Tensor2D, indices: tf.Tensor1D): tf.Tensor2D {
    this.calls.reorderCache.push(Array.from(indices.dataSync()));
    const next = tf.gather(cache, indices) as tf.Tensor2D;
    cache.dispose();
    return next;
  }

  /** Keeps the first `length` prefix tokens. Consumes `cache`. */
  cropCache(cache: tf.Tensor2D, length: number): tf.Tensor2D {
    this.calls.cropCache.push(length);
    const next = tf.slice(cache, [0, 0], [-1, length]) as tf.Tensor2D;
    cache.dispose();
    return next;
  }

  reorderEncoder(enc: TableEnc, indices: tf.Tensor1D): TableEnc {
    this.calls.reorderEncoder.push(Array.from(indices.dataSync()));
    return { rows: Array.from(indices.dataSync(), (i) => enc.rows[i] as number[]) };
  }

  disposeCache(cache: tf.Tensor2D): void {
    cache.dispose();
  }

  disposeEncoder(): void {}
}

/** A table of next-token probabilities by prefix (joined with ','); missing prefixes → `fallback`. */
export function probabilityTable(table: Record<string, number[]>, fallback: number[]): LogitsFn {
  return (_input, prefix) => (table[prefix.join(',')] ?? fallback).map((p) => Math.log(p));
}

/** Deterministic pseudo-random logits from (input, prefix): a hash, so any prefix gets its own distribution. */
export function hashedLogits(vocab: number, seed: number, spread = 3): LogitsFn {
  return (input, prefix) => {
    const rng = seedrandom(`${seed}|${input.join(',')}|${prefix.join(',')}`);
    return Array.from({ length: vocab }, () => (rng() * 2 - 1) * spread);
  };
}
