/**
 * `T5Config`: Hugging Face's `config.json` keys for `model_type: "t5"` (T5, T5 v1.1, Flan-T5, UL2,
 * Flan-UL2), with transformers' defaults (`T5Config.__init__`). Unknown keys are kept in `extra`.
 */

/** A parsed, validated T5 config. Field names are Hugging Face's keys. */
export interface T5Config {
  /** Default 32128. */
  vocab_size: number;
  /** Default 512. */
  d_model: number;
  /** Size of one attention head. Default 64. */
  d_kv: number;
  /** Default 2048. */
  d_ff: number;
  /** Encoder layers. Default 6. */
  num_layers: number;
  /** Decoder layers; `null`/absent in the file means `num_layers`. */
  num_decoder_layers: number;
  /** Default 8. */
  num_heads: number;
  /** Default 32. */
  relative_attention_num_buckets: number;
  /** Default 128. */
  relative_attention_max_distance: number;
  /** Default 0.1. */
  dropout_rate: number;
  /** Default 1e-6. */
  layer_norm_epsilon: number;
  /** Scale of the random initialisation (`fromConfig`). Default 1. */
  initializer_factor: number;
  /** `relu` (default), `gated-gelu` (= `gelu_new`, tanh form), `gated-silu`, `[gated-]ACT` for any activation below. */
  feed_forward_proj: string;
  /** Derived from `feed_forward_proj` as transformers does (`gated-gelu` → `gelu_new`). */
  dense_act_fn: T5Activation;
  /** Derived: `feed_forward_proj` starts with `gated-`. */
  is_gated_act: boolean;
  /** Default true. */
  tie_word_embeddings: boolean;
  /** transformers 5.x: multiply the decoder output by `d_model ** -0.5` before the head. Absent → `tie_word_embeddings`. */
  scale_decoder_outputs: boolean;
  /** Default 0. */
  pad_token_id: number;
  /** Default 1. */
  eos_token_id: number | number[];
  /** Absent → `pad_token_id` (0 for every T5 checkpoint). */
  decoder_start_token_id: number;
  /** `dtype` (transformers 5.x) or `torch_dtype` (4.x): the dtype the weights were saved in, or null. */
  dtype: string | null;
  /** Every other key of the file, kept as it was. */
  extra: Record<string, unknown>;
}

/** Activations transformers' `ACT2FN` maps these names to (the ones T5 checkpoints use, and a few more). */
export const T5_ACTIVATIONS = ['relu', 'gelu', 'gelu_new', 'gelu_pytorch_tanh', 'gelu_fast', 'silu', 'swish', 'tanh', 'sigmoid', 'quick_gelu'] as const;
export type T5Activation = (typeof T5_ACTIVATIONS)[number];

const DTYPES = ['float32', 'float16', 'bfloat16', 'float64', 'auto'];

/** Thrown for a config key with an invalid value; `key` names it. */
export class T5ConfigError extends Error {
  override name = 'T5ConfigError';
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`config.json: "${key}" ${message}`);
  }
}

const KNOWN = new Set([
  'vocab_size', 'd_model', 'd_kv', 'd_ff', 'num_layers', 'num_decoder_layers', 'num_heads',
  'relative_attention_num_buckets', 'relative_attention_max_distance', 'dropout_rate', 'layer_norm_epsilon',
  'initializer_factor', 'feed_forward_proj', 'dense_act_fn', 'is_gated_act', 'tie_word_embeddings',
  'scale_decoder_outputs', 'pad_token_id', 'eos_token_id', 'decoder_start_token_id', 'dtype', 'torch_dtype',
]);

/**
 * Parses a `config.json` object (transformers 4.x or 5.x). Absent keys take transformers' defaults;
 * unknown keys are kept in `extra`; an invalid value throws `T5ConfigError` naming the key.
 */
