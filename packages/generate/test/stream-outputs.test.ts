/**
 * What the streaming entry points do with each `GenerateOptions` field. Reference: transformers 5
 * `GenerationMixin.generate(streamer=...)`: `_sample` calls `streamer.put(next_tokens.cpu())` every step and still
 * returns `GenerateEncoderDecoderOutput(sequences, scores, logits, ...)` (with `output_scores` / `output_logits`);
 * `_validate_generation_mode` raises "`streamer` cannot be used with beam search (yet!)", and `TextStreamer.put`
 * raises "TextStreamer only supports batch size 1". So here: the stream yields the tokens and its generator returns
 * `generate`'s output for the same prompt and options (checked equal here for every option, and on the golden
 * ul2-tiny case in output-logits.test.ts); beams, several returned sequences and several prompts are refused with one error.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  generate, GenerationOptionsError, streamGenerate, streamText, type GenerateInputs, type GenerateOptions, type GenerateOutput,
  type Seq2Seq, type TextTokenizer,
} from '../src/index.js';
import { TinyTransformer, type TinyCache, type TinyEnc } from './fakes.js';

const T5 = { decoderStartTokenId: 0, eosTokenId: 1, padTokenId: 0 } satisfies GenerateOptions;

/** Drains a stream by hand: its items and the generator's return value (which `for await` drops). */
async function drain<T>(stream: AsyncGenerator<T, GenerateOutput, void>): Promise<{ items: T[]; output: GenerateOutput }> {
  const items: T[] = [];
  let r = await stream.next();
  for (; !r.done; r = await stream.next()) items.push(r.value);
  return { items, output: r.value };
}

