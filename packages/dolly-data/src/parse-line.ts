import { DOLLY_FIELDS, type DollyRecord, type FieldMap } from './record';

/**
 * Parses one jsonl line into a record, or returns the reason it is not one.
 * Required: a JSON object whose (mapped) `instruction`, `context`, `response` and `category`
 * are strings; `fieldMap.category: null` reads no category (`''`). Other keys are ignored.
 */
export function parseDollyLine(line: string, fieldMap: FieldMap = {}): DollyRecord | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (e) {
    return { error: `invalid JSON (${(e as Error).message})` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { error: `expected a JSON object, got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}` };
  }
  const obj = value as Record<string, unknown>;
  const out: Partial<DollyRecord> = {};
  for (const field of DOLLY_FIELDS) {
    const mapped = fieldMap[field];
    if (mapped === null) {
      // only `category` may be mapped to null: a file without categories
      out[field] = '';
      continue;
    }
    const key = mapped ?? field;
    const v = obj[key];
    if (v === undefined) return { error: `missing field "${key}"` };
    if (typeof v !== 'string') return { error: `field "${key}" must be a string, got ${v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v}` };
    out[field] = v;
  }
  return out as DollyRecord;
}
