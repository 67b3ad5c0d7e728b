/**
 * `json.dumps(obj, indent=2, sort_keys=True)` as Python writes it (what PEFT's
 * `save_pretrained` writes to `adapter_config.json`): keys sorted, `": "` and `","` separators,
 * non-ASCII escaped, and numbers listed in `floatFields` written as Python floats (`0.0`, `1e-05`).
 */
export function pythonJsonDumps(value: unknown, floatFields: ReadonlySet<string> = new Set()): string {
  return dump(value, '', floatFields, false);
}

function dump(v: unknown, indent: string, floatFields: ReadonlySet<string>, asFloat: boolean): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') return asFloat || !Number.isInteger(v) ? pythonFloatRepr(v) : String(v);
  if (typeof v === 'string') return pythonString(v);
  const inner = `${indent}  `;
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    return `[\n${v.map((x) => inner + dump(x, inner, floatFields, false)).join(',\n')}\n${indent}]`;
  }
  if (typeof v === 'object') {
    const keys = Object.keys(v as object).sort();
    if (keys.length === 0) return '{}';
    const rec = v as Record<string, unknown>;
    return `{\n${keys.map((k) => `${inner}${pythonString(k)}: ${dump(rec[k], inner, floatFields, floatFields.has(k))}`).join(',\n')}\n${indent}}`;
  }
  throw new Error(`cannot write ${typeof v} as JSON`);
}

/** Python's `repr(float)`: shortest round-trip digits, `.0` on integers, exponent form below 1e-4 or from 1e16. */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const ax = Math.abs(x);
  if (ax >= 1e16 || ax < 1e-4) {
    const [mant, exp] = x.toExponential().split('e') as [string, string];
    const e = Number(exp);
    return `${mant}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  const s = String(x);
  return s.includes('.') ? s : `${s}.0`;
}

function pythonString(s: string): string {
  // JSON.stringify escapes the same control characters; Python (ensure_ascii) also escapes non-ASCII.
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
