import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DollyFormatError, loadDolly } from '../src';
import { firstInvalidUtf8, utf8Lines } from '../src/utf8-lines';

const line = (response: string): string => JSON.stringify({ instruction: 'i', context: '', response, category: 'open_qa' });
const bytes = (...parts: Array<string | number[]>): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dolly-utf8-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, content: Buffer): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

describe('invalid UTF-8', () => {
  // {"instruction":"i","context":"","response":"ok \xff","category":"open_qa"} on line 2: byte 48 of the line is 0xff
  const bad = bytes(`${line('first')}\n`, '{"instruction":"i","context":"","response":"ok ', [0xff], '","category":"open_qa"}\n', `${line('third')}\n`);

  it('is one error naming file, line and byte, not text with U+FFFD in it', async () => {
    const path = await file('bad.jsonl', bad);
    const e = await loadDolly(path).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DollyFormatError);
    expect((e as DollyFormatError).line).toBe(2);
    expect((e as DollyFormatError).message).toBe(`${path}:2: not valid UTF-8 (byte 0xff at byte 48 of the line)`);
  });

  it('skip mode drops and reports that line, keeping the others', async () => {
    const { records, skipped } = await loadDolly(await file('skip.jsonl', bad), { onInvalid: 'skip' });
    expect(records.map((r) => r.response)).toEqual(['first', 'third']);
    expect(skipped.map((s) => [s.line, s.reason])).toEqual([[2, 'not valid UTF-8 (byte 0xff at byte 48 of the line)']]);
  });

  it('an encoded U+FFFD, a BOM, CRLF and multi-byte characters are read as they are', async () => {
    const text = 'naïve — 日本 \u{1F600} \uFFFD';
    const { records } = await loadDolly(await file('ok.jsonl', bytes([0xef, 0xbb, 0xbf], `${line(text)}\r\n\r\n${line('b')}`)));
    expect(records.map((r) => r.response)).toEqual([text, 'b']);
  });

  it('lines and characters split across read chunks', async () => {
    const all = bytes([0xef, 0xbb, 0xbf], `${line('日本')}\r\n${line('\u{1F600}')}\n`, [0x7b, 0xc3]);
    for (let cut = 1; cut < all.length; cut += 7) {
      const out = [];
      for await (const l of utf8Lines([all.subarray(0, cut), all.subarray(cut, cut + 5), all.subarray(cut + 5)])) out.push(l);
      expect(out).toEqual([line('日本'), line('\u{1F600}'), { error: 'not valid UTF-8 (byte 0xc3 at byte 2 of the line)' }]);
    }
  });

  it('firstInvalidUtf8 finds the first ill-formed sequence (overlong, surrogate, past U+10FFFF, truncated)', () => {
    const at = (...b: number[]): number => firstInvalidUtf8(Uint8Array.from(b));
    expect(at(0x61, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80)).toBe(-1);
    expect(at(0x61, 0xc0, 0xaf)).toBe(1); // overlong '/'
    expect(at(0xe0, 0x80, 0xaf)).toBe(0); // overlong
    expect(at(0x61, 0x62, 0xed, 0xa0, 0x80)).toBe(2); // a surrogate
    expect(at(0xf4, 0x90, 0x80, 0x80)).toBe(0); // past U+10FFFF
    expect(at(0x61, 0xe2, 0x82)).toBe(1); // truncated
    expect(at(0x80)).toBe(0); // a lone continuation byte
  });
});
