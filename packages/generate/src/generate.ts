import * as tf from '@tensorflow/tfjs-core';
import { assistedProblems, isAssisted } from './assisted-options.js';
import { assistedSteps } from './assisted-search.js';
import { beamSearch } from './beam-search.js';
import { Decoder } from './decoder.js';
import { checkOptionsObject, GenerationOptionsError, resolveOptions, withModelDefaults, type ResolvedOptions } from './options.js';
import { sampleSteps, type StepRecord } from './sample-search.js';
import type { GenerateInputs, GenerateOptions, GenerateOutput, Seq2Seq } from './types.js';

/**
 * Generates token ids for a batch of prompts: greedy (default), sampling (`doSample`), beam search
 * (`numBeams > 1`) or beam sampling, with transformers' semantics and output layout. The encoder runs
 * once; its state is repeated per beam / returned sequence with `reorderEncoder`; the decoder runs one
 * token per step on its cache, which beams reorder with `reorderCache`. Every tensor made here is freed
 * before it returns (also on errors); the input tensors are left to the caller.
 *
 * @throws GenerationOptionsError listing every invalid option.
 */
export async function generate<Enc, Cache>(
  model: Seq2Seq<Enc, Cache>,
  inputs: GenerateInputs,
  options: GenerateOptions = {},
): Promise<GenerateOutput> {
  checkInputs(inputs, 'generate');
  checkOptionsObject('generate', options);
  const merged = withModelDefaults(model, options);
  const prefix = await decoderPrefixRows(inputs, merged.decoderStartTokenId);
  const o = resolveOptions(merged, prefix?.[0]?.length ?? 1);
  const assisted = isAssisted(o);
  if (assisted) {
    const problems = assistedProblems(o, model, promptCount(inputs));
    if (problems.length > 0) throw new GenerationOptionsError(problems);
  }
  return withEncoded(model, inputs, o, async (decoder, batch, encoderIds, input) => {
    const record = stepRecord(o);
    if (assisted) {
      const sequences: number[][] = [];
      let step = 0;
      for await (const tokens of assistedSteps(decoder, o, sequences, record, encoderIds, input, prefix)) o.onToken?.(tokens, step++);
      return { sequences, ...record };
    }
    if (o.numBeams > 1) {
      const { sequences, scores, beamIndices } = await beamSearch(decoder, batch, o, record, encoderIds, prefix);
      const out: GenerateOutput = { sequences, sequencesScores: scores, ...record };
      if (o.outputScores) out.beamIndices = beamIndices;
      return out;
    }
    const rows = o.doSample ? batch * o.numReturnSequences : batch;
    const sequences: number[][] = [];
    let step = 0;
    for await (const tokens of sampleSteps(decoder, rows, o, sequences, record, encoderIds, prefix)) o.onToken?.(tokens, step++);
    return { sequences, ...record };
  });
}

/**
 * Streams the new tokens of one sequence (greedy or sampled; batch of one prompt) as they are decoded:
 * the decoder start token is not yielded, the final EOS is. As transformers' `generate(streamer=...)`, which
 * hands the streamer each token and still returns its full output: once the last token is yielded, the
 * generator returns what `generate` returns for this prompt and these options (`{ sequences }`, with `scores`
 * and `logits` when `outputScores` / `outputLogits` ask for them; read it from the final `next()`). Beams,
 * `numReturnSequences` > 1 and several prompts are refused, as transformers refuses a streamer with beam search
 * and its `TextStreamer` a batch of more than one row. Breaking out of the loop frees everything (and there is
 * then no return value).
 *
 * @throws GenerationOptionsError (on the first `next()`) listing every invalid option.
 */