describe('streaming entry points', () => {
  let model: TinyTransformer;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    model = new TinyTransformer({ seed: 7, eosAfter: 3 });
  });
  afterAll(() => model.dispose());

  const prompt: GenerateInputs = { inputIds: [[3, 4, 5, 9, 1]] };
  // A character tokenizer: 'a'..'n' → 2..15 (vocab 16), '</s>' = 1 appended.
  const tokenizer: TextTokenizer = {
    encode: (s) => [...s].map((ch) => ch.charCodeAt(0) - 95).concat(1),
    decode: (ids) => ids.map((i) => String.fromCharCode(i + 95)).join(''),
  };

  /**
   * Every `GenerateOptions` field (the `Record` type makes typecheck fail when one is added without a row here).
   * `change`: the options with the field set; `from`: the options it is compared with (default: `BASE`); `same`:
   * the field does not change this output (`generate` gives the same), checked too. Each row's stream must return
   * exactly what `generate` returns; and unless `same`, that must differ from `generate` without the field, so a
   * stream that dropped the field fails.
   */
  const BASE: GenerateOptions = { ...T5, maxNewTokens: 6, outputScores: true };
  /** The model as its own assistant (built before `model` is: the rows are made at collection time). */
  const selfAssistant: Seq2Seq<TinyEnc, TinyCache> = {
    encode: (i, m) => model.encode(i, m),
    decodeStep: (t, e, c) => model.decodeStep(t, e, c),
    cropCache: (c, n) => model.cropCache(c, n),
    reorderCache: (c, i) => model.reorderCache(c, i),
    reorderEncoder: (e, i) => model.reorderEncoder(e, i),
    disposeCache: (c) => model.disposeCache(c),
    disposeEncoder: (e) => model.disposeEncoder(e),
  };
  const SAMPLE: GenerateOptions = { ...BASE, doSample: true, seed: 3 };
  type Row = { change: GenerateOptions; from?: GenerateOptions; same?: true } | { refused: GenerateOptions; error: string };
  const ROWS: Record<keyof GenerateOptions, Row> = {
    maxNewTokens: { change: { ...BASE, maxNewTokens: 2 } },
    maxLength: { change: { ...BASE, maxNewTokens: undefined, maxLength: 3 } },
    minNewTokens: { change: { ...BASE, minNewTokens: 5 } },
    minLength: { change: { ...BASE, minLength: 6 } },
    numBeams: { refused: { ...BASE, numBeams: 2 }, error: '`numBeams` must be 1' },
    lengthPenalty: { change: { ...BASE, lengthPenalty: 0.5 }, same: true }, // beam-only: no effect with one beam (generate neither)
    earlyStopping: { change: { ...BASE, earlyStopping: true }, same: true }, // beam-only, as lengthPenalty
    numReturnSequences: { refused: { ...SAMPLE, numReturnSequences: 2 }, error: '`numReturnSequences` must be 1' },
    doSample: { change: SAMPLE },
    temperature: { change: { ...SAMPLE, temperature: 0.5 }, from: SAMPLE },
    topK: { change: { ...SAMPLE, topK: 3 }, from: SAMPLE },
    topP: { change: { ...SAMPLE, topP: 0.5 }, from: SAMPLE },
    repetitionPenalty: { change: { ...BASE, repetitionPenalty: 1.5 } },
    noRepeatNgramSize: { change: { ...BASE, noRepeatNgramSize: 1 } },
    minP: { change: { ...SAMPLE, minP: 0.2 }, from: SAMPLE },
    typicalP: { change: { ...SAMPLE, typicalP: 0.5 }, from: SAMPLE },
    epsilonCutoff: { change: { ...SAMPLE, epsilonCutoff: 0.05 }, from: SAMPLE },
    etaCutoff: { change: { ...SAMPLE, etaCutoff: 0.05 }, from: SAMPLE },
    badWordsIds: { change: { ...BASE, badWordsIds: [[7], [0, 9]] } },
    suppressTokens: { change: { ...BASE, suppressTokens: [2, 3] } },
    beginSuppressTokens: { change: { ...BASE, beginSuppressTokens: [2, 3] } },
    forcedBosTokenId: { change: { ...BASE, forcedBosTokenId: 5 } },
    forcedEosTokenId: { change: { ...BASE, maxNewTokens: 2, forcedEosTokenId: 4 }, from: { ...BASE, maxNewTokens: 2 } },
    sequenceBias: { change: { ...BASE, sequenceBias: [[[4], 2.5]] } },
    encoderRepetitionPenalty: { change: { ...BASE, encoderRepetitionPenalty: 2 } },
    encoderNoRepeatNgramSize: { change: { ...BASE, encoderNoRepeatNgramSize: 1 } },
    exponentialDecayLengthPenalty: { change: { ...BASE, exponentialDecayLengthPenalty: [0, 1.5] } },
    renormalizeLogits: { change: { ...BASE, renormalizeLogits: true } },
    eosTokenId: { change: { ...BASE, eosTokenId: [1, 12] } }, // 12 is generated: it ends the row
    signal: { change: { ...BASE, signal: new AbortController().signal }, same: true }, // not aborted; aborting: generate.test.ts
    stopStrings: { change: { ...BASE, stopStrings: ['m'], tokenizer } },
    outputScores: { change: { ...BASE, outputScores: false } },
    outputLogits: { change: { ...BASE, outputLogits: true } },
    tokenizer: { change: { ...BASE, tokenizer }, same: true }, // only read for stopStrings
    padTokenId: { change: { ...BASE, padTokenId: 5 } }, // no mask given: the pad id 5 in the prompt is masked
    decoderStartTokenId: { change: { ...BASE, decoderStartTokenId: 2 } },
    seed: { change: { ...SAMPLE, seed: 4 }, from: SAMPLE },
    useCache: { change: { ...BASE, useCache: false }, same: true }, // same result, other decoder calls: below
    onToken: { change: { ...BASE, onToken: () => {} }, same: true }, // its calls: below
    // Assisted decoding gives plain greedy's output (scores included); fewer model passes: assisted-*.test.ts.
    assistantModel: { change: { ...BASE, assistantModel: selfAssistant }, same: true },
    numAssistantTokens: { change: { ...BASE, assistantModel: selfAssistant, numAssistantTokens: 2 }, from: { ...BASE, assistantModel: selfAssistant }, same: true },
    numAssistantTokensSchedule: { change: { ...BASE, assistantModel: selfAssistant, numAssistantTokensSchedule: 'heuristic_transient' }, same: true },
    assistantConfidenceThreshold: { change: { ...BASE, assistantModel: selfAssistant, assistantConfidenceThreshold: 0.9 }, same: true },
    promptLookupNumTokens: { change: { ...BASE, promptLookupNumTokens: 3 }, same: true },
    maxMatchingNgramSize: { change: { ...BASE, promptLookupNumTokens: 3, maxMatchingNgramSize: 1 }, same: true },
    logitsProcessor: { change: { ...BASE, logitsProcessor: [(rows) => { for (const r of rows) r[4] = (r[4] as number) + 3; }] } },
    stoppingCriteria: { change: { ...BASE, stoppingCriteria: [(seqs) => seqs.map((q) => q.length >= 3)] } },
    prefixAllowedTokensFn: { change: { ...BASE, prefixAllowedTokensFn: () => [1, 2, 3, 4] } },
  };

  it('every option: honoured (the stream returns what generate returns, which the option changes) or refused', async () => {
    const before = tf.memory().numTensors;
    const baselines = new Map<GenerateOptions, GenerateOutput>();
    for (const [name, row] of Object.entries(ROWS)) {
      if ('refused' in row) {
        await expect(drain(streamGenerate(model, prompt, row.refused)), name).rejects.toThrow(row.error);
        continue;
      }
      const { items, output } = await drain(streamGenerate(model, prompt, row.change));
      const expected = await generate(model, prompt, row.change);
      expect(output, name).toEqual(expected);
      expect([row.change.decoderStartTokenId, ...items], name).toEqual(expected.sequences[0]);
      const from = row.from ?? BASE;
      const without = baselines.get(from) ?? (await generate(model, prompt, from));
      baselines.set(from, without);
      if (row.same) expect(expected, name).toEqual(without);
      else expect(expected, name).not.toEqual(without);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('useCache false re-runs the decoder on the prefix; onToken sees every yielded token', async () => {
    model.calls.decodeWidths.length = 0;
    const seen: number[] = [];
    const { items } = await drain(streamGenerate(model, prompt, { ...BASE, useCache: false, onToken: (ts, step) => seen.push(step, ts[0]!) }));
    expect(model.calls.decodeWidths).toEqual(items.map((_, i) => i + 1));
    expect(seen).toEqual(items.flatMap((t, i) => [i, t]));
  });

  it('streamText returns generate\'s output for the prompt\'s ids, its pieces are their text', async () => {
    const before = tf.memory().numTensors;
    const o = { ...SAMPLE, maxNewTokens: 8, topK: 4, outputLogits: true };
    const { items, output } = await drain(streamText(model, tokenizer, 'hide', o));
    const expected = await generate(model, { inputIds: [Array.from(tokenizer.encode('hide'))] }, o);
    expect(output).toEqual(expected);
    const row = expected.sequences[0]!;
    const eos = row.indexOf(1, 1);
    expect(items.join('')).toBe(tokenizer.decode(row.slice(1, eos < 0 ? undefined : eos)));
    expect(output.scores).toHaveLength(row.length - 1);
    expect(output.logits).toHaveLength(row.length - 1);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('leaving a stream early frees everything; the generator then has no return value', async () => {
    const before = tf.memory().numTensors;
    for (const stream of [streamGenerate(model, prompt, BASE), streamText(model, tokenizer, 'hide', BASE)] as AsyncGenerator<unknown, GenerateOutput, void>[]) {
      expect((await stream.next()).done).toBe(false);
      expect(await stream.return(undefined as never)).toEqual({ done: true, value: undefined });
      expect(tf.memory().numTensors).toBe(before);
    }
  });

  it('beams, several sequences or prompts: one GenerationOptionsError naming each, before the model is called', async () => {
    const counted: Seq2Seq = { ...model, encode: () => { throw new Error('encode must not run'); } } as unknown as Seq2Seq;
    const before = tf.memory().numTensors;
    const bad = { ...BASE, doSample: true, numBeams: 2, numReturnSequences: 2 };
    const two = { inputIds: [[3, 4, 1], [5, 6, 1]] };
    const err = await drain(streamGenerate(counted, two, bad)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GenerationOptionsError);
    expect((err as GenerationOptionsError).problems).toEqual([
      'streamGenerate decodes greedily or by sampling: `numBeams` must be 1',
      'streamGenerate yields one sequence: `numReturnSequences` must be 1',
      'streamGenerate yields one sequence: got 2 prompts',
    ]);
    await expect(drain(streamText(counted, tokenizer, 'hide', { ...BASE, numBeams: 3 }))).rejects.toThrow('`numBeams` must be 1');
    expect(tf.memory().numTensors).toBe(before);
  });
});
