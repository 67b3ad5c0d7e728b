/**
 * `logitsProcessor`, `stoppingCriteria` and `prefixAllowedTokensFn`: transformers' `generate(logits_processor=...,
 * stopping_criteria=..., prefix_allowed_tokens_fn=...)`. References: a torch 1.13 transcription of
 * `PrefixConstrainedLogitsProcessor` on fixed rows (fixtures/user-processors/), `_get_logits_processor`'s order
 * (the caller's list after the built-in processors, before the warpers and `LogitNormalization`), and the package's
 * own built-ins (a user function equal to one gives the built-in's output).
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  generate, GenerationOptionsError, noRepeatNgram, prefixAllowedTokens, processScores, repetitionPenalty, streamGenerate,
  type GenerateOptions, type LogitsProcessorFn, type Seq2Seq, type LogitsProcessorStep, type ProcessorOptions, type TextTokenizer,
} from '../src/index.js';
import { TinyTransformer, type TinyCache, type TinyEnc } from './fakes.js';

type Num = number | 'inf' | '-inf' | 'nan';
const dec = (v: Num): number => (v === 'inf' ? Infinity : v === '-inf' ? -Infinity : v === 'nan' ? NaN : v);
interface Call { batchId: number; tokenIds: number[]; allowed: number[] }
interface PrefixRef { scores: Num[][]; inputIds: number[][]; cases: Array<{ numBeams: number; calls: Call[]; processed: Num[][] }> }
const REF = (JSON.parse(readFileSync(new URL('./fixtures/user-processors/reference.json', import.meta.url), 'utf8')) as { prefix: PrefixRef }).prefix;

const T5 = { decoderStartTokenId: 0, eosTokenId: 1, padTokenId: 0 } satisfies GenerateOptions;
const INPUTS = {
  inputIds: [[3, 4, 5, 9, 1], [6, 7, 1, 0, 0], [12, 2, 8, 1, 0]],
  attentionMask: [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0]],
};
const ONE = { inputIds: [[3, 4, 5, 9, 1]] };
/** The built-in processors all off. */
const OFF: ProcessorOptions = {
  repetitionPenalty: 1, noRepeatNgramSize: 0, minLength: 0, minNewTokens: 0, eosTokenIds: [], doSample: false,
  temperature: 1, topK: 0, topP: 1, minTokensToKeep: 1,
};

let model: TinyTransformer;
beforeAll(async () => {
  await tf.setBackend('cpu');
  model = new TinyTransformer({ seed: 7, eosAfter: 3 });
});
afterAll(() => model.dispose());

/** Runs `body` and checks it leaves no tensor behind. */
async function noLeak<T>(body: () => Promise<T>): Promise<T> {
  const before = tf.memory().numTensors;
  try {
    return await body();
  } finally {
    expect(tf.memory().numTensors).toBe(before);
  }
}

describe('prefixAllowedTokensFn = transformers PrefixConstrainedLogitsProcessor (torch transcription)', () => {
  for (const c of REF.cases) {
    it(`numBeams ${c.numBeams}: batch id ⌊row / numBeams⌋, the others −∞ added (+∞ → NaN, NaN stays)`, () => {
      const seen: Call[] = [];
      const fn = (batchId: number, tokenIds: readonly number[]) => {
        const call = c.calls[seen.length]!;
        seen.push({ batchId, tokenIds: [...tokenIds], allowed: call.allowed });
        return call.allowed;
      };
      const got = REF.scores.map((r, row) => {
        const scores = Float32Array.from(r, dec);
        processScores(scores, REF.inputIds[row]!, { ...OFF, prefixAllowedTokensFn: fn, numBeams: c.numBeams }, row);
        return Array.from(scores);
      });
      expect(seen).toEqual(c.calls); // the same calls in the same order: batch ids and rows
      expect(got).toEqual(c.processed.map((r) => r.map(dec)));
    });
  }

  it('refuses an empty list (unsatisfiable, as transformers) and an id outside the vocabulary', () => {
    const row = () => new Float32Array(4);
    expect(() => prefixAllowedTokens(row(), [0], () => [], 3)).toThrow('empty list for batch ID 3');
    expect(() => prefixAllowedTokens(row(), [0], () => [4], 0)).toThrow('not a token id');
    expect(() => prefixAllowedTokens(row(), [0], () => [-1], 0)).toThrow('not a token id');
  });
});

