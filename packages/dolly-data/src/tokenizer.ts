import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { bundledTokenizerDir } from './bundled';
import { accelerateUnigram } from './unigram';
import { checkOptions, type KnownOptions } from './unknown-options';

/** The tokenizer surface this package uses (T5 style: `</s>` appended, pad id 0). */
export interface TextTokenizer {
  /** Token ids of `text`; with `addSpecialTokens` (default true) the post-processor appends `</s>`. */
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  /** Text of `ids` (labels' -100 are not ids: drop them first); special tokens skipped by default; no clean-up of tokenization spaces unless asked. */
  decode(ids: ArrayLike<number>, options?: DecodeOptions): string;
  readonly padId: number;
  readonly eosId: number;
}

/** Options of {@link TextTokenizer.decode}. */
export interface DecodeOptions {
  /** Drop special tokens (`</s>`, `<pad>`, sentinels) from the text (default true: transformers' `skip_special_tokens=True`). */
  skipSpecialTokens?: boolean;
  /**
   * transformers' `clean_up_tokenization_spaces`: remove the space before `.`, `?`, `!`, `,` and English
   * contractions (`clean_up_tokenization`). Default false: the Rust tokenizers' `decode`. transformers' `decode`
   * uses the tokenizer_config.json value instead — `true` in T5's original config (bundled here; see
   * {@link T5Tokenizer.configCleanUpTokenizationSpaces}) — so pass that to get its text.
   */
  cleanUpTokenizationSpaces?: boolean;
}

const DECODE_OPTIONS: KnownOptions<DecodeOptions> = { skipSpecialTokens: true, cleanUpTokenizationSpaces: true };
const ENCODE_TEXT_OPTIONS: KnownOptions<{ addSpecialTokens?: boolean }> = { addSpecialTokens: true };

/** Wraps a `@huggingface/tokenizers` Tokenizer into a {@link TextTokenizer}. */
export class T5Tokenizer implements TextTokenizer {
  readonly padId: number;
  readonly eosId: number;

  /**
   * @param tokenizer a loaded `@huggingface/tokenizers` Tokenizer
   */
  constructor(
    readonly tokenizer: Tokenizer,
    options: TokenizerOptions = {},
  ) {
    checkOptions('T5Tokenizer', options, TOKENIZER_OPTIONS);
    accelerateUnigram(tokenizer, checkWordCacheSize(options.wordCacheSize));
    const pad = tokenizer.token_to_id('<pad>');
    const eos = tokenizer.token_to_id('</s>');
    if (pad === undefined || eos === undefined) throw new Error('not a T5 tokenizer: <pad> or </s> is missing from the vocabulary');
    this.padId = pad;
    this.eosId = eos;
  }

  /** Builds one from the parsed `tokenizer.json` and `tokenizer_config.json`. */
  static fromJSON(tokenizerJson: object, tokenizerConfig: object = {}, options: TokenizerOptions = {}): T5Tokenizer {
    checkOptions('T5Tokenizer.fromJSON', options, TOKENIZER_OPTIONS); // before the tokenizer is built
    return new T5Tokenizer(new Tokenizer(tokenizerJson, tokenizerConfig), options);
  }

  encode(text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
    checkOptions('T5Tokenizer.encode', options, ENCODE_TEXT_OPTIONS);
    return this.tokenizer.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    checkOptions('T5Tokenizer.decode', options, DECODE_OPTIONS);
    if (ids.length === 0) return '';
    return this.tokenizer.decode(Array.from(ids), {
      skip_special_tokens: options.skipSpecialTokens ?? true,
      clean_up_tokenization_spaces: options.cleanUpTokenizationSpaces ?? false,
    });
  }

  /**
   * tokenizer_config.json's `clean_up_tokenization_spaces` — what transformers' `decode` does by default with this
   * tokenizer (`true` for T5's original config); absent: false. `decode(ids, { cleanUpTokenizationSpaces:
   * tok.configCleanUpTokenizationSpaces })` gives transformers' `tokenizer.decode(ids, skip_special_tokens=True)`.
   */
  get configCleanUpTokenizationSpaces(): boolean {
    return (this.tokenizer as unknown as { config?: { clean_up_tokenization_spaces?: unknown } }).config?.clean_up_tokenization_spaces === true;
  }
}

async function readJson(path: string): Promise<object> {
  const text = await readFile(path, 'utf8');
  try {
    return JSON.parse(text) as object;
  } catch (e) {
    throw new Error(`${path}: invalid JSON (${(e as Error).message})`);
  }
}

/** The word cache size to use (default 200 000); throws unless it is an integer >= 0. */
function checkWordCacheSize(size: number = 200_000): number {
  if (!Number.isInteger(size) || size < 0) throw new RangeError(`wordCacheSize must be an integer >= 0, got ${size}`);
  return size;
}

/** Options for {@link loadT5Tokenizer}. */
export interface TokenizerOptions {
  /** Words whose Unigram pieces are memoized (default 200 000; 0 uses tokenizers.js as it is). */
  wordCacheSize?: number;
}

const TOKENIZER_OPTIONS: KnownOptions<TokenizerOptions> = { wordCacheSize: true };

/**
 * Loads `tokenizer.json` (+ `tokenizer_config.json` when present) from a folder; default: the
 * bundled T5 tokenizer.
 */
export async function loadT5Tokenizer(dir: string = bundledTokenizerDir(), options: TokenizerOptions = {}): Promise<T5Tokenizer> {
  checkOptions('loadT5Tokenizer', options, TOKENIZER_OPTIONS);
  checkWordCacheSize(options.wordCacheSize); // before reading anything
  const tokenizerJson = await readJson(join(dir, 'tokenizer.json'));
  let config: object = {};
  try {
    config = await readJson(join(dir, 'tokenizer_config.json'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  return T5Tokenizer.fromJSON(tokenizerJson, config, options);
}
