import type { LoraConfig } from './config.js';
import { isAllLinear, layerIndex, targetModuleMatch } from './target.js';

const sample = (xs: readonly string[], n: number) => xs.slice(0, n).join(', ') + (xs.length > n ? ', …' : '');

/**
 * The error of an injection that adapts nothing or names a target that matches nothing (PEFT's
 * `inject_adapter` checks): the `target_modules` entries that match no linear; or, when every matched
 * linear was then left out, how many `exclude_modules` excluded and how many `layers_to_transform`
 * left out, with the layer index PEFT's regex reads from a few of those paths.
 */
export function noTargetsMessage(config: LoraConfig, paths: readonly string[], unmatched: readonly string[], noneLeft: boolean): string {
  const t = config.target_modules;
  const parts: string[] = [];
  if (unmatched.length > 0) {
    const what = isAllLinear(t)
      ? `target_modules ${JSON.stringify(t)} (every linear but lm_head)`
      : typeof t === 'string'
        ? `target_modules regex ${JSON.stringify(t)}`
        : `target_modules ${JSON.stringify(unmatched)}`;
    let hint = '';
    if (typeof t === 'string' && !isAllLinear(t) && /^[\w-]+$/.test(t)) {
      hint = ` (a string is a regular expression over the whole path, PEFT's re.fullmatch; for module names pass a list: [${JSON.stringify(t)}])`;
    } else if (Array.isArray(t) && t.some((e) => isAllLinear(e))) {
      hint = ' ("all-linear" works as the whole value, a string, not as a list entry)';
    }
    parts.push(`${what} matched no linear of the model${hint} (${paths.length} linears, e.g. ${sample(paths, 6)})`);
  }
  if (noneLeft) {
    // Which paths target_modules matches before exclude_modules and layers_to_transform are applied.
    const matched = paths.filter((p) => targetModuleMatch({ ...config, exclude_modules: null }, p) !== 'unmatched');
    if (matched.length > 0) {
      const excluded = matched.filter((p) => targetModuleMatch(config, p) === 'excluded');
      const layered = matched.filter((p) => targetModuleMatch(config, p) === 'layer');
      const why: string[] = [];
      if (excluded.length) why.push(`exclude_modules ${JSON.stringify(config.exclude_modules)} excludes ${excluded.length} of them`);
      if (layered.length) {
        const idx = layered.slice(0, 3).map((p) => `${layerIndex(config, p) ?? 'none'} for ${p}`).join(', ');
        const how = config.layers_pattern === null || config.layers_pattern === undefined || config.layers_pattern.length === 0
          ? `without layers_pattern PEFT reads N from the last ".<name>.N." in the path (its regex .*\\.[^.]*\\.(\\d+)\\.)`
          : `layers_pattern ${JSON.stringify(config.layers_pattern)}`;
        why.push(`layers_to_transform ${JSON.stringify(config.layers_to_transform)} leaves out ${layered.length} (layer index: ${idx}${layered.length > 3 ? ', …' : ''}; ${how})`);
      }
      parts.push(`no linear is left to adapt: target_modules ${JSON.stringify(t)} matched ${matched.length} (e.g. ${sample(matched, 3)}), but ${why.join(', and ')}`);
    }
  }
  if (parts.length === 0) parts.push(`target_modules ${JSON.stringify(t)} left no linear to adapt (${paths.length} linears: ${sample(paths, 6)})`);
  return `LoRA: ${parts.join('; ')}`;
}