export async function* streamGenerate<Enc, Cache>(
  model: Seq2Seq<Enc, Cache>,
  inputs: GenerateInputs,
  options: GenerateOptions = {},
): AsyncGenerator<number, GenerateOutput, void> {
  checkInputs(inputs, 'streamGenerate');
  checkOptionsObject('streamGenerate', options);
  const merged = withModelDefaults(model, options);
  const prefix = await decoderPrefixRows(inputs, merged.decoderStartTokenId);
  const o = resolveOptions(merged, prefix?.[0]?.length ?? 1);
  const problems: string[] = [];
  // transformers `_validate_generation_mode`: "`streamer` cannot be used with beam search (yet!)"; `TextStreamer.put`:
  // "TextStreamer only supports batch size 1" (sampled return sequences are rows of that batch).
  if (o.numBeams !== 1) problems.push('streamGenerate decodes greedily or by sampling: `numBeams` must be 1');
  if (o.numReturnSequences !== 1) problems.push('streamGenerate yields one sequence: `numReturnSequences` must be 1');
  const rows = promptCount(inputs);
  if (rows !== 1) problems.push(`streamGenerate yields one sequence: got ${rows} prompts`);
  const assisted = isAssisted(o);
  // (numBeams, numReturnSequences and the prompt count are refused above for every stream.)
  if (assisted) problems.push(...assistedProblems({ ...o, numBeams: 1, numReturnSequences: 1 }, model, 1));
  if (problems.length > 0) throw new GenerationOptionsError(problems);
  const { ids, mask, owned } = await toTensors(inputs, o);
  let enc: Enc | undefined;
  let decoder: Decoder<Enc, Cache> | undefined;
  try {
    const encoderIds = await encoderInputIds(inputs, ids, o);
    enc = model.encode(ids, mask);
    decoder = new Decoder(model, enc, o.useCache, o.signal);
    const record = stepRecord(o);
    const sequences: number[][] = [];
    let step = 0;
    const steps = assisted
      ? assistedSteps(decoder, o, sequences, record, encoderIds, { ids, mask }, prefix)
      : sampleSteps(decoder, 1, o, sequences, record, encoderIds, prefix);
    for await (const tokens of steps) {
      o.onToken?.(tokens, step++);
      yield tokens[0] as number;
    }
    return { sequences, ...record };
  } finally {
    decoder?.dispose();
    if (enc !== undefined) model.disposeEncoder(enc);
    for (const t of owned) t.dispose();
  }
}

/** What `v` is, for an error message. */
function kindOf(v: unknown): string {
  if (isTensorLike(v)) return `a tensor of shape [${String(v.shape)}]`;
  if (Array.isArray(v)) return 'an array';
  return v === null ? 'null' : typeof v;
}

/** A tfjs tensor (duck-typed: two copies of tfjs-core in one program make `instanceof` unreliable). */
function isTensorLike(v: unknown): v is { shape: number[] } {
  return typeof v === 'object' && v !== null && Array.isArray((v as { shape?: unknown }).shape) && typeof (v as { dataId?: unknown }).dataId === 'object';
}

/**
 * One clear error when `inputs` is not `{ inputIds, attentionMask? }` — a tensor or rows passed bare (as
 * transformers' `generate(input_ids)` takes them), or a field of the wrong kind — before anything is allocated.
 */
function checkInputs(inputs: unknown, fn: string): void {
  const usage = `${fn}(model, { inputIds, attentionMask? }, options): inputIds and attentionMask are [batch, length] int32 tensors or rows of token ids`;
  if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs) || isTensorLike(inputs)) {
    throw new TypeError(`${usage}; got ${kindOf(inputs)} as the inputs${isTensorLike(inputs) || Array.isArray(inputs) ? ' (pass { inputIds: … })' : ''}`);
  }
  for (const key of ['inputIds', 'attentionMask', 'decoderInputIds'] as const) {
    const v = (inputs as Record<string, unknown>)[key];
    if (key !== 'inputIds' && v === undefined) continue;
    if (isTensorLike(v) || Array.isArray(v)) continue;
    if (key === 'decoderInputIds') throw new TypeError(`${fn}: decoderInputIds (the decoder prefix) is a [batch, length] int32 tensor or rows of token ids; got ${kindOf(v)}`);
    throw new TypeError(`${usage}; got ${kindOf(v)} as ${key}`);
  }
  if ((inputs as Record<string, unknown>).decoderAttentionMask !== undefined) {
    // transformers takes `decoder_attention_mask` to left-pad decoder prefixes of different lengths, which T5
    // checkpoints are not trained for; this package takes equal-length prefixes only, with no mask.
    throw new TypeError(`${fn}: \`decoderAttentionMask\` is not supported: decoderInputIds rows must all have the same length, without padding`);
  }
}

