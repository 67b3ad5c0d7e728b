import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  generate, generateText, resolveOptions, streamGenerate, streamText, type GenerateOptions, type Seq2Seq, type TextTokenizer,
} from '../src/index.js';
import { probabilityTable, TableModel, TinyTransformer, type TinyCache, type TinyEnc } from './fakes.js';

const T5 = { decoderStartTokenId: 0, eosTokenId: 1, padTokenId: 0 } satisfies GenerateOptions;
const INPUTS = {
  inputIds: [[3, 4, 5, 9, 1], [6, 7, 1, 0, 0], [12, 2, 8, 1, 0]],
  attentionMask: [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0]],
};
let model: TinyTransformer;

beforeAll(async () => {
  await tf.setBackend('cpu');
  model = new TinyTransformer({ seed: 7, eosAfter: 3 });
});
afterAll(() => model.dispose());

/** Wraps a model and records the last-position logits of every decodeStep. */
function spy(inner: Seq2Seq<TinyEnc, TinyCache>, throwAt = -1) {
  const steps: Float32Array[] = [];
  const wrapped: Seq2Seq<TinyEnc, TinyCache> = {
    encode: (i, m) => inner.encode(i, m),
    decodeStep: (tokens, enc, cache) => {
      if (steps.length === throwAt) throw new Error('boom');
      const out = inner.decodeStep(tokens, enc, cache);
      const [, t, v] = out.logits.shape;
      const last = tf.slice(out.logits, [0, t - 1, 0], [-1, 1, v]);
      steps.push(last.dataSync() as Float32Array);
      last.dispose();
      return out;
    },
    reorderCache: (c, i) => inner.reorderCache(c, i),
    reorderEncoder: (e, i) => inner.reorderEncoder(e, i),
    disposeCache: (c) => inner.disposeCache(c),
    disposeEncoder: (e) => inner.disposeEncoder(e),
  };
  return { wrapped, steps };
}

const relErr = (a: Float32Array, b: Float32Array) => {
  let num = 0;
  let den = 0;
  a.forEach((x, i) => { num += (x - b[i]!) ** 2; den += b[i]! ** 2; });
  return Math.sqrt(num / den);
};

