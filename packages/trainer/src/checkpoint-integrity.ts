/**
 * A damaged checkpoint is an error, not a silent fresh start.
 *
 * A checkpoint folder without its `COMPLETE` manifest is what a kill mid-write leaves (the manifest is
 * written last): a resume passes over it. A folder WITH a manifest was written completely; when its
 * files no longer match the manifest (a truncated copy, a missing file, a disk error), or a
 * safetensors header, the manifest or `state.json` no longer parses, it was damaged afterwards.
 * Passed over like a torn write, it made a resume start again at step 1 (or from an older checkpoint)
 * without a word, and pruning then deleted it.
 *
 * transformers' `Trainer.train(resume_from_checkpoint=True)` resumes from `get_last_checkpoint(output_dir)`
 * (src/transformers/trainer_utils.py: the highest `checkpoint-<N>` folder, whatever it holds) and never
 * passes over a damaged one: `Trainer._load_from_checkpoint` raises `ValueError("Can't find a valid
 * checkpoint at …")` when its weights file is missing, and the loader fails on a truncated one. Here the
 * same is one {@link DamagedCheckpointError} naming the folder, what is damaged and the fix, raised
 * before anything is trained, written or pruned (transformers has no manifest, so it cannot tell a
 * torn write from damage; the manifest lets a torn write still be passed over).
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { SafetensorsFile } from '@conifer/safetensors';
import { BEST_FILE, checkpointFolders, checkpointStep, hasManifest, MANIFEST_FILE, OPTIMIZER_FILE, REQUIRED_FILES, STATE_FILE, TRAINABLE_FILE } from './checkpoint-files.js';

/**
 * Thrown when the checkpoint a resume would continue from (the newest folder with a `COMPLETE`
 * manifest) is damaged, and by `readCheckpoint` on a damaged folder.
 */
export class DamagedCheckpointError extends Error {
  constructor(
    /** The damaged checkpoint folder. */
    readonly folder: string,
    /** What is damaged, e.g. `trainable.safetensors is 100 bytes, its manifest says 1,234 bytes`. */
    readonly damage: string,
    /** The folder a resume continues from once `folder` is deleted (null: the start). */
    readonly resumeFrom: string | null,
    /** Damaged folders between `folder` and `resumeFrom`, which would have to go too. */
    readonly alsoDamaged: readonly string[] = [],
  ) {
    const also = alsoDamaged.length > 0 ? ` and ${alsoDamaged.join(', ')} (damaged too)` : '';
    const target = resumeFrom ?? (alsoDamaged.length > 0 ? 'the start' : 'the start (no older checkpoint)');
    super(`${folder} is damaged: ${damage}. Restore that folder, or delete it${also} to resume from ${target}`);
    this.name = 'DamagedCheckpointError';
  }
}

