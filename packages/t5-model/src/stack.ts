import * as tf from '@tensorflow/tfjs-core';
import type { T5Config } from './config.js';
import type { ForwardContext } from './dropout.js';
import type { T5Embedding } from './head.js';
import { MASK_VALUE, T5Block, T5LayerNorm, type WeightSource } from './modules.js';

/** transformers `T5Stack` (without its `embed_tokens`, which is the model's `shared`). */
export class T5Stack {
  block: T5Block[];
  final_layer_norm: T5LayerNorm;

  constructor(
    config: T5Config,
    path: 'encoder' | 'decoder',
    src: WeightSource,
    readonly isDecoder: boolean,
  ) {
    const n = isDecoder ? config.num_decoder_layers : config.num_layers;
    // has_relative_attention_bias=bool(i == 0)
    this.block = Array.from({ length: n }, (_, i) => new T5Block(config, `${path}.block.${i}`, src, isDecoder, i === 0));
    this.final_layer_norm = new T5LayerNorm(src.tensor(`${path}.final_layer_norm.weight`, [config.d_model]) as tf.Tensor1D, config.layer_norm_epsilon);
  }

  /**
   * The self-attention bias shared by every block: layer 0's relative bias for queries at
   * positions offset..offset+qLen-1 over keys 0..kLen-1, plus the mask (the padding mask in the
   * encoder, the causal mask in the decoder). [1 or B, H, qLen, kLen].
   */
  selfBias(qLen: number, kLen: number, offset: number, attentionMask: tf.Tensor2D | null): tf.Tensor4D {
    return tf.tidy(() => {
      const rel = this.block[0]!.selfAttention.SelfAttention.computeBias(qLen, kLen, offset); // (1, H, q, k)
      if (!this.isDecoder) return tf.add(rel, extendedMask(attentionMask!)) as tf.Tensor4D;
      return tf.add(rel, causalMask(qLen, kLen, offset)) as tf.Tensor4D;
    });
  }

  /**
   * embeds [B, S, d] → hidden [B, S, d] (final norm and dropout applied). With `checkpoint`, each
   * block is recomputed in the backward pass instead of keeping its activations.
   */
  forward(
    embeds: tf.Tensor3D,
    bias: tf.Tensor4D,
    encoderHidden: tf.Tensor3D | null,
    crossBias: tf.Tensor4D | null,
    ctx: ForwardContext,
    checkpoint = false,
  ): tf.Tensor3D {
    let h = ctx.dropout(embeds);
    for (const block of this.block) {
      const fork = ctx.fork();
      h = checkpoint
        ? checkpointedBlock(block, h, bias, encoderHidden, crossBias, fork.make)
        : block.forward(h, bias, encoderHidden, crossBias, fork.make());
    }
    return ctx.dropout(this.final_layer_norm.forward(h));
  }

  dispose(): void {
    for (const b of this.block) b.dispose();
    this.final_layer_norm.dispose();
  }
}

/**
 * transformers' encoder `T5Stack.forward` from token ids: embed (+ NEFTune's noise in training), dropout, the blocks over layer 0's
 * bidirectional relative bias + the padding mask, final norm, dropout → `last_hidden_state` [B, S, d_model].
 */
export function runEncoder(
  shared: T5Embedding,
  encoder: T5Stack,
  inputIds: tf.Tensor2D,
  attentionMask: tf.Tensor2D,
  ctx: ForwardContext,
  checkpoint: boolean,
): tf.Tensor3D {
  return tf.tidy(() => {
    const s = inputIds.shape[1];
    const embeds = ctx.embedded(shared.forward(inputIds)); // (B, S, d), NEFTune's noise in training
    const bias = encoder.selfBias(s, s, 0, attentionMask); // (B, H, S, S)
    return encoder.forward(embeds, bias, null, null, ctx, checkpoint);
  });
}

/** (1 − mask) · MASK_VALUE as [B, 1, 1, S] (transformers' extended attention mask). */
export function extendedMask(attentionMask: tf.Tensor2D): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, s] = attentionMask.shape;
    const m = tf.mul(tf.sub(1, tf.cast(attentionMask, 'float32')), MASK_VALUE);
    return tf.reshape(m, [b, 1, 1, s]);
  });
}

/** Causal mask [1, 1, qLen, kLen] for queries at offset..offset+qLen-1: key j > query i is masked. */
export function causalMask(qLen: number, kLen: number, offset: number): tf.Tensor4D {
  const m = new Float32Array(qLen * kLen);
  for (let i = 0; i < qLen; i++) for (let j = offset + i + 1; j < kLen; j++) m[i * kLen + j] = MASK_VALUE;
  return tf.tensor4d(m, [1, 1, qLen, kLen]);
}

