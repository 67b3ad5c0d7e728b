/**
 * Assisted decoding on fakes: prompt lookup's candidates (transformers' `PromptLookupCandidateGenerator`, worked out
 * by hand below), stopping inside a block of accepted tokens, the `num_assistant_tokens_schedule` rules
 * (`AssistedCandidateGenerator.update_candidate_strategy`), refusals (before anything is allocated) and no leaks when
 * a model throws.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate, GenerationOptionsError, generationOptionsFromConfig, streamGenerate, type GenerateOptions, type Seq2Seq } from '../src/index.js';
import { PromptLookupCandidates } from '../src/prompt-lookup.js';
import { hashedLogits, TableModel, TinyTransformer, type TinyCache, type TinyEnc } from './fakes.js';

const T5 = { decoderStartTokenId: 0, eosTokenId: 1, padTokenId: 0 } satisfies GenerateOptions;

/** Greedy output cycles 2, 3, 4, 2, 3, 4, … (then EOS never): the next token after prefix p is 2 + (len(p) - 1) % 3. */
const cycling = () => new TableModel(8, (_input, prefix) => Array.from({ length: 8 }, (_, t) => (t === 2 + ((prefix.length - 1) % 3) ? 4 : 0)));
const lettersTokenizer = { encode: () => [2, 1], decode: (ids: number[]) => ids.map((i) => String.fromCharCode(95 + i)).join('') };

describe('PromptLookupCandidates (hand-computed)', () => {
  const lookup = (n: number, ngram: number, maxLength: number, eos: number[] = [1]) => new PromptLookupCandidates(n, ngram, maxLength, eos);

  it('the tokens after the first earlier occurrence of the last n-gram, longest n first', async () => {
    // Last 2-gram [5, 6] first occurs at 1: the 3 tokens after it are 7, 5, 6 (the window ends at the sequence's end).
    expect((await lookup(10, 2, 50).get([0, 5, 6, 7, 5, 6])).tokens).toEqual([7, 5, 6]);
    expect((await lookup(2, 2, 50).get([0, 5, 6, 7, 5, 6])).tokens).toEqual([7, 5]);
    // [9, 6] never occurred before: the 1-gram [6] first occurs at 2 and is followed by 7, 8, 6.
    expect((await lookup(10, 2, 50).get([0, 5, 6, 7, 8, 9, 6])).tokens).toEqual([7, 8, 9, 6]);
    // The longest n-gram first: [5, 6] at 3 gives 7, 5, 6, although [6] occurs earlier (at 1, followed by 2, 5, …);
    // with maxMatchingNgramSize 1 only [6] is tried.
    expect((await lookup(10, 2, 50).get([0, 6, 2, 5, 6, 7, 5, 6])).tokens).toEqual([7, 5, 6]);
    expect((await lookup(10, 1, 50).get([0, 6, 2, 5, 6, 7, 5, 6])).tokens).toEqual([2, 5, 6, 7, 5, 6]);
    // No earlier occurrence at all: no candidates.
    expect((await lookup(10, 2, 50).get([0, 5, 6, 7])).tokens).toEqual([]);
  });

  it('cut before the first EOS (none left: no candidates); none when one token short of maxLength', async () => {
    expect((await lookup(10, 2, 50).get([0, 5, 6, 1, 7, 5, 6])).tokens).toEqual([]);
    expect((await lookup(10, 2, 50).get([0, 5, 6, 8, 1, 7, 5, 6])).tokens).toEqual([8]);
    expect((await lookup(10, 2, 50, [8]).get([0, 5, 6, 8, 1, 7, 5, 6])).tokens).toEqual([]);
    expect((await lookup(10, 2, 7).get([0, 5, 6, 7, 5, 6])).tokens).toEqual([]);
    expect((await lookup(10, 2, 8).get([0, 5, 6, 7, 5, 6])).tokens).toEqual([7, 5, 6]);
  });
});

