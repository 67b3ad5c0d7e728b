import { int8LinearFactory, isSkippedModule, quantizeAllButLmHead, skipModules } from '@conifer/int8';
import { T5ForConditionalGeneration } from '@conifer/t5-model';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEMO_CONFIG } from '../demo-config.js';
import { CliError } from '../errors.js';
import type { ModelSource } from '../options.js';
import { countParameters, resolveInt8, t5Linears } from '../plan.js';
import { readT5Config, t5Shape, type T5Shape } from '../t5-config.js';
import type { Int8Mode } from '../options.js';
import { byteProgressBar } from './download-progress.js';
import { downloadModel } from './hub.js';

export interface LoadedModel {
  model: T5ForConditionalGeneration;
  /** What was loaded, for the log. */
  label: string;
  /** The int8 mode in effect ('off' = float32 linears). */
  int8: Exclude<Int8Mode, 'auto'>;
  /** Snapshot folder (null for the demo model). */
  dir: string | null;
}

/**
 * A hub id becomes the snapshot folder it downloads to (other sources pass through), so that the
 * tokenizer and the weights both come from that folder. `hubId` is kept for labels and adapters.
 */
export async function resolveHubModel(source: ModelSource, log: (line: string) => void, flag = '--model'): Promise<{ source: ModelSource; hubId: string | null }> {
  if (source.kind !== 'hub') return { source, hubId: null };
  return { source: { kind: 'dir', dir: await downloadWithProgress(source.id, log, flag) }, hubId: source.id };
}

/** downloadModel with a progress bar on a terminal (stderr), else one line per file through `log`; errors name `flag`. */
export async function downloadWithProgress(id: string, log: (line: string) => void, flag = '--model'): Promise<string> {
  const progress = byteProgressBar(`download ${id}`);
  return downloadModel(id, progress ? { progress } : { onFile: (path, i, n) => log(`  download     ${id}: ${path} (${i + 1}/${n})`) }, flag);
}

/** The snapshot folder of a source (null for the demo model). */
export function modelDir(source: ModelSource): string | null {
  return source.kind === 'dir' ? source.dir : null;
}

/**
 * Module names that match no projection of the model are an error named from config.json, before
 * anything loads. `matches(path, name)`: the flag's own rule (PEFT's suffix match for
 * --target-modules, int8's subtree match for --int8-skip-modules).
 */
function checkModuleNames(flag: string, shape: T5Shape, names: readonly string[], matches: (path: string, name: string) => boolean, also = ''): void {
  const paths = t5Linears(shape).map((l) => l.path);
  const unmatched = names.filter((n) => !paths.some((p) => matches(p, n)));
  if (unmatched.length) {
    const have = [...new Set(paths.map((p) => p.slice(p.lastIndexOf('.') + 1)))].filter((n) => n !== 'lm_head').join(', ');
    throw new CliError(`${flag}: ${unmatched.join(', ')} matches no projection of this model (it has ${have}${also})`);
  }
}

/** --int8-skip-modules names that match no projection (e.g. `wi` on a gated model, `decoder.block.9` of 8 blocks): an error, not a no-op. */
export function checkSkipModules(shape: T5Shape, names: readonly string[] = []): void {
  const range = (n: number) => (n === 1 ? '0' : `0–${n - 1}`);
  const blocks = ` in encoder.block.${range(shape.numLayers)} and decoder.block.${range(shape.numDecoderLayers)}`;
  checkModuleNames('--int8-skip-modules', shape, names, (p, n) => isSkippedModule(p, [n]), blocks);
}

/** --target-modules that match no projection: an error before loading, not an empty adapter in the plan and a stack trace later. */
export function checkTargetModules(shape: T5Shape, names: readonly string[]): void {
  checkModuleNames('--target-modules', shape, names, (p, n) => p === n || p.endsWith(`.${n}`));
}

/**
 * The model a command runs on: the embedded demo T5 (seeded random weights), a Hugging Face
 * snapshot folder, or a hub id (downloaded into the cache first through {@link resolveHubModel}).
 * Linears are int8 when asked (`auto`: for models over 1 B parameters), quantized as each weight
 * streams in. `hubId` (when the folder came from the hub) is the label.
 */
export async function loadModel(
  source: ModelSource,
  options: {
    int8: Int8Mode;
    int8SkipModules?: readonly string[];
    seed: number;
    gradientCheckpointing?: boolean;
    log?: (line: string) => void;
    hubId?: string | null;
    /** The flag the source came from, named in errors (default `--model`; `--assistant-model` for generate's assistant). */
    flag?: string;
  },
): Promise<LoadedModel> {
  const flag = options.flag ?? '--model';
  if (source.kind === 'config') {
    throw new CliError(`${flag} ${source.file}: a bare config.json is enough for --dry-run only; pass the snapshot folder`);
  }
  if (source.kind === 'hub') {
    const resolved = await resolveHubModel(source, options.log ?? (() => {}), flag);
    return loadModel(resolved.source, { ...options, hubId: resolved.hubId });
  }
  const dir = modelDir(source);
  const config = dir ? null : DEMO_CONFIG;
  const shape = t5Shape((config ?? readT5Config(dir!, true)) as Record<string, unknown>);
  const int8 = resolveInt8(options.int8, countParameters(shape).total);
  if (int8 !== 'off') checkSkipModules(shape, options.int8SkipModules);
  const shouldQuantize = options.int8SkipModules?.length ? skipModules(options.int8SkipModules) : quantizeAllButLmHead;
  const makeLinear = int8 === 'off' ? undefined : int8LinearFactory({ mode: int8, shouldQuantize });
  const common = { gradientCheckpointing: options.gradientCheckpointing ?? false, dropoutSeed: options.seed, ...(makeLinear ? { makeLinear } : {}) };
  if (!dir) {
    const model = T5ForConditionalGeneration.fromConfig(DEMO_CONFIG as Record<string, unknown>, { ...common, seed: options.seed });
    return { model, label: 'embedded demo T5 (random weights)', int8, dir: null };
  }
  if (!existsSync(join(dir, 'config.json'))) throw new CliError(`${flag} ${dir}: no config.json in that folder`);
  try {
    const model = await T5ForConditionalGeneration.fromPretrained(dir, common);
    return { model, label: options.hubId ?? dir, int8, dir };
  } catch (e) {
    const message = (e as Error).message;
    throw new CliError(`${flag} ${dir}: ${message.startsWith(`${dir}: `) ? message.slice(dir.length + 2) : message}`);
  }
}
