import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DollyFormatError, loadDolly, parseDolly, splitLines } from '../src';
import { utf8Lines } from '../src/utf8-lines';

// The text path (splitLines, parseDolly) and the byte path (utf8Lines, readDolly) follow one set of rules,
// src/line-ends.ts; every case runs on both, with the input cut into chunks at every position.
// Expected lines are what Python 3 gives for the same bytes:
//   with open(path, encoding='utf-8-sig') as f: [l.rstrip('\n') for l in f]   (universal newlines)

const collect = async <T>(it: AsyncIterable<T>): Promise<T[]> => {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
};

/** `s` cut at `a` and `b` (a <= b), as three chunks (some empty). */
const cut = <T extends string | Uint8Array>(s: T, a: number, b: number): T[] => [s.slice(0, a), s.slice(a, b), s.slice(b)] as T[];

/** Both splitters' lines for `text`, under every two-cut chunking; fails on the first chunking that differs. */
async function linesBothWays(text: string): Promise<string[]> {
  const bytes = Buffer.from(text, 'utf8');
  const whole = await collect(splitLines([text]));
  for (let a = 0; a <= text.length; a++) {
    for (let b = a; b <= text.length; b++) expect(await collect(splitLines(cut(text, a, b))), `text cut at ${a}, ${b}`).toEqual(whole);
  }
  for (let a = 0; a <= bytes.length; a++) {
    for (let b = a; b <= bytes.length; b++) expect(await collect(utf8Lines(cut(bytes, a, b))), `bytes cut at ${a}, ${b}`).toEqual(whole);
  }
  return whole;
}

describe('line ends: one rule set for text and bytes, as Python iterates a file', () => {
  it('a lone \\r ends a line, as \\n and \\r\\n do (Python: universal newlines)', async () => {
    // b'a\rb\r\nc\n\rd' -> ['a\n', 'b\n', 'c\n', '\n', 'd']
    expect(await linesBothWays('a\rb\r\nc\n\rd')).toEqual(['a', 'b', 'c', '', 'd']);
    // b'a\r\r\nb\r' -> ['a\n', '\n', 'b\n']: \r\r\n is a lone \r, then \r\n
    expect(await linesBothWays('a\r\r\nb\r')).toEqual(['a', '', 'b']);
    expect(await linesBothWays('\r')).toEqual(['']);
    expect(await linesBothWays('\n\n')).toEqual(['', '']);
  });

  it('a BOM at the start is dropped, even alone; a BOM later stays in its line', async () => {
    // b'\xef\xbb\xbf' -> []; b'\xef\xbb\xbf\n' -> ['\n']; b'\xef\xbb\xbf\r\xef\xbb\xbfx' -> ['\n', '\ufeffx']
    expect(await linesBothWays('\ufeff')).toEqual([]);
    expect(await linesBothWays('\ufeff\n')).toEqual(['']);
    expect(await linesBothWays('\ufeff\r\ufeffx')).toEqual(['', '\ufeffx']);
    expect(await linesBothWays('')).toEqual([]);
  });

  it('a last line without a line end, and other control characters, are as Python reads them', async () => {
    // U+0085, U+2028, \v, \f end lines in str.splitlines() but not in file iteration
    expect(await linesBothWays('ab\u0085c\u2028d\ve\ff')).toEqual(['ab\u0085c\u2028d\ve\ff']);
    expect(await linesBothWays('\u00e9\r\n\u65e5')).toEqual(['\u00e9', '\u65e5']);
  });
});

describe('records separated by a lone \\r, on both paths', () => {
  const rec = (response: string): string => JSON.stringify({ instruction: 'i', context: '', response, category: 'open_qa' });
  // line 1, line 2 (after a lone \r), an empty line 3 (\r\r\n), line 4 broken
  const text = `\ufeff${rec('a')}\r${rec('b')}\r\r\n{"instruction": \r`;
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dolly-line-ends-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('parseDolly and readDolly read the same records and name the same line', async () => {
    const path = join(dir, 'cr.jsonl');
    await writeFile(path, text);
    const fromText = await collect(parseDolly([text], 'mem', { onInvalid: 'skip' }));
    const fromFile = await loadDolly(path, { onInvalid: 'skip' });
    expect(fromText.map((r) => r.response)).toEqual(['a', 'b']);
    expect(fromFile.records).toEqual(fromText);
    expect(fromFile.skipped.map((e) => e.line)).toEqual([4]);
    const e = await collect(parseDolly([text], 'mem')).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DollyFormatError);
    expect((e as DollyFormatError).line).toBe(4);
  });

  it('a file that is only a BOM has no records, on both paths', async () => {
    const path = join(dir, 'bom.jsonl');
    await writeFile(path, '\ufeff');
    const fromText = await collect(parseDolly(['\ufeff'], 'mem')).catch((x: unknown) => x);
    const fromFile = await loadDolly(path).catch((x: unknown) => x);
    expect((fromText as Error).message).toBe('mem: no records (the file is empty)');
    expect((fromFile as Error).message).toBe(`${path}: no records (the file is empty)`);
  });
});
