/**
 * Assisted decoding on the golden tiny checkpoints (mini-t5.ts reproduces their transformers logits, see
 * golden-mini-t5.test.ts). transformers 5 `_assisted_decoding` keeps exactly the tokens plain greedy decoding would
 * choose (each candidate is checked against the model's processed scores at its position), so: the golden `greedy`
 * ids of each row (batch 1 each), and plain greedy's output with processors on, with an assistant (flan-t5-tiny for
 * ul2-tiny and the reverse: same 512-token vocabulary; and each model as its own assistant) and with prompt lookup.
 * Fewer model passes: counted with a wrapper around `decodeStep`.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { readFileSync } from 'node:fs';
import seedrandom from 'seedrandom';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate, type GenerateOptions, type GenerateOutput, type Seq2Seq } from '../src/index.js';
import { MiniT5 } from './mini-t5.js';

const GOLDEN = process.env.CONIFER_GOLDEN ?? fileURLToPath(new URL('../../t5-model/test/fixtures', import.meta.url));
const T5 = { decoderStartTokenId: 0, eosTokenId: 1, padTokenId: 0 } satisfies GenerateOptions;

interface Case {
  input_ids: number[][];
  attention_mask: number[][];
  greedy: { max_new_tokens: number; output: number[][] };
}
const loadCase = (name: string) => JSON.parse(readFileSync(join(GOLDEN, 'cases', `${name}.json`), 'utf8')) as Case;

/** `inner` with its `decodeStep` calls counted (and the widths fed). */
function counted<E, C>(inner: Seq2Seq<E, C> & { cropCache(c: C, n: number): C }) {
  const widths: number[] = [];
  const model: Seq2Seq<E, C> = {
    encode: (i, m) => inner.encode(i, m),
    decodeStep: (t, e, c) => {
      widths.push(t.shape[1]);
      return inner.decodeStep(t, e, c);
    },
    cropCache: (c, n) => inner.cropCache(c, n),
    reorderCache: (c, i) => inner.reorderCache(c, i),
    reorderEncoder: (e, i) => inner.reorderEncoder(e, i),
    disposeCache: (c) => inner.disposeCache(c),
    disposeEncoder: (e) => inner.disposeEncoder(e),
  };
  return { model, widths };
}

/** Processed scores equal up to float32 noise (a T-token pass against T one-token passes), same shape. */
function expectClose(a: Float32Array[][] | undefined, b: Float32Array[][] | undefined): void {
  expect(a?.length).toBe(b?.length);
  a?.forEach((step, t) => step.forEach((row, r) => {
    const other = (b as Float32Array[][])[t]![r]!;
    let worst = 0;
    row.forEach((v, i) => { if (v !== other[i]) worst = Math.max(worst, Math.abs(v - other[i]!)); });
    expect(worst, `step ${t}`).toBeLessThan(1e-4);
  }));
}

const newTokens = (out: GenerateOutput) => (out.sequences[0] as number[]).length - 1;

