import { promptFormatter, type PromptFormat } from './prompt';
import type { DollyRecord } from './record';
import type { TextTokenizer } from './tokenizer';
import { checkOptions, type KnownOptions } from './unknown-options';

/** Options for {@link encodeRecord} and {@link encodeRecords}. */
export interface EncodeOptions {
  /** Most source tokens, `</s>` included (default 512, as the original). */
  maxSourceLength?: number;
  /** Most target tokens, `</s>` included (default 512, as the original). */
  maxTargetLength?: number;
  /** How a record becomes source and target text (default: the original project's). */
  format?: PromptFormat;
}

const ENCODE_OPTIONS: KnownOptions<EncodeOptions> = { maxSourceLength: true, maxTargetLength: true, format: true };

/** A tokenized record. */
export interface EncodedExample {
  /** Source ids, ending in `</s>`, at most `maxSourceLength` long. */
  sourceIds: Int32Array;
  /** Target ids, ending in `</s>`, at most `maxTargetLength` long. */
  targetIds: Int32Array;
  /** Source length before truncation (`</s>` included). */
  fullSourceLength: number;
  /** Target length before truncation (`</s>` included). */
  fullTargetLength: number;
  category: string;
}

/**
 * Keeps the first `max - 1` tokens and ends with `</s>`, like Hugging Face's
 * `truncation=True, max_length=max` with the T5 post-processor. `ids` must end in `</s>`.
 */
export function truncateIds(ids: number[], max: number, eosId: number): Int32Array {
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`max length must be an integer >= 1, got ${max}`);
  if (ids.length <= max) return Int32Array.from(ids);
  const out = new Int32Array(max);
  for (let i = 0; i < max - 1; i++) out[i] = ids[i]!;
  out[max - 1] = eosId;
  return out;
}

/** Formats and tokenizes one record (a reusable formatter may be passed as `format`). */
export function encodeRecord(record: DollyRecord, tokenizer: TextTokenizer, options: EncodeOptions = {}): EncodedExample {
  checkOptions('encodeRecord', options, ENCODE_OPTIONS);
  return encoderOf(tokenizer, options)(record);
}

/** A function that formats and tokenizes records with fixed options. */
export function makeEncoder(tokenizer: TextTokenizer, options: EncodeOptions = {}): (record: DollyRecord) => EncodedExample {
  checkOptions('makeEncoder', options, ENCODE_OPTIONS);
  return encoderOf(tokenizer, options);
}

/** {@link makeEncoder} once its option keys are checked (by the public function the caller called). */
function encoderOf(tokenizer: TextTokenizer, options: EncodeOptions): (record: DollyRecord) => EncodedExample {
  const { maxSourceLength = 512, maxTargetLength = 512 } = options;
  for (const [name, v] of [['maxSourceLength', maxSourceLength], ['maxTargetLength', maxTargetLength]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be an integer >= 1, got ${v}`);
  }
  const format = promptFormatter(options.format);
  return (record) => {
    const { source, target } = format(record);
    const src = tokenizer.encode(source);
    const tgt = tokenizer.encode(target);
    return {
      sourceIds: truncateIds(src, maxSourceLength, tokenizer.eosId),
      targetIds: truncateIds(tgt, maxTargetLength, tokenizer.eosId),
      fullSourceLength: src.length,
      fullTargetLength: tgt.length,
      category: record.category,
    };
  };
}

/** Formats and tokenizes records. */
export function encodeRecords(records: Iterable<DollyRecord>, tokenizer: TextTokenizer, options: EncodeOptions = {}): EncodedExample[] {
  checkOptions('encodeRecords', options, ENCODE_OPTIONS);
  const encode = encoderOf(tokenizer, options);
  const out: EncodedExample[] = [];
  for (const r of records) out.push(encode(r));
  return out;
}
