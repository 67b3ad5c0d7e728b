import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SafetensorsError } from './errors.js';

/**
 * The Hugging Face checkpoint files of a snapshot folder: `model.safetensors`, or else the shards
 * named by `model.safetensors.index.json` (`weight_map`: tensor name → shard file), in that order of
 * preference, as transformers' `from_pretrained` looks for them in a local folder. Every shard the
 * index names must exist in the folder.
 * Returns tensor name → file path (for a single file, `null` means "every tensor of that file").
 */
export async function resolveCheckpointFiles(dir: string): Promise<{ files: string[]; weightMap: Map<string, string> | null }> {
  const single = join(dir, 'model.safetensors');
  if (await isFile(single)) return { files: [single], weightMap: null };
  const index = join(dir, 'model.safetensors.index.json');
  if (await exists(index)) {
    let json: unknown;
    try {
      json = JSON.parse(await readFile(index, 'utf8'));
    } catch (e) {
      throw new SafetensorsError(`${index}: not valid JSON (${(e as Error).message})`);
    }
    const map = (json as { weight_map?: unknown } | null)?.weight_map;
    if (!map || typeof map !== 'object' || Array.isArray(map)) throw new SafetensorsError(`${index}: no "weight_map" object`);
    const weightMap = new Map<string, string>();
    for (const [name, file] of Object.entries(map as Record<string, unknown>)) {
      if (typeof file !== 'string' || file === '' || file.includes('/') || file.includes('\\') || file.startsWith('.')) {
        throw new SafetensorsError(`${index}: weight_map["${name}"] is not a plain file name`);
      }
      weightMap.set(name, join(dir, file));
    }
    const files = [...new Set(weightMap.values())];
    for (const f of files) {
      if (!(await isFile(f))) throw new SafetensorsError(`${index}: the shard ${f} it names is missing`);
    }
    return { files, weightMap };
  }
  throw new SafetensorsError(`${dir}: neither model.safetensors nor model.safetensors.index.json found`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
