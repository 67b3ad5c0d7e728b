/**
 * The one set of line rules for text chunks ({@link splitLines}) and byte chunks (`utf8Lines`), as Python's
 * `open(path, encoding="utf-8-sig")` iterates a file (universal newlines):
 * - a BOM at the very start of the input is dropped (U+FEFF, or the bytes EF BB BF even when split across chunks);
 *   a BOM anywhere else stays in its line;
 * - a line ends at `\n`, at `\r\n` (also when split across chunks) or at a lone `\r`; the line end is not part of
 *   the line;
 * - a last line without a line end is a line, unless it is empty (input `"a\n"` is one line, `"\ufeff"` none);
 * - empty lines are lines (they count for line numbers).
 */

const CR = 13;
const LF = 10;

/** How the splitter reads and joins one kind of chunk: code units are UTF-16 for text, bytes for bytes. */
interface ChunkKind<C> {
  length(chunk: C): number;
  /** The code unit at `i` (`\r` and `\n` are 13 and 10 in both kinds). */
  unitAt(chunk: C, i: number): number;
  /** The first index at or after `from` of the code unit `unit`, or -1. */
  indexOf(chunk: C, unit: number, from: number): number;
  slice(chunk: C, start: number, end: number): C;
  /** The pieces of one line (at least one), joined. */
  join(pieces: C[]): C;
  /** The line without a BOM at its start. */
  withoutBom(line: C): C;
}

const TEXT: ChunkKind<string> = {
  length: (s) => s.length,
  unitAt: (s, i) => s.charCodeAt(i),
  indexOf: (s, unit, from) => s.indexOf(unit === LF ? '\n' : '\r', from),
  slice: (s, start, end) => s.slice(start, end),
  join: (pieces) => (pieces.length === 1 ? pieces[0]! : pieces.join('')),
  withoutBom: (s) => (s.charCodeAt(0) === 0xfeff ? s.slice(1) : s),
};

const BYTES: ChunkKind<Uint8Array> = {
  length: (b) => b.length,
  unitAt: (b, i) => b[i]!,
  indexOf: (b, unit, from) => b.indexOf(unit, from),
  slice: (b, start, end) => b.subarray(start, end),
  join: (pieces) => (pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces)),
  withoutBom: (b) => (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? b.subarray(3) : b),
};

/** The lines of chunks of one kind, by the rules above. */
async function* linesOf<C>(chunks: AsyncIterable<C> | Iterable<C>, kind: ChunkKind<C>): AsyncGenerator<C> {
  let pieces: C[] = []; // the line read so far, from earlier chunks
  let first = true; // no line yielded yet: the BOM, if any, is in this one
  let afterCr = false; // the last chunk ended in `\r`: an `\n` opening the next one belongs to that line end
  const line = (last: C[]): C => {
    const joined = kind.join(last);
    pieces = [];
    if (!first) return joined;
    first = false;
    return kind.withoutBom(joined);
  };
  for await (const chunk of chunks) {
    const n = kind.length(chunk);
    if (n === 0) continue;
    let start = afterCr && kind.unitAt(chunk, 0) === LF ? 1 : 0;
    afterCr = false;
    let lf = kind.indexOf(chunk, LF, start);
    let cr = kind.indexOf(chunk, CR, start);
    while (lf !== -1 || cr !== -1) {
      const end = cr === -1 || (lf !== -1 && lf < cr) ? lf : cr;
      yield line([...pieces, kind.slice(chunk, start, end)]);
      start = end + 1;
      if (end === cr) {
        if (start === n) afterCr = true;
        else if (kind.unitAt(chunk, start) === LF) start++;
      }
      if (lf !== -1 && lf < start) lf = kind.indexOf(chunk, LF, start);
      if (cr !== -1 && cr < start) cr = kind.indexOf(chunk, CR, start);
    }
    if (start < n) pieces.push(kind.slice(chunk, start, n));
  }
  if (pieces.length > 0) {
    const last = line(pieces);
    if (kind.length(last) > 0) yield last;
  }
}

/**
 * Splits text chunks into lines (see the rules above): drops a leading BOM, ends lines at `\n`, `\r\n` or a
 * lone `\r` (Python's universal newlines), and yields a last line that has no line end after it.
 */
export function splitLines(chunks: AsyncIterable<string> | Iterable<string>): AsyncGenerator<string> {
  return linesOf(chunks, TEXT);
}

/** {@link splitLines} for byte chunks: each line's bytes, BOM and line end removed, not yet decoded. */
export function splitByteLines(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  return linesOf(chunks, BYTES);
}
