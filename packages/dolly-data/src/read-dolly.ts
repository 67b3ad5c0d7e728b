import { createReadStream } from 'node:fs';
import { DollyFormatError } from './errors';
import { splitLines } from './line-ends';
import { parseDollyLine } from './parse-line';
import type { DollyRecord, FieldMap } from './record';
import { checkOptions, type KnownOptions } from './unknown-options';
import { utf8Lines, type DecodedLine } from './utf8-lines';

/** Options for {@link readDolly} and {@link loadDolly}. */
export interface ReadDollyOptions {
  /** Key names to read the Dolly fields from (default: the Dolly names). */
  fieldMap?: FieldMap;
  /**
   * What to do with a malformed line: `'throw'` (default) throws one {@link DollyFormatError}
   * naming file and line; `'skip'` drops the line and reports it to `onSkip` (a file with no
   * valid line is still an error).
   */
  onInvalid?: 'throw' | 'skip';
  /** Called with each skipped line's error when `onInvalid` is `'skip'`. */
  onSkip?: (error: DollyFormatError) => void;
  /** Name used in error messages (default: the path). */
  sourceName?: string;
}

/** Every option of {@link ReadDollyOptions}. */
export const READ_DOLLY_OPTIONS: KnownOptions<ReadDollyOptions> = { fieldMap: true, onInvalid: true, onSkip: true, sourceName: true };
const { sourceName: _, ...PARSE_DOLLY_OPTIONS } = READ_DOLLY_OPTIONS;

/**
 * Parses jsonl text chunks into Dolly records, validating every line. Blank lines are
 * ignored; input that yields no record is an error (also in skip mode, when every line was
 * malformed: `no valid records (N lines skipped)`).
 */
export async function* parseDolly(
  chunks: AsyncIterable<string> | Iterable<string>,
  sourceName: string,
  options: Omit<ReadDollyOptions, 'sourceName'> = {},
): AsyncGenerator<DollyRecord> {
  checkOptions('parseDolly', options, PARSE_DOLLY_OPTIONS);
  yield* parseLines(splitLines(chunks), sourceName, options);
}

/** Validates lines into records (see {@link parseDolly}); a line may come as `{ error }` (not UTF-8). */
async function* parseLines(
  lines: AsyncIterable<DecodedLine>,
  sourceName: string,
  options: Omit<ReadDollyOptions, 'sourceName'>,
): AsyncGenerator<DollyRecord> {
  const { fieldMap = {}, onInvalid = 'throw', onSkip } = options;
  let lineNo = 0;
  let yielded = 0;
  let skipped = 0;
  for await (const line of lines) {
    lineNo++;
    if (typeof line === 'string' && line.trim().length === 0) continue;
    const parsed = typeof line === 'string' ? parseDollyLine(line, fieldMap) : line;
    if ('error' in parsed) {
      const err = new DollyFormatError(sourceName, lineNo, parsed.error);
      if (onInvalid === 'throw') throw err;
      skipped++;
      onSkip?.(err);
      continue;
    }
    yielded++;
    yield parsed;
  }
  if (yielded === 0) {
    const reason = skipped > 0 ? `no valid records (${skipped} line${skipped === 1 ? '' : 's'} skipped)` : 'no records (the file is empty)';
    throw new DollyFormatError(sourceName, 0, reason);
  }
}

/**
 * Streams the records of a Dolly-format jsonl file, one validated record at a time. The file must be
 * UTF-8: a line that is not is a malformed line (`not valid UTF-8 (byte 0xff at byte 12 of the line)`),
 * never decoded with replacement characters.
 */
export function readDolly(path: string, options: ReadDollyOptions = {}): AsyncGenerator<DollyRecord> {
  checkOptions('readDolly', options, READ_DOLLY_OPTIONS); // before the file is opened
  return readDollyChecked(path, options);
}

/** {@link readDolly} without the check of the option keys (`readDollyFromHub` passes a wider object). */
export function readDollyChecked(path: string, options: ReadDollyOptions): AsyncGenerator<DollyRecord> {
  const stream = createReadStream(path, { highWaterMark: 1 << 20 });
  return parseLines(utf8Lines(stream as AsyncIterable<Buffer>), options.sourceName ?? path, options);
}

/** Reads a whole Dolly-format jsonl file; `skipped` holds the errors of lines dropped with `onInvalid: 'skip'`. */
export async function loadDolly(
  path: string,
  options: ReadDollyOptions = {},
): Promise<{ records: DollyRecord[]; skipped: DollyFormatError[] }> {
  checkOptions('loadDolly', options, READ_DOLLY_OPTIONS);
  const skipped: DollyFormatError[] = [];
  const records: DollyRecord[] = [];
  const onSkip = (e: DollyFormatError): void => {
    skipped.push(e);
    options.onSkip?.(e);
  };
  for await (const r of readDollyChecked(path, { ...options, onSkip })) records.push(r);
  return { records, skipped };
}
