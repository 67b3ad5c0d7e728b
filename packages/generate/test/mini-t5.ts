/**
 * A minimal float32 T5 (test-only) implementing the Seq2Seq contract, to check @conifer/generate against
 * the golden transformers outputs before @conifer/t5-model exists. Gated feed-forward (silu / gelu_new),
 * relative position bias in layer 0 of each stack, no attention scaling, RMS norm, tied head without
 * scaling (`scale_decoder_outputs: false`): what the tiny golden checkpoints need, nothing more.
 * Its teacher-forced logits are checked against the golden `logits` before any generation test uses it.
 */
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Seq2Seq } from '../src/index.js';

interface Config {
  d_model: number; d_kv: number; num_heads: number; num_layers: number; num_decoder_layers: number;
  relative_attention_num_buckets: number; relative_attention_max_distance: number; layer_norm_epsilon: number;
  dense_act_fn: string;
}
export interface MiniEnc { cross: Array<{ k: tf.Tensor4D; v: tf.Tensor4D }>; maskBias: tf.Tensor4D }
export type MiniCache = Array<{ k: tf.Tensor4D; v: tf.Tensor4D }>;

function readSafetensors(file: string): Map<string, tf.Tensor> {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const out = new Map<string, tf.Tensor>();
  for (const [name, h] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (h.dtype !== 'F32') throw new Error(`${name}: ${h.dtype} not supported here`);
    const bytes = buf.subarray(8 + n + h.data_offsets[0], 8 + n + h.data_offsets[1]);
    const data = new Float32Array(bytes.byteLength / 4);
    for (let i = 0; i < data.length; i++) data[i] = bytes.readFloatLE(i * 4);
    out.set(name, tf.tensor(data, h.shape, 'float32'));
  }
  return out;
}

/** HF `_relative_position_bucket`. */
function bucket(rel: number, bidirectional: boolean, numBuckets: number, maxDistance: number): number {
  let b = 0;
  let nb = numBuckets;
  let r = rel;
  if (bidirectional) {
    nb = Math.floor(nb / 2);
    if (r > 0) b += nb;
    r = Math.abs(r);
  } else {
    r = -Math.min(r, 0);
  }
  const maxExact = Math.floor(nb / 2);
  if (r < maxExact) return b + r;
  const large = maxExact + Math.floor((Math.log(r / maxExact) / Math.log(maxDistance / maxExact)) * (nb - maxExact));
  return b + Math.min(large, nb - 1);
}

export class MiniT5 implements Seq2Seq<MiniEnc, MiniCache> {
  private readonly w: Map<string, tf.Tensor>;
  private readonly c: Config;

  constructor(dir: string) {
    this.c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Config;
    this.w = readSafetensors(join(dir, 'model.safetensors'));
  }

