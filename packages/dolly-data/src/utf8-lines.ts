import { splitByteLines } from './line-ends';

/** A line of the file, or why its bytes are not text. */
export type DecodedLine = string | { error: string };

/**
 * Splits UTF-8 byte chunks into lines by the rules {@link splitLines} follows (src/line-ends.ts: a leading BOM
 * dropped; `\n`, `\r\n` and a lone `\r` end a line; a last line without a line end is a line). A line that is
 * not valid UTF-8 comes as `{ error }` naming the first bad byte, instead of being decoded with U+FFFD
 * replacements (which would change the record's text silently; Python's `open(..., encoding="utf-8")` refuses it too).
 */
export async function* utf8Lines(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<DecodedLine> {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }); // line-ends drops the leading BOM, no other
  for await (const bytes of splitByteLines(chunks)) {
    try {
      yield decoder.decode(bytes);
    } catch {
      yield { error: utf8Error(bytes) };
    }
  }
}

/** The reason a line is not UTF-8: its first byte that does not start a well-formed sequence. */
function utf8Error(b: Uint8Array): string {
  const at = firstInvalidUtf8(b);
  if (at < 0) return 'not valid UTF-8';
  return `not valid UTF-8 (byte 0x${b[at]!.toString(16).padStart(2, '0')} at byte ${at + 1} of the line)`;
}

/** Offset of the first byte that does not begin a well-formed UTF-8 sequence (Unicode table 3-7), or -1. */
export function firstInvalidUtf8(b: Uint8Array): number {
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    const n = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
    if (n === 0) return i;
    const lo = c === 0xe0 ? 0xa0 : c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xed ? 0x9f : c === 0xf4 ? 0x8f : 0xbf;
    const second = b[i + 1];
    if (second === undefined || second < lo || second > hi) return i;
    for (let k = 2; k <= n; k++) if (((b[i + k] ?? 0) & 0xc0) !== 0x80) return i;
    i += n + 1;
  }
  return -1;
}
