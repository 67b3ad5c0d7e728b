/**
 * `GenerateInputs.decoderInputIds` (transformers' `decoder_input_ids`): decoding continues from a decoder prefix.
 *
 * 1. Golden: on the tiny golden checkpoints (read as golden-mini-t5.test.ts reads them), the start token and the first
 *    k tokens of transformers' greedy output as the prefix reproduce the whole greedy output, with and without the cache.
 * 2. fixtures/decoder-prefix/reference.json: transformers' length bookkeeping for a prefix (generate.py transcribes
 *    `_prepare_generated_length`, `_sample`, `_beam_search`, the min-length / repetition processors in torch 1.13) on a
 *    fake model whose logits `fakeLogits` mirrors.
 * 3. Every decoding mode honours it; malformed prefixes are refused with one clear error; nothing leaks.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate, GenerationOptionsError, generationOptionsFromConfig, resolveOptions, streamGenerate, type GenerateOptions } from '../src/index.js';
import { applyProcessors } from '../src/logits-process.js';
import { hashedLogits, TableModel, type LogitsFn } from './fakes.js';
import { MiniT5 } from './mini-t5.js';

const GOLDEN = process.env.CONIFER_GOLDEN ?? fileURLToPath(new URL('../../t5-model/test/fixtures', import.meta.url));
const REF = JSON.parse(readFileSync(new URL('./fixtures/decoder-prefix/reference.json', import.meta.url), 'utf8')) as Reference;

interface RefCase {
  mode: 'greedy' | 'beam';
  decoder_input_ids: number[][] | null;
  config: Record<string, number | boolean | string>;
  sequences: number[][];
  sequences_scores?: number[];
  beam_indices?: number[][];
  max_length: number;
  min_length: number;
}
interface Reference {
  vocab: number;
  eos: number;
  inputs: number[][];
  cases: RefCase[];
  lengths: Array<{ config: Record<string, number>; input_ids_length: number; max_length: number; min_length: number }>;
  refused: Array<{ config: Record<string, number>; input_ids_length: number; error: string }>;
}

/** generate.py's `fake_logits`, in the same float64 arithmetic (cast to float32 by the model's logits tensor). */
const fakeLogits: LogitsFn = (input, prefix) => {
  const len = prefix.length;
  const last = prefix[len - 1] as number;
  const before = len > 1 ? (prefix[len - 2] as number) : 0;
  const a = (3 * last + 5 * len + 7 * before + input.reduce((s, v) => s + v, 0)) % 13;
  const row = Array.from({ length: REF.vocab }, (_, v) => ((a + 5 * v) % 13) * 0.37);
  row[REF.eos] = (row[REF.eos] as number) + 0.3 * len;
  return row;
};

/** The reference's prompts, right-padded with an attention mask (the fake model reads the unpadded rows). */
function promptInputs(rows: number[][]): { inputIds: number[][]; attentionMask: number[][] } {
  const width = Math.max(...rows.map((r) => r.length));
  return {
    inputIds: rows.map((r) => [...r, ...new Array<number>(width - r.length).fill(0)]),
    attentionMask: rows.map((r) => [...r.map(() => 1), ...new Array<number>(width - r.length).fill(0)]),
  };
}

const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
const toOptions = (config: Record<string, unknown>): GenerateOptions =>
  Object.fromEntries(Object.entries(config).map(([k, v]) => [camel(k), v])) as GenerateOptions;
const BASE: GenerateOptions = { eosTokenId: 1, padTokenId: 0, decoderStartTokenId: 0 };

