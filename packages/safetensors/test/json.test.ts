// The header's JSON reader (src/json.ts) against the JSON spec as JSON.parse implements it, on random
// documents: serde_json (serde_json/src/de.rs and read.rs: parse_whitespace, parse_str with validation,
// parse_escape / parse_unicode_escape, parse_integer / parse_number / parse_decimal / parse_exponent,
// f64_from_parts' NumberOutOfRange, the recursion limit of 128) accepts exactly the JSON that JSON.parse
// accepts, but for three documented refusals: an unpaired surrogate escape, a number out of f64 range
// and nesting past 127 levels. Values must equal JSON.parse's (strings decoded the same, a repeated key
// keeping its last value in its first place, "__proto__" an own key).
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { JsonReader, MAX_JSON_DEPTH } from '../src/json.js';

/** mulberry32: a seeded generator, so that a failure replays. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const CHARS = ['a', 'Z', ' ', '"', '\\', '/', '\b', '\f', '\n', '\r', '\t', '\u0000', '\u001f', '\u007f', 'é', '\u2028', '\uE000', '\uFFFF', '\u{1F600}', '\u{10FFFF}'];
const KEYS = ['a', 'b', '__proto__', 'constructor', 'toString', '0', '10', 'dtype'];
const SHORT: Record<string, string> = { '"': '\\"', '\\': '\\\\', '/': '\\/', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** Random JSON text: every token written in one of the ways JSON allows, with random whitespace. */
function generator(seed: number) {
  const rand = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const ws = () => Array.from({ length: rand() < 0.7 ? 0 : 1 + Math.floor(rand() * 2) }, () => pick([' ', '\t', '\n', '\r'])).join('');
  const hex = (u: number) => `\\u${u.toString(16).padStart(4, '0')}`.replace(/[a-f]/g, (h) => (rand() < 0.5 ? h : h.toUpperCase()));
  const char = (ch: string): string => {
    const u = ch.charCodeAt(0);
    if (ch.length === 2) return rand() < 0.5 ? ch : hex(u) + hex(ch.charCodeAt(1)); // astral: as is, or a surrogate pair
    if (SHORT[ch] && (ch === '"' || ch === '\\' || u < 0x20 || rand() < 0.5)) return SHORT[ch]!;
    return u < 0x20 || rand() < 0.2 ? hex(u) : ch;
  };
  const string = (s: string) => `"${[...s].map(char).join('')}"`;
  const randomString = () => Array.from({ length: Math.floor(rand() * 6) }, () => pick(CHARS)).join('');
  const digits = (n: number) => Array.from({ length: n }, (_, i) => (i === 0 ? 1 + Math.floor(rand() * 9) : Math.floor(rand() * 10))).join('');
  const number = (): string => {
    const int = rand() < 0.2 ? '0' : digits(1 + Math.floor(rand() * (rand() < 0.2 ? 25 : 6)));
    const frac = rand() < 0.25 ? `.${digits(1 + Math.floor(rand() * 4))}` : '';
    const exp = rand() < 0.2 ? `${pick(['e', 'E'])}${pick(['', '+', '-'])}${Math.floor(rand() * 280)}` : '';
    return `${rand() < 0.2 ? '-' : ''}${int}${frac}${exp}`;
  };
  /** A value at `depth` (0: an object or array, 9: a scalar). */
  const value = (depth: number): string => {
    const k = depth === 0 ? rand() * 0.4 : rand();
    if (depth < 4 && k < 0.2) return `{${ws()}${Array.from({ length: Math.floor(rand() * 4) }, () => `${string(rand() < 0.7 ? pick(KEYS) : randomString())}${ws()}:${ws()}${value(depth + 1)}`).join(`${ws()},${ws()}`)}${ws()}}`;
    if (depth < 4 && k < 0.4) return `[${ws()}${Array.from({ length: Math.floor(rand() * 4) }, () => value(depth + 1)).join(`${ws()},${ws()}`)}${ws()}]`;
    if (k < 0.65) return string(randomString());
    if (k < 0.9) return number();
    return pick(['true', 'false', 'null']);
  };
  return { rand, pick, number, document: () => `${ws()}${value(rand() < 0.5 ? 0 : 9)}${ws()}` };
}

/** The value JsonReader reads, built with its own calls (object, array, string; skip for the rest). */
function build(r: JsonReader): unknown {
  const c = r.peek();
  if (c === '{') {
    const o: Record<string, unknown> = {};
    r.object((k) => Object.defineProperty(o, k, { value: build(r), enumerable: true, writable: true, configurable: true }));
    return o;
  }
  if (c === '[') {
    const a: unknown[] = [];
    r.array(() => a.push(build(r)));
    return a;
  }
  if (c === '"') return r.string();
  const at = r.pos;
  r.skip();
  const token = r.text.slice(at, r.pos); // a literal or a number: what skip() took as one
  return token === 'true' ? true : token === 'false' ? false : token === 'null' ? null : Number(token);
}

const read = (text: string): { ok: true; value: unknown } | { ok: false; why: string } => {
  try {
    const r = new JsonReader(text);
    const value = build(r);
    r.end();
    return { ok: true, value };
  } catch (e) {
    return { ok: false, why: (e as Error).message };
  }
};
const parse = (text: string): { ok: true; value: unknown } | { ok: false } => {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
};
/** Whether a value JSON.parse returned holds what serde_json refuses: a lone surrogate or an infinite number. */
const serdeRefuses = (v: unknown): boolean =>
  typeof v === 'string' ? /[\uD800-\uDFFF]/u.test(v) : typeof v === 'number' ? !Number.isFinite(v) : v !== null && typeof v === 'object' && Object.entries(v).some(([k, x]) => serdeRefuses(k) || serdeRefuses(x));

