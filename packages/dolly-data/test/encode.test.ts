import { beforeAll, describe, expect, it } from 'vitest';
import { ALPACA_TEMPLATE, encodeRecord, encodeRecords, loadDolly, loadT5Tokenizer, makeEncoder, truncateIds, type T5Tokenizer, type TextTokenizer } from '../src';
import { fixture, readJsonFixture, type TokenizerCase } from './helpers';

const { cases } = readJsonFixture<{ cases: TokenizerCase[] }>('tokenizer-t5.json');

describe('truncateIds', () => {
  it('keeps the first max-1 tokens and ends with </s>, like HF truncation=True', () => {
    expect(Array.from(truncateIds([5, 6, 7, 8, 1], 3, 1))).toEqual([5, 6, 1]);
    expect(Array.from(truncateIds([5, 6, 1], 3, 1))).toEqual([5, 6, 1]);
    expect(Array.from(truncateIds([5, 1], 3, 1))).toEqual([5, 1]);
    expect(Array.from(truncateIds([5, 6, 1], 1, 1))).toEqual([1]);
    expect(() => truncateIds([1], 0, 1)).toThrow(RangeError);
  });
});

describe('encode options', () => {
  // A stand-in tokenizer: one id per character, then </s> = 1.
  const chars: TextTokenizer = { encode: (t) => [...t].map((c) => c.charCodeAt(0)).concat(1), decode: () => '', padId: 0, eosId: 1 };

  it('a bad maxSourceLength / maxTargetLength is one error naming the option, when the encoder is made (no record needed)', () => {
    // used to be "max length must be an integer >= 1, got 0", and only once a record was encoded:
    // encodeRecords([], tok, { maxSourceLength: 0 }) returned [] without a word
    expect(() => makeEncoder(chars, { maxSourceLength: 0 })).toThrow('maxSourceLength must be an integer >= 1, got 0');
    expect(() => makeEncoder(chars, { maxTargetLength: 1.5 })).toThrow('maxTargetLength must be an integer >= 1, got 1.5');
    expect(() => encodeRecords([], chars, { maxTargetLength: -1 })).toThrow('maxTargetLength must be an integer >= 1, got -1');
    // the limits themselves: "ab\n" + </s> = 4 ids → 2 (first id + </s>); "c" + </s> fits in 2
    const e = makeEncoder(chars, { maxSourceLength: 2, maxTargetLength: 2 })({ instruction: 'ab', context: '', response: 'c', category: 'x' });
    expect([Array.from(e.sourceIds), Array.from(e.targetIds), e.fullSourceLength, e.fullTargetLength]).toEqual([[97, 1], [99, 1], 4, 2]);
  });
});

describe('encodeRecord', () => {
  let tok: T5Tokenizer;
  beforeAll(async () => {
    tok = await loadT5Tokenizer();
  });

  it('an empty context gives the same ids as the bare instruction (normalizer strips the "\\n")', () => {
    const r = { instruction: 'Name three colours.', context: '', response: 'Red, green, blue.', category: 'brainstorming' };
    const e = encodeRecord(r, tok);
    expect(Array.from(e.sourceIds)).toEqual(tok.encode('Name three colours.'));
    expect(Array.from(e.targetIds)).toEqual(tok.encode('Red, green, blue.'));
    expect(e.sourceIds.at(-1)).toBe(1);
    expect(e.category).toBe('brainstorming');
  });

  it('reference prompts and responses: the golden ids (Dolly cases of tokenizer-t5.json)', async () => {
    const { records } = await loadDolly(fixture('dolly-sample.jsonl'));
    const byText = new Map(cases.map((c) => [c.text, c.ids]));
    // the sample's first record is also a golden case, as prompt and as response
    const e = encodeRecord(records[0]!, tok);
    expect(Array.from(e.sourceIds)).toEqual(byText.get(`${records[0]!.instruction}\n`));
    expect(Array.from(e.targetIds)).toEqual(byText.get(records[0]!.response));
  });

  it('truncates the longest reference text (471 ids) to its first max-1 golden ids + </s>', () => {
    const long = cases.reduce((a, b) => (b.ids.length > a.ids.length ? b : a));
    expect(long.ids.length).toBe(471);
    const r = { instruction: 'x', context: '', response: long.text, category: 'c' };
    expect(Array.from(encodeRecord(r, tok).targetIds)).toEqual(long.ids); // under the default 512: untouched
    const e = encodeRecord(r, tok, { maxTargetLength: 200 });
    expect(e.targetIds.length).toBe(200);
    expect(Array.from(e.targetIds)).toEqual([...long.ids_no_special.slice(0, 199), 1]);
    expect(e.fullTargetLength).toBe(471);
  });

  it('maxSourceLength / maxTargetLength and a template', () => {
    const r = { instruction: 'Tell me about the sea.', context: 'The sea is big and blue and deep.', response: 'It is big.', category: 'closed_qa' };
    const e = encodeRecord(r, tok, { maxSourceLength: 4, maxTargetLength: 3, format: ALPACA_TEMPLATE });
    expect(e.sourceIds.length).toBe(4);
    expect(e.targetIds.length).toBe(3);
    expect(Array.from(e.sourceIds)).toEqual([...tok.encode(promptText(r)).slice(0, 3), 1]);
    expect(e.fullSourceLength).toBe(tok.encode(promptText(r)).length);
  });

  it('encodeRecords maps every record', async () => {
    const { records } = await loadDolly(fixture('dolly-sample.jsonl'));
    const ex = encodeRecords(records, tok);
    expect(ex).toHaveLength(40);
    expect(ex.every((x) => x.sourceIds.at(-1) === 1 && x.targetIds.at(-1) === 1)).toBe(true);
  });
});

function promptText(r: { instruction: string; context: string }): string {
  return (
    'Below is an instruction that describes a task, paired with an input that provides further context. ' +
    'Write a response that appropriately completes the request.\n\n' +
    `### Instruction:\n${r.instruction}\n\n### Input:\n${r.context}\n\n### Response:\n`
  );
}