describe('decoderInputIds: golden outputs continued from a prefix', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  for (const name of ['ul2-tiny', 'flan-t5-tiny']) {
    describe(name, () => {
      const dir = join(GOLDEN, 'models', name);
      let c: { input_ids: number[][]; attention_mask: number[][]; greedy: { max_new_tokens: number; output: number[][] } };
      let model: MiniT5;
      let defaults: GenerateOptions;
      beforeAll(() => {
        c = JSON.parse(readFileSync(join(GOLDEN, 'cases', `${name}.json`), 'utf8')) as typeof c;
        model = new MiniT5(dir);
        defaults = generationOptionsFromConfig(JSON.parse(readFileSync(join(dir, 'generation_config.json'), 'utf8')));
      });
      afterAll(() => model.dispose());

      it('start + the first k golden greedy tokens reproduce the golden greedy output (k = 1, 3, 6, 9; cache on and off)', async () => {
        const before = tf.memory().numTensors;
        const inputs = { inputIds: c.input_ids, attentionMask: c.attention_mask };
        for (const k of [1, 3, 6, 9]) {
          // maxNewTokens counts after the prefix: the same max_length (start + 12) as the golden run.
          const o = { ...defaults, maxNewTokens: c.greedy.max_new_tokens - k };
          const withStart = c.greedy.output.map((r) => r.slice(0, 1 + k));
          const withoutStart = c.greedy.output.map((r) => r.slice(1, 1 + k)); // the start token is prepended
          for (const useCache of [true, false]) {
            expect((await generate(model, { ...inputs, decoderInputIds: withStart }, { ...o, useCache })).sequences, `k=${k} cache=${useCache}`).toEqual(c.greedy.output);
          }
          const t = tf.tensor2d(withoutStart, undefined, 'int32');
          expect((await generate(model, { ...inputs, decoderInputIds: t }, o)).sequences, `k=${k} tensor without start`).toEqual(c.greedy.output);
          t.dispose();
        }
        expect(tf.memory().numTensors).toBe(before);
      });
    });
  }
});

