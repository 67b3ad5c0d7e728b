/** A value as an error message shows it (`1.5`, `NaN`, `"2"`, `undefined`, `[1,2]`, `a function`). */
export function shown(v: unknown): string {
  if (typeof v === 'function') return 'a function';
  if (v === undefined || typeof v === 'number' || typeof v === 'bigint' || typeof v === 'symbol') return String(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
