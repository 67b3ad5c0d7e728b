import type { LoraConfig } from './config.js';

/** `re.fullmatch(pattern, key)` with a JavaScript RegExp (Python and JS agree on the common syntax). */
function fullmatch(pattern: string, key: string): boolean {
  return new RegExp(`^(?:${pattern})$`).test(key);
}

/** A list entry matches a path that equals it or ends with `"." + entry` (PEFT). */
function listEntryMatches(entry: string, key: string): boolean {
  return key === entry || key.endsWith(`.${entry}`);
}

/** The model's output head, which PEFT's `"all-linear"` leaves out. */
const OUTPUT_LAYER = 'lm_head';

/** PEFT's shorthand `"all-linear"`, compared case-insensitively as PEFT does (`target_modules.lower()`). */
export function isAllLinear(target: unknown): target is string {
  return typeof target === 'string' && target.toLowerCase() === 'all-linear';
}

const isOutputLayer = (key: string) => key === OUTPUT_LAYER || key.endsWith(`.${OUTPUT_LAYER}`);

type TargetConfig = Pick<LoraConfig, 'target_modules' | 'exclude_modules' | 'layers_to_transform' | 'layers_pattern'>;

/**
 * How {@link isTargetModule} decides on `key`: `"excluded"` (by `exclude_modules`, checked first as in
 * PEFT), `"unmatched"` (no `target_modules` entry or regex matches), `"layer"` (matched, but left out
 * by `layers_to_transform`), or `"target"`.
 */
export type TargetMatch = 'excluded' | 'unmatched' | 'layer' | 'target';

/**
 * PEFT's `check_target_module_exists(config, key)`, with the reason: exclusions first, then a string
 * target is a `re.fullmatch` on the whole path, a list target matches by equality or
 * `endswith("." + entry)`, then `layers_to_transform` (with PEFT's regex, `.*\.[^.]*\.(\d+)\.` or
 * `.*\.{pattern}\.(\d+)\.`).
 */
export function targetModuleMatch(config: TargetConfig, key: string): TargetMatch {
  const ex = config.exclude_modules;
  if (typeof ex === 'string' && ex.length > 0 && fullmatch(ex, key)) return 'excluded';
  if (Array.isArray(ex) && ex.some((e) => listEntryMatches(e, key))) return 'excluded';

  const t = config.target_modules;
  if (isAllLinear(t)) return isOutputLayer(key) ? 'unmatched' : 'target';
  if (typeof t === 'string') return fullmatch(t, key) ? 'target' : 'unmatched';
  if (!t.some((e) => listEntryMatches(e, key))) return 'unmatched';

  const idx = config.layers_to_transform;
  const usingIdx = idx !== null && idx !== undefined && (!Array.isArray(idx) || idx.length > 0);
  if (!usingIdx || t.includes(key)) return 'target';
  const layer = layerIndex(config, key);
  if (layer === undefined) return 'layer';
  return (Array.isArray(idx) ? idx.includes(layer) : layer === idx) ? 'target' : 'layer';
}

/** PEFT's `check_target_module_exists(config, key)`: whether `key` gets the adapter (see {@link targetModuleMatch}). */
export function isTargetModule(config: TargetConfig, key: string): boolean {
  return targetModuleMatch(config, key) === 'target';
}

/** The layer index PEFT reads from `key` for `layers_to_transform` (undefined when its regex finds none). */
export function layerIndex(config: Pick<LoraConfig, 'layers_pattern'>, key: string): number | undefined {
  let m: RegExpExecArray | null = null;
  const pats = config.layers_pattern;
  if (pats === null || pats === undefined || pats.length === 0) {
    m = /^.*\.[^.]*\.(\d+)\./.exec(key);
  } else {
    for (const p of typeof pats === 'string' ? [pats] : pats) {
      m = new RegExp(`^.*\\.${p}\\.(\\d+)\\.`).exec(key);
      if (m) break;
    }
  }
  return m ? Number(m[1]) : undefined;
}

/** List entries of `target_modules` that match none of `paths` (empty for a regex string). */
export function unmatchedTargets(config: Pick<LoraConfig, 'target_modules'>, paths: readonly string[]): string[] {
  const t = config.target_modules;
  if (typeof t === 'string') return paths.some((p) => (isAllLinear(t) ? !isOutputLayer(p) : fullmatch(t, p))) ? [] : [t];
  return t.filter((e) => !paths.some((p) => listEntryMatches(e, p)));
}

/**
 * PEFT's `get_pattern_key`: the first `rank_pattern`/`alpha_pattern` key `k` such that the path
 * matches `(.*\.)?(k)$` from its start; the per-module r and alpha come from it.
 */
export function patternKey(patternKeys: readonly string[], key: string): string | undefined {
  return patternKeys.find((k) => new RegExp(`^(?:.*\\.)?(?:${k})$`).test(key));
}

/**
 * A module's rank and alpha, as PEFT's `_create_and_replace`: `r` from the first matching `rank_pattern`
 * key, `lora_alpha` from the first matching `alpha_pattern` key — each looked up on its own
 * ({@link patternKey}) — else the config's `r` and `lora_alpha`.
 */
export function moduleRankAlpha(config: Pick<LoraConfig, 'r' | 'lora_alpha' | 'rank_pattern' | 'alpha_pattern'>, path: string): { r: number; alpha: number } {
  const rKey = patternKey(Object.keys(config.rank_pattern), path);
  const alphaKey = patternKey(Object.keys(config.alpha_pattern), path);
  return {
    r: (rKey !== undefined ? config.rank_pattern[rKey] : undefined) ?? config.r,
    alpha: (alphaKey !== undefined ? config.alpha_pattern[alphaKey] : undefined) ?? config.lora_alpha,
  };
}