/** Duck-typed: a tf.Variable with trainable = true (works across copies of tfjs-core). */
function isTrainableVariable(x: object): x is tf.Variable {
  const v = x as Partial<tf.Variable>;
  return typeof v.assign === 'function' && v.trainable === true && 'dataId' in x;
}

/** Calls `visit` on every object reachable from `root`'s fields (any depth; tensors are leaves). */
function walk(root: unknown, onObject: (x: object) => void, onTensor: (x: object) => void): void {
  const seen = new Set<object>();
  const visit = (x: unknown, depth: number): void => {
    if (x === null || typeof x !== 'object' || depth > 12 || seen.has(x)) return;
    seen.add(x);
    if ('dataId' in x && 'shape' in x) {
      onTensor(x);
      return;
    }
    if (ArrayBuffer.isView(x) || x instanceof ArrayBuffer) return;
    onObject(x);
    if (x instanceof Map || x instanceof Set) {
      for (const v of x.values()) visit(v, depth + 1);
      return;
    }
    for (const v of Object.values(x)) visit(v, depth + 1);
  };
  visit(root, 0);
}

/**
 * The trainable variables reachable from an object's fields (any depth): the LoRA adapters a
 * replaced linear holds, for instance. Checkpointing needs them as explicit inputs of its custom op.
 */
export function trainableVariablesIn(root: unknown): tf.Variable[] {
  const out = new Set<tf.Variable>();
  walk(root, () => undefined, (t) => {
    if (isTrainableVariable(t)) out.add(t);
  });
  return [...out];
}

/**
 * Optional protocol for a replaced linear with its own randomness (e.g. adapter dropout): with
 * gradient checkpointing, the model snapshots the state before a block's forward and restores it
 * for the recomputation, so both draw the same masks.
 */
export interface RandomStateful {
  getRandomState(): unknown;
  setRandomState(state: unknown): void;
}

function isRandomStateful(x: object): x is RandomStateful {
  const r = x as Partial<RandomStateful>;
  return typeof r.getRandomState === 'function' && typeof r.setRandomState === 'function';
}

/** The objects reachable from `root` that implement `RandomStateful`. */
export function randomStatefulIn(root: unknown): RandomStateful[] {
  const out: RandomStateful[] = [];
  walk(root, (x) => {
    if (isRandomStateful(x)) out.push(x);
  }, () => undefined);
  return out;
}

/**
 * Activation recomputation for one block (`tf.customGrad`): the forward keeps only the block's
 * output; the backward recomputes the block under a fresh tape (same dropout seeds) and returns the
 * gradients wrt its input, the encoder state (decoder) and every trainable variable inside it.
 */
function checkpointedBlock(
  block: T5Block,
  h: tf.Tensor3D,
  bias: tf.Tensor4D,
  encoderHidden: tf.Tensor3D | null,
  crossBias: tf.Tensor4D | null,
  makeCtx: () => ForwardContext,
): tf.Tensor3D {
  const vars = trainableVariablesIn(block);
  const random = randomStatefulIn(block);
  const statesBefore = random.map((r) => r.getRandomState());
  const inputs: tf.Tensor[] = encoderHidden ? [h, encoderHidden, ...vars] : [h, ...vars];
  const op = tf.customGrad((...args: unknown[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    save(encoderHidden ? [h, bias, encoderHidden, crossBias!] : [h, bias]);
    return {
      value: block.forward(h, bias, encoderHidden, crossBias, makeCtx()),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [hS, biasS, encS, crossS] = saved as [tf.Tensor3D, tf.Tensor4D, tf.Tensor3D?, tf.Tensor4D?];
        const xs: tf.Tensor[] = encS ? [hS, encS, ...vars] : [hS, ...vars];
        const engine = tf.engine();
        // engine.gradients() clears the active tape when it finishes; the outer backward pass is
        // still walking its own (already filtered) tape and frees it afterwards, so restore it.
        const outerTape = engine.state.activeTape;
        const statesNow = random.map((r) => r.getRandomState());
        random.forEach((r, i) => r.setRandomState(statesBefore[i])); // replay the forward's masks
        try {
          const { value, grads } = engine.gradients(() => block.forward(hS, biasS, encS ?? null, crossS ?? null, makeCtx()), xs, dy, true);
          value.dispose();
          return grads.map((g, i) => g ?? tf.zerosLike(xs[i]!));
        } finally {
          engine.state.activeTape = outerTape;
          random.forEach((r, i) => r.setRandomState(statesNow[i]));
        }
      },
    };
  });
  return (op as (...t: tf.Tensor[]) => tf.Tensor3D)(...inputs);
}
