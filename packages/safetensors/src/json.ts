import { clip } from './errors.js';

/** serde_json's default recursion limit: entering the 128th nested array or object fails. */
export const MAX_JSON_DEPTH = 127;

const U64_MAX = (1n << 64n) - 1n;
/** A run of string characters that need no decoding: no quote, backslash or control character. */
const PLAIN = /[^"\\\u0000-\u001f]*/y;
const SHORT_ESCAPES = '"\\/bfnrt';

/**
 * A cursor over JSON text with serde_json's rules (`serde_json::from_str`): strict JSON (no comments,
 * trailing commas, leading zeros or `+`), whitespace = space, tab, LF, CR (a BOM is not), strings
 * without raw control characters or an unpaired surrogate escape (`\ud800`), numbers finite (`1e400`
 * is out of range), at most {@link MAX_JSON_DEPTH} nested arrays/objects. Read a document with
 * {@link JsonReader.object}/{@link JsonReader.array}, the typed readers and {@link JsonReader.skip}
 * (a value checked, nothing built), then {@link JsonReader.end}. Linear in the text, whatever it holds.
 * Errors are Errors naming the problem and its position.
 */
export class JsonReader {
  pos = 0;
  private depth = 0;

  constructor(readonly text: string) {}

  fail(why: string, at = this.pos): never {
    throw new Error(`${why} at character ${at}`);
  }

  /** Skips whitespace and returns the next character ('' at the end). */
  peek(): string {
    const t = this.text;
    let c = t.charCodeAt(this.pos);
    while (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) c = t.charCodeAt(++this.pos);
    return t.charAt(this.pos);
  }

  private expect(ch: string): void {
    const c = this.peek();
    if (c !== ch) this.fail(c ? `expected \`${ch}\`, found ${JSON.stringify(c)}` : `expected \`${ch}\`, found the end`);
    this.pos++;
  }

  /** The rest must be whitespace. */
  end(): void {
    if (this.peek() !== '') this.fail('trailing characters');
  }

  /** Reads an object, calling `entry(key)` with the cursor on each value, which `entry` must consume. */
  object(entry: (key: string) => void): void {
    this.items('{', '}', () => {
      const key = this.string();
      this.expect(':');
      entry(key);
    });
  }

  /** Reads an array, calling `item(index)` with the cursor on each item, which `item` must consume. */
  array(item: (index: number) => void): void {
    let index = 0;
    this.items('[', ']', () => item(index++));
  }

  /** `open`, then items separated by commas, then `close`: one level deeper. */
  private items(open: string, close: string, item: () => void): void {
    this.expect(open);
    if (++this.depth > MAX_JSON_DEPTH) this.fail(`nested more than ${MAX_JSON_DEPTH} deep`);
    if (this.peek() === close) this.pos++;
    else {
      item();
      while (this.peek() === ',') {
        this.pos++;
        item();
      }
      this.expect(close);
    }
    this.depth--;
  }

  /** Reads a string. */
  string(): string {
    this.expect('"');
    const t = this.text;
    const start = this.pos;
    let i = start;
    let escaped = false;
    for (;;) {
      PLAIN.lastIndex = i;
      PLAIN.test(t);
      i = PLAIN.lastIndex;
      const c = t.charCodeAt(i);
      if (c === 0x22) break;
      if (c === 0x5c) {
        i = this.escape(i);
        escaped = true;
      } else this.fail(Number.isNaN(c) ? 'unterminated string' : 'control character in a string', i);
    }
    this.pos = i + 1;
    // Checked above (escapes well formed, surrogates paired): JSON.parse decodes the literal, in linear time.
    return escaped ? (JSON.parse(t.slice(start - 1, i + 1)) as string) : t.slice(start, i);
  }

  /** Checks the escape at `at` (a backslash) as serde_json does; returns the index after it. */
  private escape(at: number): number {
    const t = this.text;
    if (t.charAt(at + 1) !== 'u') {
      if (at + 1 >= t.length || !SHORT_ESCAPES.includes(t.charAt(at + 1))) this.fail('invalid escape', at);
      return at + 2;
    }
    const u = this.hex4(at + 2);
    if (u >= 0xdc00 && u <= 0xdfff) this.fail('unpaired surrogate escape', at);
    if (u < 0xd800 || u > 0xdbff) return at + 6;
    // A leading surrogate: the next escape must be its trailing one.
    if (t.charCodeAt(at + 6) !== 0x5c || t.charCodeAt(at + 7) !== 0x75) this.fail('unpaired surrogate escape', at);
    const low = this.hex4(at + 8);
    if (low < 0xdc00 || low > 0xdfff) this.fail('unpaired surrogate escape', at);
    return at + 12;
  }

  private hex4(at: number): number {
    let v = 0;
    for (let k = at; k < at + 4; k++) {
      const c = this.text.charCodeAt(k);
      const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x41 && c <= 0x46 ? c - 0x37 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1;
      if (d < 0) this.fail('invalid \\u escape', at - 2);
      v = v * 16 + d;
    }
    return v;
  }

  /**
   * Reads a number; returns its value when serde_json reads it as a `U64` (a non-negative integer
   * literal, no fraction or exponent, up to 2^64 − 1) — a number, or a bigint past 2^53 — else null
   * (an `I64` or `F64`: `-1`, `-0`, `2.0`, `2e0`, 2^64).
   */
  number(): number | bigint | null {
    this.peek();
    const t = this.text;
    const at = this.pos;
    const negative = t.charCodeAt(at) === 0x2d;
    const first = negative ? at + 1 : at;
    let i = this.digits(first);
    if (t.charCodeAt(first) === 0x30 && i > first + 1) this.fail('invalid number (leading zero)', first + 1);
    let integer = true;
    if (t.charCodeAt(i) === 0x2e) {
      integer = false;
      i = this.digits(i + 1);
    }
    let c = t.charCodeAt(i);
    if (c === 0x65 || c === 0x45) {
      integer = false;
      c = t.charCodeAt(++i);
      i = this.digits(c === 0x2b || c === 0x2d ? i + 1 : i);
    }
    this.pos = i;
    if (integer && !negative && i - at <= 15) {
      // Below 10^15, so exact as a double: the usual shape or offset, read without a slice.
      let v = 0;
      for (let k = at; k < i; k++) v = v * 10 + t.charCodeAt(k) - 0x30;
      return v;
    }
    const text = t.slice(at, i);
    const value = Number(text);
    // serde_json: an integer literal past u64 / i64 becomes an f64, which must be finite ("number out of range").
    if (!Number.isFinite(value)) this.fail(`number ${clip(text)} out of range`, at);
    if (negative || !integer) return null;
    if (Number.isSafeInteger(value)) return value;
    const big = BigInt(text);
    return big <= U64_MAX ? big : null;
  }

  /** The end of the run of digits at `at`, which must hold one at least. */
  private digits(at: number): number {
    const t = this.text;
    let i = at;
    for (let c = t.charCodeAt(i); c >= 0x30 && c <= 0x39; c = t.charCodeAt(++i));
    if (i === at) this.fail(at < t.length ? `unexpected ${JSON.stringify(t.charAt(at))}` : 'unexpected end', at);
    return i;
  }

  /** Reads any value, checking it without building it. */
  skip(): void {
    const c = this.peek();
    if (c === '{') this.object(() => this.skip());
    else if (c === '[') this.array(() => this.skip());
    else if (c === '"') this.string();
    else if (c === 'n' || c === 't' || c === 'f') {
      const literal = c === 'n' ? 'null' : c === 't' ? 'true' : 'false';
      if (!this.text.startsWith(literal, this.pos)) this.fail(`expected \`${literal}\``);
      this.pos += literal.length;
    } else this.number();
  }
}