describe('PromptLookupCandidates: the forbidden-token check (transformers passes the processors and vocab_size)', () => {
  const base = { repetitionPenalty: 1, noRepeatNgramSize: 0, minLength: 0, minNewTokens: 0, eosTokenIds: [1], doSample: false, temperature: 1, topK: 0, topP: 1, minTokensToKeep: 1 };
  const lookup = (extra: object, vocab: () => number | undefined = () => 10) => new PromptLookupCandidates(3, 2, 50, [1], { ...base, ...extra }, vocab);

  it('candidates cut at the first one the processors ban after the sequence and the candidates before it', async () => {
    // [5, 6] first at 1: [7, 5, 6]. Bad word [5, 6] bans 6 after a 5: the third candidate (after ..., 7, 5) is cut.
    expect((await lookup({ badWordsIds: [[5, 6]] }).get([0, 5, 6, 7, 5, 6])).tokens).toEqual([7, 5]);
    // No processor bans anything: all three; the vocabulary not known yet (the model has not run): no check.
    expect((await lookup({}).get([0, 5, 6, 7, 5, 6])).tokens).toEqual([7, 5, 6]);
    expect((await lookup({ suppressTokens: [7] }, () => undefined).get([0, 5, 6, 7, 5, 6])).tokens).toEqual([7, 5, 6]);
  });

  it('a match left with no allowed candidate gives way to the next match, then to shorter n-grams', async () => {
    // [5, 6] at 1 gives [9, 8, 5]; 9 suppressed: none, so the next occurrence, at 5, gives [7, 5, 6].
    expect((await lookup({ suppressTokens: [9] }).get([0, 5, 6, 9, 8, 5, 6, 7, 5, 6])).tokens).toEqual([7, 5, 6]);
    // Every match of [5, 6] and of [6] is followed by the suppressed 7: no candidates.
    expect((await lookup({ suppressTokens: [7] }).get([0, 5, 6, 7, 5, 6])).tokens).toEqual([]);
    // No-repeat 2-grams ban 7 after 6 (the 2-gram [6, 7] occurred): [7, …] is cut to nothing; the 1-gram [6] at 2 is
    // followed by 7 too; none.
    expect((await lookup({ noRepeatNgramSize: 2 }).get([0, 5, 6, 7, 5, 6])).tokens).toEqual([]);
  });
});

