import * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';
import type { T5Config } from './config.js';
import type { Linear, LinearFactory } from './interfaces.js';
import type { WeightSource } from './modules.js';

/** One tensor the model expects in a checkpoint. `linear`: a projection that goes to the factory. */
export interface ExpectedTensor {
  shape: number[];
  /** For projections: the HF module path (name without `.weight`). */
  linear?: { path: string; inFeatures: number; outFeatures: number };
}

/** The two stacks of a T5 checkpoint. */
export type T5StackName = 'encoder' | 'decoder';

/**
 * Every tensor a T5 checkpoint holds for `config`, by name, in the model's order
 * (`lm_head.weight` excluded: it is optional, see `OPTIONAL_TENSORS`). `stacks`: which stacks
 * (default both; `['encoder']` is what `T5EncoderModel` holds: `shared.weight` and `encoder.*`).
 */
export function expectedTensors(config: T5Config, stacks: readonly T5StackName[] = ['encoder', 'decoder']): Map<string, ExpectedTensor> {
  const out = new Map<string, ExpectedTensor>();
  const { d_model: d, d_ff: ff } = config;
  const inner = config.num_heads * config.d_kv;
  const lin = (path: string, nin: number, nout: number) => out.set(`${path}.weight`, { shape: [nout, nin], linear: { path, inFeatures: nin, outFeatures: nout } });
  const vec = (name: string, shape: number[]) => out.set(name, { shape });
  vec('shared.weight', [config.vocab_size, d]);
  for (const stack of stacks) {
    const n = stack === 'encoder' ? config.num_layers : config.num_decoder_layers;
    for (let i = 0; i < n; i++) {
      const p = `${stack}.block.${i}.layer`;
      const attention = (path: string, relative: boolean) => {
        for (const x of ['q', 'k', 'v']) lin(`${path}.${x}`, d, inner);
        lin(`${path}.o`, inner, d);
        if (relative) vec(`${path}.relative_attention_bias.weight`, [config.relative_attention_num_buckets, config.num_heads]);
      };
      attention(`${p}.0.SelfAttention`, i === 0);
      vec(`${p}.0.layer_norm.weight`, [d]);
      let f = 1;
      if (stack === 'decoder') {
        attention(`${p}.1.EncDecAttention`, false);
        vec(`${p}.1.layer_norm.weight`, [d]);
        f = 2;
      }
      const dense = `${p}.${f}.DenseReluDense`;
      if (config.is_gated_act) {
        lin(`${dense}.wi_0`, d, ff);
        lin(`${dense}.wi_1`, d, ff);
      } else {
        lin(`${dense}.wi`, d, ff);
      }
      lin(`${dense}.wo`, ff, d);
      vec(`${p}.${f}.layer_norm.weight`, [d]);
    }
    vec(`${stack}.final_layer_norm.weight`, [d]);
  }
  return out;
}

/**
 * Tensors a checkpoint may hold besides `expectedTensors`: `lm_head.weight` (used as the head
 * when present), and transformers 4.x's copies of the tied embedding (ignored, never read).
 */
export const OPTIONAL_TENSORS = ['lm_head.weight', 'encoder.embed_tokens.weight', 'decoder.embed_tokens.weight'] as const;

/** Weights from a map filled while streaming a checkpoint (linears already built by the factory). */
export class MapSource implements WeightSource {
  constructor(
    private readonly linears: Map<string, Linear>,
    private readonly tensors: Map<string, tf.Tensor>,
  ) {}
  linear(path: string): Linear {
    const l = this.linears.get(path);
    if (!l) throw new Error(`internal: linear ${path} was not loaded`);
    return l;
  }
  tensor(name: string): tf.Tensor {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`internal: tensor ${name} was not loaded`);
    return t;
  }
}

/**
 * Seeded random initialisation following transformers' `T5PreTrainedModel._init_weights`
 * (factor = `initializer_factor`): q ~ N(0, factor·(d_model·d_kv)^-½), k/v ~ N(0, factor·d_model^-½),
 * o ~ N(0, factor·(heads·d_kv)^-½), wi/wi_0/wi_1 ~ N(0, factor·d_model^-½), wo ~ N(0, factor·d_ff^-½),
 * relative_attention_bias ~ N(0, factor·d_model^-½), shared and an untied lm_head ~ N(0, factor),
 * layer norms = 1. Projection weights reach `makeLinear` as F32 bytes like a checkpoint's.
 */
export class RandomSource implements WeightSource {
  private readonly rng: seedrandom.PRNG;
  private spare: number | null = null;

  constructor(
    private readonly config: T5Config,
    seed: number,
    private readonly makeLinear: LinearFactory,
  ) {
    this.rng = seedrandom.alea(`t5-init-${seed}`);
  }

  /** n draws of N(0, std) into `out` (or drawn and dropped without it: the stream moves on the same). */
  private normal(n: number, std: number, out: Float32Array | null = new Float32Array(n)): Float32Array {
    for (let i = 0; i < n; i++) {
      if (this.spare !== null) {
        if (out) out[i] = this.spare * std;
        this.spare = null;
        continue;
      }
      // Box–Muller
      const u = 1 - this.rng.quick();
      const v = this.rng.quick();
      const r = Math.sqrt(-2 * Math.log(u));
      if (out) out[i] = r * Math.cos(2 * Math.PI * v) * std;
      this.spare = r * Math.sin(2 * Math.PI * v);
    }
    return out ?? new Float32Array(0);
  }

  /** Moves the stream past what `tensor(name, shape)` would draw, allocating nothing. */
  skip(shape: number[]): void {
    this.normal(shape.reduce((a, b) => a * b, 1), 1, null);
  }

  linear(path: string, inFeatures: number, outFeatures: number): Linear {
    const c = this.config;
    const f = c.initializer_factor;
    const name = path.slice(path.lastIndexOf('.') + 1);
    const std =
      name === 'q' ? f * (c.d_model * c.d_kv) ** -0.5
      : name === 'o' ? f * (c.num_heads * c.d_kv) ** -0.5
      : name === 'wo' ? f * c.d_ff ** -0.5
      : f * c.d_model ** -0.5; // k, v, wi, wi_0, wi_1
    const w = this.normal(inFeatures * outFeatures, std); // (out, in)
    return this.makeLinear({ path, inFeatures, outFeatures, weight: { dtype: 'F32', shape: [outFeatures, inFeatures], data: new Uint8Array(w.buffer) } });
  }

  tensor(name: string, shape: number[]): tf.Tensor {
    const c = this.config;
    const n = shape.reduce((a, b) => a * b, 1);
    if (name.endsWith('layer_norm.weight')) return tf.ones(shape, 'float32');
    const std = name.endsWith('relative_attention_bias.weight') ? c.initializer_factor * c.d_model ** -0.5 : c.initializer_factor;
    return tf.tensor(this.normal(n, std), shape, 'float32');
  }
}