export function parseT5Config(json: unknown): T5Config {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new T5ConfigError('(root)', 'must be a JSON object');
  }
  const raw = json as Record<string, unknown>;
  const has = (k: string) => raw[k] !== undefined && raw[k] !== null;
  const int = (k: string, def: number, min = 1): number => {
    if (!has(k)) return def;
    const v = raw[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw new T5ConfigError(k, `must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    return v;
  };
  const num = (k: string, def: number, ok: (v: number) => boolean, what: string): number => {
    if (!has(k)) return def;
    const v = raw[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw new T5ConfigError(k, `must be ${what}, got ${JSON.stringify(v)}`);
    return v;
  };
  const bool = (k: string, def: boolean): boolean => {
    if (!has(k)) return def;
    const v = raw[k];
    if (typeof v !== 'boolean') throw new T5ConfigError(k, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  };

  if (has('model_type') && raw.model_type !== 't5') {
    throw new T5ConfigError('model_type', `must be "t5" (T5, T5 v1.1, Flan-T5, UL2, Flan-UL2), got ${JSON.stringify(raw.model_type)}`);
  }

  // transformers: act_info = feed_forward_proj.split("-"); dense_act_fn = act_info[-1];
  // is_gated_act = act_info[0] == "gated"; "gated-gelu" → "gelu_new" (backwards compatibility).
  const ffp = has('feed_forward_proj') ? raw.feed_forward_proj : 'relu';
  if (typeof ffp !== 'string') throw new T5ConfigError('feed_forward_proj', `must be a string, got ${JSON.stringify(ffp)}`);
  const parts = ffp.split('-');
  if ((parts.length > 1 && parts[0] !== 'gated') || parts.length > 2) {
    throw new T5ConfigError('feed_forward_proj', `${JSON.stringify(ffp)} is not a valid activation; use "gated-{ACT}" or "{ACT}", e.g. "gated-gelu" or "relu"`);
  }
  const isGated = parts[0] === 'gated' && parts.length === 2;
  let act = parts[parts.length - 1]!;
  if (ffp === 'gated-gelu') act = 'gelu_new';
  if (!(T5_ACTIVATIONS as readonly string[]).includes(act)) {
    throw new T5ConfigError('feed_forward_proj', `activation ${JSON.stringify(act)} is not supported (one of ${T5_ACTIVATIONS.join(', ')})`);
  }

  const numLayers = int('num_layers', 6);
  const pad = int('pad_token_id', 0, 0);
  const tie = bool('tie_word_embeddings', true);

  let eos: number | number[] = 1;
  if (has('eos_token_id')) {
    const v = raw.eos_token_id;
    const okId = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
    if (okId(v)) eos = v as number;
    else if (Array.isArray(v) && v.length > 0 && v.every(okId)) eos = v as number[];
    else throw new T5ConfigError('eos_token_id', `must be a token id or a list of ids, got ${JSON.stringify(v)}`);
  }

  // transformers 5.x writes `dtype`; 4.x wrote `torch_dtype`. Either may be absent.
  let dtype: string | null = null;
  for (const k of ['dtype', 'torch_dtype']) {
    if (!has(k)) continue;
    const v = raw[k];
    if (typeof v !== 'string' || !DTYPES.includes(v.replace(/^torch\./, ''))) {
      throw new T5ConfigError(k, `must be one of ${DTYPES.join(', ')}, got ${JSON.stringify(v)}`);
    }
    dtype ??= v.replace(/^torch\./, '');
  }

  const config: T5Config = {
    vocab_size: int('vocab_size', 32128),
    d_model: int('d_model', 512),
    d_kv: int('d_kv', 64),
    d_ff: int('d_ff', 2048),
    num_layers: numLayers,
    num_decoder_layers: int('num_decoder_layers', numLayers),
    num_heads: int('num_heads', 8),
    relative_attention_num_buckets: int('relative_attention_num_buckets', 32),
    relative_attention_max_distance: int('relative_attention_max_distance', 128),
    dropout_rate: num('dropout_rate', 0.1, (v) => v >= 0 && v < 1, 'a number in [0, 1)'),
    layer_norm_epsilon: num('layer_norm_epsilon', 1e-6, (v) => v > 0, 'a positive number'),
    initializer_factor: num('initializer_factor', 1.0, (v) => v > 0, 'a positive number'),
    feed_forward_proj: ffp,
    dense_act_fn: act as T5Activation,
    is_gated_act: isGated,
    tie_word_embeddings: tie,
    scale_decoder_outputs: bool('scale_decoder_outputs', tie),
    pad_token_id: pad,
    eos_token_id: eos,
    decoder_start_token_id: int('decoder_start_token_id', pad, 0),
    dtype,
    extra: {},
  };
  // Derived keys that the file may also hold must agree with feed_forward_proj.
  if (has('is_gated_act') && raw.is_gated_act !== isGated) {
    throw new T5ConfigError('is_gated_act', `is ${JSON.stringify(raw.is_gated_act)} but feed_forward_proj ${JSON.stringify(ffp)} implies ${isGated}`);
  }
  if (has('dense_act_fn') && raw.dense_act_fn !== act) {
    throw new T5ConfigError('dense_act_fn', `is ${JSON.stringify(raw.dense_act_fn)} but feed_forward_proj ${JSON.stringify(ffp)} implies ${JSON.stringify(act)}`);
  }
  for (const [k, v] of Object.entries(raw)) if (!KNOWN.has(k)) config.extra[k] = v;
  return config;
}

/** The config as `config.json` keys (transformers 5.x spelling, `dtype`), unknown keys included. */
export function t5ConfigToJSON(config: T5Config): Record<string, unknown> {
  const { extra, dtype, ...known } = config;
  const out: Record<string, unknown> = { ...extra, ...known, model_type: 't5' };
  if (dtype !== null) out.dtype = dtype;
  return out;
}

/** A `T5Config` already parsed (`parseT5Config`), rather than a raw config.json object. */
export function isParsed(c: T5Config | Record<string, unknown>): c is T5Config {
  return typeof (c as T5Config).extra === 'object' && typeof (c as T5Config).is_gated_act === 'boolean';
}
