import { generate, streamGenerate } from './generate.js';
import { checkOptionsObject, resolveOptionsWith, TEXT_GENERATE_OPTIONS, withModelDefaults } from './options.js';
import { hitsStopString } from './sample-search.js';
import { decodeOptionProblems, decodeText, TextStreamer } from './text-streamer.js';
import type { GenerateOptions, GenerateOutput, Seq2Seq, TextDecodeOptions, TextGenerateOptions, TextTokenizer } from './types.js';

/**
 * Prompts → texts: encodes each prompt with `tokenizer`, pads the batch on the right with the pad id
 * (attention mask 0 there), generates, and decodes each returned row without its decoder start token
 * and without anything from its first EOS on. Returns `numReturnSequences` texts per prompt, in order.
 * With `cleanUpTokenizationSpaces`, each row is decoded with it (transformers' `batch_decode(...,
 * clean_up_tokenization_spaces=...)`); without it, `tokenizer.decode(ids)` as it is.
 */
export async function generateText<Enc, Cache>(
  model: Seq2Seq<Enc, Cache>,
  tokenizer: TextTokenizer,
  prompts: string | string[],
  options: TextGenerateOptions = {},
): Promise<string[]> {
  checkOptionsObject('generateText', options);
  const [decodeOptions, generateOptions, decodeProblems] = splitDecodeOptions(options);
  const opts = withTokenizer(model, generateOptions, tokenizer);
  const o = resolveOptionsWith(withModelDefaults(model, opts), 1, TEXT_GENERATE_OPTIONS, decodeProblems);
  const list = Array.isArray(prompts) ? prompts : [prompts];
  if (list.length === 0) return [];
  const encoded = list.map((p) => Array.from(tokenizer.encode(p)));
  const width = Math.max(1, ...encoded.map((e) => e.length));
  const inputIds = encoded.map((e) => [...e, ...new Array<number>(width - e.length).fill(o.padTokenId)]);
  const attentionMask = encoded.map((e) => [...e.map(() => 1), ...new Array<number>(width - e.length).fill(0)]);
  const { sequences } = await generate(model, { inputIds, attentionMask }, opts);
  return sequences.map((row) => {
    const ids = untilStop(generatedTokens(row, o.eosTokenIds), o.stopStrings, tokenizer);
    return decodeText(tokenizer, ids, decodeOptions);
  });
}

/**
 * One prompt → its continuation, streamed: yields the new text after each decoded token (the difference
 * between the decoded prefix and what was already yielded; empty deltas are skipped). Greedy or sampling.
 * With `cleanUpTokenizationSpaces: true` a later token can change the text before it (`"do n"` → `"don't"`), so
 * text is yielded only up to a token boundary no later token can change (a token behind; transformers'
 * `TextStreamer` prints up to the last space, a word behind) and the rest after the last token: the pieces joined are always
 * `generateText`'s text for the same prompt and options. Returns, after the last piece, what `streamGenerate`
 * returns: `generate`'s output for the prompt's ids (`sequences`, and `scores` / `logits` with `outputScores` /
 * `outputLogits`).
 */
export async function* streamText<Enc, Cache>(
  model: Seq2Seq<Enc, Cache>,
  tokenizer: TextTokenizer,
  prompt: string,
  options: TextGenerateOptions = {},
): AsyncGenerator<string, GenerateOutput, void> {
  checkOptionsObject('streamText', options);
  const [decodeOptions, generateOptions, decodeProblems] = splitDecodeOptions(options);
  const opts = withTokenizer(model, generateOptions, tokenizer);
  const o = resolveOptionsWith(withModelDefaults(model, opts), 1, TEXT_GENERATE_OPTIONS, decodeProblems);
  const inputIds = [Array.from(tokenizer.encode(prompt))];
  const done: { value?: GenerateOutput } = {};
  const text = new TextStreamer(tokenizer, decodeOptions);
  for await (const token of keepingReturn(streamGenerate(model, { inputIds, attentionMask: [inputIds[0]!.map(() => 1)] }, opts), done)) {
    // An EOS is the stream's last token (one row: it ends the row and so the loop); it has no text.
    if (o.eosTokenIds.includes(token)) continue;
    const delta = text.put(token);
    if (delta.length > 0) yield delta;
  }
  const rest = text.end();
  if (rest.length > 0) yield rest;
  return done.value as GenerateOutput;
}

/**
 * The text options split from `generate`'s (which refuses keys it does not know), and the problem of a non-boolean, to
 * list in the one error with the others.
 */
function splitDecodeOptions(options: TextGenerateOptions): [TextDecodeOptions | undefined, GenerateOptions, string[]] {
  const { cleanUpTokenizationSpaces, ...rest } = options;
  const problems = decodeOptionProblems(cleanUpTokenizationSpaces);
  return [typeof cleanUpTokenizationSpaces === 'boolean' ? { cleanUpTokenizationSpaces } : undefined, rest, problems];
}

/** `gen`'s items; its return value lands in `into.value` (`for await` drops it). Leaving early returns `gen` too (`yield*`). */
async function* keepingReturn<T, R>(gen: AsyncGenerator<T, R, void>, into: { value?: R }): AsyncGenerator<T, void, void> {
  into.value = yield* gen;
}

/** `options` with the text function's tokenizer for `stopStrings`, the caller's or the model's `stop_strings` (unless the caller gave one). */
function withTokenizer(model: object, options: GenerateOptions, tokenizer: TextTokenizer): GenerateOptions {
  return !options.tokenizer && withModelDefaults(model, options).stopStrings?.length ? { ...options, tokenizer } : options;
}

/** `tokens` up to the one whose text completes a stop string, kept whole as transformers keeps its id (the padding after it dropped); all of them without one. */
function untilStop(tokens: number[], stopStrings: readonly string[], tokenizer: TextTokenizer): number[] {
  if (stopStrings.length === 0) return tokens;
  for (let n = 1; n <= tokens.length; n++) if (hitsStopString(tokens.slice(0, n), stopStrings, tokenizer)) return tokens.slice(0, n);
  return tokens;
}

/** The generated tokens of a row: without the decoder start token, cut before the first EOS. */
export function generatedTokens(row: readonly number[], eosTokenIds: readonly number[]): number[] {
  const out: number[] = [];
  for (const t of row.slice(1)) {
    if (eosTokenIds.includes(t)) break;
    out.push(t);
  }
  return out;
}
