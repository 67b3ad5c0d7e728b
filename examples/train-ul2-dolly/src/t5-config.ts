import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CliError } from './errors.js';

/** The keys of a Hugging Face T5 `config.json` the plan reads (HF names; other keys pass through). */
export interface T5ConfigJson {
  d_model: number;
  d_kv: number;
  d_ff: number;
  num_layers: number;
  /** Default: num_layers. */
  num_decoder_layers?: number;
  num_heads: number;
  vocab_size: number;
  /** Default 32. */
  relative_attention_num_buckets?: number;
  /** "relu" (default), "gated-gelu", "gated-silu", …: `gated-*` has wi_0 and wi_1 instead of wi. */
  feed_forward_proj?: string;
  /** Default true (T5Config's default); false adds lm_head [vocab, d_model]. */
  tie_word_embeddings?: boolean;
  [key: string]: unknown;
}

/** A config with every default filled in. */
export interface T5Shape {
  dModel: number;
  dKv: number;
  dFf: number;
  numHeads: number;
  numLayers: number;
  numDecoderLayers: number;
  vocabSize: number;
  numBuckets: number;
  gated: boolean;
  tied: boolean;
}

const REQUIRED = ['d_model', 'd_kv', 'd_ff', 'num_layers', 'num_heads', 'vocab_size'] as const;

/** Checks the keys and applies T5Config's defaults. Throws a CliError naming the bad key. */
export function t5Shape(config: Record<string, unknown>, where = 'config.json'): T5Shape {
  const int = (key: string, fallback?: number): number => {
    const v = config[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      throw new CliError(`${where}: "${key}" must be a positive integer (got ${JSON.stringify(config[key])})`);
    }
    return v;
  };
  for (const key of REQUIRED) int(key);
  const proj = config.feed_forward_proj ?? 'relu';
  if (typeof proj !== 'string') throw new CliError(`${where}: "feed_forward_proj" must be a string`);
  const tie = config.tie_word_embeddings ?? true;
  if (typeof tie !== 'boolean') throw new CliError(`${where}: "tie_word_embeddings" must be true or false`);
  const numLayers = int('num_layers');
  return {
    dModel: int('d_model'),
    dKv: int('d_kv'),
    dFf: int('d_ff'),
    numHeads: int('num_heads'),
    numLayers,
    numDecoderLayers: int('num_decoder_layers', numLayers),
    vocabSize: int('vocab_size'),
    numBuckets: int('relative_attention_num_buckets', 32),
    // transformers: `is_gated_act = act_info[0] == "gated"` for "gated-<act>".
    gated: proj.startsWith('gated-'),
    tied: tie,
  };
}

/** Reads `config.json` from a model folder, or a config file itself. One clear message when it is missing or bad. */
export function readT5Config(path: string, isDir: boolean): T5ConfigJson {
  const file = isDir ? join(path, 'config.json') : path;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(
      code === 'ENOENT' ? `model config not found: ${file} (a Hugging Face snapshot folder has config.json)` : `cannot read ${file}: ${(e as Error).message}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CliError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new CliError(`${file}: expected a JSON object`);
  t5Shape(json as Record<string, unknown>, file);
  return json as T5ConfigJson;
}
