/**
 * The README's example, runnable: `npx tsx examples/reverse.ts` (from packages/generate).
 * A toy Seq2Seq stands in for a real model (e.g. @conifer/t5-model's): it answers with its input reversed,
 * then </s>. Its "cache" is the int32 tensor of the tokens decoded so far, so beams really gather it.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { generate, generateText, logSoftmax, streamGenerate, streamText, type Seq2Seq, type TextTokenizer } from '@conifer/generate';

const VOCAB = 28; // 0 = pad / decoder start, 1 = </s>, 2..27 = 'a'..'z'
const tokenizer: TextTokenizer = {
  encode: (text) => [...text].map((c) => c.charCodeAt(0) - 95).concat(1),
  decode: (ids) => ids.map((i) => String.fromCharCode(i + 95)).join(''),
};

/** Logits: 4 for the right next token, 2 for the letter after it, 0 elsewhere. */
const reverser: Seq2Seq<number[][], tf.Tensor2D> = {
  encode: (ids, mask) => {
    const m = mask.arraySync();
    return ids.arraySync().map((row, i) => row.filter((t, j) => m[i]![j] === 1 && t !== 1));
  },
  decodeStep: (tokens, rows, cache) => {
    const seen = cache ? tf.concat([cache, tokens], 1) : tf.clone(tokens); // (B, L)
    cache?.dispose();
    const t = tokens.shape[1]; // logits for each of the T new positions: (B, T, V)
    const logits = seen.arraySync().map((p, r) => Array.from({ length: t }, (_, i) => {
      const src = rows[r]!;
      const step = p.length - t + i;
      const want = step < src.length ? src[src.length - 1 - step]! : 1;
      return Array.from({ length: VOCAB }, (_, v) => (v === want ? 4 : v === want + 1 && want > 1 ? 2 : 0));
    }));
    return { logits: tf.tensor3d(logits), cache: seen };
  },
  // For assisted decoding: keep the first `length` positions (transformers' DynamicCache.crop).
  cropCache: (cache, length) => {
    const next = tf.slice(cache, [0, 0], [-1, length]);
    cache.dispose();
    return next;
  },
  reorderCache: (cache, idx) => {
    const next = tf.gather(cache, idx);
    cache.dispose();
    return next;
  },
  reorderEncoder: (rows, idx) => Array.from(idx.dataSync(), (i) => rows[i]!),
  disposeCache: (cache) => cache.dispose(),
  disposeEncoder: () => {},
};

// What generation_config.json gives T5 (see generationOptionsFromConfig).
const t5 = { decoderStartTokenId: 0, eosTokenId: 1, padTokenId: 0 };

export async function main(log: (line: string) => void = console.log): Promise<void> {
  await tf.setBackend('cpu');
  const ids = ['abc', 'conifer'].map((s) => Array.from(tokenizer.encode(s)));
  const width = Math.max(...ids.map((r) => r.length));
  const inputIds = ids.map((r) => [...r, ...new Array<number>(width - r.length).fill(0)]);
  const attentionMask = ids.map((r) => [...r.map(() => 1), ...new Array<number>(width - r.length).fill(0)]);

  const greedy = await generate(reverser, { inputIds, attentionMask }, { ...t5, maxNewTokens: 10 });
  log(`greedy: ${JSON.stringify(greedy.sequences)}`);

  const beams = await generate(reverser, { inputIds, attentionMask }, { ...t5, maxNewTokens: 10, numBeams: 3, numReturnSequences: 2 });
  log(`beam:   ${JSON.stringify(beams.sequences)}`);
  log(`scores: ${JSON.stringify(beams.sequencesScores!.map((s) => Number(s.toFixed(4))))}`);

  log(`text:   ${JSON.stringify(await generateText(reverser, tokenizer, ['tree', 'pine'], { ...t5, maxNewTokens: 10 }))}`);
  const sampled = await generateText(reverser, tokenizer, 'spruce', { ...t5, maxNewTokens: 10, doSample: true, seed: 7, numReturnSequences: 3 });
  log(`sample: ${JSON.stringify(sampled)}`);

  // Raw logits (outputLogits) next to the processed scores (outputScores): suppressing 'c' (id 4) changes the scores only.
  const abc = { inputIds: inputIds.slice(0, 1), attentionMask: attentionMask.slice(0, 1) };
  const first = await generate(reverser, abc, { ...t5, maxNewTokens: 1, suppressTokens: [4], outputLogits: true, outputScores: true });
  log(`logits: ${first.logits![0]![0]!.slice(0, 6).join(',')}  scores: ${first.scores![0]![0]!.slice(0, 6).join(',')}`);

  const pieces: string[] = [];
  for await (const piece of streamText(reverser, tokenizer, 'larch', { ...t5, maxNewTokens: 10 })) pieces.push(piece);
  log(`stream: ${JSON.stringify(pieces)}`);

  // A stream's return value (the final next()) is generate's output: here with the scores of every step.
  const stream = streamGenerate(reverser, abc, { ...t5, maxNewTokens: 10, outputScores: true });
  const tokens: number[] = [];
  let next = await stream.next();
  for (; !next.done; next = await stream.next()) tokens.push(next.value);
  const logProbs = next.value.scores!.map((step, t) => logSoftmax(step[0]!)[tokens[t]!]!.toFixed(4));
  log(`tokens: ${JSON.stringify(tokens)}  log-probs: ${logProbs.join(',')}`);
  // Prompt lookup (assisted decoding): candidates copied from the answer so far, all checked in one model pass.
  let passes = 0;
  const counted = { ...reverser, decodeStep: (...a: Parameters<typeof reverser.decodeStep>) => (passes++, reverser.decodeStep(...a)) };
  const looked = await generateText(counted, tokenizer, 'abcabcabc', { ...t5, maxNewTokens: 12, promptLookupNumTokens: 3 });
  const lookupPasses = passes;
  passes = 0;
  const plain = await generateText(counted, tokenizer, 'abcabcabc', { ...t5, maxNewTokens: 12 });
  log(`lookup: ${JSON.stringify(looked)} in ${lookupPasses} model passes (greedy: ${JSON.stringify(plain)} in ${passes})`);
  log(`tensors left: ${tf.memory().numTensors}`);
}

if (process.argv[1]?.endsWith('reverse.ts')) await main();
