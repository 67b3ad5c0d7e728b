/** A malformed input line: the message names the file and the 1-based line number. */
export class DollyFormatError extends Error {
  override readonly name = 'DollyFormatError';
  constructor(
    /** The file (or source name) being read. */
    readonly file: string,
    /** 1-based line number; 0 when the problem is the whole file (e.g. empty). */
    readonly line: number,
    /** What is wrong, without the location. */
    readonly reason: string,
  ) {
    super(line > 0 ? `${file}:${line}: ${reason}` : `${file}: ${reason}`);
  }
}
