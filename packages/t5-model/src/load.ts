import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { SafetensorsError, SafetensorsFile, resolveCheckpointFiles, toFloat32, type TensorInfo } from '@conifer/safetensors';
import { parseT5Config, type T5Config } from './config.js';
import type { Linear, LinearFactory, WeightData } from './interfaces.js';
import { expectedTensors, OPTIONAL_TENSORS } from './weights.js';

/** Thrown when a checkpoint does not match its config: lists every missing, extra and mis-shaped tensor. */
export class T5CheckpointError extends Error {
  override name = 'T5CheckpointError';
  constructor(
    message: string,
    readonly missing: string[] = [],
    readonly unexpected: string[] = [],
    readonly misshaped: string[] = [],
  ) {
    super(message);
  }
}

/** Reads and parses a JSON file; errors name the file. `optional`: null when it does not exist. */
async function readJson(path: string, optional = false): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (optional && (e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`${path}: cannot read (${(e as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

/** Reads and parses `dir/config.json`. */
export async function loadT5Config(dir: string): Promise<T5Config> {
  return parseT5Config(await readJson(join(dir, 'config.json')));
}

/**
 * Reads `dir/generation_config.json` (transformers' generation defaults of a checkpoint), or returns
 * null when the folder has none. The parsed object is returned as is (transformers' snake_case keys).
 */
export async function loadGenerationConfig(dir: string): Promise<Record<string, unknown> | null> {
  const path = join(dir, 'generation_config.json');
  const json = await readJson(path, true);
  if (json === null) return null;
  if (typeof json !== 'object' || Array.isArray(json)) throw new Error(`${path}: expected a JSON object`);
  return json as Record<string, unknown>;
}

const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16']);
const INT_DTYPES = new Set(['U8', 'I8', 'I16', 'I32', 'I64', 'U16', 'U32', 'U64']);

/** Options of {@link streamCheckpoint}. */
export interface StreamCheckpointOptions {
  /**
   * Read `shared.weight` and `encoder.*` only (transformers' `T5EncoderModel`): `decoder.*` and
   * `lm_head.weight` are ignored, never read, neither expected nor reported as unexpected
   * (`T5EncoderModel._keys_to_ignore_on_load_unexpected = [r"decoder"]`; transformers only warns
   * about an unused `lm_head.weight`). Default false.
   */
  encoderOnly?: boolean;
}

/**
 * Streams a checkpoint's tensors: headers first (every file), checked against the config as one
 * error; then tensor by tensor in file order, each projection handed to `makeLinear` as raw bytes
 * the moment it is read (its bytes are dropped after), each other tensor decoded to float32.
 */
export async function streamCheckpoint(
  dir: string,
  config: T5Config,
  makeLinear: LinearFactory,
  options: StreamCheckpointOptions = {},
): Promise<{ linears: Map<string, Linear>; tensors: Map<string, tf.Tensor> }> {
  const encoderOnly = options.encoderOnly ?? false;
  const expected = expectedTensors(config, encoderOnly ? ['encoder'] : ['encoder', 'decoder']);
  const ignored = (name: string) => encoderOnly && (name.startsWith('decoder.') || name === 'lm_head.weight');
  const resolved = await resolveCheckpointFiles(dir).catch(async (e: unknown) => {
    throw (await otherWeightFormat(dir, e)) ?? e;
  });
  const { weightMap } = resolved;
  // Shards holding only ignored tensors (the decoder's, for an encoder) are not even opened.
  const files = weightMap ? resolved.files.filter((f) => [...weightMap].some(([n, p]) => p === f && !ignored(n))) : resolved.files;
  const opened: SafetensorsFile[] = [];
  const linears = new Map<string, Linear>();
  const tensors = new Map<string, tf.Tensor>();
  try {
    // 1. Headers only: where each tensor is, and whether the set matches.
    const where = new Map<string, { file: SafetensorsFile; info: TensorInfo }>();
    const duplicates: string[] = [];
    for (const path of files) {
      const file = await SafetensorsFile.open(path);
      opened.push(file);
      for (const name of file.header.tensors.keys()) {
        if (ignored(name)) continue;
        if (weightMap && weightMap.get(name) !== path) continue; // only where the index says
        if (where.has(name)) duplicates.push(name);
        where.set(name, { file, info: file.info(name) });
      }
    }
    // transformers ties shared / encoder.embed_tokens / decoder.embed_tokens: a checkpoint holding only an
    // embed_tokens copy (e.g. MADLAD-400's) loads from it, as transformers and candle do.
    const aliasOf = new Map<string, string>();
    if (!where.has('shared.weight')) {
      const alias = ['decoder.embed_tokens.weight', 'encoder.embed_tokens.weight'].find((n) => where.has(n));
      if (alias) {
        where.set('shared.weight', where.get(alias)!);
        aliasOf.set(alias, 'shared.weight');
      }
    }
    const missing: string[] = [];
    const misshaped: string[] = [];
    const unexpected: string[] = [];
    if (weightMap) for (const [name, path] of weightMap) if (!where.has(name) && !ignored(name)) missing.push(`${name} (index names ${path})`);
    // bitsandbytes' 8-bit projections: `<path>.weight` I8 with `<path>.SCB` (and `<path>.weight_format`).
    const int8Parts = new Set<string>();
    for (const [name, exp] of expected) {
      const got = where.get(name);
      if (!got) {
        if (!weightMap?.has(name)) missing.push(name);
        continue;
      }
      if (exp.linear && got.info.dtype === 'I8' && sameShape(got.info.shape, exp.shape)) {
        const scb = `${exp.linear.path}.SCB`;
        const fmt = `${exp.linear.path}.weight_format`;
        const s = where.get(scb);
        if (!s) missing.push(`${scb} (the 8-bit ${name} needs it)`);
        else if (!sameShape(s.info.shape, [exp.shape[0]!]) || !FLOAT_DTYPES.has(s.info.dtype)) misshaped.push(`${scb} (${s.info.dtype}${JSON.stringify(s.info.shape)}, expected F32/F16/BF16[${exp.shape[0]}])`);
        const f = where.get(fmt);
        if (f && (f.info.shape.length !== 0 || !INT_DTYPES.has(f.info.dtype))) misshaped.push(`${fmt} (${f.info.dtype}${JSON.stringify(f.info.shape)}, expected an integer scalar)`);
        int8Parts.add(scb).add(fmt);
        continue;
      }
      if (!sameShape(got.info.shape, exp.shape) || !FLOAT_DTYPES.has(got.info.dtype)) {
        misshaped.push(`${name} (${got.info.dtype}${JSON.stringify(got.info.shape)}, expected F32/F16/BF16${exp.linear ? ' or I8 + SCB' : ''}${JSON.stringify(exp.shape)})`);
      }
    }
    const head = where.get('lm_head.weight');
    // An untied config names a head of its own: without it transformers would initialise one at random
    // (a warning, then meaningless logits); tying it to the embedding instead would be a guess.
    if (!head && !config.tie_word_embeddings && !encoderOnly) missing.push('lm_head.weight (tie_word_embeddings is false: the head is not the embedding)');
    const headShape = [config.vocab_size, config.d_model];
    if (head && (!sameShape(head.info.shape, headShape) || !FLOAT_DTYPES.has(head.info.dtype))) {
      misshaped.push(`lm_head.weight (${head.info.dtype}${JSON.stringify(head.info.shape)}, expected F32/F16/BF16${JSON.stringify(headShape)})`);
    }
    for (const name of where.keys()) if (!expected.has(name) && !int8Parts.has(name) && !(OPTIONAL_TENSORS as readonly string[]).includes(name)) unexpected.push(name);
    // weight_format scalars (1 byte each) are read now, so a bad one is part of this one error.
    for (const name of int8Parts) {
      const at = where.get(name);
      if (!name.endsWith('.weight_format') || !at || misshaped.some((m) => m.startsWith(`${name} `))) continue;
      const f = await at.file.read(name);
      const value = toFloat32(f.dtype, f.data)[0];
      if (value !== 0) misshaped.push(`${name} (${value}: only bitsandbytes' row-major 8-bit layout, 0, is supported)`);
    }
    if (missing.length + misshaped.length + unexpected.length + duplicates.length > 0) {
      const parts = [
        missing.length ? `missing: ${missingList(missing, expected, encoderOnly)}` : '',
        unexpected.length ? `unexpected: ${unexpected.join(', ')}` : '',
        misshaped.length ? `mis-shaped: ${misshaped.join(', ')}` : '',
        duplicates.length ? `in more than one file: ${duplicates.join(', ')}` : '',
      ].filter(Boolean);
      throw new T5CheckpointError(`${dir}: checkpoint does not match config.json — ${parts.join('; ')}`, missing, unexpected, misshaped);
    }

    // 2. Stream, file by file in data order.
    for (const file of opened) {
      for (const name of file.names()) {
        const at = where.get(name);
        if (!at || at.file !== file) continue;
        const target = aliasOf.get(name) ?? name; // an embed_tokens copy standing in for shared.weight
        const exp = expected.get(target);
        if (!exp && name !== 'lm_head.weight') continue; // tied copies of shared: never read
        const raw = await file.read(name);
        if (exp?.linear) {
          const { path, inFeatures, outFeatures } = exp.linear;
          const weight: WeightData = { dtype: raw.dtype as WeightData['dtype'], shape: raw.shape, data: raw.data };
          if (raw.dtype === 'I8') weight.SCB = await int8Statistics(where, path);
          const linear = makeLinear({ path, inFeatures, outFeatures, weight });
          if (linear.inFeatures !== inFeatures || linear.outFeatures !== outFeatures) {
            linear.dispose?.();
            throw new Error(`makeLinear(${path}) returned a ${linear.inFeatures}→${linear.outFeatures} linear, expected ${inFeatures}→${outFeatures}`);
          }
          linears.set(path, linear);
        } else {
          tensors.set(target, tf.tensor(toFloat32(raw.dtype, raw.data), raw.shape, 'float32'));
        }
      }
    }
    return { linears, tensors };
  } catch (e) {
    for (const l of linears.values()) l.dispose?.();
    for (const t of tensors.values()) t.dispose();
    throw e;
  } finally {
    for (const f of opened) await f.close();
  }
}

