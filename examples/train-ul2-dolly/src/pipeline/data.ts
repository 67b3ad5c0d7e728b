import {
  BatchSampler,
  type Batch,
  bundledDollyPath,
  DOLLY_HUB_REPO,
  downloadDolly,
  type DollyRecord,
  type EncodedExample,
  encodeRecords,
  loadDolly,
  loadT5Tokenizer,
  makeRng,
  pick,
  roundUp,
  shuffleInPlace,
  splitIndices,
  type T5Tokenizer,
} from '@conifer/dolly-data';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CliError } from '../errors.js';
import type { EvalOrder, PromptTemplateName } from '../options.js';
import { promptFormat } from './prompts.js';

export interface DataOptions {
  /** A Dolly-format jsonl (default: the copy shipped with @conifer/dolly-data). */
  data?: string | undefined;
  /** Keep this many records (a seeded sample) before the split. */
  limit?: number | undefined;
  seed: number;
  maxSourceLength: number;
  maxTargetLength: number;
  /** Default: the T5 tokenizer shipped with @conifer/dolly-data. */
  tokenizer?: T5Tokenizer;
  /** --prompt-template (default original): how records become source and target text. */
  promptTemplate?: PromptTemplateName;
}

/**
 * The tokenizer for a model: its snapshot's `tokenizer.json` (+ `tokenizer_config.json`) when the
 * folder has one, else the T5 tokenizer shipped with @conifer/dolly-data (the demo model's, and the
 * one every T5-family checkpoint on the hub uses).
 */
export async function tokenizerFor(modelDir: string | null): Promise<{ tokenizer: T5Tokenizer; source: string }> {
  if (modelDir && existsSync(join(modelDir, 'tokenizer.json'))) {
    try {
      return { tokenizer: await loadT5Tokenizer(modelDir), source: join(modelDir, 'tokenizer.json') };
    } catch (e) {
      throw new CliError(`--model ${modelDir}: tokenizer.json: ${(e as Error).message}`);
    }
  }
  return { tokenizer: await loadT5Tokenizer(), source: 'the T5 tokenizer shipped with @conifer/dolly-data' };
}

/** Token ids must index the model's embedding: one clear error instead of a failed gather mid-run. */
export function checkVocabulary(ids: Iterable<ArrayLike<number>>, vocabSize: number, model: string): void {
  let max = -1;
  for (const row of ids) for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  if (max >= vocabSize) {
    throw new CliError(`--model ${model}: the tokenizer produced token id ${max}, but the model's vocab_size is ${vocabSize} (a tokenizer that does not belong to this model)`);
  }
}

export interface PreparedData {
  tokenizer: T5Tokenizer;
  path: string;
  records: DollyRecord[];
  train: { records: DollyRecord[]; examples: EncodedExample[] };
  test: { records: DollyRecord[]; examples: EncodedExample[] };
}

/**
 * The local jsonl for --data: a file as is; `hub` or `hf://datasets/<owner>/<name>[/<file>]`
 * downloaded once through @conifer/dolly-data's `downloadDolly` (cache `~/.cache/conifer/hub`;
 * `$HF_ENDPOINT` and `$HF_TOKEN` as for models).
 */
export async function dataPath(data: string | undefined): Promise<string> {
  if (data === undefined) return bundledDollyPath();
  if (data !== 'hub' && !data.startsWith('hf://')) return data;
  const [owner, name, ...rest] = data === 'hub' ? DOLLY_HUB_REPO.split('/') : data.slice('hf://datasets/'.length).split('/');
  const repo = `${owner}/${name}`;
  try {
    return await downloadDolly({
      repo,
      ...(rest.length ? { path: rest.join('/') } : {}),
      ...(process.env['HF_ENDPOINT'] ? { hubUrl: process.env['HF_ENDPOINT'].replace(/\/+$/, '') } : {}),
      ...(process.env['HF_TOKEN'] ? { accessToken: process.env['HF_TOKEN'] } : {}),
    });
  } catch (e) {
    throw new CliError(`--data ${data}: cannot download ${repo} from the hub (${(e as Error).message}); pass a local jsonl instead`);
  }
}

