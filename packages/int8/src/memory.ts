import * as tf from '@tensorflow/tfjs-core';
import { optionsMessage, showValue as shown, type KnownOptions } from './unknown-options';

/** Runs `fn` and returns its result with the change of `tf.memory().numBytes` (bytes the backend holds) across it. */
export function measureHeldBytes<T>(fn: () => T): { result: T; bytes: number } {
  const before = tf.memory().numBytes;
  const result = fn();
  return { result, bytes: tf.memory().numBytes - before };
}

/** The T5 `config.json` keys the planner reads (Hugging Face names). */
export interface T5ConfigLike {
  d_model: number;
  d_kv: number;
  num_heads: number;
  d_ff: number;
  num_layers: number;
  /** Default (absent or null): `num_layers`. */
  num_decoder_layers?: number | null;
  vocab_size: number;
  /** "relu", "gated-gelu", "gated-silu", …: `gated-*` has two input projections (wi_0, wi_1). Default "relu"; another form is an error, as in transformers. */
  feed_forward_proj?: string;
  /** Default true (no separate `lm_head`). */
  tie_word_embeddings?: boolean;
  /** Default 32. */
  relative_attention_num_buckets?: number;
}

/** Options of {@link planT5Memory}. */
export interface PlanT5MemoryOptions {
  /** Count an untied `lm_head` as int8 too. Default false (kept float32, as bitsandbytes does). */
  quantizeLmHead?: boolean;
}

const PLAN_OPTIONS: KnownOptions<PlanT5MemoryOptions> = { quantizeLmHead: true };

/** Predicted parameter counts and bytes of a T5 model's weights. */
export interface T5MemoryPlan {
  parameters: number;
  /** Parameters in the projections that get quantized. */
  quantizedParameters: number;
  /** Output rows of those projections (one float32 scale each). */
  quantizedRows: number;
  /** Embedding, layer norms, relative attention bias (and an unquantized lm_head): float32 in both plans. */
  float32Parameters: number;
  /** All weights in float32: 4 bytes per parameter. */
  float32Bytes: number;
  /** Quantized projections at 1 byte per parameter (rows padded to 4) + 4 bytes per row; the rest float32. */
  int8Bytes: number;
}

function need(config: Record<string, unknown>, key: string): number {
  const v = config[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new Error(`planT5Memory: config.${key} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * Whether `feed_forward_proj` has two input projections (`wi_0`, `wi_1`), parsed as transformers'
 * `T5Config` does: `"{ACT}"` or `"gated-{ACT}"`; any other form (`"gelu-gated"`, `"gated-gelu-x"`) is the
 * ValueError transformers raises, not a silent count of a non-gated model.
 */
function isGated(ffp: unknown): boolean {
  if (typeof ffp !== 'string') throw new Error(`planT5Memory: config.feed_forward_proj must be a string, got ${JSON.stringify(ffp)}`);
  const parts = ffp.split('-');
  const act = parts[parts.length - 1];
  if ((parts.length > 1 && parts[0] !== 'gated') || parts.length > 2 || !act || act === 'gated') {
    throw new Error(`planT5Memory: config.feed_forward_proj ${JSON.stringify(ffp)} is not a valid activation; use "gated-{ACT}" or "{ACT}", e.g. "gated-gelu" or "relu"`);
  }
  return parts.length === 2;
}

/** Predicts the bytes of a T5 encoder-decoder's weights, float32 vs int8 linears, from its `config.json`. */
export function planT5Memory(config: T5ConfigLike | Record<string, unknown>, options: PlanT5MemoryOptions = {}): T5MemoryPlan {
  const message = optionsMessage('planT5Memory', options, {
    known: PLAN_OPTIONS,
    more: ({ quantizeLmHead: q }, p) => {
      if (q !== undefined && typeof q !== 'boolean') p.values.push(`quantizeLmHead must be true or false, got ${shown(q)}`);
    },
  });
  if (message !== undefined) throw new Error(message);
  const c = config as Record<string, unknown>;
  const d = need(c, 'd_model');
  const inner = need(c, 'num_heads') * need(c, 'd_kv');
  const dff = need(c, 'd_ff');
  const enc = need(c, 'num_layers');
  const dec = c.num_decoder_layers === undefined || c.num_decoder_layers === null ? enc : need(c, 'num_decoder_layers'); // HF: None → num_layers
  const vocab = need(c, 'vocab_size');
  const heads = need(c, 'num_heads');
  const buckets = c.relative_attention_num_buckets === undefined ? 32 : need(c, 'relative_attention_num_buckets');
  const gated = isGated(c.feed_forward_proj === undefined ? 'relu' : c.feed_forward_proj); // null: an error, as parseT5Config
  const tie = c.tie_word_embeddings ?? true;
  if (typeof tie !== 'boolean') throw new Error(`planT5Memory: config.tie_word_embeddings must be true or false, got ${JSON.stringify(tie)}`);
  const tied = tie;

  // [rows, cols] of each projection
  const attention: Array<[number, number]> = [[inner, d], [inner, d], [inner, d], [d, inner]]; // q, k, v, o
  const ffn: Array<[number, number]> = gated ? [[dff, d], [dff, d], [d, dff]] : [[dff, d], [d, dff]]; // wi_0, wi_1, wo
  const linears: Array<[number, number]> = [];
  for (let i = 0; i < enc; i++) linears.push(...attention, ...ffn);
  for (let i = 0; i < dec; i++) linears.push(...attention, ...attention, ...ffn);
  let float32Parameters = vocab * d // shared embedding
    + (2 * enc + 3 * dec + 2) * d // layer norms + the two final norms
    + 2 * buckets * heads; // relative_attention_bias of block 0 in each stack
  if (!tied) {
    if (options.quantizeLmHead) linears.push([vocab, d]);
    else float32Parameters += vocab * d;
  }
  let quantizedParameters = 0;
  let quantizedRows = 0;
  let packedBytes = 0;
  for (const [rows, cols] of linears) {
    quantizedParameters += rows * cols;
    quantizedRows += rows;
    packedBytes += rows * 4 * Math.ceil(cols / 4);
  }
  return {
    parameters: quantizedParameters + float32Parameters,
    quantizedParameters,
    quantizedRows,
    float32Parameters,
    float32Bytes: 4 * (quantizedParameters + float32Parameters),
    int8Bytes: packedBytes + 4 * quantizedRows + 4 * float32Parameters,
  };
}
