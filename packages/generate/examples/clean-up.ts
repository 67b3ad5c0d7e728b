/**
 * The README's clean-up and warnings example, runnable: `npx tsx examples/clean-up.ts` (from packages/generate).
 * A toy Seq2Seq answers with its input (then </s>); a toy tokenizer splits "n't" off as T5's does ("▁do", "▁n", "'",
 * "t") and, when asked, applies transformers' clean_up_tokenization (as @conifer/dolly-data's T5Tokenizer does).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { generateText, generationOptionsWarnings, streamText, type Seq2Seq, type TextTokenizer } from '@conifer/generate';

const PIECES = ['<pad>', '</s>', '▁I', '▁do', '▁n', "'", 't', '▁know', '▁.'];
const WORDS: Record<string, string[]> = { I: ['▁I'], do: ['▁do'], "n't": ['▁n', "'", 't'], know: ['▁know'], '.': ['▁.'] };
const cleanUp = (s: string) => s.replace(/ n't/g, "n't").replace(/ \./g, '.'); // two of transformers' ten rules
const tokenizer: TextTokenizer = {
  encode: (text) => [...text.split(' ').flatMap((w) => WORDS[w]!.map((p) => PIECES.indexOf(p))), 1],
  decode: (ids, options) => {
    const raw = ids.filter((i) => i > 1).map((i) => PIECES[i]!).join('').replace(/▁/g, ' ').trimStart();
    return options?.cleanUpTokenizationSpaces ? cleanUp(raw) : raw;
  },
};

/** Answers with its input, then </s>; its "cache" is the number of decoder positions seen. */
const echo: Seq2Seq<number[][], number> = {
  encode: (ids) => ids.arraySync().map((row) => row.filter((t) => t > 1)),
  decodeStep: (tokens, rows, cache) => {
    const past = cache ?? 0;
    const [b, t] = tokens.shape;
    const logits = Array.from({ length: b }, (_, r) => Array.from({ length: t }, (_, i) => {
      const want = rows[r]![past + i] ?? 1;
      return PIECES.map((_, v) => (v === want ? 4 : 0));
    }));
    return { logits: tf.tensor3d(logits), cache: past + t };
  },
  reorderCache: (cache) => cache,
  reorderEncoder: (rows, idx) => Array.from(idx.dataSync(), (i) => rows[i]!),
  disposeCache: () => {},
  disposeEncoder: () => {},
};

const t5 = { decoderStartTokenId: 0, eosTokenId: 1, padTokenId: 0 };

export async function main(log: (line: string) => void = console.log): Promise<void> {
  await tf.setBackend('cpu');
  const prompt = "I do n't know .";
  log(`text:            ${JSON.stringify(await generateText(echo, tokenizer, prompt, t5))}`);
  // transformers' batch_decode(..., clean_up_tokenization_spaces=True); T5's tokenizer_config.json says true
  log(`text, clean-up:  ${JSON.stringify(await generateText(echo, tokenizer, prompt, { ...t5, cleanUpTokenizationSpaces: true }))}`);
  const pieces = async (cleanUpTokenizationSpaces: boolean) => {
    const out: string[] = [];
    for await (const piece of streamText(echo, tokenizer, prompt, { ...t5, cleanUpTokenizationSpaces })) out.push(piece);
    return JSON.stringify(out);
  };
  log(`stream:          ${await pieces(false)}`);
  log(`stream, cleaned: ${await pieces(true)}`);
  // transformers' GenerationConfig.validate() "minor issues": returned, not printed
  for (const warning of generationOptionsWarnings({ ...t5, temperature: 0.7, lengthPenalty: 0.5 })) log(`warning: ${warning}`);
  log(`tensors left: ${tf.memory().numTensors}`);
}

if (process.argv[1]?.endsWith('clean-up.ts')) await main();