/**
 * transformers' `_prepare_decoder_input_ids_for_generation` for `inputs.decoderInputIds`: the rows, one per prompt, all
 * of one length (a [batch, length] tensor), with the decoder start token prepended when no row starts with it
 * (`(decoder_input_ids[:, 0] != decoder_start_token_id).all()`; rows are left as they are when some do). Undefined
 * without a prefix. A tensor is read back here (asynchronously) and not disposed.
 */
async function decoderPrefixRows(inputs: GenerateInputs, start: unknown): Promise<number[][] | undefined> {
  const given = inputs.decoderInputIds;
  if (given === undefined) return undefined;
  const prompts = promptCount(inputs);
  let rows: number[][];
  if (Array.isArray(given)) {
    const width = given[0]?.length ?? 0;
    if (given.some((r) => !Array.isArray(r) || r.length !== width)) {
      // transformers takes one [batch, length] tensor; T5 decoders are not trained on left-padded prefixes.
      throw new Error(`decoderInputIds rows must all have the same length (got lengths ${given.map((r) => (Array.isArray(r) ? r.length : kindOf(r))).join(', ')}): decode prompts with prefixes of different lengths in separate calls`);
    }
    rows = given.map((r) => [...r]);
  } else {
    if (given.rank !== 2) throw new Error(`decoderInputIds must be a 2-D tensor [batch, length], got shape [${given.shape}]`);
    rows = (await given.array()) as number[][];
  }
  if (rows.length !== prompts) throw new Error(`decoderInputIds has ${rows.length} rows for ${prompts} prompts: give one decoder prefix per prompt`);
  const width = rows[0]?.length ?? 0;
  if (width === 0) throw new Error('decoderInputIds rows are empty: leave decoderInputIds out to start from the decoder start token');
  const bad = rows.flat().find((v) => !Number.isInteger(v) || v < 0);
  if (bad !== undefined) throw new Error(`decoderInputIds must be token ids (integers ≥ 0), got ${String(bad)}`);
  // `decoder_start_token_id` is checked by resolveOptions; an invalid one prepends nothing here.
  if (typeof start === 'number' && Number.isInteger(start) && start >= 0 && rows.every((r) => r[0] !== start)) {
    rows = rows.map((r) => [start, ...r]);
  }
  return rows;
}

/** The number of prompts in `inputs`, read without allocating. */
function promptCount(inputs: GenerateInputs): number {
  return Array.isArray(inputs.inputIds) ? inputs.inputIds.length : inputs.inputIds.shape[0];
}

/** The per-step rows `outputScores` / `outputLogits` ask for, empty until decoding fills them. */
function stepRecord(o: ResolvedOptions): StepRecord {
  const record: StepRecord = {};
  if (o.outputScores) record.scores = [];
  if (o.outputLogits) record.logits = [];
  return record;
}

/** Encodes the prompts, repeats the encoder state per beam / sampled sequence, runs `body`, frees it all. */
async function withEncoded<Enc, Cache, T>(
  model: Seq2Seq<Enc, Cache>,
  inputs: GenerateInputs,
  o: ResolvedOptions,
  body: (decoder: Decoder<Enc, Cache>, batch: number, encoderIds: number[][] | undefined, input: { ids: tf.Tensor2D; mask: tf.Tensor2D }) => Promise<T>,
): Promise<T> {
  const { ids, mask, owned } = await toTensors(inputs, o);
  const batch = ids.shape[0];
  let enc: Enc | undefined;
  let decoder: Decoder<Enc, Cache> | undefined;
  try {
    const encoderIds = await encoderInputIds(inputs, ids, o);
    enc = model.encode(ids, mask);
    // transformers' `_expand_inputs_for_generation`: repeat_interleave of the encoder outputs.
    const expand = o.numBeams > 1 ? o.numBeams : o.doSample ? o.numReturnSequences : 1;
    if (expand > 1) {
      const idx = tf.tensor1d(Int32Array.from({ length: batch * expand }, (_, i) => Math.floor(i / expand)), 'int32');
      const first = enc;
      try {
        enc = model.reorderEncoder(first, idx);
      } finally {
        idx.dispose();
      }
      model.disposeEncoder(first);
    }
    decoder = new Decoder(model, enc, o.useCache, o.signal);
    return await body(decoder, batch, encoderIds, { ids, mask });
  } finally {
    decoder?.dispose();
    if (enc !== undefined) model.disposeEncoder(enc);
    for (const t of owned) t.dispose();
  }
}

