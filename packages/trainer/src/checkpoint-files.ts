import { access, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** The manifest written last into a checkpoint folder (file names and sizes); a folder without one is a write that did not finish. */
export const MANIFEST_FILE = 'COMPLETE';
export const TRAINABLE_FILE = 'trainable.safetensors';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const STATE_FILE = 'state.json';
/** The best model's variables so far (trainer option `loadBestModelAtEnd`), when the checkpoint has them. */
export const BEST_FILE = 'best.safetensors';
/** The files every checkpoint's manifest lists. */
export const REQUIRED_FILES = [TRAINABLE_FILE, OPTIMIZER_FILE, STATE_FILE] as const;

/** The `COMPLETE` manifest: the checkpoint's files and their sizes. */
export interface Manifest {
  format: 'conifer-trainer-checkpoint';
  version: 1;
  step: number;
  files: Array<{ name: string; size: number }>;
}

const CHECKPOINT_FOLDER = /^checkpoint-(\d+)$/;

/** `checkpoint-<step>` */
export function checkpointName(step: number): string {
  return `checkpoint-${step}`;
}

/** The step of a `checkpoint-<step>` folder name, or null for any other name. */
export function checkpointStep(name: string): number | null {
  const m = CHECKPOINT_FOLDER.exec(name);
  return m ? Number(m[1]) : null;
}

/** The `checkpoint-<step>` folders under `dir` as `{ step, path }`, newest first (none when `dir` is unreadable). */
export async function checkpointFolders(dir: string): Promise<Array<{ step: number; path: string }>> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const out: Array<{ step: number; path: string }> = [];
  for (const name of names) {
    const step = checkpointStep(name);
    if (step !== null) out.push({ step, path: join(dir, name) });
  }
  return out.sort((a, b) => b.step - a.step);
}

/**
 * Whether `folder` has a `COMPLETE` manifest at all. Without one it is a write that did not finish
 * (the manifest is written last, and removed first when a step is rewritten or a folder pruned).
 */
export async function hasManifest(folder: string): Promise<boolean> {
  return access(join(folder, MANIFEST_FILE)).then(
    () => true,
    () => false,
  );
}