/** The manifest's file list, or a description of why it is not a conifer trainer checkpoint's. */
function manifestFiles(manifest: unknown): Array<{ name: string; size: number }> | string {
  const m = manifest as { format?: unknown; files?: unknown } | null;
  if (typeof m !== 'object' || m === null || m.format !== 'conifer-trainer-checkpoint' || !Array.isArray(m.files)) {
    return `its ${MANIFEST_FILE} manifest is not a conifer trainer checkpoint's`;
  }
  for (const f of m.files as Array<{ name?: unknown; size?: unknown } | null>) {
    if (typeof f?.name !== 'string' || basename(f.name) !== f.name || typeof f.size !== 'number') {
      return `its ${MANIFEST_FILE} manifest lists ${JSON.stringify(f)}, not a file name and size`;
    }
  }
  return m.files as Array<{ name: string; size: number }>;
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * What is wrong with the checkpoint in `folder`, or null when it is intact: its `COMPLETE` manifest
 * parses and lists `trainable.safetensors`, `optimizer.safetensors` and `state.json`; every file it
 * lists exists with the listed size; the safetensors headers and `state.json` parse (tensor data
 * past the headers is not read). A folder without a manifest gets `it has no COMPLETE manifest …`
 * (a write that did not finish, not damage: see `hasManifest`).
 */
export async function checkpointDamage(folder: string): Promise<string | null> {
  const files = await manifestDamage(folder);
  if (typeof files === 'string') return files;
  // the sizes match: the headers (validated against the file size) and the state must parse too
  for (const name of [TRAINABLE_FILE, OPTIMIZER_FILE, BEST_FILE]) {
    if (!files.some((f) => f.name === name)) continue;
    const path = join(folder, name);
    try {
      await (await SafetensorsFile.open(path)).close();
    } catch (e) {
      return message(e).replace(`${path}: `, `${name}: `);
    }
  }
  try {
    JSON.parse(await readFile(join(folder, STATE_FILE), 'utf8'));
  } catch (e) {
    return `${STATE_FILE} is not valid JSON (${message(e)})`;
  }
  return null;
}

/**
 * The first part of {@link checkpointDamage}, without parsing any file but the manifest: what is wrong with
 * `folder`'s `COMPLETE` manifest or the sizes of the files it lists, or the listed files when nothing is
 * (`isCompleteCheckpoint` is this finding nothing).
 */
export async function manifestDamage(folder: string): Promise<string | Array<{ name: string; size: number }>> {
  let text: string;
  try {
    text = await readFile(join(folder, MANIFEST_FILE), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return `it has no ${MANIFEST_FILE} manifest (a write that did not finish)`;
    return `its ${MANIFEST_FILE} manifest cannot be read (${message(e)})`;
  }
  let manifest: unknown;
  try {
    manifest = JSON.parse(text);
  } catch (e) {
    return `its ${MANIFEST_FILE} manifest is not valid JSON (${message(e)})`;
  }
  const files = manifestFiles(manifest);
  if (typeof files === 'string') return files;
  for (const name of REQUIRED_FILES) {
    if (!files.some((f) => f.name === name)) return `its ${MANIFEST_FILE} manifest does not list ${name}`;
  }
  for (const f of files) {
    let size: number;
    try {
      size = (await stat(join(folder, f.name))).size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return `${f.name} is missing`;
      return `${f.name} cannot be read (${message(e)})`;
    }
    if (size !== f.size) return `${f.name} is ${size.toLocaleString('en-US')} bytes, its manifest says ${f.size.toLocaleString('en-US')} bytes`;
  }
  return files;
}

/**
 * What a resume continues from once a damaged folder is deleted: the newest intact one of `older`
 * (newest first) that has a manifest, and the damaged ones before it.
 */
async function nextIntact(older: ReadonlyArray<{ path: string }>): Promise<{ resumeFrom: string | null; alsoDamaged: string[] }> {
  const alsoDamaged: string[] = [];
  for (const o of older) {
    if (!(await hasManifest(o.path))) continue;
    if ((await checkpointDamage(o.path)) === null) return { resumeFrom: o.path, alsoDamaged };
    alsoDamaged.push(o.path);
  }
  return { resumeFrom: null, alsoDamaged };
}

/** The error for a damaged `folder`; the older checkpoints beside it (a `checkpoint-<step>` folder) say what to resume from. */
export async function damagedCheckpointError(folder: string, damage: string): Promise<DamagedCheckpointError> {
  const step = checkpointStep(basename(folder));
  const older = step === null ? [] : (await checkpointFolders(dirname(folder))).filter((o) => o.step < step);
  const { resumeFrom, alsoDamaged } = await nextIntact(older);
  return new DamagedCheckpointError(folder, damage, resumeFrom, alsoDamaged);
}

/**
 * The checkpoint `train({ resume: true, checkpointDir: dir })` continues from, or null (none: the
 * start). Folders newest first: one without a `COMPLETE` manifest (a write that did not finish) is
 * passed over; the first one with a manifest is the one, and it must be intact, else this throws a
 * {@link DamagedCheckpointError} naming it, what is damaged and the older checkpoint to resume from.
 * Nothing is written. An app can call it before it loads a big model.
 */
export async function checkpointToResume(dir: string): Promise<string | null> {
  const folders = await checkpointFolders(dir);
  for (const c of folders) {
    if (!(await hasManifest(c.path))) continue;
    const damage = await checkpointDamage(c.path);
    if (damage === null) return c.path;
    throw await damagedCheckpointError(c.path, damage);
  }
  return null;
}