describe('greedy decoding', () => {
  it('cached decoding gives the logits of re-running the decoder on the prefix (≤ 1e-5 rel) at every step', async () => {
    for (const o of [{ maxNewTokens: 10 }, { maxNewTokens: 8, numBeams: 3 }] as GenerateOptions[]) {
      const a = spy(model);
      const b = spy(model);
      const cached = await generate(a.wrapped, INPUTS, { ...T5, ...o });
      const full = await generate(b.wrapped, INPUTS, { ...T5, ...o, useCache: false });
      expect(cached).toEqual(full);
      expect(a.steps.length).toBe(b.steps.length);
      expect(a.steps.length).toBeGreaterThan(3);
      a.steps.forEach((s, i) => expect(relErr(s, b.steps[i]!)).toBeLessThanOrEqual(1e-5));
    }
  });

  it("returns transformers' layout: start id first, EOS, then the pad id, all rows as long as the longest", async () => {
    const { sequences } = await generate(model, INPUTS, { ...T5, maxNewTokens: 12 });
    expect(sequences).toHaveLength(3);
    const len = sequences[0]!.length;
    expect(len).toBeLessThanOrEqual(13);
    for (const r of sequences) {
      expect(r[0]).toBe(0);
      expect(r).toHaveLength(len);
      const end = r.indexOf(1);
      if (end >= 0) expect(r.slice(end + 1).every((t) => t === 0)).toBe(true);
    }
    expect(sequences.some((r) => r.at(-1) === 0)).toBe(true); // a row finished early and was padded
  });

  it('stops at maxNewTokens / maxLength without EOS', async () => {
    const { sequences } = await generate(model, INPUTS, { decoderStartTokenId: 0, maxNewTokens: 5 });
    expect(sequences.every((r) => r.length === 6)).toBe(true);
    const b = await generate(model, INPUTS, { decoderStartTokenId: 0, maxLength: 4 });
    expect(b.sequences.every((r) => r.length === 4)).toBe(true);
  });

  it('a padded batch gives each input the result it gets alone; the mask is inferred from the pad id', async () => {
    const batch = await generate(model, INPUTS, { ...T5, maxNewTokens: 12 });
    const inferred = await generate(model, { inputIds: INPUTS.inputIds }, { ...T5, maxNewTokens: 12 });
    expect(inferred).toEqual(batch);
    for (let b = 0; b < 3; b++) {
      const n = INPUTS.attentionMask[b]!.reduce((s, v) => s + v, 0);
      const alone = await generate(model, { inputIds: [INPUTS.inputIds[b]!.slice(0, n)] }, { ...T5, maxNewTokens: 12 });
      const row = alone.sequences[0]!;
      expect(batch.sequences[b]!.slice(0, row.length)).toEqual(row);
    }
  });

  it('rejects malformed inputs with a clear error, leaking nothing', async () => {
    const before = tf.memory().numTensors;
    await expect(generate(model, { inputIds: [[3, 4], [5]] }, T5)).rejects.toThrow('inputIds must be non-empty rows of equal length');
    await expect(generate(model, { inputIds: [[3, 4]], attentionMask: [[1, 1, 1]] }, T5)).rejects.toThrow(
      'attentionMask shape [1,3] differs from inputIds shape [1,2]',
    );
    // a tensor or rows passed bare (transformers' generate(input_ids)), a missing or wrong field: one TypeError naming the call's form
    const ids = tf.tensor2d([[3, 4]], [1, 2], 'int32');
    const usage = 'generate(model, { inputIds, attentionMask? }, options): inputIds and attentionMask are [batch, length] int32 tensors or rows of token ids; got ';
    const bad = [
      [ids, 'a tensor of shape [1,2] as the inputs (pass { inputIds: … })'],
      [[[3, 4]], 'an array as the inputs (pass { inputIds: … })'],
      [null, 'null as the inputs'],
      [{ input_ids: [[3, 4]] }, 'undefined as inputIds'],
      [{ inputIds: 'hello' }, 'string as inputIds'],
      [{ inputIds: [[3, 4]], attentionMask: 1 }, 'number as attentionMask'],
    ] as const;
    for (const [inputs, got] of bad) {
      await expect(generate(model, inputs as never, T5)).rejects.toThrow(new TypeError(usage + got));
    }
    const stream = streamGenerate(model, ids as never, T5);
    await expect(stream.next()).rejects.toThrow(/^streamGenerate\(model, \{ inputIds, attentionMask\? \}, options\): .*; got a tensor of shape \[1,2\] as the inputs/);
    ids.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('without a pad id (and no EOS) the mask is all ones, as transformers', async () => {
    const o = { decoderStartTokenId: 0, maxNewTokens: 4 };
    const inferred = await generate(model, { inputIds: [[6, 7, 1, 0]] }, o);
    const ones = await generate(model, { inputIds: [[6, 7, 1, 0]], attentionMask: [[1, 1, 1, 1]] }, o);
    expect(inferred).toEqual(ones);
  });

  it('feeds one token per step after the first and encodes once', async () => {
    const m = new TinyTransformer({ seed: 7, eosAfter: 3 });
    await generate(m, INPUTS, { ...T5, maxNewTokens: 6 });
    expect(m.calls.encode).toBe(1);
    expect(m.calls.decodeWidths.every((w) => w === 1)).toBe(true);
    expect(m.calls.reorderCache).toEqual([]); // greedy never gathers
    m.dispose();
  });

  it('minNewTokens / minLength delay EOS; repetitionPenalty and noRepeatNgramSize change the output', async () => {
    const plain = await generate(model, { inputIds: [[3, 4, 1]] }, { ...T5, maxNewTokens: 12 });
    const firstEos = plain.sequences[0]!.indexOf(1);
    expect(firstEos).toBeGreaterThan(0);
    // minNewTokens n: no EOS among the first n new tokens; minLength n: none while the length (start included) < n.
    const n = firstEos + 2;
    const min = await generate(model, { inputIds: [[3, 4, 1]] }, { ...T5, maxNewTokens: 20, minNewTokens: n });
    expect(min.sequences[0]!.slice(1, 1 + n)).not.toContain(1);
    expect(min.sequences[0]!.indexOf(1)).toBeGreaterThan(n);
    const minL = await generate(model, { inputIds: [[3, 4, 1]] }, { ...T5, maxNewTokens: 20, minLength: n });
    expect(minL.sequences[0]!.slice(0, n)).not.toContain(1);
    expect(minL.sequences[0]!.indexOf(1)).toBeGreaterThanOrEqual(n);
    const rep = await generate(model, { inputIds: [[3, 4, 1]] }, { ...T5, maxNewTokens: 12, repetitionPenalty: 3 });
    expect(rep.sequences[0]).not.toEqual(plain.sequences[0]);
    const ngram = await generate(model, { inputIds: [[3, 4, 1]] }, { ...T5, maxNewTokens: 12, noRepeatNgramSize: 2, minNewTokens: 10 });
    const r = ngram.sequences[0]!;
    const bigrams = r.slice(0, -1).map((t, i) => `${t},${r[i + 1]}`);
    expect(new Set(bigrams).size).toBe(bigrams.length);
  });
});

describe('outputScores', () => {
  it("returns transformers' scores: per step and row the processed scores the token was chosen from", async () => {
    const plain = await generate(model, INPUTS, { ...T5, maxNewTokens: 6 });
    expect(plain.scores).toBeUndefined();
    const out = await generate(model, INPUTS, { ...T5, maxNewTokens: 6, outputScores: true, repetitionPenalty: 1.3 });
    expect(out.sequences).toEqual((await generate(model, INPUTS, { ...T5, maxNewTokens: 6, repetitionPenalty: 1.3 })).sequences);
    const steps = out.sequences[0]!.length - 1;
    expect(out.scores).toHaveLength(steps);
    for (let s = 0; s < steps; s++) {
      expect(out.scores![s]).toHaveLength(INPUTS.inputIds.length);
      for (const [r, row] of out.sequences.entries()) {
        const sc = out.scores![s]![r]!;
        expect(sc).toHaveLength(model.vocab);
        const finished = row.slice(1, s + 1).includes(1);
        if (!finished) expect(sc.indexOf(Math.max(...sc)), `step ${s} row ${r}`).toBe(row[s + 1]); // greedy picked the argmax
      }
    }
    // Sampling with top-k 2: every step's scores keep exactly 2 finite entries (the warper ran), the drawn token among them.
    const sampled = await generate(model, { inputIds: [INPUTS.inputIds[0]!] }, { ...T5, maxNewTokens: 5, doSample: true, topK: 2, seed: 4, outputScores: true });
    for (const [s, [sc]] of sampled.scores!.entries()) {
      expect(Array.from(sc!).filter(Number.isFinite)).toHaveLength(2);
      expect(Number.isFinite(sc![sampled.sequences[0]![s + 1]!])).toBe(true);
    }
  });

  it("beam search: scores per running beam and beam_indices, whose transition scores sum to each sequence's score × length ** lengthPenalty", async () => {
    for (const lengthPenalty of [1, 0.5]) {
      const o = { ...T5, maxNewTokens: 6, numBeams: 3, numReturnSequences: 2, lengthPenalty, repetitionPenalty: 1.3 }; // processed ≠ raw log-probs
      const plain = await generate(model, INPUTS, o);
      const before = tf.memory().numTensors;
      const out = await generate(model, INPUTS, { ...o, outputScores: true });
      expect(tf.memory().numTensors).toBe(before);
      expect(out.sequences).toEqual(plain.sequences);
      expect(out.sequencesScores).toEqual(plain.sequencesScores);
      expect(plain.beamIndices).toBeUndefined();
      const rows = INPUTS.inputIds.length * 3;
      for (const step of out.scores!) expect(step).toHaveLength(rows);
      for (const [i, seq] of out.sequences.entries()) {
        const input = Math.floor(i / 2);
        const idx = out.beamIndices![i]!;
        expect(idx).toHaveLength(seq.length - 1);
        let sum = 0;
        let len = 0;
        for (const [t, row] of idx.entries()) {
          if (row === -1) {
            expect(idx.slice(t).every((r) => r === -1)).toBe(true);
            break;
          }
          expect(Math.floor(row / 3), `sequence ${i} step ${t}`).toBe(input);
          sum += out.scores![t]![row]![seq[t + 1]!]!;
          len++;
        }
        expect(sum / len ** lengthPenalty).toBeCloseTo(out.sequencesScores![i]!, 4);
      }
    }
  });
});

describe('sampling', () => {
  it('is reproducible with a seed, returns numReturnSequences rows per input in order', async () => {
    const o = { ...T5, doSample: true, seed: 'abc', numReturnSequences: 3, maxNewTokens: 10, temperature: 1.5 };
    const m = new TinyTransformer({ seed: 7, eosAfter: 3 });
    const a = await generate(m, INPUTS, o);
    const b = await generate(m, INPUTS, o);
    const c = await generate(m, INPUTS, { ...o, seed: 'abd' });
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(a.sequences).toHaveLength(9);
    expect(m.calls.reorderEncoder[0]).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2]);
    m.dispose();
  });

  it('top-k 1 is greedy', async () => {
    const greedy = await generate(model, INPUTS, { ...T5, maxNewTokens: 10 });
    const k1 = await generate(model, INPUTS, { ...T5, maxNewTokens: 10, doSample: true, topK: 1, seed: 3 });
    expect(k1).toEqual(greedy);
  });
});