/** `<path>.SCB` of an 8-bit projection as float32 (bitsandbytes' row absmax; `weight_format` was checked with the headers). */
async function int8Statistics(where: ReadonlyMap<string, { file: SafetensorsFile; info: TensorInfo }>, path: string): Promise<Float32Array> {
  const scb = await where.get(`${path}.SCB`)!.file.read(`${path}.SCB`);
  const values = toFloat32(scb.dtype, scb.data);
  for (const [r, v] of values.entries()) if (!(v >= 0 && v <= 3.4e38)) throw new Error(`${path}.SCB[${r}] = ${v} is not a finite absmax ≥ 0`);
  return values;
}

/**
 * The missing names for the error message. A checkpoint without any `decoder.*` tensor (a
 * `T5EncoderModel`'s, e.g. a diffusion pipeline's `text_encoder_3`) is said so in one phrase instead
 * of hundreds of names; the error's `missing` keeps every name.
 */
function missingList(missing: readonly string[], expected: ReadonlyMap<string, unknown>, encoderOnly: boolean): string {
  const decoder = [...expected.keys()].filter((n) => n.startsWith('decoder.'));
  const absent = new Set(missing);
  if (encoderOnly || decoder.length === 0 || !decoder.every((n) => absent.has(n))) return missing.join(', ');
  const others = missing.filter((n) => !n.startsWith('decoder.'));
  const phrase = `every decoder.* tensor (${decoder.length}: an encoder-only checkpoint, which T5EncoderModel loads)`;
  return [phrase, ...others].join(', ');
}