/** Whether refusal `why` is one of serde_json's own (not JSON.parse's), checked in `text` at the position it names. */
function documented(text: string, why: string): boolean {
  const m = /^(unpaired surrogate escape|number .* out of range) at character (\d+)$/.exec(why);
  if (!m) return false;
  const at = Number(m[2]);
  const token = m[1] === 'unpaired surrogate escape' ? /\\u([dD][89abAB][0-9a-fA-F]{2})(\\u[dD][c-fC-F][0-9a-fA-F]{2})?|\\u[dD][c-fC-F][0-9a-fA-F]{2}/y : /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  token.lastIndex = at;
  const t = token.exec(text);
  // A leading surrogate without its trailing one, a lone trailing one; or a number JSON.parse makes infinite.
  return t !== null && (m[1] === 'unpaired surrogate escape' ? t[1] === undefined || t[2] === undefined : !Number.isFinite(Number(t[0])));
}

describe('JsonReader: serde_json rules, checked against JSON.parse', () => {
  it('reads 2,000 random valid documents as JSON.parse does (strings, escapes, surrogate pairs, numbers, repeated and __proto__ keys)', () => {
    const g = generator(1);
    for (let n = 0; n < 2000; n++) {
      const text = g.document();
      const mine = read(text);
      const theirs = parse(text);
      if (!isDeepStrictEqual(mine, theirs)) expect(mine, text).toEqual(theirs);
      if (mine.ok && serdeRefuses(mine.value)) expect.fail(`the generator wrote what serde_json refuses: ${text}`);
    }
    expect(({} as Record<string, unknown>).a).toBeUndefined(); // nothing reached Object.prototype
  });

  it('refuses 4,000 random mutations exactly when JSON.parse does, but for the documented refusals', () => {
    const g = generator(2);
    const noise = [' ', '\n', '\f', '\u000b', '\u00a0', '{', '}', '[', ']', ',', ':', '"', '\\', '/', 'u', 'd', '8', '0', '1', 'e', '.', '-', '+', 'n', 't', 'f', '\u0000', '\u00e9', '\ufeff'];
    const counts = { same: 0, refusedByBoth: 0, documented: 0 };
    for (let n = 0; n < 4000; n++) {
      // Edits by code point: the header's text comes from UTF-8, so it never holds a lone surrogate.
      const cps = [...g.document()];
      for (let edits = 1 + Math.floor(g.rand() * 3); edits > 0; edits--) {
        const at = Math.floor(g.rand() * (cps.length + 1));
        const kind = g.rand();
        if (kind < 0.35) cps.splice(at, 1);
        else if (kind < 0.7) cps.splice(at, 0, g.pick(noise));
        else if (kind < 0.85) cps.splice(at, 0, g.pick(['-0', '1e400', '01', '1.', '\\ud800', '\\udc00', '\\ud83d\\ude00', 'nul', '[]']));
        else cps.splice(at, 0, ...cps.slice(at, at + 8));
      }
      const text = cps.join('');
      const mine = read(text);
      const theirs = parse(text);
      if (mine.ok) {
        if (!isDeepStrictEqual(mine, theirs)) expect(theirs, text).toEqual(mine);
        if (serdeRefuses(mine.value)) expect.fail(`JsonReader reads ${JSON.stringify(text)}, which serde_json refuses`);
        counts.same++;
      } else if (!theirs.ok) counts.refusedByBoth++;
      else {
        // JSON.parse accepts, serde_json refuses: only for a lone surrogate or a number out of range.
        if (!documented(text, mine.why)) {
          expect.fail(`JSON.parse reads ${JSON.stringify(text)}, JsonReader refuses it: ${mine.why}`);
        }
        counts.documented++;
      }
    }
    // Each kind occurs, so the comparison above is not vacuous.
    expect(Math.min(counts.same, counts.refusedByBoth, counts.documented), JSON.stringify(counts)).toBeGreaterThan(50);
  });

  it('numbers: a u64 only for a non-negative integer literal up to 2^64 − 1 (serde_json ParserNumber::U64), exact past 2^53', () => {
    const g = generator(3);
    const U64_MAX = (1n << 64n) - 1n;
    const literals = [...Array.from({ length: 2000 }, g.number), '0', '-0', '9007199254740991', '9007199254740993', '18446744073709551615', '18446744073709551616', '1e2', '1.0'];
    for (const text of literals) {
      const got = new JsonReader(text).number();
      const u64 = /^(0|[1-9][0-9]*)$/.test(text) && BigInt(text) <= U64_MAX ? BigInt(text) : null;
      const want = u64 === null ? null : u64 <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(u64) : u64;
      if (got !== want) expect(got, text).toBe(want);
    }
  });

  it('nesting: 127 levels are read, the 128th is refused (serde_json remaining_depth 128)', () => {
    expect(read(`${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`).ok).toBe(true);
    expect(read(`${'['.repeat(MAX_JSON_DEPTH + 1)}${']'.repeat(MAX_JSON_DEPTH + 1)}`)).toEqual({ ok: false, why: 'nested more than 127 deep at character 128' });
    expect(read(`${'{"a":'.repeat(MAX_JSON_DEPTH + 1)}1${'}'.repeat(MAX_JSON_DEPTH + 1)}`).ok).toBe(false);
  });

  it('a number out of range is named in a message of bounded length, however long its digits', () => {
    const r = new JsonReader(`[${'9'.repeat(100_000)}]`);
    expect(() => r.array(() => r.number())).toThrow(/^number 9{80}… \(100000 characters\) out of range at character 1$/);
  });
});