describe('memory', () => {
  it('leaves no tensor behind after a call, for every mode', async () => {
    const modes: GenerateOptions[] = [
      { maxNewTokens: 8 }, { maxNewTokens: 8, useCache: false }, { maxNewTokens: 8, numBeams: 3, numReturnSequences: 2 },
      { maxNewTokens: 8, numBeams: 2, useCache: false }, { maxNewTokens: 8, doSample: true, numReturnSequences: 2, seed: 1 },
    ];
    for (const o of modes) {
      const before = tf.memory().numTensors;
      await generate(model, INPUTS, { ...T5, ...o });
      expect(tf.memory().numTensors, JSON.stringify(o)).toBe(before);
    }
    const ids = tf.tensor2d(INPUTS.inputIds, undefined, 'int32');
    const mask = tf.tensor2d(INPUTS.attentionMask, undefined, 'int32');
    const before = tf.memory().numTensors;
    await generate(model, { inputIds: ids, attentionMask: mask }, { ...T5, maxNewTokens: 4 });
    expect(tf.memory().numTensors).toBe(before); // the caller's tensors are left alone
    expect(ids.isDisposed).toBe(false);
    tf.dispose([ids, mask]);
  });

  it('holds a constant number of tensors per step, growing in bytes by exactly the cache', async () => {
    const counts: number[] = [];
    const bytes: number[] = [];
    await generate(model, INPUTS, {
      decoderStartTokenId: 0, maxNewTokens: 8,
      onToken: () => { counts.push(tf.memory().numTensors); bytes.push(tf.memory().numBytes); },
    });
    expect(new Set(counts).size).toBe(1);
    // per step the cache gains k and v of one position: 2 × (B 3 × d 8) float32 = 192 bytes
    expect(bytes.slice(1).map((b, i) => b - bytes[i]!)).toEqual(new Array(7).fill(2 * 3 * 8 * 4));
  });

  it('frees everything when the model throws mid-generation', async () => {
    const before = tf.memory().numTensors;
    for (const o of [{}, { numBeams: 3 }]) {
      const { wrapped } = spy(model, 3);
      await expect(generate(wrapped, INPUTS, { ...T5, maxNewTokens: 8, ...o })).rejects.toThrow('boom');
      expect(tf.memory().numTensors).toBe(before);
    }
  });
});

