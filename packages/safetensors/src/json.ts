/**
 * A JSON value as serde_json (the Rust reader's parser) sees it: objects keep every entry, repeated
 * keys included, in order (serde decides what a repeat means), and numbers keep their text.
 */
export type JsonValue =
  | { kind: 'null' }
  | { kind: 'bool'; value: boolean }
  | { kind: 'number'; text: string }
  | { kind: 'string'; value: string }
  | { kind: 'array'; items: JsonValue[] }
  | { kind: 'object'; entries: [string, JsonValue][] };

/** serde_json's default recursion limit: entering the 128th nested array or object fails. */
export const MAX_JSON_DEPTH = 127;

const U64_MAX = (1n << 64n) - 1n;
const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
const LITERALS = {
  n: ['null', { kind: 'null' }],
  t: ['true', { kind: 'bool', value: true }],
  f: ['false', { kind: 'bool', value: false }],
} as const satisfies Record<string, readonly [string, JsonValue]>;
const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;

/**
 * A cursor over JSON text with serde_json's rules (`serde_json::from_str`): strict JSON (no comments,
 * trailing commas, leading zeros or `+`), whitespace = space, tab, LF, CR (a BOM is not), strings
 * without raw control characters or an unpaired surrogate escape (`\ud800`), numbers finite (`1e400`
 * is out of range), at most {@link MAX_JSON_DEPTH} nested arrays/objects. Read a document with
 * {@link JsonReader.object}/{@link JsonReader.array}/{@link JsonReader.value} and the typed readers,
 * then {@link JsonReader.end}. Errors are Errors naming the problem and its position.
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
    this.expect('{');
    this.enter();
    if (this.peek() === '}') this.pos++;
    else {
      for (;;) {
        this.peek();
        const key = this.string();
        this.expect(':');
        entry(key);
        if (this.peek() === ',') {
          this.pos++;
          continue;
        }
        this.expect('}');
        break;
      }
    }
    this.depth--;
  }

  /** Reads an array, calling `item(index)` with the cursor on each item, which `item` must consume. */
  array(item: (index: number) => void): void {
    this.expect('[');
    this.enter();
    if (this.peek() === ']') this.pos++;
    else {
      for (let index = 0; ; index++) {
        item(index);
        if (this.peek() === ',') {
          this.pos++;
          continue;
        }
        this.expect(']');
        break;
      }
    }
    this.depth--;
  }

  private enter(): void {
    if (++this.depth > MAX_JSON_DEPTH) this.fail(`nested more than ${MAX_JSON_DEPTH} deep`);
  }

  /** Reads a string. */
  string(): string {
    this.expect('"');
    const t = this.text;
    let i = this.pos;
    let out = '';
    let run = i;
    for (;;) {
      const c = t.charCodeAt(i);
      if (c === 0x22) {
        this.pos = i + 1;
        return out + t.slice(run, i);
      }
      if (Number.isNaN(c)) this.fail('unterminated string', i);
      if (c < 0x20) this.fail('control character in a string', i);
      if (c !== 0x5c) {
        i++;
        continue;
      }
      out += t.slice(run, i);
      const at = i;
      const e = t.charAt(i + 1);
      i += 2;
      if (e === 'u') {
        const u = this.hex4(i);
        i += 4;
        if (u >= 0xdc00 && u <= 0xdfff) this.fail('unpaired surrogate escape', at);
        if (u >= 0xd800 && u <= 0xdbff) {
          if (t.charCodeAt(i) !== 0x5c || t.charCodeAt(i + 1) !== 0x75) this.fail('unpaired surrogate escape', at);
          const low = this.hex4(i + 2);
          i += 6;
          if (low < 0xdc00 || low > 0xdfff) this.fail('unpaired surrogate escape', at);
          out += String.fromCharCode(u, low);
        } else out += String.fromCharCode(u);
      } else if (e !== '' && Object.prototype.hasOwnProperty.call(ESCAPES, e)) out += ESCAPES[e];
      else this.fail('invalid escape', at);
      run = i;
    }
  }

  private hex4(at: number): number {
    const h = this.text.slice(at, at + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(h)) this.fail('invalid \\u escape', at - 2);
    return parseInt(h, 16);
  }

  /**
   * Reads a number; returns its value when serde_json reads it as a `U64` (a non-negative integer
   * literal, no fraction or exponent, up to 2^64 − 1) — a number, or a bigint past 2^53 — else null
   * (an `I64` or `F64`: `-1`, `-0`, `2.0`, `2e0`, 2^64).
   */
  number(): number | bigint | null {
    this.peek();
    const at = this.pos;
    NUMBER.lastIndex = at;
    const m = NUMBER.exec(this.text);
    if (!m) this.fail(this.pos < this.text.length ? `unexpected ${JSON.stringify(this.text[this.pos])}` : 'unexpected end');
    const num = m![0];
    this.pos += num.length;
    const value = Number(num);
    // serde_json: an integer literal past u64 / i64 becomes an f64, which must be finite ("number out of range").
    if (!Number.isFinite(value)) this.fail(`number ${num} out of range`, at);
    if (num.charCodeAt(0) === 0x2d || m![1] !== undefined || m![2] !== undefined) return null;
    if (Number.isSafeInteger(value)) return value;
    const big = BigInt(num);
    return big <= U64_MAX ? big : null;
  }

  /** Reads any value. */
  value(): JsonValue {
    const c = this.peek();
    if (c === '{') {
      const entries: [string, JsonValue][] = [];
      this.object((key) => entries.push([key, this.value()]));
      return { kind: 'object', entries };
    }
    if (c === '[') {
      const items: JsonValue[] = [];
      this.array(() => items.push(this.value()));
      return { kind: 'array', items };
    }
    if (c === '"') return { kind: 'string', value: this.string() };
    const literal = c === 'n' || c === 't' || c === 'f' ? LITERALS[c] : undefined;
    if (literal && this.text.startsWith(literal[0], this.pos)) {
      this.pos += literal[0].length;
      return literal[1];
    }
    const at = this.pos;
    this.number();
    return { kind: 'number', text: this.text.slice(at, this.pos) };
  }
}
