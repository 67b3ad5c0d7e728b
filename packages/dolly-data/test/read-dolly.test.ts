import { describe, expect, it } from 'vitest';
import { DollyFormatError, loadDolly, parseDolly, parseDollyLine, readDolly, splitLines } from '../src';
import { fixture } from './helpers';

const collect = async <T>(it: AsyncIterable<T>): Promise<T[]> => {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
};

async function errorOf(p: Promise<unknown>): Promise<DollyFormatError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(DollyFormatError);
    return e as DollyFormatError;
  }
  throw new Error('expected a DollyFormatError');
}

const FIRST = {
  instruction: '"repair instead of replace" give five points to support this argument',
  context: '',
  response: '1) saves cost\n2) reduces wastage\n3) good for environment\n4) promotes local employment \n5) efficient use of resources',
  category: 'brainstorming',
};

describe('readDolly', () => {
  it('reads the 40-record sample, fields as they are', async () => {
    const recs = await collect(readDolly(fixture('dolly-sample.jsonl')));
    expect(recs).toHaveLength(40);
    expect(recs[0]).toEqual(FIRST);
    expect(recs.filter((r) => r.context !== '')).toHaveLength(15);
    expect(new Set(recs.map((r) => r.category)).size).toBe(8);
  });

  it('strips a BOM and accepts CRLF line ends', async () => {
    const recs = await collect(readDolly(fixture('bom-crlf.jsonl')));
    expect(recs).toHaveLength(3);
    expect(recs[0]).toEqual(FIRST);
    expect(recs.every((r) => !r.category.endsWith('\r'))).toBe(true);
  });

  it('reads a final line without a newline', async () => {
    const recs = await collect(readDolly(fixture('no-final-newline.jsonl')));
    expect(recs.map((r) => r.category)).toEqual(['brainstorming', 'brainstorming', 'brainstorming']);
    expect(recs[2]).toEqual((await collect(readDolly(fixture('dolly-sample.jsonl'))))[2]);
  });

  it('ignores blank and whitespace-only lines', async () => {
    expect(await collect(readDolly(fixture('blank-lines.jsonl')))).toHaveLength(3);
  });

  it('broken JSON: one error naming file and line', async () => {
    const e = await errorOf(collect(readDolly(fixture('broken-json.jsonl'))));
    expect(e.line).toBe(3);
    expect(e.file).toBe(fixture('broken-json.jsonl'));
    expect(e.message).toMatch(/broken-json\.jsonl:3: invalid JSON/);
  });

  it('missing field: names the field and line', async () => {
    const e = await errorOf(collect(readDolly(fixture('missing-field.jsonl'))));
    expect(e.message).toMatch(/missing-field\.jsonl:2: missing field "response"$/);
  });

  it('wrong type: names the field, the type and the line', async () => {
    const e = await errorOf(collect(readDolly(fixture('wrong-type.jsonl'))));
    expect(e.message).toMatch(/wrong-type\.jsonl:4: field "context" must be a string, got null$/);
  });

  it('empty file: an error naming the file', async () => {
    const e = await errorOf(collect(readDolly(fixture('empty.jsonl'))));
    expect(e.line).toBe(0);
    expect(e.message).toMatch(/empty\.jsonl: no records/);
  });

  it('a missing file rejects with ENOENT', async () => {
    await expect(collect(readDolly(fixture('nope.jsonl')))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it("onInvalid: 'skip' drops bad lines and counts them", async () => {
    const skippedLines: number[] = [];
    const { records, skipped } = await loadDolly(fixture('broken-json.jsonl'), {
      onInvalid: 'skip',
      onSkip: (e) => skippedLines.push(e.line),
    });
    expect(records).toHaveLength(3);
    expect(skipped.map((e) => e.line)).toEqual([3]);
    expect(skippedLines).toEqual([3]);
    const wt = await loadDolly(fixture('wrong-type.jsonl'), { onInvalid: 'skip' });
    expect([wt.records.length, wt.skipped.length]).toEqual([3, 1]);
  });

  it("onInvalid: 'skip' on a file whose lines are all malformed: an error, not zero records", async () => {
    const skippedLines: number[] = [];
    const e = await errorOf(loadDolly(fixture('all-invalid.jsonl'), { onInvalid: 'skip', onSkip: (x) => skippedLines.push(x.line) }));
    expect(e.line).toBe(0);
    expect(e.message).toBe(`${fixture('all-invalid.jsonl')}: no valid records (2 lines skipped)`);
    expect(skippedLines).toEqual([1, 3]);
    const one = await errorOf(collect(parseDolly(['{"a": 1}\n'], 'mem', { onInvalid: 'skip' })));
    expect(one.message).toBe('mem: no valid records (1 line skipped)');
    // without skip the first bad line is the error, as before
    expect((await errorOf(loadDolly(fixture('all-invalid.jsonl')))).message).toMatch(/all-invalid\.jsonl:1: missing field "category"$/);
  });

  it('a custom field mapping reads other key names', async () => {
    const recs = await collect(readDolly(fixture('alpaca-fields.jsonl'), { fieldMap: { context: 'input', response: 'output' } }));
    expect(recs[0]).toEqual(FIRST);
    const e = await errorOf(collect(readDolly(fixture('alpaca-fields.jsonl'))));
    expect(e.message).toMatch(/:1: missing field "context"$/);
  });

  it("category: null reads files without a category, like Alpaca's (instruction, input, output)", async () => {
    const fieldMap = { context: 'input', response: 'output', category: null };
    const recs = await collect(readDolly(fixture('alpaca-shaped.jsonl'), { fieldMap }));
    expect(recs).toHaveLength(2);
    expect(recs[0]).toEqual({ ...FIRST, category: '' });
    expect(recs[1]!.context).toMatch(/^A Half-pistole was a Scottish gold coin/);
    expect(recs[1]!.category).toBe('');
    // without it the missing category is an error, as for any missing field
    const e = await errorOf(collect(readDolly(fixture('alpaca-shaped.jsonl'), { fieldMap: { context: 'input', response: 'output' } })));
    expect(e.message).toMatch(/alpaca-shaped\.jsonl:1: missing field "category"$/);
    // a category present in the line is ignored when mapped to null
    expect(parseDollyLine(JSON.stringify({ ...FIRST, category: 'x' }), { category: null })).toEqual({ ...FIRST, category: '' });
  });

  it('sourceName replaces the path in messages', async () => {
    const e = await errorOf(collect(readDolly(fixture('missing-field.jsonl'), { sourceName: 'hf://x.jsonl' })));
    expect(e.message).toBe('hf://x.jsonl:2: missing field "response"');
  });
});

describe('parseDollyLine', () => {
  it.each([
    ['[1,2]', 'expected a JSON object, got an array'],
    ['null', 'expected a JSON object, got null'],
    ['"s"', 'expected a JSON object, got string'],
    ['{"instruction": 1, "context": "", "response": "", "category": ""}', 'field "instruction" must be a string, got number'],
    ['{"instruction": "", "context": [], "response": "", "category": ""}', 'field "context" must be a string, got array'],
    ['{"instruction": "", "context": "", "response": ""}', 'missing field "category"'],
  ])('%s → %s', (line, error) => {
    expect(parseDollyLine(line)).toEqual({ error });
  });

  it('keeps only the four fields', () => {
    expect(parseDollyLine('{"instruction": "i", "context": "c", "response": "r", "category": "k", "extra": 1}')).toEqual({
      instruction: 'i',
      context: 'c',
      response: 'r',
      category: 'k',
    });
  });
});

describe('splitLines / parseDolly on chunks', () => {
  it('joins lines across chunk boundaries, including a CRLF split between chunks', async () => {
    expect(await collect(splitLines(['\ufeffab', 'c\r', '\nde\r\nf', '\n', 'g']))).toEqual(['abc', 'de', 'f', 'g']);
    expect(await collect(splitLines(['', '\ufeffx\r']))).toEqual(['x']);
    expect(await collect(splitLines([]))).toEqual([]);
  });

  it('counts line numbers across chunks', async () => {
    const good = JSON.stringify(FIRST);
    const text = `${good}\n${good}\n\n${good.slice(0, 10)}\n`;
    const chunks = text.match(/[\s\S]{1,7}/g)!;
    const e = await errorOf(collect(parseDolly(chunks, 'mem')));
    expect(e.message).toMatch(/^mem:4: invalid JSON/);
  });
});
