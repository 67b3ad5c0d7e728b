import { int8LinearFactory, quantizeAllButLmHead } from '@conifer/int8';
import { T5ForConditionalGeneration } from '@conifer/t5-model';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEMO_CONFIG } from '../demo-config.js';
import { CliError } from '../errors.js';
import type { ModelSource } from '../options.js';
import { countParameters, resolveInt8 } from '../plan.js';
import { readT5Config, t5Shape } from '../t5-config.js';
import type { Int8Mode } from '../options.js';
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
 * The model a command runs on: the embedded demo T5 (seeded random weights), a Hugging Face
 * snapshot folder, or a hub id (downloaded into the cache first). Linears are int8 when asked
 * (`auto`: for models over 1 B parameters), quantized as each weight streams in.
 */
export async function loadModel(
  source: ModelSource,
  options: { int8: Int8Mode; seed: number; gradientCheckpointing?: boolean; cacheDir?: string },
): Promise<LoadedModel> {
  if (source.kind === 'config') {
    throw new CliError(`--model ${source.file}: a bare config.json is enough for --dry-run only; pass the snapshot folder`);
  }
  const dir = source.kind === 'dir' ? source.dir : source.kind === 'hub' ? await downloadModel(source.id, { cacheDir: options.cacheDir }) : null;
  const config = dir ? null : DEMO_CONFIG;
  const total = countParameters(t5Shape((config ?? readT5Config(dir!, true)) as Record<string, unknown>)).total;
  const int8 = resolveInt8(options.int8, total);
  const makeLinear = int8 === 'off' ? undefined : int8LinearFactory({ mode: int8, shouldQuantize: quantizeAllButLmHead });
  const common = { gradientCheckpointing: options.gradientCheckpointing ?? false, dropoutSeed: options.seed, ...(makeLinear ? { makeLinear } : {}) };
  if (!dir) {
    const model = T5ForConditionalGeneration.fromConfig(DEMO_CONFIG as Record<string, unknown>, { ...common, seed: options.seed });
    return { model, label: 'embedded demo T5 (random weights)', int8, dir: null };
  }
  if (!existsSync(join(dir, 'config.json'))) throw new CliError(`--model ${dir}: no config.json in that folder`);
  try {
    const model = await T5ForConditionalGeneration.fromPretrained(dir, common);
    return { model, label: dir, int8, dir };
  } catch (e) {
    throw new CliError(`--model ${dir}: ${(e as Error).message}`);
  }
}