describe('prefixAllowedTokensFn in generate', () => {
  it("beam search: the batch id is the prompt (⌊row / numBeams⌋); each prompt's beams keep its constraint", async () => {
    const ids: number[] = [];
    // Prompt 0: even tokens (and EOS 1); prompt 1: odd tokens.
    const fn = (batchId: number) => {
      ids.push(batchId);
      return Array.from({ length: 16 }, (_, t) => t).filter((t) => t === 1 || t % 2 === batchId);
    };
    const out = await noLeak(() => generate(model, { inputIds: INPUTS.inputIds.slice(0, 2) }, { ...T5, maxNewTokens: 6, numBeams: 3, numReturnSequences: 3, prefixAllowedTokensFn: fn }));
    expect(ids.filter((b) => b === 0).length).toBe(ids.filter((b) => b === 1).length);
    expect(new Set(ids)).toEqual(new Set([0, 1]));
    for (const [i, seq] of out.sequences.entries()) {
      const b = Math.floor(i / 3);
      expect(seq.slice(1).every((t) => t === 1 || t % 2 === b), `sequence ${i}: ${seq}`).toBe(true);
    }
  });

  it('sampling several sequences per prompt: the batch id is the row (num_beams 1), as transformers', async () => {
    const seen = new Set<number>();
    await noLeak(() => generate(model, { inputIds: INPUTS.inputIds.slice(0, 2) }, {
      ...T5, maxNewTokens: 3, doSample: true, seed: 1, numReturnSequences: 3,
      prefixAllowedTokensFn: (b) => { seen.add(b); return [2, 3, 4]; },
    }));
    expect(seen).toEqual(new Set([0, 1, 2, 3, 4, 5]));
  });

  it('sits before forcedBosTokenId (which still forces its token) and after the processors before it', async () => {
    const out = await generate(model, ONE, { ...T5, maxNewTokens: 3, forcedBosTokenId: 5, prefixAllowedTokensFn: () => [2, 3] });
    expect(out.sequences[0]![1]).toBe(5); // had it run after the forced BOS, every score would be −∞ (argmax 0)
    expect(out.sequences[0]!.slice(2).every((t) => t === 2 || t === 3)).toBe(true);
  });

  it('greedy, streamed and assisted decoding follow it; an empty answer rejects the call without leaking', async () => {
    const fn = (_: number, ids: readonly number[]) => [2 + (ids.length % 3), 7];
    const o = { ...T5, maxNewTokens: 6, prefixAllowedTokensFn: fn, outputScores: true };
    const greedy = await noLeak(() => generate(model, ONE, o));
    expect(greedy.sequences[0]!.slice(1).every((t, i) => t === 7 || t === 2 + ((i + 1) % 3))).toBe(true);
    expect(await noLeak(() => generate(model, ONE, { ...o, promptLookupNumTokens: 2 }))).toEqual(greedy);
    const streamed: number[] = [];
    for await (const t of streamGenerate(model, ONE, o)) streamed.push(t);
    expect(streamed).toEqual(greedy.sequences[0]!.slice(1));
    await noLeak(() => expect(generate(model, INPUTS, { ...T5, numBeams: 2, prefixAllowedTokensFn: (_b, ids) => (ids.length > 2 ? [] : [4]) })).rejects.toThrow('empty list'));
  });
});

/** `repetitionPenalty(p)` as a user processor. */
const userPenalty = (p: number): LogitsProcessorFn => (rows, ids) => rows.forEach((r, i) => repetitionPenalty(r, ids[i]!, p));

