import { generate, streamGenerate } from './generate.js';
import { resolveOptions, withModelDefaults } from './options.js';
import { hitsStopString } from './sample-search.js';
import type { GenerateOptions, GenerateOutput, Seq2Seq, TextTokenizer } from './types.js';

/**
 * Prompts → texts: encodes each prompt with `tokenizer`, pads the batch on the right with the pad id
 * (attention mask 0 there), generates, and decodes each returned row without its decoder start token
 * and without anything from its first EOS on. Returns `numReturnSequences` texts per prompt, in order.
 */
export async function generateText<Enc, Cache>(
  model: Seq2Seq<Enc, Cache>,
  tokenizer: TextTokenizer,
  prompts: string | string[],
  options: GenerateOptions = {},
): Promise<string[]> {
  const opts = withTokenizer(model, options, tokenizer);
  const o = resolveOptions(withModelDefaults(model, opts));
  const list = Array.isArray(prompts) ? prompts : [prompts];
  if (list.length === 0) return [];
  const encoded = list.map((p) => Array.from(tokenizer.encode(p)));
  const width = Math.max(1, ...encoded.map((e) => e.length));
  const inputIds = encoded.map((e) => [...e, ...new Array<number>(width - e.length).fill(o.padTokenId)]);
  const attentionMask = encoded.map((e) => [...e.map(() => 1), ...new Array<number>(width - e.length).fill(0)]);
  const { sequences } = await generate(model, { inputIds, attentionMask }, opts);
  return sequences.map((row) => tokenizer.decode(untilStop(generatedTokens(row, o.eosTokenIds), o.stopStrings, tokenizer)));
}

/**
 * One prompt → its continuation, streamed: yields the new text after each decoded token (the difference
 * between the decoded prefix and what was already yielded; empty deltas are skipped). Greedy or sampling.
 * Returns, after the last piece, what `streamGenerate` returns: `generate`'s output for the prompt's ids
 * (`sequences`, and `scores` / `logits` with `outputScores` / `outputLogits`).
 */
export async function* streamText<Enc, Cache>(
  model: Seq2Seq<Enc, Cache>,
  tokenizer: TextTokenizer,
  prompt: string,
  options: GenerateOptions = {},
): AsyncGenerator<string, GenerateOutput, void> {
  const opts = withTokenizer(model, options, tokenizer);
  const o = resolveOptions(withModelDefaults(model, opts));
  const inputIds = [Array.from(tokenizer.encode(prompt))];
  const tokens: number[] = [];
  const done: { value?: GenerateOutput } = {};
  let shown = '';
  for await (const token of keepingReturn(streamGenerate(model, { inputIds, attentionMask: [inputIds[0]!.map(() => 1)] }, opts), done)) {
    // An EOS is the stream's last token (one row: it ends the row and so the loop); it has no text.
    if (o.eosTokenIds.includes(token)) continue;
    tokens.push(token);
    const text = tokenizer.decode(tokens);
    // Hold back a trailing replacement char (half of a multi-byte character) until it completes.
    if (text.endsWith('\uFFFD')) continue;
    const delta = text.startsWith(shown) ? text.slice(shown.length) : text;
    shown = text;
    if (delta.length > 0) yield delta;
  }
  return done.value as GenerateOutput;
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