/**
 * The prompts' token ids as rows (padding included: transformers passes `inputs_tensor` as `encoder_input_ids`),
 * read only when an encoder processor needs them.
 */
async function encoderInputIds(inputs: GenerateInputs, ids: tf.Tensor2D, o: ResolvedOptions): Promise<number[][] | undefined> {
  if (o.encoderRepetitionPenalty === 1 && o.encoderNoRepeatNgramSize === 0) return undefined;
  return Array.isArray(inputs.inputIds) ? inputs.inputIds.map((r) => [...r]) : await ids.array();
}

/** int32 tensors for the prompts, the attention mask inferred as transformers does when missing. */
async function toTensors(inputs: GenerateInputs, o: ResolvedOptions): Promise<{ ids: tf.Tensor2D; mask: tf.Tensor2D; owned: tf.Tensor[] }> {
  const owned: tf.Tensor[] = [];
  try {
    return { ...(await inputTensors(inputs, o, owned)), owned };
  } catch (e) {
    tf.dispose(owned);
    throw e;
  }
}

/** The first value of `rows` that `ok` refuses, with where it is (`[row][column]`) and how it prints. */
function badValue(rows: readonly unknown[][], ok: (v: number) => boolean): { at: string; value: string } | undefined {
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as unknown[];
    for (let j = 0; j < row.length; j++) {
      const v = row[j];
      if (typeof v !== 'number' || !ok(v)) return { at: `[${i}][${j}]`, value: typeof v === 'string' ? JSON.stringify(v) : String(v) };
    }
  }
  return undefined;
}

async function inputTensors(inputs: GenerateInputs, o: ResolvedOptions, owned: tf.Tensor[]): Promise<{ ids: tf.Tensor2D; mask: tf.Tensor2D }> {
  const asTensor = (x: tf.Tensor2D | number[][], name: string): tf.Tensor2D => {
    if (!Array.isArray(x)) {
      if (x.rank !== 2) throw new Error(`${name} must be a 2-D tensor [batch, length], got shape [${x.shape}]`);
      if (x.dtype === 'int32') return x;
      const c = tf.cast(x, 'int32');
      owned.push(c);
      return c;
    }
    const width = x[0]?.length ?? 0;
    if (x.length === 0 || width === 0 || x.some((r) => !Array.isArray(r) || r.length !== width)) {
      throw new Error(`${name} must be non-empty rows of equal length (pad them and pass an attention mask)`);
    }
    // An int32 tensor would turn NaN into 0 and 2.5 into 2 without a word (and a negative id fails inside the model).
    const mask = name === 'attentionMask';
    const bad = badValue(x, mask ? (v) => v === 0 || v === 1 : (v) => Number.isInteger(v) && v >= 0);
    if (bad) throw new Error(`${name}${bad.at} is ${bad.value}: ${mask ? 'a mask value is 1 (attend) or 0 (padding)' : 'token ids are integers >= 0'}`);
    const t = tf.tensor2d(x, [x.length, width], 'int32');
    owned.push(t);
    return t;
  };
  const ids = asTensor(inputs.inputIds, 'inputIds');
  let mask: tf.Tensor2D;
  if (inputs.attentionMask !== undefined) {
    mask = asTensor(inputs.attentionMask, 'attentionMask');
    if (mask.shape[0] !== ids.shape[0] || mask.shape[1] !== ids.shape[1]) {
      throw new Error(`attentionMask shape [${mask.shape}] differs from inputIds shape [${ids.shape}]`);
    }
  } else {
    // `_prepare_attention_mask_for_generation`: ids != pad when pad occurs and pad is not EOS, else ones.
    const pad = o.padTokenId;
    // The ids as given, or read back asynchronously (webgpu in Node has no synchronous read).
    const data = Array.isArray(inputs.inputIds) ? inputs.inputIds.flat() : Array.from(await ids.data());
    const infer = o.hasPadTokenId && data.includes(pad) && !o.eosTokenIds.includes(pad);
    mask = tf.tensor2d(Int32Array.from(data, (v) => (infer && v === pad ? 0 : 1)), ids.shape, 'int32');
    owned.push(mask);
  }
  return { ids, mask };
}
