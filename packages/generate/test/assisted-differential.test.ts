/**
 * Randomized differential test: assisted decoding (an assistant, prompt lookup) against plain greedy decoding on the
 * same model, prompt and options, over seeded random cases. The model is a `TableModel` whose logits are exact JS
 * numbers per (prompt, prefix) — a multi-token pass gives bit for bit the logits of one-token passes — so ids,
 * `scores` and `logits` must be EQUAL, not close. The logits favour repeating the token three back (so prompt lookup
 * finds n-grams) and raise EOS with the length; the assistant is the model plus seeded noise (it agrees often, not
 * always). Each case draws processors that read the sequence (repetition penalty, no-repeat n-grams, min lengths,
 * sequence bias, bad words, forced BOS/EOS, exponential decay, suppressed / begin-suppressed tokens, encoder
 * processors, renormalized logits), stop strings and `maxNewTokens` from 1 to 24.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import seedrandom from 'seedrandom';
import { beforeAll, describe, expect, it } from 'vitest';
import { generate, streamGenerate, type GenerateOptions } from '../src/index.js';
import { hashedLogits, TableModel, type LogitsFn } from './fakes.js';

const V = 10;
const T5 = { decoderStartTokenId: 0, eosTokenId: 1, padTokenId: 0 } satisfies GenerateOptions;
const letters = { encode: () => [2, 1], decode: (ids: number[]) => ids.map((i) => String.fromCharCode(95 + i)).join('') };

/** The model: hashed logits, +2.5 for the token three back, EOS +0.4 per position past 6. */
function targetFn(seed: number): LogitsFn {
  const base = hashedLogits(V, seed, 2);
  return (input, prefix) => {
    const l = base(input, prefix);
    const back = prefix[prefix.length - 3];
    if (back !== undefined) l[back] = (l[back] as number) + 2.5;
    l[1] = (l[1] as number) + Math.max(0, prefix.length - 6) * 0.4;
    return l;
  };
}

/** The assistant: the model's logits plus noise of size `noise` (0: the model itself). */
function assistantFn(seed: number, noise: number): LogitsFn {
  const t = targetFn(seed);
  const n = hashedLogits(V, seed + 1000, noise);
  return (input, prefix) => {
    const a = t(input, prefix);
    const b = n(input, prefix);
    return a.map((v, i) => v + (b[i] as number));
  };
}

function randomCase(seed: number): { prompt: number[]; o: GenerateOptions; extra: GenerateOptions; label: string } {
  const r = seedrandom(`assisted-diff-${seed}`);
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const prompt = [...Array.from({ length: int(1, 6) }, () => int(2, V - 1)), 1];
  const maxNew = int(1, 24);
  const o: GenerateOptions = { ...T5, maxNewTokens: maxNew, outputScores: true, outputLogits: true };
  const procs: Array<() => GenerateOptions> = [
    () => ({ repetitionPenalty: pick([0.7, 1.3, 2]) }),
    () => ({ noRepeatNgramSize: int(1, 3) }),
    () => ({ minNewTokens: int(1, maxNew) }),
    () => ({ minLength: int(2, maxNew + 1) }),
    () => ({ sequenceBias: [[[int(2, V - 1), int(2, V - 1)], pick([-3, 2.5])], [[int(2, V - 1)], pick([-1, 1.5])]] }),
    () => ({ badWordsIds: [[int(2, V - 1), int(2, V - 1)], [int(2, V - 1)]] }),
    () => ({ forcedBosTokenId: int(2, V - 1) }),
    () => ({ forcedEosTokenId: 1 }),
    () => ({ exponentialDecayLengthPenalty: [int(1, 8), pick([1.1, 1.5])] }),
    () => ({ suppressTokens: [int(2, V - 1)] }),
    () => ({ beginSuppressTokens: [int(2, V - 1), 1] }),
    () => ({ encoderRepetitionPenalty: pick([0.8, 1.5]) }),
    () => ({ encoderNoRepeatNgramSize: int(1, 2) }),
    () => ({ renormalizeLogits: true }),
    () => ({ stopStrings: [letters.decode([int(2, V - 1), int(2, V - 1)])], tokenizer: letters }),
  ];
  for (const p of procs) if (r() < 0.3) Object.assign(o, p());
  const extra: GenerateOptions = r() < 0.5
    ? { promptLookupNumTokens: int(1, 6), maxMatchingNgramSize: int(1, 3) }
    : {
        assistantModel: new TableModel(V, assistantFn(seed, pick([0, 0.8, 2, 6]))),
        numAssistantTokens: int(0, 7),
        numAssistantTokensSchedule: pick(['constant', 'heuristic', 'heuristic_transient'] as const),
        assistantConfidenceThreshold: pick([0, 0.2, 0.5]),
      };
  const label = `case ${seed}: prompt ${prompt} ${JSON.stringify({ ...o, tokenizer: undefined, ...extra, assistantModel: undefined })}`;
  return { prompt, o, extra, label };
}

describe('assisted decoding = plain greedy, randomized (exact logits)', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('300 seeded cases: the same ids, scores and logits; onToken and the stream see the same tokens; fewer passes overall', async () => {
    const before = tf.memory().numTensors;
    let plainPasses = 0;
    let assistedPasses = 0;
    let blocks = 0;
    for (let seed = 0; seed < 300; seed++) {
      const { prompt, o, extra, label } = randomCase(seed);
      const inputs = { inputIds: [prompt] };
      const plainModel = new TableModel(V, targetFn(seed));
      const plain = await generate(plainModel, inputs, o);
      const model = new TableModel(V, targetFn(seed));
      const seen: number[] = [];
      const got = await generate(model, inputs, { ...o, ...extra, onToken: (t, step) => seen.push(step, t[0]!) });
      expect(got.sequences, label).toEqual(plain.sequences);
      expect(got.scores, label).toEqual(plain.scores);
      expect(got.logits, label).toEqual(plain.logits);
      expect(seen, label).toEqual(plain.sequences[0]!.slice(1).flatMap((t, i) => [i, t]));
      const streamed: number[] = [];
      const stream = streamGenerate(new TableModel(V, targetFn(seed)), inputs, { ...o, ...extra });
      let next = await stream.next();
      for (; !next.done; next = await stream.next()) streamed.push(next.value);
      expect(streamed, label).toEqual(plain.sequences[0]!.slice(1));
      expect(next.value.sequences, label).toEqual(plain.sequences);
      plainPasses += plainModel.calls.decodeWidths.length;
      assistedPasses += model.calls.decodeWidths.length;
      if (model.calls.decodeWidths.some((w) => w > 2)) blocks++;
    }
    expect(tf.memory().numTensors).toBe(before);
    // The candidates were really used: many cases decoded blocks, and the model ran fewer passes in all.
    expect(blocks).toBeGreaterThan(100);
    expect(assistedPasses).toBeLessThan(plainPasses * 0.8);
  });
});