describe('logitsProcessor', () => {
  it('a user processor equal to a built-in gives the built-in output: greedy, beams, sampling (before the warpers), assisted, stream', async () => {
    const cases: Array<[GenerateOptions, typeof INPUTS | typeof ONE]> = [
      [{ maxNewTokens: 8 }, INPUTS],
      [{ maxNewTokens: 8, numBeams: 3, numReturnSequences: 2, lengthPenalty: 0.7 }, INPUTS],
      // top-k 2 after the penalty: a processor run after the warpers would choose among other tokens.
      [{ maxNewTokens: 8, doSample: true, seed: 5, numReturnSequences: 2, topK: 2, temperature: 0.7 }, INPUTS],
      [{ maxNewTokens: 8, numBeams: 2, doSample: true, seed: 5, topK: 2 }, INPUTS],
      [{ maxNewTokens: 8, promptLookupNumTokens: 2 }, ONE],
      [{ maxNewTokens: 8, assistantModel: model }, ONE],
    ];
    for (const [o, inputs] of cases) {
      const all = { ...T5, ...o, outputScores: true, outputLogits: true };
      const builtin = await generate(model, inputs, { ...all, repetitionPenalty: 3 });
      const user = await noLeak(() => generate(model, inputs, { ...all, logitsProcessor: [userPenalty(3)] }));
      expect(user, JSON.stringify(o)).toEqual(builtin);
      expect(user.sequences, JSON.stringify(o)).not.toEqual((await generate(model, inputs, all)).sequences);
    }
    const streamed: number[] = [];
    for await (const t of streamGenerate(model, ONE, { ...T5, maxNewTokens: 8, logitsProcessor: [userPenalty(3)] })) streamed.push(t);
    expect(streamed).toEqual((await generate(model, ONE, { ...T5, maxNewTokens: 8, repetitionPenalty: 3 })).sequences[0]!.slice(1));
  });

  it("the assistant and prompt lookup run it on their candidates too (transformers hands them its logits_processor list)", async () => {
    // A user ban equal to suppressTokens and a user no-repeat-bigram equal to noRepeatNgramSize 2 (prompt lookup proposes
    // repeated n-grams: the processors cut them before the model sees them): the same output and the same model passes.
    const ban: LogitsProcessorFn = (rows, ids) => rows.forEach((r, i) => { r[3] = -Infinity; r[5] = -Infinity; noRepeatNgram(r, ids[i]!, 2); });
    for (const o of [{ promptLookupNumTokens: 3 }, { assistantModel: new TinyTransformer({ seed: 8, eosAfter: 3 }) }] as GenerateOptions[]) {
      const widths = async (extra: GenerateOptions) => {
        const from = model.calls.decodeWidths.length;
        const out = await noLeak(() => generate(model, ONE, { ...T5, maxNewTokens: 12, repetitionPenalty: 0.5, ...o, ...extra }));
        return { out, widths: model.calls.decodeWidths.slice(from) };
      };
      const builtin = await widths({ suppressTokens: [3, 5], noRepeatNgramSize: 2 });
      const user = await widths({ logitsProcessor: [ban] });
      expect(user, Object.keys(o)[0]).toEqual(builtin);
      (o.assistantModel as TinyTransformer | undefined)?.dispose();
    }
  });

  it('runs after the built-in processors, in list order, and before renormalizeLogits', async () => {
    const log: string[] = [];
    const sawSuppressed: boolean[] = [];
    const a: LogitsProcessorFn = (rows) => { log.push('a'); sawSuppressed.push(rows.every((r) => r[4] === -Infinity)); rows.forEach((r) => { r[6] = 1000; }); };
    const b: LogitsProcessorFn = (rows) => { log.push('b'); rows.forEach((r) => { r[6] = (r[6] as number) - 900; }); };
    const out = await noLeak(() => generate(model, INPUTS, { ...T5, maxNewTokens: 3, suppressTokens: [4], renormalizeLogits: true, outputScores: true, logitsProcessor: [a, b] }));
    expect(log).toEqual(['a', 'b', 'a', 'b', 'a', 'b']);
    expect(sawSuppressed.every(Boolean)).toBe(true);
    for (const step of out.scores!) {
      for (const row of step) {
        // renormalized after the users’ 1000 − 900 on token 6: log-probabilities, token 6 the most probable
        expect(Array.from(row).reduce((s, x) => s + Math.exp(x), 0)).toBeCloseTo(1, 5);
        expect(row.indexOf(Math.max(...row))).toBe(6);
      }
    }
  });

  it('sampling: it sees the rows before the warpers (top-k 2 leaves 2 finite scores only after it)', async () => {
    const finite: number[] = [];
    const rec: LogitsProcessorFn = (rows) => { for (const r of rows) finite.push(Array.from(r).filter(Number.isFinite).length); };
    const out = await generate(model, INPUTS, { ...T5, maxNewTokens: 3, doSample: true, seed: 3, topK: 2, outputScores: true, logitsProcessor: [rec] });
    expect(Math.min(...finite)).toBe(16);
    for (const step of out.scores!) for (const r of step) expect(Array.from(r).filter(Number.isFinite)).toHaveLength(2);
  });

  it('is told the rows’ token ids and the step; beam rows are log-probabilities, one per running beam', async () => {
    const calls: Array<{ ids: number[][]; info: LogitsProcessorStep; expSums: number[] }> = [];
    const rec: LogitsProcessorFn = (rows, ids, info) => {
      calls.push({ ids: ids.map((r) => [...r]), info: { ...info }, expSums: rows.map((r) => Array.from(r).reduce((s, x) => s + Math.exp(x), 0)) });
    };
    const beams = await generate(model, INPUTS, { ...T5, maxNewTokens: 4, numBeams: 2, logitsProcessor: [rec] });
    expect(calls.length).toBeGreaterThan(1);
    for (const [t, c] of calls.entries()) {
      expect(c.info).toEqual({ step: t, rowsPerPrompt: 2 });
      expect(c.ids).toHaveLength(6);
      expect(c.ids.every((r) => r.length === t + 1 && r[0] === 0)).toBe(true);
      for (const s of c.expSums) expect(s).toBeCloseTo(1, 5);
    }
    // the last step's running beams extend to the returned sequences
    const last = calls[calls.length - 1]!.ids;
    for (const seq of beams.sequences) expect(last.some((r) => seq.slice(0, r.length).join() === r.join())).toBe(true);

    calls.length = 0;
    const sampled = await generate(model, INPUTS, { ...T5, maxNewTokens: 3, doSample: true, seed: 2, numReturnSequences: 2, logitsProcessor: [rec] });
    expect(calls.map((c) => c.info)).toEqual([0, 1, 2].slice(0, calls.length).map((step) => ({ step, rowsPerPrompt: 2 })));
    expect(calls[1]!.ids).toEqual(sampled.sequences.map((s) => s.slice(0, 2)));
  });

  it('may return new rows (used as the scores); a wrong return rejects the call without leaking', async () => {
    const only5: LogitsProcessorFn = (rows) => rows.map((r) => Float32Array.from(r, (_, i) => (i === 5 ? 0 : -Infinity)));
    const out = await noLeak(() => generate(model, INPUTS, { ...T5, maxNewTokens: 4, logitsProcessor: [only5] }));
    expect(out.sequences).toEqual(INPUTS.inputIds.map(() => [0, 5, 5, 5, 5]));
    // one buffer returned at every call: copied, so assisted decoding's scores (kept per position) equal greedy's
    const buf = new Float32Array(16);
    const reuse: LogitsProcessorFn = (rows) => rows.map((r) => { buf.set(r.subarray(0, buf.length)); return buf.length === r.length ? buf : Float32Array.from(r); });
    const vocab = (await generate(model, ONE, { ...T5, maxNewTokens: 1, outputScores: true })).scores![0]![0]!.length;
    expect(vocab).toBe(buf.length);
    const so = { ...T5, maxNewTokens: 8, outputScores: true, logitsProcessor: [reuse] };
    const greedyScores = await generate(model, ONE, so);
    for (const extra of [{ promptLookupNumTokens: 3 }, { assistantModel: model }] as GenerateOptions[]) {
      expect(await noLeak(() => generate(model, ONE, { ...so, ...extra }))).toEqual(greedyScores);
    }
    const bad = (() => [new Float32Array(3)]) as LogitsProcessorFn;
    await noLeak(() => expect(generate(model, INPUTS, { ...T5, maxNewTokens: 4, logitsProcessor: [bad] })).rejects.toThrow('logitsProcessor[0] must'));
    const boom: LogitsProcessorFn = () => { throw new Error('user boom'); };
    await noLeak(() => expect(generate(model, INPUTS, { ...T5, numBeams: 2, logitsProcessor: [boom] })).rejects.toThrow('user boom'));
  });
});