describe('decoderInputIds: transformers length bookkeeping (fixtures/decoder-prefix, torch transcription)', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  for (const [i, rc] of REF.cases.entries()) {
    it(`case ${i}: ${rc.mode} ${JSON.stringify(rc.config)}${rc.decoder_input_ids ? ` from ${JSON.stringify(rc.decoder_input_ids)}` : ''}`, async () => {
      const model = new TableModel(REF.vocab, fakeLogits);
      const inputs = { ...promptInputs(REF.inputs), ...(rc.decoder_input_ids ? { decoderInputIds: rc.decoder_input_ids } : {}) };
      const o: GenerateOptions = { ...BASE, ...toOptions(rc.config), outputScores: rc.mode === 'beam' };
      const before = tf.memory().numTensors;
      const out = await generate(model, inputs, o);
      expect(out.sequences).toEqual(rc.sequences);
      if (rc.mode === 'beam') {
        (out.sequencesScores as number[]).forEach((s, j) => expect(s).toBeCloseTo(rc.sequences_scores?.[j] as number, 5));
        expect(out.beamIndices).toEqual(rc.beam_indices);
      }
      // The prefix goes through the decoder in one pass, then one token per step on the cache.
      const row0 = rc.decoder_input_ids?.[0];
      expect(model.calls.decodeWidths[0]).toBe(row0 ? row0.length + (row0[0] === 0 ? 0 : 1) : 1);
      expect(model.calls.decodeWidths.slice(1).every((w) => w === 1)).toBe(true);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('resolves maxLength / minLength from the decoder prompt length as _prepare_generated_length', () => {
    for (const l of REF.lengths) {
      const o = resolveOptions({ ...BASE, ...toOptions(l.config) }, l.input_ids_length);
      expect([o.maxLength, o.minLength, o.decoderPromptLength], JSON.stringify(l)).toEqual([l.max_length, l.min_length, l.input_ids_length]);
    }
  });

  it('refuses a decoder prompt as long as maxLength, as _validate_generated_length', () => {
    for (const r of REF.refused) {
      expect(() => resolveOptions({ ...BASE, ...toOptions(r.config) }, r.input_ids_length)).toThrow(GenerationOptionsError);
      expect(() => resolveOptions({ ...BASE, ...toOptions(r.config) }, r.input_ids_length)).toThrow(`Input length of decoderInputIds is ${r.input_ids_length}`);
    }
  });
});

describe('decoderInputIds: every decoding mode', () => {
  const V = 12;
  const inputs = { inputIds: [[3, 4, 5], [6, 7, 8]] };
  const prefix = [[0, 9, 2], [0, 4, 4]];
  const o: GenerateOptions = { ...BASE, maxNewTokens: 6 };

  it('sampling: each returned sequence continues its prompt\'s prefix; reproducible with a seed', async () => {
    const model = new TableModel(V, hashedLogits(V, 5));
    const so = { ...o, doSample: true, numReturnSequences: 3, seed: 7 };
    const out = await generate(model, { ...inputs, decoderInputIds: prefix }, so);
    expect(out.sequences.length).toBe(6);
    out.sequences.forEach((row, r) => expect(row.slice(0, 3)).toEqual(prefix[Math.floor(r / 3)]));
    expect(out.sequences.every((row) => row.length <= 3 + 6)).toBe(true);
    expect((await generate(new TableModel(V, hashedLogits(V, 5)), { ...inputs, decoderInputIds: prefix }, so)).sequences).toEqual(out.sequences);
    expect(model.calls.decodeWidths[0]).toBe(3);
  });

  it('the processors count new tokens after the prefix: minNewTokens, a logitsProcessor\'s step, beginSuppressTokens', async () => {
    const model = new TableModel(V, (_i, p) => Array.from({ length: V }, (_, t) => (t === 1 ? 5 : t === 2 + (p.length % 5) ? 3 : t === 10 ? 1 : 0)));
    const steps: number[] = [];
    const out = await generate(model, { inputIds: [[3]], decoderInputIds: [[0, 7, 7, 7]] }, {
      ...BASE, maxNewTokens: 6, minNewTokens: 2, beginSuppressTokens: [6],
      logitsProcessor: [(_s, _ids, info) => { steps.push(info.step); }],
    });
    // EOS (score 5) banned for two new tokens; token 6 (2 + 4 % 5, the first step's best) suppressed at the first step
    // only (begin_index = the decoder prompt length, 4), so 10 comes first, then 2 (2 + 5 % 5), then EOS.
    expect(out.sequences).toEqual([[0, 7, 7, 7, 10, 2, 1]]);
    expect(steps).toEqual([0, 1, 2]);
  });

  it('MinNewTokensLengthLogitsProcessor skips the decoder prompt (prompt_length_to_skip), on its own', () => {
    // In generate, minNewTokens also sets minLength = minNewTokens + prompt length; here the processor alone.
    const proc = { repetitionPenalty: 1, noRepeatNgramSize: 0, minLength: 0, minNewTokens: 2, eosTokenIds: [1], doSample: false, temperature: 1, topK: 0, topP: 1, minTokensToKeep: 1 };
    const run = (ids: number[], decoderPromptLength?: number) => {
      const scores = new Float32Array([0.5, 0.25, 0]);
      applyProcessors(scores, ids, { ...proc, decoderPromptLength });
      return scores[1];
    };
    expect(run([0, 7, 7, 7, 5], 4)).toBe(-Infinity); // one new token after a prompt of 4
    expect(run([0, 7, 7, 7, 5, 5], 4)).toBe(0.25); // two
    expect(run([0, 7, 7, 7, 5])).toBe(0.25); // without a prompt length: 4 new tokens after the start token
  });

  it('stop strings: one inside the prefix does not stop a row, one completed across the boundary does', async () => {
    // Tokens 2, 3, 4 in turn (2 + length % 3), never EOS; token t decodes to the letter 'a' + t.
    const cycle = () => new TableModel(V, (_i, p) => Array.from({ length: V }, (_, t) => (t === 2 + (p.length % 3) ? 2 : 0)));
    const tokenizer = { encode: () => [], decode: (ids: number[]) => ids.map((t) => String.fromCharCode(97 + t)).join('') };
    const one = { inputIds: [[3]], decoderInputIds: [[0, 3, 4]] }; // prefix text "de"; then c, d, e, c, …
    const so = { ...o, maxNewTokens: 8, tokenizer };
    expect((await generate(cycle(), one, { ...so, stopStrings: ['de'] })).sequences).toEqual([[0, 3, 4, 2, 3, 4]]);
    expect((await generate(cycle(), one, { ...so, stopStrings: ['ec'] })).sequences).toEqual([[0, 3, 4, 2]]);
    expect((await generate(cycle(), one, { ...so, stopStrings: ['ec'], numBeams: 2 })).sequences[0]).toEqual([0, 3, 4, 2]);
    expect((await generate(cycle(), one, { ...so, stopStrings: ['de'], numBeams: 2 })).sequences[0]).toEqual([0, 3, 4, 2, 3, 4]);
  });

  it('stop strings: the prefix\'s text is measured as it stands in the decoded row (a clean-up that drops its trailing space)', async () => {
    // transformers' `decode` with `clean_up_tokenization_spaces` (T5's original tokenizer config) removes the space
    // before "." etc.: the prefix [Hello, ▁] decodes to "Hello ", but [Hello, ▁, .] to "Hello." — decode(prefix) is not
    // a prefix of decode(row). StopStringCriteria works on the tokens: the "." just generated ends the stop string ".".
    const pieces: Record<number, string> = { 3: ' ', 4: '.', 5: 'Hello' };
    const tokenizer = { encode: () => [], decode: (ids: number[]) => ids.map((t) => pieces[t] ?? '?').join('').replace(/ ([.,!?])/g, '$1') };
    const dots = () => new TableModel(V, () => Array.from({ length: V }, (_, t) => (t === 4 ? 2 : 0))); // always "."
    const one = { inputIds: [[3]], decoderInputIds: [[0, 5, 3]] };
    const so = { ...o, maxNewTokens: 4, tokenizer, stopStrings: ['.'] };
    expect((await generate(dots(), one, so)).sequences).toEqual([[0, 5, 3, 4]]);
    expect((await generate(dots(), one, { ...so, numBeams: 2 })).sequences[0]).toEqual([0, 5, 3, 4]);
    // A stop string wholly inside the prefix's text still does not count ("Hello " holds "lo").
    expect((await generate(dots(), one, { ...so, stopStrings: ['lo'] })).sequences).toEqual([[0, 5, 3, 4, 4, 4, 4]]);
  });

  it('exponentialDecayLengthPenalty starts counting after the prefix (regulation_start = start_index + prompt length)', async () => {
    const model = new TableModel(V, (_i, p) => Array.from({ length: V }, (_, t) => (t === 1 ? -1 : t === 2 + (p.length % 3) ? 2 : 0)));
    const out = await generate(model, { inputIds: [[3]], decoderInputIds: [[0, 5, 5, 5]] }, {
      ...BASE, maxNewTokens: 3, exponentialDecayLengthPenalty: [1, 2], outputScores: true,
    });
    // cur_len 4 and 5 are not past regulation_start 1 + 4; at 6 the EOS score gets |−1| · (2 ** 1 − 1).
    expect(out.scores?.map((s) => s[0]?.[1])).toEqual([-1, -1, 0]);
  });

  it('assisted (prompt lookup) greedy equals plain greedy from the same prefix', async () => {
    const fn = hashedLogits(V, 11, 1);
    const one = { inputIds: [[3, 4, 5]], decoderInputIds: [[5, 6, 5, 6]] };
    const plain = await generate(new TableModel(V, fn), one, { ...o, maxNewTokens: 8 });
    const assisted = await generate(new TableModel(V, fn), one, { ...o, maxNewTokens: 8, promptLookupNumTokens: 3, maxMatchingNgramSize: 2 });
    expect(plain.sequences[0]?.slice(0, 5)).toEqual([0, 5, 6, 5, 6]);
    expect(assisted.sequences).toEqual(plain.sequences);
    // An assistant model (another fake, agreeing only sometimes) is fed the prefix too.
    const draft = new TableModel(V, hashedLogits(V, 12, 1));
    const withAssistant = await generate(new TableModel(V, fn), one, { ...o, maxNewTokens: 8, assistantModel: draft, numAssistantTokens: 3 });
    expect(withAssistant.sequences).toEqual(plain.sequences);
    expect(draft.calls.decodeWidths[0]).toBe(5);
  });

  it('streamGenerate yields only the new tokens and returns what generate returns', async () => {
    const fn = hashedLogits(V, 3);
    const one = { inputIds: [[3, 4, 5]], decoderInputIds: [[0, 8, 9]] };
    const want = await generate(new TableModel(V, fn), one, o);
    const got: number[] = [];
    const it = streamGenerate(new TableModel(V, fn), one, o);
    let r = await it.next();
    while (!r.done) {
      got.push(r.value);
      r = await it.next();
    }
    expect(got).toEqual(want.sequences[0]?.slice(3));
    expect(r.value.sequences).toEqual(want.sequences);
  });

  it('rows that already start with the start token are used as given; a mix is used as given too (as transformers)', async () => {
    const fn = hashedLogits(V, 2);
    const mixed = await generate(new TableModel(V, fn), { ...inputs, decoderInputIds: [[0, 5], [6, 5]] }, o);
    expect(mixed.sequences.map((r) => r.slice(0, 2))).toEqual([[0, 5], [6, 5]]);
  });
});

describe('decoderInputIds: refusals', () => {
  const model = new TableModel(8, hashedLogits(8, 1));
  const inputs = { inputIds: [[3, 4], [5, 6]] };

  it('refuses ragged, empty, miscounted or non-id prefixes and a decoderAttentionMask, with one clear error, leaking nothing', async () => {
    const before = tf.memory().numTensors;
    await expect(generate(model, { ...inputs, decoderInputIds: [[0, 1, 2], [0, 1]] }, BASE)).rejects.toThrow(/decoderInputIds rows must all have the same length \(got lengths 3, 2\)/);
    await expect(generate(model, { ...inputs, decoderInputIds: [[0, 1]] }, BASE)).rejects.toThrow(/decoderInputIds has 1 rows for 2 prompts/);
    await expect(generate(model, { ...inputs, decoderInputIds: [[], []] }, BASE)).rejects.toThrow(/decoderInputIds rows are empty/);
    await expect(generate(model, { ...inputs, decoderInputIds: [[0, 1.5], [0, -1]] }, BASE)).rejects.toThrow(/token ids \(integers ≥ 0\), got 1.5/);
    await expect(generate(model, { ...inputs, decoderInputIds: 'ab' as unknown as number[][] }, BASE)).rejects.toThrow(TypeError);
    const mask = { ...inputs, decoderInputIds: [[0, 1], [0, 1]], decoderAttentionMask: [[1, 1], [1, 1]] } as Parameters<typeof generate>[1];
    await expect(generate(model, mask, BASE)).rejects.toThrow(/`decoderAttentionMask` is not supported/);
    const t1 = tf.tensor1d([0, 1], 'int32');
    await expect(generate(model, { ...inputs, decoderInputIds: t1 as unknown as tf.Tensor2D }, BASE)).rejects.toThrow(/2-D tensor/);
    t1.dispose();
    // `_validate_generated_length`: the prefix leaves no room under maxLength.
    const err = await generate(model, { ...inputs, decoderInputIds: [[0, 1, 2, 3], [0, 1, 2, 3]] }, { ...BASE, maxLength: 4 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GenerationOptionsError);
    expect((err as GenerationOptionsError).message).toMatch(/Input length of decoderInputIds is 4 .* `maxLength` is set to 4/);
    // min_new_tokens + the decoder prompt past max_length (transformers warns; this package refuses, as without a prefix).
    await expect(generate(model, { ...inputs, decoderInputIds: [[0, 1, 2], [0, 1, 2]] }, { ...BASE, maxNewTokens: 2, minNewTokens: 3 })).rejects.toThrow(/`minNewTokens` \(3\) is larger than the new tokens allowed \(2\)/);
    await expect(streamGenerate(model, { inputIds: [[3]], decoderInputIds: [[0, 1], [0, 2]] }, BASE).next()).rejects.toThrow(/2 rows for 1 prompts/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('reads a tensor prefix without disposing it', async () => {
    const t = tf.tensor2d([[2, 3], [4, 5]], undefined, 'int32');
    const before = tf.memory().numTensors;
    const out = await generate(model, { ...inputs, decoderInputIds: t }, { ...BASE, maxNewTokens: 2 });
    expect(out.sequences.map((r) => r.slice(0, 3))).toEqual([[0, 2, 3], [0, 4, 5]]);
    expect(tf.memory().numTensors).toBe(before);
    expect(t.isDisposed).toBe(false);
    t.dispose();
  });
});