/** Weight files transformers reads that this loader does not (safetensors only). */
const OTHER_FORMATS = /^(pytorch_model.*\.bin(\.index\.json)?|tf_model.*\.h5|flax_model.*\.msgpack)$/;

/**
 * When `dir` has no safetensors weights but has a format transformers would load instead (a PyTorch
 * pickle `pytorch_model.bin`, TensorFlow `tf_model.h5`, Flax `flax_model.msgpack`), an error naming those
 * files and how to convert them; else null (the original error stands).
 */
async function otherWeightFormat(dir: string, original: unknown): Promise<SafetensorsError | null> {
  if (!(original instanceof SafetensorsError) || !/neither model\.safetensors nor model\.safetensors\.index\.json found/.test(original.message)) return null;
  const found = (await readdir(dir).catch(() => [] as string[])).filter((f) => OTHER_FORMATS.test(f)).sort();
  if (found.length === 0) return null;
  // PyTorch weights load in any transformers; TF / Flax ones only in transformers 4, with from_tf / from_flax
  const pt = found.some((f) => f.startsWith('pytorch_model'));
  const tfFlax = pt ? '' : found.some((f) => f.startsWith('tf_model')) ? ', from_tf=True' : ', from_flax=True';
  return new SafetensorsError(
    `${dir}: no model.safetensors or model.safetensors.index.json, only ${found.join(', ')}, which this loader does not read ` +
      `(safetensors only, no pickles); convert once in Python${pt ? '' : ' with transformers 4 (5 dropped TensorFlow and Flax weights)'}: ` +
      `\`T5ForConditionalGeneration.from_pretrained(dir${tfFlax}).save_pretrained(dir, safe_serialization=True)\``,
  );
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