  private p(name: string): tf.Tensor {
    const t = this.w.get(name);
    if (!t) throw new Error(`missing ${name}`);
    return t;
  }
  /** nn.Linear without bias: x (B, T, in) · Wᵀ, W (out, in). */
  private lin(x: tf.Tensor3D, name: string): tf.Tensor3D {
    const [b, t, d] = x.shape;
    const w = this.p(`${name}.weight`) as tf.Tensor2D;
    return tf.reshape(tf.matMul(tf.reshape(x, [b * t, d]), w, false, true), [b, t, w.shape[0]]);
  }
  private norm(x: tf.Tensor3D, name: string): tf.Tensor3D {
    const v = tf.mean(tf.square(x), -1, true);
    return tf.mul(tf.mul(x, tf.rsqrt(tf.add(v, this.c.layer_norm_epsilon))), this.p(`${name}.weight`));
  }
  private heads(x: tf.Tensor3D): tf.Tensor4D {
    const [b, t] = x.shape;
    return tf.transpose(tf.reshape(x, [b, t, this.c.num_heads, this.c.d_kv]), [0, 2, 1, 3]); // (B, H, T, dkv)
  }
  private merge(x: tf.Tensor4D): tf.Tensor3D {
    const [b, , t] = x.shape;
    return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [b, t, this.c.num_heads * this.c.d_kv]);
  }
  /** position bias (1, H, q, k) for queries at positions offset..offset+q-1. */
  private bias(stack: string, q: number, k: number, offset: number, bidirectional: boolean): tf.Tensor4D {
    const idx = Int32Array.from({ length: q * k }, (_, n) =>
      bucket((n % k) - (offset + Math.floor(n / k)), bidirectional, this.c.relative_attention_num_buckets, this.c.relative_attention_max_distance));
    const table = this.p(`${stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight`) as tf.Tensor2D;
    const vals = tf.reshape(tf.gather(table, tf.tensor1d(idx, 'int32')), [q, k, this.c.num_heads]);
    return tf.expandDims(tf.transpose(vals, [2, 0, 1]), 0) as tf.Tensor4D;
  }
  private ff(x: tf.Tensor3D, name: string): tf.Tensor3D {
    const h = this.norm(x, `${name}.layer_norm`);
    const a = this.lin(h, `${name}.DenseReluDense.wi_0`);
    const act = this.c.dense_act_fn === 'silu'
      ? tf.mul(a, tf.sigmoid(a))
      : tf.mul(tf.mul(a, 0.5), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(a, tf.mul(0.044715, tf.pow(a, 3)))))));
    return tf.add(x, this.lin(tf.mul(act, this.lin(h, `${name}.DenseReluDense.wi_1`)) as tf.Tensor3D, `${name}.DenseReluDense.wo`));
  }

  encode(inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D): MiniEnc {
    return tf.tidy(() => {
      const [b, s] = inputIds.shape;
      let x = tf.gather(this.p('shared.weight'), inputIds) as unknown as tf.Tensor3D; // (B, S, d)
      const maskBias = tf.reshape(tf.mul(tf.sub(1, tf.cast(attentionMask, 'float32')), -3.4028234663852886e38), [b, 1, 1, s]) as tf.Tensor4D;
      const pos = tf.add(this.bias('encoder', s, s, 0, true), maskBias);
      for (let i = 0; i < this.c.num_layers; i++) {
        const n = `encoder.block.${i}.layer.0`;
        const h = this.norm(x, `${n}.layer_norm`);
        const q = this.heads(this.lin(h, `${n}.SelfAttention.q`));
        const k = this.heads(this.lin(h, `${n}.SelfAttention.k`));
        const v = this.heads(this.lin(h, `${n}.SelfAttention.v`));
        const att = tf.softmax(tf.add(tf.matMul(q, k, false, true), pos));
        x = tf.add(x, this.lin(this.merge(tf.matMul(att, v)), `${n}.SelfAttention.o`));
        x = this.ff(x, `encoder.block.${i}.layer.1`);
      }
      const hidden = this.norm(x, 'encoder.final_layer_norm');
      const cross = Array.from({ length: this.c.num_decoder_layers }, (_, i) => ({
        k: this.heads(this.lin(hidden, `decoder.block.${i}.layer.1.EncDecAttention.k`)),
        v: this.heads(this.lin(hidden, `decoder.block.${i}.layer.1.EncDecAttention.v`)),
      }));
      return { cross, maskBias };
    });
  }

  decodeStep(tokens: tf.Tensor2D, enc: MiniEnc, cache: MiniCache | null): { logits: tf.Tensor3D; cache: MiniCache } {
    const [, t] = tokens.shape;
    const past = cache ? (cache[0] as MiniCache[number]).k.shape[2] : 0;
    const out = tf.tidy(() => {
      let x = tf.gather(this.p('shared.weight'), tokens) as unknown as tf.Tensor3D;
      const l = past + t;
      const causal = tf.tensor2d(Float32Array.from({ length: t * l }, (_, n) => (n % l <= past + Math.floor(n / l) ? 0 : -3.4028234663852886e38)), [t, l]);
      const pos = tf.add(this.bias('decoder', t, l, past, false), causal);
      const next: MiniCache = [];
      for (let i = 0; i < this.c.num_decoder_layers; i++) {
        const n = `decoder.block.${i}.layer`;
        const h = this.norm(x, `${n}.0.layer_norm`);
        const q = this.heads(this.lin(h, `${n}.0.SelfAttention.q`));
        let k = this.heads(this.lin(h, `${n}.0.SelfAttention.k`));
        let v = this.heads(this.lin(h, `${n}.0.SelfAttention.v`));
        if (cache) {
          k = tf.concat([(cache[i] as MiniCache[number]).k, k], 2);
          v = tf.concat([(cache[i] as MiniCache[number]).v, v], 2);
        }
        next.push({ k: tf.keep(k), v: tf.keep(v) });
        const att = tf.softmax(tf.add(tf.matMul(q, k, false, true), pos));
        x = tf.add(x, this.lin(this.merge(tf.matMul(att, v)), `${n}.0.SelfAttention.o`));
        const hc = this.norm(x, `${n}.1.layer_norm`);
        const cq = this.heads(this.lin(hc, `${n}.1.EncDecAttention.q`));
        const c = enc.cross[i] as MiniEnc['cross'][number];
        const catt = tf.softmax(tf.add(tf.matMul(cq, c.k, false, true), enc.maskBias));
        x = tf.add(x, this.lin(this.merge(tf.matMul(catt, c.v)), `${n}.1.EncDecAttention.o`));
        x = this.ff(x, `${n}.2`);
      }
      const h = this.norm(x, 'decoder.final_layer_norm');
      const [b, tt, d] = h.shape;
      const logits = tf.reshape(tf.matMul(tf.reshape(h, [b * tt, d]), this.p('shared.weight') as tf.Tensor2D, false, true), [b, tt, -1]) as tf.Tensor3D;
      return { logits, cache: next };
    });
    if (cache) this.disposeCache(cache);
    return out;
  }

  reorderCache(cache: MiniCache, indices: tf.Tensor1D): MiniCache {
    const next = cache.map((c) => ({ k: tf.gather(c.k, indices) as tf.Tensor4D, v: tf.gather(c.v, indices) as tf.Tensor4D }));
    this.disposeCache(cache);
    return next;
  }

  /** `DynamicCache.crop`: the first `length` self-attention positions, (B, H, L, dkv) → (B, H, length, dkv). Consumes `cache`. */
  cropCache(cache: MiniCache, length: number): MiniCache {
    const next = cache.map((c) => ({ k: tf.slice(c.k, [0, 0, 0, 0], [-1, -1, length, -1]), v: tf.slice(c.v, [0, 0, 0, 0], [-1, -1, length, -1]) }));
    this.disposeCache(cache);
    return next;
  }

  reorderEncoder(enc: MiniEnc, indices: tf.Tensor1D): MiniEnc {
    return {
      cross: enc.cross.map((c) => ({ k: tf.gather(c.k, indices) as tf.Tensor4D, v: tf.gather(c.v, indices) as tf.Tensor4D })),
      maskBias: tf.gather(enc.maskBias, indices) as tf.Tensor4D,
    };
  }

  disposeCache(cache: MiniCache): void {
    for (const c of cache) tf.dispose([c.k, c.v]);
  }

  disposeEncoder(enc: MiniEnc): void {
    for (const c of enc.cross) tf.dispose([c.k, c.v]);
    enc.maskBias.dispose();
  }

  dispose(): void {
    tf.dispose([...this.w.values()]);
  }
}