describe('abort signal', () => {
  it('aborting mid-generation (greedy, beams, sampling, the stream) rejects with the signal\'s reason, stops decoding, frees everything', async () => {
    const before = tf.memory().numTensors;
    for (const extra of [{}, { numBeams: 2 }, { doSample: true, seed: 3 }] as GenerateOptions[]) {
      const ac = new AbortController();
      let steps = 0;
      const { wrapped } = spy(model);
      const counting: Seq2Seq<TinyEnc, TinyCache> = { ...wrapped, decodeStep: (t, e, c) => { if (++steps === 2) ac.abort(); return wrapped.decodeStep(t, e, c); } };
      await expect(generate(counting, INPUTS, { ...T5, ...extra, maxNewTokens: 10, signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
      expect(steps, JSON.stringify(extra)).toBe(2); // no decoder step after the abort
      expect(tf.memory().numTensors).toBe(before);
    }
    // Already aborted, with a reason of the caller's: that reason, before any decoder step.
    const ac = new AbortController();
    ac.abort(new Error('user cancelled'));
    await expect(generate(model, INPUTS, { ...T5, maxNewTokens: 5, signal: ac.signal })).rejects.toThrow('user cancelled');
    const stream = new AbortController();
    const got: number[] = [];
    await expect((async () => {
      for await (const t of streamGenerate(model, { inputIds: [INPUTS.inputIds[0]!] }, { ...T5, maxNewTokens: 10, signal: stream.signal })) {
        got.push(t);
        if (got.length === 2) stream.abort();
      }
    })()).rejects.toMatchObject({ name: 'AbortError' });
    expect(got).toHaveLength(2);
    expect(tf.memory().numTensors).toBe(before);
    await expect(generate(model, INPUTS, { ...T5, signal: 'stop' as unknown as AbortSignal })).rejects.toThrow('`signal` must be an AbortSignal');
  });
});

describe('streaming and text', () => {
  it('streamGenerate yields the tokens generate returns, one by one; onToken sees the same', async () => {
    const input = { inputIds: [[3, 4, 5, 9, 1]] };
    const { sequences } = await generate(model, input, { ...T5, maxNewTokens: 12 });
    const seen: number[] = [];
    const streamed: number[] = [];
    for await (const t of streamGenerate(model, input, { ...T5, maxNewTokens: 12, onToken: (ts) => seen.push(ts[0]!) })) streamed.push(t);
    expect([0, ...streamed]).toEqual(sequences[0]);
    expect(seen).toEqual(streamed);
  });

  it('breaking out of the stream frees everything', async () => {
    const before = tf.memory().numTensors;
    for await (const t of streamGenerate(model, { inputIds: [[3, 4, 1]] }, { ...T5, maxNewTokens: 12 })) {
      expect(t).toBeGreaterThanOrEqual(0);
      break;
    }
    expect(tf.memory().numTensors).toBe(before);
    await expect(async () => {
      for await (const _ of streamGenerate(model, INPUTS, T5)) void _;
    }).rejects.toThrow('streamGenerate yields one sequence: got 3 prompts');
  });

  // A character tokenizer: 'a'..'n' → 2..15 (vocab 16), '</s>' = 1 appended, pad 0.
  const tokenizer: TextTokenizer = {
    encode: (s) => [...s].map((c) => c.charCodeAt(0) - 95).concat(1),
    decode: (ids) => ids.map((i) => String.fromCharCode(i + 95)).join(''),
  };

  it('generateText: text in, text out, without start token or EOS; several prompts padded', async () => {
    const texts = await generateText(model, tokenizer, ['abc', 'hide', 'n'], { ...T5, maxNewTokens: 10 });
    const ids = ['abc', 'hide', 'n'].map((s) => Array.from(tokenizer.encode(s)));
    const w = Math.max(...ids.map((r) => r.length));
    const { sequences } = await generate(model, {
      inputIds: ids.map((r) => [...r, ...new Array(w - r.length).fill(0)]),
      attentionMask: ids.map((r) => [...r.map(() => 1), ...new Array(w - r.length).fill(0)]),
    }, { ...T5, maxNewTokens: 10 });
    expect(texts).toEqual(sequences.map((r) => {
      const end = r.indexOf(1, 1);
      return tokenizer.decode(r.slice(1, end < 0 ? undefined : end));
    }));
    expect(texts.every((t) => !t.includes('`'))).toBe(true); // no start/pad (0 → '`') in the text
    const beams = await generateText(model, tokenizer, 'abc', { ...T5, maxNewTokens: 6, numBeams: 3, numReturnSequences: 2 });
    expect(beams).toHaveLength(2);
  });

  it("stopStrings (transformers' stop_strings): each row stops at the token completing one, kept; text and stream agree; beams finish there", async () => {
    const prompts = ['abc', 'hide', 'n'];
    const full = await generateText(model, tokenizer, prompts, { ...T5, maxNewTokens: 12 });
    // A stop string from the middle of the first row's unstopped text.
    const stop = full[0]!.slice(2, 4);
    expect(stop).toHaveLength(2);
    const stopped = await generateText(model, tokenizer, prompts, { ...T5, maxNewTokens: 12, stopStrings: [stop] });
    for (const [i, t] of stopped.entries()) {
      const at = full[i]!.indexOf(stop);
      // A row whose text contains the stop string ends right after it; the others are unchanged.
      expect(t, prompts[i]).toBe(at < 0 ? full[i] : full[i]!.slice(0, at + stop.length));
    }
    expect(stopped[0]!.endsWith(stop)).toBe(true);
    expect(stopped[0]!.length).toBeLessThan(full[0]!.length);
    const parts: string[] = [];
    for await (const p of streamText(model, tokenizer, 'abc', { ...T5, maxNewTokens: 12, stopStrings: [stop] })) parts.push(p);
    expect(parts.join('')).toBe(stopped[0]);
    // generate itself: the row stops (pads after the stop), given the tokenizer.
    const { sequences } = await generate(model, { inputIds: [Array.from(tokenizer.encode('abc'))] }, { ...T5, maxNewTokens: 12, stopStrings: [stop], tokenizer });
    expect(tokenizer.decode(sequences[0]!.slice(1))).toBe(stopped[0]);
    await expect(generate(model, INPUTS, { ...T5, stopStrings: [stop] })).rejects.toThrow('`stopStrings` needs `tokenizer`');
    // Beams: a continuation completing the stop string is finished there (as one ending in EOS).
    const beamFull = await generateText(model, tokenizer, 'abc', { ...T5, maxNewTokens: 12, numBeams: 3 });
    const beamStop = beamFull[0]!.slice(1, 3);
    // The ids (not generateText's cut): a returned beam holding the stop string ends right after it.
    const beamIds = await generate(model, { inputIds: [Array.from(tokenizer.encode('abc'))] }, { ...T5, maxNewTokens: 12, numBeams: 3, numReturnSequences: 3, stopStrings: [beamStop], tokenizer });
    const beamTexts = beamIds.sequences.map((r) => {
      const end = r.indexOf(1, 1);
      return tokenizer.decode(r.slice(1, end < 0 ? undefined : end));
    });
    expect(beamTexts.some((t) => t.endsWith(beamStop))).toBe(true);
    for (const t of beamTexts) expect(t.indexOf(beamStop) < 0 || t.indexOf(beamStop) + beamStop.length === t.length, t).toBe(true);
    expect(beamTexts[0]).not.toBe(beamFull[0]);
  });

  it('streamText pieces join into generateText', async () => {
    const whole = await generateText(model, tokenizer, 'hide', { ...T5, maxNewTokens: 10 });
    const parts: string[] = [];
    for await (const p of streamText(model, tokenizer, 'hide', { ...T5, maxNewTokens: 10 })) parts.push(p);
    expect(parts.join('')).toBe(whole[0]);
    expect(parts.length).toBeGreaterThan(1);
  });
});

describe("lengths as transformers 5's generate / _prepare_generated_length sets them", () => {
  // Vocabulary [pad = start, eos, a, b]; logits = ln p, the same at every step.
  const never = () => new TableModel(4, probabilityTable({}, [0.1, 0.05, 0.7, 0.15])); // argmax "a" (2), never EOS
  const eager = () => new TableModel(4, probabilityTable({}, [0.01, 0.9, 0.06, 0.03])); // argmax EOS, then "a"

  it('without maxLength / maxNewTokens (here or in the model config) generates 20 new tokens: max_length = 20 + the start token', async () => {
    // transformers 5 `generate`: has_default_max_length (no max_length in kwargs, generation_config or
    // model.generation_config) → `_prepare_generated_length`: max_length = 20 + input_ids_length (1).
    expect(resolveOptions({ decoderStartTokenId: 0 }).maxLength).toBe(21);
    const greedy = await generate(never(), { inputIds: [[5, 1]] }, T5);
    expect(greedy.sequences).toEqual([[0, ...new Array<number>(20).fill(2)]]);
    const beams = await generate(never(), { inputIds: [[5, 1]] }, { ...T5, numBeams: 2 });
    expect(beams.sequences[0]).toHaveLength(21);
    // A max_length that was given, by the caller or the model's generation config, is the total length as is.
    expect((await generate(never(), { inputIds: [[5, 1]] }, { ...T5, maxLength: 20 })).sequences[0]).toHaveLength(20);
    const configured = Object.assign(never(), { generationConfig: { decoder_start_token_id: 0, eos_token_id: 1, pad_token_id: 0, max_length: 20 } });
    expect((await generate(configured, { inputIds: [[5, 1]] })).sequences[0]).toHaveLength(20);
  });

  it('minNewTokens takes precedence over minLength (min_length = min_new_tokens + the start token)', async () => {
    // `_prepare_generated_length`: min_new_tokens set → min_length = 1 + 1 = 2, so EOS is banned at the first
    // step only (the caller's min_length 6 is overridden, with a warning): "a", then EOS.
    const out = await generate(eager(), { inputIds: [[5, 1]] }, { ...T5, maxNewTokens: 10, minLength: 6, minNewTokens: 1 });
    expect(out.sequences).toEqual([[0, 2, 1]]);
    const beams = await generate(eager(), { inputIds: [[5, 1]] }, { ...T5, maxNewTokens: 10, minLength: 6, minNewTokens: 1, numBeams: 2 });
    expect(beams.sequences[0]).toEqual([0, 2, 1]);
    // minLength alone still counts the start token: EOS banned while the length is < 6.
    expect((await generate(eager(), { inputIds: [[5, 1]] }, { ...T5, maxNewTokens: 10, minLength: 6 })).sequences).toEqual([[0, 2, 2, 2, 2, 2, 1]]);
    // The overridden min_length no longer counts as impossible (transformers checks the overridden value).
    expect(resolveOptions({ ...T5, maxNewTokens: 4, minLength: 10, minNewTokens: 2 }).minLength).toBe(3);
  });
});
