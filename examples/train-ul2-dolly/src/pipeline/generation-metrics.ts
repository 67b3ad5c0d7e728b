import { IGNORE_INDEX, type Batch, type T5Tokenizer } from '@conifer/dolly-data';
import { generate, type GenerateOptions, type Seq2Seq, type TextTokenizer } from '@conifer/generate';
import type { ComputeMetrics } from '@conifer/trainer';
import { rouge, type RougeType } from './rouge.js';

/** `--generation-max-length` / `--generation-num-beams` (transformers' `generation_max_length` / `generation_num_beams`); left out: the model's generation defaults. */
export interface GenerationFlags {
  generationMaxLength?: number | undefined;
  generationNumBeams?: number | undefined;
}

/**
 * The `generate` options of Seq2SeqTrainer's `prediction_step` under `predict_with_generate`: `max_length` and
 * `num_beams` when given, everything else (and those when not given) from the model's generation config, as
 * `model.generate(**gen_kwargs)` takes it (T5 checkpoints: greedy; without a `max_length` there, 20 new tokens).
 */
export function generationOptions(flags: GenerationFlags): GenerateOptions {
  return {
    ...(flags.generationMaxLength !== undefined ? { maxLength: flags.generationMaxLength } : {}),
    ...(flags.generationNumBeams !== undefined ? { numBeams: flags.generationNumBeams } : {}),
  };
}

/** The decoding of `generationOptions(flags)` in words, for the log. */
export function describeGeneration(flags: GenerationFlags): string {
  const beams = flags.generationNumBeams === undefined ? "the model's generation config (greedy unless it says otherwise)" : flags.generationNumBeams === 1 ? 'greedy' : `${flags.generationNumBeams} beams`;
  const length = flags.generationMaxLength === undefined ? "max length from the model's generation config (else 20 new tokens)" : `max length ${flags.generationMaxLength}`;
  return `${beams}, ${length}`;
}

/** A decoding tokenizer: `decode` drops special tokens (`<pad>`, `</s>`), as `batch_decode(..., skip_special_tokens=True)`. */
export type DecodingTokenizer = Pick<TextTokenizer, 'decode'>;

/**
 * `tokenizer` decoding as transformers' `batch_decode(ids, skip_special_tokens=True)` does with its tokenizer_config:
 * with `clean_up_tokenization_spaces` when the config says so (T5's original config: true, so "do n't ." → "don't.").
 */
export function transformersDecoding(tokenizer: Pick<T5Tokenizer, 'decode' | 'configCleanUpTokenizationSpaces'>): DecodingTokenizer {
  const cleanUpTokenizationSpaces = tokenizer.configCleanUpTokenizationSpaces;
  return { decode: (ids) => tokenizer.decode(ids, { cleanUpTokenizationSpaces }) };
}

/**
 * Generated texts and their references for eval batches, as Seq2SeqTrainer's `prediction_step` with
 * `predict_with_generate` hands them to a `compute_metrics` that decodes both: each batch's (truncated, right-padded) source ids and attention mask go to
 * `generate` as one batch; each returned row, and each row of labels with -100 left out, is decoded without
 * special tokens. So the references are the tokenized targets (`--max-target-length` applies), decoded.
 */
export async function generateForBatches(model: Seq2Seq, tokenizer: DecodingTokenizer, batches: Iterable<Batch>, options: GenerateOptions): Promise<{ predictions: string[]; references: string[] }> {
  const predictions: string[] = [];
  const references: string[] = [];
  for (const batch of batches) {
    const { batchSize: b, sourceLength: s, targetLength: t } = batch;
    const rows = (a: Int32Array, width: number) => Array.from({ length: b }, (_, i) => Array.from(a.subarray(i * width, (i + 1) * width)));
    const { sequences } = await generate(model, { inputIds: rows(batch.inputIds, s), attentionMask: rows(batch.attentionMask, s) }, options);
    for (const row of sequences) predictions.push(tokenizer.decode(row));
    for (const labels of rows(batch.labels, t)) references.push(tokenizer.decode(labels.filter((l) => l !== IGNORE_INDEX)));
  }
  return { predictions, references };
}

/**
 * `--predict-with-generate`'s metrics: at each evaluation, generate for every eval example and score the texts
 * against the references with ROUGE (`rouge1`, `rouge2`, `rougeL`, `rougeLsum`: the trainer reports them as
 * `eval_rouge1`, …). `evalMode` switches LoRA's dropout off first (the trainer's next step switches it on).
 * `also`: another `computeMetrics` whose results are merged in (the token accuracy).
 */
export function generationMetrics(model: Seq2Seq, tokenizer: DecodingTokenizer, options: GenerateOptions, evalMode: () => void, also?: ComputeMetrics<Batch>): ComputeMetrics<Batch> {
  return async (context) => {
    const batches = [...context.batches]; // one pass over evalData, shared with `also`
    const first = also ? await also({ ...context, batches }) : {};
    evalMode();
    const { predictions, references } = await generateForBatches(model, tokenizer, batches, options);
    const scores: Record<RougeType, number> = rouge(predictions, references);
    return { ...first, ...scores };
  };
}