describe('assisted decoding equals greedy on the golden checkpoints', () => {
  const models: Record<string, MiniT5> = {};
  beforeAll(async () => {
    await tf.setBackend('cpu');
    for (const name of ['ul2-tiny', 'flan-t5-tiny']) models[name] = new MiniT5(join(GOLDEN, 'models', name));
  });
  afterAll(() => Object.values(models).forEach((m) => m.dispose()));

  for (const [name, other] of [['ul2-tiny', 'flan-t5-tiny'], ['flan-t5-tiny', 'ul2-tiny']] as const) {
    it(`${name}: each golden row alone, assisted by ${other}, by itself and by prompt lookup, gives the golden greedy ids`, async () => {
      const c = loadCase(name);
      const target = models[name]!;
      const before = tf.memory().numTensors;
      for (let row = 0; row < c.input_ids.length; row++) {
        const inputs = { inputIds: [c.input_ids[row]!], attentionMask: [c.attention_mask[row]!] };
        const base = { ...T5, maxNewTokens: c.greedy.max_new_tokens };
        const golden = [c.greedy.output[row]!];
        for (const extra of [{ assistantModel: models[other]! }, { assistantModel: target }, { promptLookupNumTokens: 3 }] as GenerateOptions[]) {
          expect((await generate(target, inputs, { ...base, ...extra })).sequences, `${name} row ${row} ${Object.keys(extra)[0]}`).toEqual(golden);
        }
      }
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('with processors on (repetition penalty, no-repeat n-grams, min new tokens, suppressed and biased tokens): plain greedy\'s ids, scores and logits', async () => {
    const c = loadCase('ul2-tiny');
    const target = models['ul2-tiny']!;
    const inputs = { inputIds: [c.input_ids[0]!], attentionMask: [c.attention_mask[0]!] };
    const before = tf.memory().numTensors;
    const sets: GenerateOptions[] = [
      { repetitionPenalty: 1.6 },
      { noRepeatNgramSize: 2 },
      { minNewTokens: 14, maxNewTokens: 16 },
      { suppressTokens: [10], sequenceBias: [[[2, 11], 3]] },
      { encoderNoRepeatNgramSize: 2, forcedEosTokenId: 1, maxNewTokens: 7 },
    ];
    for (const set of sets) {
      const o = { ...T5, maxNewTokens: 12, outputScores: true, outputLogits: true, ...set };
      const plain = await generate(target, inputs, o);
      // Each set changes the golden output (so the processors are really applied to the candidates).
      expect(plain.sequences, JSON.stringify(set)).not.toEqual([c.greedy.output[0]]);
      for (const extra of [{ assistantModel: models['flan-t5-tiny']! }, { assistantModel: target }, { promptLookupNumTokens: 2 }] as GenerateOptions[]) {
        const got = await generate(target, inputs, { ...o, ...extra });
        expect(got.sequences, `${JSON.stringify(set)} ${Object.keys(extra)[0]}`).toEqual(plain.sequences);
        expectClose(got.scores, plain.scores);
        expectClose(got.logits, plain.logits);
      }
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('40 seeded random prompts and options: plain greedy\'s ids, scores and logits with an assistant or prompt lookup', async () => {
    // Random prompts of 1–12 tokens (ids 2..40, often repeated so prompt lookup finds n-grams), up to 20 new tokens,
    // each case with a random subset of sequence-dependent processors and random assisted settings.
    const before = tf.memory().numTensors;
    let blocks = 0;
    for (let seed = 0; seed < 40; seed++) {
      const r = seedrandom(`assisted-golden-${seed}`);
      const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
      const [name, other] = r() < 0.5 ? ['ul2-tiny', 'flan-t5-tiny'] : ['flan-t5-tiny', 'ul2-tiny'];
      const target = models[name!]!;
      const alphabet = Array.from({ length: int(2, 6) }, () => int(2, 40));
      const prompt = [...Array.from({ length: int(1, 12) }, () => alphabet[int(0, alphabet.length - 1)]!), 1];
      const maxNew = int(1, 20);
      const o: GenerateOptions = { ...T5, maxNewTokens: maxNew, outputScores: true, outputLogits: true };
      if (r() < 0.3) o.repetitionPenalty = 1.4;
      if (r() < 0.3) o.noRepeatNgramSize = int(2, 3);
      if (r() < 0.3) o.minNewTokens = int(1, maxNew);
      if (r() < 0.2) o.forcedEosTokenId = 1;
      if (r() < 0.2) o.sequenceBias = [[[alphabet[0]!], 2]];
      const extra: GenerateOptions = [
        { assistantModel: models[other!]!, numAssistantTokens: int(1, 8), assistantConfidenceThreshold: [0, 0.4][int(0, 1)]! },
        { assistantModel: target, numAssistantTokensSchedule: 'heuristic_transient' as const, numAssistantTokens: int(1, 5) },
        { promptLookupNumTokens: int(1, 6), maxMatchingNgramSize: int(1, 3) },
      ][int(0, 2)]!;
      const label = `seed ${seed}: ${name} prompt ${prompt} ${JSON.stringify({ ...o, ...extra, assistantModel: undefined })}`;
      const inputs = { inputIds: [prompt] };
      const plain = await generate(target, inputs, o);
      const { model, widths } = counted(target);
      const got = await generate(model, inputs, { ...o, ...extra });
      expect(got.sequences, label).toEqual(plain.sequences);
      expectClose(got.scores, plain.scores);
      expectClose(got.logits, plain.logits);
      if (widths.some((w) => w > 1)) blocks++;
    }
    expect(blocks).toBeGreaterThan(20); // candidates were checked in blocks in most cases
    expect(tf.memory().numTensors).toBe(before);
  });

  it('the model as its own assistant: every candidate accepted, fewer model passes than tokens', async () => {
    const c = loadCase('ul2-tiny');
    const { model, widths } = counted(models['ul2-tiny']!);
    const inputs = { inputIds: [c.input_ids[0]!], attentionMask: [c.attention_mask[0]!] };
    const out = await generate(model, inputs, { ...T5, maxNewTokens: 12, assistantModel: models['ul2-tiny']!, assistantConfidenceThreshold: 0 });
    expect(out.sequences).toEqual([c.greedy.output[0]]);
    // 10 new tokens: the first pass takes the start token and 10 candidates (up to EOS), all accepted.
    expect(newTokens(out)).toBe(10);
    expect(widths).toEqual([11]);
  });

  it('a prompt that repeats: prompt lookup copies the repeated n-grams and the model accepts them', async () => {
    // The tiny models were trained to reverse their input: "5 6 7" four times reverses to "7 6 5" four times.
    const target = models['ul2-tiny']!;
    const inputs = { inputIds: [[5, 6, 7, 5, 6, 7, 5, 6, 7, 5, 6, 7, 1]] };
    const plain = await generate(target, inputs, { ...T5, maxNewTokens: 14 });
    const { model, widths } = counted(target);
    const looked = await generate(model, inputs, { ...T5, maxNewTokens: 14, promptLookupNumTokens: 4 });
    expect(looked.sequences).toEqual(plain.sequences);
    expect(widths.length).toBeLessThan(newTokens(plain));
    expect(Math.max(...widths)).toBeGreaterThan(1);
  });
});
