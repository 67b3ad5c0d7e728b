import { mkdir, readFile, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { parseSafetensors, SafetensorsFile, serializeSafetensors, toFloat32, writeFileAtomic, type TensorToWrite } from '@conifer/safetensors';
import { ADAFACTOR_SLOTS, adafactorSlotShape, type AdafactorSlot, type AdafactorState } from './adafactor.js';
import type { AdamWState } from './adamw.js';
import { BEST_FILE, checkpointFolders, checkpointName, hasManifest, MANIFEST_FILE, OPTIMIZER_FILE, STATE_FILE, TRAINABLE_FILE, type Manifest } from './checkpoint-files.js';
import { checkpointDamage, damagedCheckpointError, manifestDamage } from './checkpoint-integrity.js';

export { BEST_FILE, checkpointName, MANIFEST_FILE, OPTIMIZER_FILE, STATE_FILE, TRAINABLE_FILE } from './checkpoint-files.js';
export { checkpointDamage, checkpointToResume, DamagedCheckpointError } from './checkpoint-integrity.js';

/** What a checkpoint holds besides tensors (`state.json`). `T` is the trainer's own state. */
export interface CheckpointContent<T> {
  /** Trainable variables by name. */
  variables: Record<string, { shape: number[]; values: Float32Array }>;
  /** The optimizer's state: AdamW's (`m.<name>`, `v.<name>`) or Adafactor's (`<slot>.<name>`). */
  optimizer: AdamWState | AdafactorState;
  /** JSON-serialisable training state (step, epoch, cursor, RNG, metrics, …). */
  state: T;
  /** Optional: the variables of the best evaluation so far (written as `best.safetensors`). */
  best?: Record<string, { shape: number[]; values: Float32Array }>;
}

/** Whether an optimizer state is Adafactor's (else AdamW's). */
export function isAdafactorState(state: AdamWState | AdafactorState): state is AdafactorState {
  return (state as AdafactorState).kind === 'adafactor';
}

/** Which optimizer wrote a state, as `optimizer.safetensors`' metadata `optimizer` names it. */
export function optimizerKind(state: AdamWState | AdafactorState): 'adamw' | 'adafactor' {
  return isAdafactorState(state) ? 'adafactor' : 'adamw';
}

/** Reads variables (float32) as named arrays with their shapes (asynchronously: every backend, webgpu included). */
export async function snapshotVariables(variables: readonly tf.Variable[]): Promise<Record<string, { shape: number[]; values: Float32Array }>> {
  const out: Record<string, { shape: number[]; values: Float32Array }> = {};
  for (const v of variables) {
    if (out[v.name]) throw new Error(`two trainable variables are named "${v.name}": checkpoints key variables by name`);
    out[v.name] = { shape: [...v.shape], values: ((await v.data()) as Float32Array).slice() };
  }
  return out;
}

/** Assigns saved values to the variables with the same names (every variable must be present, same size). */
export function restoreVariables(variables: readonly tf.Variable[], saved: CheckpointContent<unknown>['variables']): void {
  for (const v of variables) {
    const s = saved[v.name];
    if (!s) throw new Error(`checkpoint has no tensor for variable "${v.name}"`);
    if (s.values.length !== v.size) throw new Error(`checkpoint tensor "${v.name}" has ${s.values.length} values, the variable ${v.size}`);
    tf.tidy(() => v.assign(tf.tensor(s.values, v.shape, 'float32')));
  }
}

/**
 * Writes `dir/checkpoint-<step>/`: `trainable.safetensors`, `optimizer.safetensors`, `state.json`,
 * each atomically (temporary file, fsync, rename), then the `COMPLETE` manifest (file names and
 * sizes) last. Returns the folder's path.
 */
export async function writeCheckpoint<T>(dir: string, step: number, content: CheckpointContent<T>): Promise<string> {
  const folder = join(dir, checkpointName(step));
  await mkdir(folder, { recursive: true });
  await unlink(join(folder, MANIFEST_FILE)).catch(() => undefined); // rewriting the same step: invalid until done
  const tensors = (from: CheckpointContent<T>['variables']) => {
    const map = new Map<string, TensorToWrite>();
    for (const [name, t] of Object.entries(from)) map.set(name, { dtype: 'F32', shape: t.shape, data: t.values });
    return map;
  };
  const vars = tensors(content.variables);
  const files: Array<[string, Uint8Array | string]> = [
    [TRAINABLE_FILE, serializeSafetensors(vars, { format: 'pt' })],
    [OPTIMIZER_FILE, serializeSafetensors(optimizerTensors(content), { step: String(content.optimizer.step), optimizer: optimizerKind(content.optimizer) })],
    [STATE_FILE, JSON.stringify(content.state)],
  ];
  if (content.best) files.push([BEST_FILE, serializeSafetensors(tensors(content.best), { format: 'pt' })]);
  const listed: Manifest['files'] = [];
  for (const [name, bytes] of files) {
    await writeFileAtomic(join(folder, name), bytes);
    listed.push({ name, size: typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength });
  }
  const manifest: Manifest = { format: 'conifer-trainer-checkpoint', version: 1, step, files: listed };
  await writeFileAtomic(join(folder, MANIFEST_FILE), JSON.stringify(manifest));
  return folder;
}

/**
 * `optimizer.safetensors`' tensors: AdamW's `m.<name>` and `v.<name>`; Adafactor's `<slot>.<name>`
 * (`exp_avg`, `exp_avg_sq_row`, `exp_avg_sq_col`, `exp_avg_sq`: transformers' `state[p]` keys) in
 * their own shapes. Only variables of the checkpoint are written.
 */
function optimizerTensors<T>(content: CheckpointContent<T>): Map<string, TensorToWrite> {
  const opt = new Map<string, TensorToWrite>();
  const o = content.optimizer;
  for (const [name, t] of Object.entries(content.variables)) {
    if (isAdafactorState(o)) {
      const slots = o.slots[name] ?? {};
      for (const slot of ADAFACTOR_SLOTS) {
        const data = slots[slot];
        if (data) opt.set(`${slot}.${name}`, { dtype: 'F32', shape: adafactorSlotShape(slot, t.shape), data });
      }
      continue;
    }
    const m = o.m[name];
    const v = o.v[name];
    if (m && v) {
      opt.set(`m.${name}`, { dtype: 'F32', shape: t.shape, data: m });
      opt.set(`v.${name}`, { dtype: 'F32', shape: t.shape, data: v });
    }
  }
  return opt;
}

/** The optimizer `optimizer.safetensors`' metadata names (`optimizer`; absent: AdamW, as before it existed). */
function optimizerKindOf(metadata: Record<string, string> | undefined): 'adamw' | 'adafactor' {
  const kind = metadata?.optimizer ?? 'adamw';
  if (kind !== 'adamw' && kind !== 'adafactor') throw new Error(`${OPTIMIZER_FILE}: unknown optimizer "${kind}" (adamw or adafactor)`);
  return kind;
}

/** Which optimizer wrote the checkpoint in `folder`, from `optimizer.safetensors`' header alone (no tensor is read). */
export async function checkpointOptimizer(folder: string): Promise<'adamw' | 'adafactor'> {
  const file = await SafetensorsFile.open(join(folder, OPTIMIZER_FILE));
  try {
    return optimizerKindOf(file.header.metadata);
  } finally {
    await file.close();
  }
}

/** Reads `optimizer.safetensors`' state ({@link optimizerKindOf} says whose). */
function optimizerStateOf(parsed: ReturnType<typeof parseSafetensors>): AdamWState | AdafactorState {
  const step = Number(parsed.metadata?.step ?? 0);
  if (optimizerKindOf(parsed.metadata) === 'adafactor') {
    const slots: AdafactorState['slots'] = {};
    for (const [key, t] of parsed.tensors) {
      const slot = ADAFACTOR_SLOTS.find((k) => key.startsWith(`${k}.`));
      if (!slot) throw new Error(`${OPTIMIZER_FILE}: "${key}" is not an Adafactor state tensor (${ADAFACTOR_SLOTS.join(', ')})`);
      const name = key.slice(slot.length + 1);
      (slots[name] ??= {} as Partial<Record<AdafactorSlot, Float32Array>>)[slot] = toFloat32(t.dtype, t.data);
    }
    return { kind: 'adafactor', step, slots };
  }
  const m: Record<string, Float32Array> = {};
  const v: Record<string, Float32Array> = {};
  for (const [key, t] of parsed.tensors) {
    const values = toFloat32(t.dtype, t.data);
    if (key.startsWith('m.')) m[key.slice(2)] = values;
    else if (key.startsWith('v.')) v[key.slice(2)] = values;
  }
  return { step, m, v };
}

/**
 * Whether `folder` holds a valid manifest whose files all exist with the listed sizes (the files are
 * not parsed: {@link checkpointDamage} does that too).
 */
export async function isCompleteCheckpoint(folder: string): Promise<boolean> {
  return typeof (await manifestDamage(folder)) !== 'string';
}

/** Checkpoint folders under `dir` as `{ step, path, complete }`, newest first. */
export async function listCheckpoints(dir: string): Promise<Array<{ step: number; path: string; complete: boolean }>> {
  const out: Array<{ step: number; path: string; complete: boolean }> = [];
  for (const c of await checkpointFolders(dir)) out.push({ ...c, complete: await isCompleteCheckpoint(c.path) });
  return out;
}

/**
 * The newest complete checkpoint under `dir`, or null (folders without a valid manifest, or with a
 * size mismatch, are skipped). To resume, use {@link checkpointToResume}: it refuses a damaged
 * newest checkpoint instead of skipping it, as `train({ resume: true })` does.
 */
export async function latestCheckpoint(dir: string): Promise<string | null> {
  return (await listCheckpoints(dir)).find((c) => c.complete)?.path ?? null;
}

/**
 * Reads a checkpoint folder. Without a `COMPLETE` manifest (a write that did not finish) it is an
 * error; a damaged one (see {@link checkpointDamage}) is a {@link DamagedCheckpointError}.
 */
export async function readCheckpoint<T>(folder: string): Promise<CheckpointContent<T>> {
  if (!(await hasManifest(folder))) throw new Error(`${folder} is not a complete checkpoint (no ${MANIFEST_FILE} manifest: its write did not finish)`);
  const damage = await checkpointDamage(folder);
  if (damage !== null) throw await damagedCheckpointError(folder, damage);
  const readVariables = async (file: string) => {
    const parsed = parseSafetensors(new Uint8Array(await readFile(join(folder, file))), file);
    const out: CheckpointContent<T>['variables'] = {};
    for (const [name, t] of parsed.tensors) out[name] = { shape: t.shape, values: toFloat32(t.dtype, t.data) };
    return out;
  };
  const variables = await readVariables(TRAINABLE_FILE);
  const optimizer = optimizerStateOf(parseSafetensors(new Uint8Array(await readFile(join(folder, OPTIMIZER_FILE))), OPTIMIZER_FILE));
  const state = JSON.parse(await readFile(join(folder, STATE_FILE), 'utf8')) as T;
  const manifest = JSON.parse(await readFile(join(folder, MANIFEST_FILE), 'utf8')) as Manifest;
  const best = manifest.files.some((f) => f.name === BEST_FILE) ? await readVariables(BEST_FILE) : undefined;
  return { variables, optimizer, state, ...(best ? { best } : {}) };
}

/** Removes a checkpoint folder, its manifest first: a kill mid-removal leaves a folder without one (a torn write), never a damaged one. */
async function removeCheckpoint(folder: string): Promise<void> {
  await unlink(join(folder, MANIFEST_FILE)).catch(() => undefined);
  await rm(folder, { recursive: true, force: true });
}

/**
 * Keeps the newest `keepLast` (at least 1) intact checkpoints under `dir`; removes older ones, and
 * folders without a manifest older than the newest complete one (leftovers of a kill mid-write). A
 * folder with a manifest that is damaged ({@link checkpointDamage}) is never removed, whatever its
 * step: it is the user's to restore or delete (transformers' `_rotate_checkpoints` deletes by step
 * alone).
 */
export async function pruneCheckpoints(dir: string, keepLast: number): Promise<void> {
  const all = await listCheckpoints(dir);
  const newestComplete = all.find((c) => c.complete);
  const limit = Math.max(1, keepLast);
  // files are parsed only when a checkpoint may go (keepLast: Infinity parses nothing)
  const mayRemove = all.filter((c) => c.complete).length > limit;
  let kept = 0;
  for (const c of all) {
    if (!(await hasManifest(c.path))) {
      if (newestComplete && c.step < newestComplete.step) await removeCheckpoint(c.path);
    } else if (c.complete && (!mayRemove || (await checkpointDamage(c.path)) === null)) {
      kept++;
      if (kept > limit) await removeCheckpoint(c.path);
    }
  }
}
