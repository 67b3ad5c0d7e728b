import { GenerationOptionsError } from './options.js';
import type { TextDecodeOptions, TextTokenizer } from './types.js';
import { type KnownOptions, notAnOptionsObject, unknownOptionProblems, unknownOptionsText } from './unknown-options.js';

const DECODE_OPTIONS: KnownOptions<TextDecodeOptions> = { cleanUpTokenizationSpaces: true };

/** The problem of a `cleanUpTokenizationSpaces` that is not a boolean (none for a boolean or `undefined`). */
export function decodeOptionProblems(cleanUpTokenizationSpaces: unknown): string[] {
  return cleanUpTokenizationSpaces === undefined || typeof cleanUpTokenizationSpaces === 'boolean'
    ? []
    : [`\`cleanUpTokenizationSpaces\` must be a boolean (got ${String(cleanUpTokenizationSpaces)}): transformers' clean_up_tokenization_spaces, e.g. your tokenizer_config.json's value`];
}

/**
 * Whether text decoded after a token boundary can no longer change what transformers' `clean_up_tokenization`
 * (`PreTrainedTokenizerBase.clean_up_tokenization`, src/transformers/tokenization_utils_base.py; the same ten
 * replacements in `@huggingface/tokenizers`) makes of the text before it. `before` is the raw text (no clean-up) up to
 * the boundary, `after` the raw text of the tokens after it so far (more will follow).
 *
 * The replacements are `" ."`, `" ?"`, `" !"`, `" ,"`, `" ' "`, `" n't"`, `" 'm"`, `" 's"`, `" 've"`, `" 're"` (in that
 * order, each everywhere, left to right): each removes a space, and only `" ' "` has a space after its first character.
 * So a boundary followed by whitespace other than a space is never crossed, one followed by another character only
 * when `before` ends in the start of a rule (below), and one followed by a space is crossed
 * only when `before` ends with `'` (`"rock '" + " n"`: `" ' "`) or a space (`"x " + " ' s"` → `"x 's"` → `"x's"`), or
 * with `" n"` while `after` may still start with `" ' "` (`"do n" + " ' t"` → `"do n't"` → `"don't"`).
 * `test/text-streamer.test.ts` checks this against every short string over the characters the rules use.
 */
export function cleanUpStableBoundary(before: string, after: string): boolean {
  const first = after[0];
  if (first === undefined) return false;
  // Not whitespace: every rule starts with a space, so a match across the boundary starts in `before`, within its last
  // three characters: a space there that a rule can still complete (`" ." " ' " " n't" " 'm" " 's" " 've" " 're"`:
  // `before` ending in " ", " n", " n'", " '", " 'v" or " 'r"). Else nothing after it touches `before` (a removal inside
  // `after` only drops a space there, and `after[0]` is none). So word pieces and scripts without spaces stream too.
  if (!/\s/u.test(first)) return !/ (?:n'?|'[vr]?)?$/u.test(before);
  if (first !== ' ') return true;
  if (before.length === 0 || before.endsWith(' ') || before.endsWith("'")) return false;
  if (before.endsWith(' n')) return after.length >= 2 && after[1] !== "'";
  return true;
}

/** `tokenizer.decode(ids, options)`; without `cleanUpTokenizationSpaces`, `decode(ids)` as before (the tokenizer's own default). */
export function decodeText(tokenizer: TextTokenizer, ids: readonly number[], options?: TextDecodeOptions): string {
  return options?.cleanUpTokenizationSpaces === undefined ? tokenizer.decode([...ids]) : tokenizer.decode([...ids], options);
}

/**
 * The text of a growing list of tokens, handed out in pieces that no later token changes — transformers'
 * `TextStreamer` (src/transformers/generation/streamers.py: `put` decodes the whole token cache and prints the new
 * part, `end` flushes the rest), one row. The pieces joined are the `decode` of all the tokens.
 *
 * Without `cleanUpTokenizationSpaces: true` each token's piece comes at once: the decoded text minus what was shown
 * (a trailing U+FFFD, half of a multi-byte character, is held until it completes or the stream ends). With it, decode
 * is not prefix-stable (`"do n"` then `"don't"`, `"end ."` → `"end."`), so a piece is handed out only up to a token
 * boundary that {@link cleanUpStableBoundary} says no later token can change (`TextStreamer` prints up to the last
 * space): pieces come a token behind (more only around a possible `" n't"`, `" 's"`, `" ."`, …), and `end()` gives the rest.
 */
export class TextStreamer {
  private readonly tokens: number[] = [];
  private shown = '';
  /** The raw text (no clean-up) of `tokens`, with clean-up only. */
  private raw = '';

  constructor(
    private readonly tokenizer: TextTokenizer,
    private readonly options: TextDecodeOptions = {},
  ) {
    const wrong = notAnOptionsObject(options);
    if (wrong !== undefined) throw new GenerationOptionsError([`TextStreamer: options must be an object, got ${wrong}`]);
    const unknown = unknownOptionProblems(options, DECODE_OPTIONS, { clean_up_tokenization_spaces: 'cleanUpTokenizationSpaces' });
    const problems = [...(unknown.length > 0 ? [`TextStreamer: ${unknownOptionsText(unknown)}`] : []), ...decodeOptionProblems(options.cleanUpTokenizationSpaces)];
    if (problems.length > 0) throw new GenerationOptionsError(problems);
  }

  /** Adds a token; returns the new text it makes final ('' for none). */
  put(token: number): string {
    this.tokens.push(token);
    if (this.options.cleanUpTokenizationSpaces !== true) {
      const text = this.decode(this.tokens);
      // Hold back a trailing replacement char (half of a multi-byte character) until it completes.
      if (text.endsWith('\uFFFD')) return '';
      return this.show(text);
    }
    const before = this.raw;
    this.raw = this.tokenizer.decode([...this.tokens], { cleanUpTokenizationSpaces: false });
    if (this.tokens.length < 2 || !this.raw.startsWith(before) || !cleanUpStableBoundary(before, this.raw.slice(before.length))) return '';
    const text = this.decode(this.tokens.slice(0, -1));
    // Never goes back on what was shown (a tokenizer whose decode is not prefix-stable waits for `end`).
    return text.startsWith(this.shown) ? this.show(text) : '';
  }

  /** The text not handed out yet: the decode of all the tokens minus what `put` gave. */
  end(): string {
    return this.tokens.length === 0 ? '' : this.show(this.decode(this.tokens));
  }

  private decode(ids: number[]): string {
    return decodeText(this.tokenizer, ids, this.options);
  }

  /** `text` minus what was shown (all of it when it does not start with that), now shown. */
  private show(text: string): string {
    const delta = text.startsWith(this.shown) ? text.slice(this.shown.length) : text;
    this.shown = text;
    return delta;
  }
}
