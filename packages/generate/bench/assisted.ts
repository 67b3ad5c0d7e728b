/**
 * Assisted decoding against plain greedy, measured in one run: forward passes of the model (the big one: its
 * `decodeStep` calls, counted by a wrapper) and wall time for the same prompt and length; the outputs are checked equal.
 *
 * - RANDOM T5-SHAPED FAKE (bench/fake-t5.ts, `--shape`) as the model; as assistants: an oracle that replays the
 *   model's greedy output at almost no cost (every candidate accepted: the best case, only verification passes
 *   left), and the same fake with only its first `--draft-layers` decoder layers (the same embedding, head and first
 *   layers: an early-exit draft; random weights, so it rarely agrees: the cost of a useless assistant); prompt lookup.
 * - The golden tiny checkpoints (test/mini-t5.ts): ul2-tiny with flan-t5-tiny as its assistant (a second model trained
 *   on the same task), and with prompt lookup on a prompt that repeats.
 */
import * as tf from '@tensorflow/tfjs-core';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { generate, type GenerateOptions, type Seq2Seq } from '../src/index.js';
import { MiniT5 } from '../test/mini-t5.js';
import { FakeT5, type FakeShape } from './fake-t5.js';

/** `inner` with its decodeStep calls counted. */
function counting<E, C>(inner: Seq2Seq<E, C>): { model: Seq2Seq<E, C>; passes: () => number } {
  let n = 0;
  const model: Seq2Seq<E, C> = {
    encode: (i, m) => inner.encode(i, m),
    decodeStep: (t, e, c) => { n++; return inner.decodeStep(t, e, c); },
    cropCache: (c, l) => (inner.cropCache as (c: C, l: number) => C).call(inner, c, l),
    reorderCache: (c, i) => inner.reorderCache(c, i),
    reorderEncoder: (e, i) => inner.reorderEncoder(e, i),
    disposeCache: (c) => inner.disposeCache(c),
    disposeEncoder: (e) => inner.disposeEncoder(e),
  };
  return { model, passes: () => { const v = n; n = 0; return v; } };
}

/**
 * An assistant that knows the answer: its logits put all the mass on `sequence[position + 1]` (the model's own greedy
 * output), at almost no cost. Every candidate is accepted: the best case, where only the model's verification passes
 * are left. Its cache is the number of positions seen.
 */
function oracle(sequence: readonly number[], vocab: number): Seq2Seq<null, number> {
  return {
    encode: () => null,
    decodeStep: (tokens, _e, cache) => {
      const past = cache ?? 0;
      const t = tokens.shape[1];
      const data = new Float32Array(t * vocab);
      for (let i = 0; i < t; i++) data[i * vocab + (sequence[past + i + 1] ?? 1)] = 10;
      return { logits: tf.tensor3d(data, [1, t, vocab]), cache: past + t };
    },
    cropCache: (_c, length) => length,
    reorderCache: (c) => c,
    reorderEncoder: (e) => e,
    disposeCache: () => {},
    disposeEncoder: () => {},
  };
}

interface Row { label: string; passes: number; seconds: number; tokens: number; same: boolean }

/** Plain greedy, then each variant, on the same prompt: passes, median wall time over `runs` (after a warm-up). */
async function compare<E, C>(
  inner: Seq2Seq<E, C>, inputIds: number[][], base: GenerateOptions,
  variants: Array<[string, GenerateOptions | ((greedy: number[]) => GenerateOptions)]>, runs: number,
): Promise<Row[]> {
  const { model, passes } = counting(inner);
  const rows: Row[] = [];
  let reference: number[][] | undefined;
  for (const [label, make] of [['plain greedy', {}] as [string, GenerateOptions], ...variants]) {
    const extra = typeof make === 'function' ? make((reference as number[][])[0] as number[]) : make;
    const o = { ...base, ...extra };
    await generate(model, { inputIds }, o); // warm-up
    passes();
    const times: number[] = [];
    let out: number[][] = [];
    let p = 0;
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now();
      out = (await generate(model, { inputIds }, o)).sequences;
      times.push((performance.now() - t0) / 1000);
      p = passes();
    }
    reference ??= out;
    const seconds = times.sort((a, b) => a - b)[Math.floor(times.length / 2)] as number;
    rows.push({ label, passes: p, seconds, tokens: (out[0] as number[]).length - 1, same: JSON.stringify(out) === JSON.stringify(reference) });
  }
  return rows;
}

function print(rows: Row[]): void {
  const plain = rows[0] as Row;
  console.log('variant                         | new tokens | model passes | wall s | speed-up (wall) | same ids as greedy');
  for (const r of rows) {
    console.log(`${r.label.padEnd(31)} | ${String(r.tokens).padStart(10)} | ${String(r.passes).padStart(12)} | ${r.seconds.toFixed(3).padStart(6)} | ${`${(plain.seconds / r.seconds).toFixed(2)}×`.padStart(15)} | ${r.same ? 'yes' : 'NO'}`);
  }
}

export async function benchAssisted(opts: { shape: FakeShape; shapeName: string; draftLayers: number; newTokens: number; promptLength: number; runs: number }): Promise<void> {
  const { shape, draftLayers, newTokens, promptLength, runs } = opts;
  console.log(`\nassisted decoding on ${tf.getBackend()}: median of ${runs} runs after a warm-up, batch 1`);
  const target = new FakeT5(shape);
  const draft = new FakeT5({ ...shape, numDecoderLayers: draftLayers }); // same seed: same embedding, head, first layers
  const inputIds = [Array.from({ length: promptLength }, (_, i) => 2 + ((i * 7) % 100))];
  console.log(`model: RANDOM T5-SHAPED FAKE "${opts.shapeName}" (${shape.numDecoderLayers} decoder layers); assistant: its first ${draftLayers} layers; prompt ${promptLength} tokens`);
  print(await compare(target, inputIds, { decoderStartTokenId: 0, maxNewTokens: newTokens }, [
    ['oracle assistant (best case)', (greedy) => ({ assistantModel: oracle(greedy, shape.vocab), assistantConfidenceThreshold: 0 })],
    [`assistant (${draftLayers} layers)`, { assistantModel: draft }],
    [`assistant, confidence 0`, { assistantModel: draft, assistantConfidenceThreshold: 0 }],
    ['prompt lookup (10 tokens)', { promptLookupNumTokens: 10 }],
  ], runs));
  target.dispose();
  draft.dispose();

  const golden = process.env.CONIFER_GOLDEN ?? fileURLToPath(new URL('../../t5-model/test/fixtures', import.meta.url));
  const ul2 = new MiniT5(join(golden, 'models', 'ul2-tiny'));
  const flan = new MiniT5(join(golden, 'models', 'flan-t5-tiny'));
  const t5 = { decoderStartTokenId: 0, eosTokenId: 1, padTokenId: 0, maxNewTokens: 24 };
  console.log('\nmodel: golden ul2-tiny (d_model 64, 3 decoder layers); prompt "5 6 7" × 4 + </s> (it reverses its input)');
  print(await compare(ul2, [[5, 6, 7, 5, 6, 7, 5, 6, 7, 5, 6, 7, 1]], t5, [
    ['assistant flan-t5-tiny', { assistantModel: flan }],
    ['assistant ul2-tiny (itself)', { assistantModel: ul2 }],
    ['prompt lookup (10 tokens)', { promptLookupNumTokens: 10 }],
  ], runs));
  ul2.dispose();
  flan.dispose();
}