/** Reads Dolly, samples `limit` records (seeded), splits 80/20 (seeded) and tokenizes both splits. */
export async function prepareData(options: DataOptions): Promise<PreparedData> {
  const path = await dataPath(options.data);
  let records: DollyRecord[];
  try {
    records = (await loadDolly(path)).records;
  } catch (e) {
    throw new CliError(`--data ${path}: ${(e as Error).message}`);
  }
  if (options.limit !== undefined && options.limit < records.length) {
    const order = records.map((_, i) => i);
    shuffleInPlace(order, makeRng(options.seed, 'limit'));
    records = order.slice(0, options.limit).sort((a, b) => a - b).map((i) => records[i]!);
  }
  if (records.length < 2) throw new CliError(`--data ${path}: need at least 2 records, found ${records.length}`);
  const tokenizer = options.tokenizer ?? (await loadT5Tokenizer());
  const split = splitIndices(records.length, { seed: options.seed });
  const enc = { maxSourceLength: options.maxSourceLength, maxTargetLength: options.maxTargetLength, format: promptFormat(options.promptTemplate) };
  const trainRecords = pick(records, split.train);
  const testRecords = pick(records, split.test);
  return {
    tokenizer,
    path,
    records,
    train: { records: trainRecords, examples: encodeRecords(trainRecords, tokenizer, enc) },
    test: { records: testRecords, examples: encodeRecords(testRecords, tokenizer, enc) },
  };
}

/**
 * A sampler over a split: fixed batches, or token-budget buckets when `batchTokens` is given; `padToMultipleOf`
 * (--pad-to-multiple-of, DataCollatorForSeq2Seq's `pad_to_multiple_of`) rounds each batch's source and target
 * lengths up (the token budget counts the rounded lengths).
 */
export function makeSampler(examples: EncodedExample[], options: { batchSize: number; batchTokens?: number | undefined; seed: number; shuffle?: boolean; padToMultipleOf?: number | undefined }): BatchSampler {
  return new BatchSampler(examples, {
    batching: options.batchTokens ? { kind: 'tokenBudget', maxTokens: options.batchTokens } : { kind: 'fixed', batchSize: options.batchSize },
    seed: options.seed,
    shuffle: options.shuffle ?? true,
    padToMultipleOf: options.padToMultipleOf ?? 1,
  });
}

/**
 * Every batch of one pass over a split, the same every time (for evaluation): at most `batchSize`
 * examples each, grouped by length (`length`: dolly-data's length buckets, 30 % wide, unshuffled, with
 * a token budget any `batchSize` examples meet, so only the row cap cuts) or in file order (`file`).
 * On Dolly's test split (512 + 512 tokens) the padded tokens are 1.11× the real ones in batches of 8
 * and 1.19× in batches of 16 (10 % buckets: 1.17×, 1.34×; file order: 2.21×, 2.70×).
 */
export function evalBatches(examples: EncodedExample[], batchSize: number, order: EvalOrder = 'length', padToMultipleOf = 1): Batch[] {
  if (order === 'file' || examples.length === 0) return [...makeSampler(examples, { batchSize, seed: 0, shuffle: false, padToMultipleOf }).batches()].map((b) => b.batch);
  let source = 0;
  let target = 0;
  for (const e of examples) [source, target] = [Math.max(source, e.sourceIds.length), Math.max(target, e.targetIds.length)];
  const maxTokens = batchSize * (roundUp(source, padToMultipleOf) + roundUp(target, padToMultipleOf)); // any batchSize examples fit: only the row cap cuts
  const sampler = new BatchSampler(examples, { batching: { kind: 'tokenBudget', maxTokens, maxBatchSize: batchSize, bucketWidth: 0.3 }, seed: 0, shuffle: false, padToMultipleOf });
  return [...sampler.batches()].map((b) => b.batch);
}