describe('assisted decoding on fakes', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('accepted tokens past maxLength are cut: the output is plain greedy\'s, maxNewTokens long', async () => {
    for (const maxNewTokens of [7, 9, 10]) {
      const plain = await generate(cycling(), { inputIds: [[2, 1]] }, { ...T5, maxNewTokens });
      const model = cycling();
      const out = await generate(model, { inputIds: [[2, 1]] }, { ...T5, maxNewTokens, promptLookupNumTokens: 10 });
      expect(out.sequences).toEqual(plain.sequences);
      expect(out.sequences[0]).toHaveLength(maxNewTokens + 1);
      // Candidates were accepted in blocks (a pass wider than the last token and one candidate).
      expect(Math.max(...model.calls.decodeWidths)).toBeGreaterThan(2);
    }
  });

  it('a stop string completed inside an accepted block ends the row there, as in plain greedy', async () => {
    // Text a b c a b …: "cab" is complete at the 5th new token (b), the second of the block [3, 4, 2] that prompt lookup
    // copies after [0, 2, 3, 4, 2] (the 1-gram [2] occurred at 1).
    const o = { ...T5, maxNewTokens: 12, stopStrings: ['cab'], tokenizer: lettersTokenizer, outputScores: true };
    const plain = await generate(cycling(), { inputIds: [[2, 1]] }, o);
    expect(plain.sequences).toEqual([[0, 2, 3, 4, 2, 3]]);
    const model = cycling();
    const out = await generate(model, { inputIds: [[2, 1]] }, { ...o, promptLookupNumTokens: 10 });
    expect(out.sequences).toEqual(plain.sequences);
    expect(out.scores).toEqual(plain.scores);
    expect(model.calls.decodeWidths).toEqual([1, 1, 1, 1, 4]);
  });

  it('onToken and streamGenerate see every kept token in order', async () => {
    const seen: number[] = [];
    const o = { ...T5, maxNewTokens: 8, promptLookupNumTokens: 3, onToken: (ts: number[], step: number) => seen.push(step, ts[0]!) };
    const out = await generate(cycling(), { inputIds: [[2, 1]] }, o);
    expect(seen).toEqual(out.sequences[0]!.slice(1).flatMap((t, i) => [i, t]));
    const streamed: number[] = [];
    const model = cycling();
    for await (const t of streamGenerate(model, { inputIds: [[2, 1]] }, { ...T5, maxNewTokens: 8, promptLookupNumTokens: 3 })) streamed.push(t);
    expect(streamed).toEqual(out.sequences[0]!.slice(1));
    expect(Math.max(...model.calls.decodeWidths)).toBeGreaterThan(1); // the stream decoded with candidates too
  });

  it('prompt lookup skips candidates the processors forbid: with noRepeatNgramSize 2 every one is (they repeat a 2-gram)', async () => {
    // Any candidate copied after an earlier occurrence of the last token (or 2-gram) would repeat a 2-gram, which
    // no-repeat 2-grams ban: transformers' check leaves no candidates, so every pass is one token wide.
    const o = { ...T5, maxNewTokens: 14, noRepeatNgramSize: 2, suppressTokens: [1] };
    const plain = await generate(new TableModel(10, hashedLogits(10, 3)), { inputIds: [[4, 1]] }, o);
    const ids = plain.sequences[0]!;
    expect(new Set(ids.slice(1)).size).toBeLessThan(ids.length - 1); // tokens repeat, so the lookup finds matches
    const model = new TableModel(10, hashedLogits(10, 3));
    const got = await generate(model, { inputIds: [[4, 1]] }, { ...o, promptLookupNumTokens: 3 });
    expect(got.sequences).toEqual(plain.sequences);
    expect(model.calls.decodeWidths).toEqual(Array(14).fill(1));
  });

  it('an abort while a block of accepted tokens is handed out: nothing more after it, as in plain decoding', async () => {
    // Prompt lookup on the cycling model: tokens 2, 3, 4, 2 one pass each, then one pass keeps the block [3, 4, 2, 3].
    // Aborting on the block's first token (the 5th): plain decoding checks the signal before its next step, so the
    // stream throws on the next `next()` and `onToken` sees no more tokens; the rest of the block is not handed out.
    const o = { ...T5, maxNewTokens: 12, promptLookupNumTokens: 3 };
    const before = tf.memory().numTensors;
    const stream = new AbortController();
    const got: number[] = [];
    await expect((async () => {
      for await (const t of streamGenerate(cycling(), { inputIds: [[2, 1]] }, { ...o, signal: stream.signal })) {
        got.push(t);
        if (got.length === 5) stream.abort();
      }
    })()).rejects.toMatchObject({ name: 'AbortError' });
    expect(got).toEqual([2, 3, 4, 2, 3]);
    const ac = new AbortController();
    const seen: number[] = [];
    const model = cycling();
    const onToken = (ts: number[]) => { seen.push(ts[0]!); if (seen.length === 5) ac.abort(); };
    await expect(generate(model, { inputIds: [[2, 1]] }, { ...o, signal: ac.signal, onToken })).rejects.toMatchObject({ name: 'AbortError' });
    expect(seen).toEqual([2, 3, 4, 2, 3]);
    expect(model.calls.decodeWidths).toEqual([1, 1, 1, 1, 4]); // the block was decoded; no pass after the abort
    expect(tf.memory().numTensors).toBe(before);
  });

  it("the assistant's cache is cropped to the part of the sequence it still agrees with", async () => {
    // Model: 2, 3, 4, 2, 3, 4, … (next token after a prefix of length L: 2 + (L − 1) % 3). Assistant: the same, except
    // 7 after a prefix of length L ≡ 2 (mod 4); its logits depend only on the length of what its cache holds.
    const assistant = new TableModel(8, (_input, prefix) => {
      const l = prefix.length;
      const t = l % 4 === 2 ? 7 : 2 + ((l - 1) % 3);
      return Array.from({ length: 8 }, (_, v) => (v === t ? 4 : 0));
    });
    const target = cycling();
    const out = await generate(target, { inputIds: [[2, 1]] }, { ...T5, maxNewTokens: 10, assistantModel: assistant, numAssistantTokens: 3, assistantConfidenceThreshold: 0 });
    expect(out.sequences).toEqual([[0, 2, 3, 4, 2, 3, 4, 2, 3, 4, 2]]);
    // Round 1: the assistant is fed [0, 2, 7] and proposes [2, 7, 4]; the model keeps 2, then chooses 3: [0, 2, 3].
    // Round 2: the assistant's cache is cropped to [0, 2] (7 was rejected), fed 3: proposes [4, 2, 3], all kept, plus 4.
    // Round 3: cropped to the 5 positions it holds ([0, 2, 3, 4, 2]), fed [3, 4]: [2, 3, 4] kept, plus 2: 10 new tokens.
    expect(assistant.calls.cropCache).toEqual([2, 5]);
    expect(target.calls.decodeWidths).toEqual([4, 4, 4]);
    expect(target.calls.cropCache).toEqual([2, 6]); // `crop(new_cur_len - 1)` after rounds 1 and 2
  });

  it('assistantConfidenceThreshold: the assistant stops after a token it gives a probability below it', async () => {
    // The assistant gives its (right) token probability 0.4 every time.
    const unsure = () => new TableModel(4, (_input, prefix) => {
      const t = 2 + ((prefix.length - 1) % 2);
      return [0.2, 0.2, 0.2, 0.2].map((_, v) => Math.log(v === t ? 0.4 : 0.2));
    });
    const target = () => new TableModel(4, (_input, prefix) => [0, 0, 0, 0].map((_, v) => (v === 2 + ((prefix.length - 1) % 2) ? 4 : 0)));
    const widths = async (threshold: number) => {
      const m = target();
      await generate(m, { inputIds: [[2, 1]] }, { ...T5, maxNewTokens: 8, assistantModel: unsure(), numAssistantTokens: 3, assistantConfidenceThreshold: threshold });
      return m.calls.decodeWidths;
    };
    // 0.4 < 0.5: one candidate per round (2 tokens per pass); 0.4 ≥ 0.3 (and 0 = off): 3 candidates (4 tokens per pass).
    expect(await widths(0.5)).toEqual([2, 2, 2, 2]);
    expect(await widths(0.3)).toEqual([4, 4]);
    expect(await widths(0)).toEqual([4, 4]);
  });

  it('"heuristic" counts a fully accepted round that ends in EOS as one match short (transformers\' `n_matches -= 1`)', async () => {
    // 2, 3, 4, 2, 3 then EOS (1) after a prefix of length 6.
    const ending = () => new TableModel(8, (_input, prefix) => {
      const t = prefix.length === 6 ? 1 : 2 + ((prefix.length - 1) % 3);
      return Array.from({ length: 8 }, (_, v) => (v === t ? 4 : 0));
    });
    const assistant = ending();
    const o = { ...T5, maxNewTokens: 20, assistantModel: assistant, numAssistantTokens: 2, assistantConfidenceThreshold: 0, numAssistantTokensSchedule: 'heuristic' as const };
    const first = ending();
    expect((await generate(first, { inputIds: [[2, 1]] }, o)).sequences).toEqual([[0, 2, 3, 4, 2, 3, 1]]);
    // Round 1: candidates [2, 3], both kept, plus the model's 4: count 2 + 2 = 4. Round 2: the assistant stops at EOS
    // after 3 of its 4: [2, 3, 1], all kept; they end in EOS, so n_matches = 3 − 1 = 2 ≠ 3 and the count goes down to 3.
    expect(first.calls.decodeWidths).toEqual([3, 4]);
    const second = ending();
    await generate(second, { inputIds: [[2, 1]] }, o);
    expect(second.calls.decodeWidths[0]).toBe(4); // starts from 3 candidates (it would be 7 with 4 + 2 = 6)
  });

  describe('numAssistantTokensSchedule (the model as its own assistant: every candidate is accepted)', () => {
    // Two models with the same weights, so the target's passes are counted apart from the assistant's.
    let target: TinyTransformer;
    let assistant: TinyTransformer;
    beforeAll(() => {
      target = new TinyTransformer({ seed: 5, eosAfter: 60 });
      assistant = new TinyTransformer({ seed: 5, eosAfter: 60 });
    });
    afterAll(() => { target.dispose(); assistant.dispose(); });
    const run = async (o: GenerateOptions) => {
      target.calls.decodeWidths.length = 0;
      const out = await generate(target, { inputIds: [[3, 4, 5, 1]] }, { ...T5, maxNewTokens: 20, suppressTokens: [1], assistantModel: assistant, assistantConfidenceThreshold: 0, numAssistantTokens: 2, ...o });
      return { out, widths: [...target.calls.decodeWidths] };
    };

    it('"constant" proposes 2 every round; "heuristic_transient" 2, 4, 6, … (+2 after a fully accepted round), capped by maxLength', async () => {
      const plain = await generate(target, { inputIds: [[3, 4, 5, 1]] }, { ...T5, maxNewTokens: 20, suppressTokens: [1] });
      const constant = await run({ numAssistantTokensSchedule: 'constant' });
      expect(constant.out.sequences).toEqual(plain.sequences);
      // Each pass: the last kept token (the start token first) and 2 candidates, all accepted, plus the model's own token.
      // 6 passes give 18 tokens; then min(2, 21 − 19 − 1) = 1 candidate: 20.
      expect(constant.widths).toEqual([3, 3, 3, 3, 3, 3, 2]);
      const transient = await run({ numAssistantTokensSchedule: 'heuristic_transient' });
      expect(transient.out.sequences).toEqual(plain.sequences);
      // 2, 4, 6 candidates (3 + 5 + 7 = 15 tokens), then min(8, 21 − 16 − 1) = 4 (5 tokens: 20).
      expect(transient.widths).toEqual([3, 5, 7, 5]);
      // transient: the next call starts from 2 again.
      expect((await run({ numAssistantTokensSchedule: 'heuristic_transient' })).widths).toEqual([3, 5, 7, 5]);
    });

    it('"heuristic" keeps the count reached for the next call with the same assistant', async () => {
      const first = await run({ numAssistantTokensSchedule: 'heuristic' });
      expect(first.widths).toEqual([3, 5, 7, 5]); // ends at 8 + 2 = 10 after the last (fully accepted) round
      const second = await run({ numAssistantTokensSchedule: 'heuristic' });
      expect(second.out.sequences).toEqual(first.out.sequences);
      expect(second.widths).toEqual([11, 9]); // 10 candidates (11 tokens), then min(12, 21 − 12 − 1) = 8
    });
  });

  describe('refusals: one GenerationOptionsError, nothing allocated, the model untouched', () => {
    const table = () => new TableModel(8, () => [0, 0, 5, 0, 0, 0, 0, 0]);
    const cases: Array<[string, () => { model: TableModel | Seq2Seq; inputs: { inputIds: number[][] }; o: GenerateOptions }, RegExp]> = [
      ['two prompts', () => ({ model: table(), inputs: { inputIds: [[2, 1], [3, 1]] }, o: { assistantModel: table() } }), /assisted generate is only supported for batch_size = 1 \(`assistantModel`; got 2 prompts\)/],
      ['beams', () => ({ model: table(), inputs: { inputIds: [[2, 1]] }, o: { promptLookupNumTokens: 3, numBeams: 2 } }), /only supported with greedy search and sampling: `numBeams` must be 1 \(got 2\)/],
      ['several sequences', () => ({ model: table(), inputs: { inputIds: [[2, 1]] }, o: { promptLookupNumTokens: 3, doSample: true, numReturnSequences: 2 } }), /num_return_sequences has to be 1 when doing assisted generate, but is 2/],
      ['no cache', () => ({ model: table(), inputs: { inputIds: [[2, 1]] }, o: { promptLookupNumTokens: 3, useCache: false } }), /assisted generate requires `useCache: true`/],
      ['a model without cropCache', () => ({ model: withoutCrop(table()), inputs: { inputIds: [[2, 1]] }, o: { promptLookupNumTokens: 3 } }), /`promptLookupNumTokens` needs `cropCache\(cache, length\)` on the model/],
      ['an assistant without cropCache', () => ({ model: table(), inputs: { inputIds: [[2, 1]] }, o: { assistantModel: withoutCrop(table()) } }), /`assistantModel` must be a Seq2Seq model with `cropCache`/],
      ['both', () => ({ model: table(), inputs: { inputIds: [[2, 1]] }, o: { assistantModel: table(), promptLookupNumTokens: 3 } }), /set either `assistantModel` or `promptLookupNumTokens`, not both/],
      ['another vocabulary (config.vocab_size)', () => ({ model: Object.assign(table(), { config: { vocab_size: 8 } }), inputs: { inputIds: [[2, 1]] }, o: { assistantModel: Object.assign(table(), { config: { vocab_size: 9 } }) } }), /a vocabulary of 9 tokens and the model 8/],
    ];
    for (const [name, make, message] of cases) {
      it(name, async () => {
        const { model, inputs, o } = make();
        const before = tf.memory().numTensors;
        const err = await generate(model, inputs, { ...T5, ...o }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(GenerationOptionsError);
        expect((err as Error).message).toMatch(message);
        expect(tf.memory().numTensors).toBe(before);
        if (model instanceof TableModel) expect(model.calls.encode).toBe(0);
        const a = o.assistantModel;
        if (a instanceof TableModel) expect(a.calls.encode).toBe(0);
      });
    }

    it('bad values: every one named in one error (also from generation_config.json keys)', async () => {
      const err = await generate(table(), { inputIds: [[2, 1]] }, {
        ...T5, numAssistantTokens: -1, numAssistantTokensSchedule: 'fast' as never, assistantConfidenceThreshold: 2, promptLookupNumTokens: 0, maxMatchingNgramSize: 1.5,
      }).catch((e: unknown) => e as GenerationOptionsError);
      expect((err as GenerationOptionsError).problems).toEqual([
        '`numAssistantTokens` must be an integer ≥ 0 (got -1)',
        '`numAssistantTokensSchedule` must be "constant", "heuristic" or "heuristic_transient" (got "fast")',
        '`assistantConfidenceThreshold` must be a number in [0, 1] (got 2)',
        '`promptLookupNumTokens` must be an integer ≥ 1 (got 0)',
        '`maxMatchingNgramSize` must be an integer ≥ 1 (got 1.5)',
      ]);
      expect(generationOptionsFromConfig({ prompt_lookup_num_tokens: 10, max_matching_ngram_size: 3, num_assistant_tokens: 5, num_assistant_tokens_schedule: 'heuristic', assistant_confidence_threshold: 0 }))
        .toEqual({ promptLookupNumTokens: 10, maxMatchingNgramSize: 3, numAssistantTokens: 5, numAssistantTokensSchedule: 'heuristic', assistantConfidenceThreshold: 0 });
    });

    it('streamGenerate refuses the same, on the first next()', async () => {
      const model = table();
      const stream = streamGenerate(model, { inputIds: [[2, 1]] }, { ...T5, promptLookupNumTokens: 3, useCache: false });
      await expect(stream.next()).rejects.toThrow(/assisted generate requires `useCache: true`/);
      expect(model.calls.encode).toBe(0);
    });
  });

  describe('no leaks', () => {
    it('an assistant or a model that throws mid-way: the call rejects with its error and frees every tensor', async () => {
      const target = new TinyTransformer({ seed: 5, eosAfter: 60 });
      const inner = new TinyTransformer({ seed: 5, eosAfter: 60 });
      const wide = new TinyTransformer({ seed: 5, vocab: 20 });
      const o = { ...T5, maxNewTokens: 12, suppressTokens: [1], assistantConfidenceThreshold: 0, numAssistantTokens: 3 };
      const before = tf.memory().numTensors;
      await expect(generate(target, { inputIds: [[3, 4, 1]] }, { ...o, assistantModel: throwingAt(inner, 5) })).rejects.toThrow('assistant boom');
      expect(tf.memory().numTensors).toBe(before);
      await expect(generate(throwingAt(target, 2), { inputIds: [[3, 4, 1]] }, { ...o, assistantModel: inner })).rejects.toThrow('assistant boom');
      expect(tf.memory().numTensors).toBe(before);
      // A different vocabulary found only at run time (no config): one clear error, nothing left.
      await expect(generate(target, { inputIds: [[3, 4, 1]] }, { ...o, assistantModel: wide })).rejects.toThrow('assistantModel has a vocabulary of 20 tokens and the model 16');
      expect(tf.memory().numTensors).toBe(before);
      const ok = await generate(target, { inputIds: [[3, 4, 1]] }, { ...o, assistantModel: inner });
      expect(ok.sequences).toEqual((await generate(target, { inputIds: [[3, 4, 1]] }, { ...T5, maxNewTokens: 12, suppressTokens: [1] })).sequences);
      expect(ok.sequences[0]).toHaveLength(13);
      expect(tf.memory().numTensors).toBe(before);
      [target, inner, wide].forEach((m) => m.dispose());
    });
  });
});

/** `m` without `cropCache`. */
function withoutCrop(m: TableModel): Seq2Seq<unknown, tf.Tensor2D> {
  return {
    encode: (i, k) => m.encode(i, k), decodeStep: (t, e, c) => m.decodeStep(t, e as never, c), reorderCache: (c, i) => m.reorderCache(c, i),
    reorderEncoder: (e, i) => m.reorderEncoder(e as never, i), disposeCache: (c) => m.disposeCache(c), disposeEncoder: () => {},
  };
}

/** `m` whose `decodeStep` throws on its `n`-th call (0 first). */
function throwingAt(m: TinyTransformer, n: number): Seq2Seq<TinyEnc, TinyCache> {
  let calls = 0;
  return {
    encode: (i, k) => m.encode(i, k),
    decodeStep: (t, e, c) => {
      if (calls++ === n) throw new Error('assistant boom');
      return m.decodeStep(t, e, c);
    },
    cropCache: (c, l) => m.cropCache(c, l), reorderCache: (c, i) => m.reorderCache(c, i),
    reorderEncoder: (e, i) => m.reorderEncoder(e, i), disposeCache: (c) => m.disposeCache(c), disposeEncoder: (e) => m.disposeEncoder(e),
  };
}