describe('stoppingCriteria', () => {
  // A character tokenizer: ids 0..15 → 'a'..'p'.
  const tokenizer: TextTokenizer = { encode: (s) => [...s].map((c) => c.charCodeAt(0) - 97), decode: (ids) => ids.map((i) => String.fromCharCode(97 + i)).join('') };
  /** Stops a row whose generated tokens include `x`. */
  const contains = (x: number) => (seqs: readonly (readonly number[])[]) => seqs.map((s) => s.slice(1).includes(x));

  it('greedy: a row it stops ends there and is padded, as with that token as an extra EOS id; every row is passed', async () => {
    const plain = await generate(model, INPUTS, { ...T5, maxNewTokens: 8 });
    const x = plain.sequences[0]![2]!;
    expect(x).not.toBe(1);
    const widths: number[] = [];
    const lastIs = (seqs: readonly (readonly number[])[]) => { widths.push(seqs.length); return seqs.map((s) => s[s.length - 1] === x); };
    const user = await noLeak(() => generate(model, INPUTS, { ...T5, maxNewTokens: 8, stoppingCriteria: [lastIs] }));
    expect(user.sequences).toEqual((await generate(model, INPUTS, { ...T5, maxNewTokens: 8, eosTokenId: [1, x] })).sequences);
    expect(user.sequences[0]!.slice(0, 3)).toEqual(plain.sequences[0]!.slice(0, 3));
    expect(user.sequences).not.toEqual(plain.sequences);
    expect(new Set(widths)).toEqual(new Set([3])); // finished rows are still passed (transformers: unfinished & ~criteria)
  });

  it('beam search: every continuation is checked (batch × 2 × numBeams rows) and one it stops finishes, as a stop string would', async () => {
    const o = { ...T5, maxNewTokens: 8, numBeams: 3, numReturnSequences: 3 };
    const plain = await generate(model, INPUTS, o);
    const x = plain.sequences[0]![3]!;
    const widths = new Set<number>();
    const crit = (seqs: readonly (readonly number[])[]) => { widths.add(seqs.length); return contains(x)(seqs); };
    const user = await noLeak(() => generate(model, INPUTS, { ...o, stoppingCriteria: [crit] }));
    const viaStopString = await generate(model, INPUTS, { ...o, stopStrings: [tokenizer.decode([x])], tokenizer });
    expect(user).toEqual(viaStopString);
    expect(user.sequences).not.toEqual(plain.sequences);
    expect(widths).toEqual(new Set([3 * 2 * 3]));
  });

  it('sampling and assisted decoding (prompt lookup, assistant) stop where greedy with it does; any criterion of several stops a row', async () => {
    const plain = await generate(model, ONE, { ...T5, maxNewTokens: 10 });
    const x = plain.sequences[0]![4]!;
    const never = (seqs: readonly (readonly number[])[]) => seqs.map(() => false);
    const o = { ...T5, maxNewTokens: 10, stoppingCriteria: [contains(x), never], outputScores: true };
    const greedy = await generate(model, ONE, o);
    expect(greedy.sequences[0]).toEqual(plain.sequences[0]!.slice(0, 5));
    expect(await noLeak(() => generate(model, ONE, { ...o, promptLookupNumTokens: 3 }))).toEqual(greedy);
    expect(await noLeak(() => generate(model, ONE, { ...o, assistantModel: model }))).toEqual(greedy);
    const sampled = await noLeak(() => generate(model, INPUTS, { ...T5, maxNewTokens: 10, doSample: true, seed: 9, stoppingCriteria: [contains(x)] }));
    for (const s of sampled.sequences) {
      const at = s.indexOf(x, 1);
      if (at > 0) expect(s.slice(at + 1).every((t) => t === 0)).toBe(true);
    }
    expect(sampled.sequences.some((s) => s.indexOf(x, 1) > 0 && s.indexOf(x, 1) < s.length - 1)).toBe(true);
  });

  it('assisted decoding checks it on the candidates too (is_done_candidate): as a stop string, also when sampling', async () => {
    const plain = await generate(model, ONE, { ...T5, maxNewTokens: 10 });
    let stopped = 0;
    for (const x of new Set(plain.sequences[0]!.slice(2))) {
      // "heuristic": a round whose candidates end in a stop counts one match less, and the count reached is kept for
      // the next call with this assistant (so the second call's model passes show it).
      for (const extra of [{ numAssistantTokensSchedule: 'heuristic', numAssistantTokens: 3 }, { doSample: true, seed: 4 }] as GenerateOptions[]) {
        const twice = async (stop: GenerateOptions) => {
          // The model as its own assistant (a new object each time: the heuristic count is kept per assistant), so
          // whole candidate runs are accepted, a stop among them included.
          const assistant: Seq2Seq<TinyEnc, TinyCache> = {
            encode: (i, m) => model.encode(i, m), decodeStep: (t, e, c) => model.decodeStep(t, e, c),
            cropCache: (c, n) => model.cropCache(c, n), reorderCache: (c, i) => model.reorderCache(c, i),
            reorderEncoder: (e, i) => model.reorderEncoder(e, i), disposeCache: (c) => model.disposeCache(c),
            disposeEncoder: (e) => model.disposeEncoder(e),
          };
          const from = model.calls.decodeWidths.length;
          const o = { ...T5, maxNewTokens: 10, assistantModel: assistant, assistantConfidenceThreshold: 0, ...extra, ...stop };
          const outs = [await noLeak(() => generate(model, ONE, o)), await noLeak(() => generate(model, ONE, o))];
          return { outs, widths: model.calls.decodeWidths.slice(from) };
        };
        const viaStopString = await twice({ stopStrings: [tokenizer.decode([x])], tokenizer });
        const user = await twice({ stoppingCriteria: [contains(x)] });
        expect(user, `${x} ${JSON.stringify(extra)}`).toEqual(viaStopString);
        if (viaStopString.outs[0]!.sequences[0]!.length < 11) stopped++;
      }
    }
    expect(stopped).toBeGreaterThan(0);
  });

  it('every criterion is called, also on the sequence a built-in criterion (EOS) ends: greedy and assisted alike', async () => {
    const plain = await generate(model, ONE, { ...T5, maxNewTokens: 10 });
    const ended = plain.sequences[0]!;
    expect(ended[ended.length - 1]).toBe(1); // ends with EOS within the limit
    for (const extra of [{}, { promptLookupNumTokens: 3 }, { assistantModel: model }] as GenerateOptions[]) {
      const seen: number[][] = [];
      const record = (seqs: readonly (readonly number[])[]) => { for (const q of seqs) seen.push([...q]); return seqs.map(() => false); };
      const out = await noLeak(() => generate(model, ONE, { ...T5, maxNewTokens: 10, stoppingCriteria: [record], ...extra }));
      expect(out.sequences[0]).toEqual(ended);
      expect(seen.some((q) => JSON.stringify(q) === JSON.stringify(ended))).toBe(true);
    }
  });

  it('a wrong answer (not one boolean per row) rejects the call without leaking', async () => {
    await noLeak(() => expect(generate(model, INPUTS, { ...T5, stoppingCriteria: [() => [true]] })).rejects.toThrow('stoppingCriteria[0] must return one boolean per row (3)'));
  });
});

describe('refusals', () => {
  it('non-functions are refused together with GenerationOptionsError', async () => {
    const bad = { ...T5, logitsProcessor: [() => undefined, 3], stoppingCriteria: 'x', prefixAllowedTokensFn: [1, 2] } as unknown as GenerateOptions;
    const err = await generate(model, INPUTS, bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GenerationOptionsError);
    const problems = (err as GenerationOptionsError).problems;
    expect(problems).toHaveLength(3);
    expect(problems[0]).toContain('`logitsProcessor` must be an array of functions ([1] is number)');
    expect(problems[1]).toContain('`stoppingCriteria` must be an array of functions (not an array)');
    expect(problems[2]).toContain('`prefixAllowedTokensFn` must be a function');
  });
});
