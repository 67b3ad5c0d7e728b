import { mkdir, readdir, readFile, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { parseSafetensors, SafetensorsFile, serializeSafetensors, toFloat32, writeFileAtomic, type TensorToWrite } from '@conifer/safetensors';
import { ADAFACTOR_SLOTS, adafactorSlotShape, type AdafactorSlot, type AdafactorState } from './adafactor.js';
import type { AdamWState } from './adamw.js';

/** The manifest written last into a checkpoint folder; a folder without a valid one is ignored. */
export const MANIFEST_FILE = 'COMPLETE';
export const TRAINABLE_FILE = 'trainable.safetensors';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const STATE_FILE = 'state.json';
/** The best model's variables so far (trainer option `loadBestModelAtEnd`), when the checkpoint has them. */
export const BEST_FILE = 'best.safetensors';

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

interface Manifest {
  format: 'conifer-trainer-checkpoint';
  version: 1;
  step: number;
  files: Array<{ name: string; size: number }>;
}

/** Whether an optimizer state is Adafactor's (else AdamW's). */
export function isAdafactorState(state: AdamWState | AdafactorState): state is AdafactorState {
  return (state as AdafactorState).kind === 'adafactor';
}

/** Which optimizer wrote a state, as `optimizer.safetensors`' metadata `optimizer` names it. */
export function optimizerKind(state: AdamWState | AdafactorState): 'adamw' | 'adafactor' {
  return isAdafactorState(state) ? 'adafactor' : 'adamw';
}

/** `checkpoint-<step>` */
export function checkpointName(step: number): string {
  return `checkpoint-${step}`;
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

/** Whether `folder` holds a valid manifest whose files all exist with the listed sizes. */
export async function isCompleteCheckpoint(folder: string): Promise<boolean> {
  try {
    const m = JSON.parse(await readFile(join(folder, MANIFEST_FILE), 'utf8')) as Manifest;
    if (m.format !== 'conifer-trainer-checkpoint' || !Array.isArray(m.files)) return false;
    const needed = new Set([TRAINABLE_FILE, OPTIMIZER_FILE, STATE_FILE]);
    for (const f of m.files) {
      const s = await stat(join(folder, f.name));
      if (s.size !== f.size) return false;
      needed.delete(f.name);
    }
    return needed.size === 0;
  } catch {
    return false;
  }
}

/** Checkpoint folders under `dir` as `{ step, path, complete }`, newest first. */
export async function listCheckpoints(dir: string): Promise<Array<{ step: number; path: string; complete: boolean }>> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const out: Array<{ step: number; path: string; complete: boolean }> = [];
  for (const name of names) {
    const m = /^checkpoint-(\d+)$/.exec(name);
    if (!m) continue;
    const path = join(dir, name);
    out.push({ step: Number(m[1]), path, complete: await isCompleteCheckpoint(path) });
  }
  return out.sort((a, b) => b.step - a.step);
}

/** The newest complete checkpoint under `dir`, or null (folders without a valid manifest are skipped). */
export async function latestCheckpoint(dir: string): Promise<string | null> {
  return (await listCheckpoints(dir)).find((c) => c.complete)?.path ?? null;
}

/** Reads a checkpoint folder (it must be complete). */
export async function readCheckpoint<T>(folder: string): Promise<CheckpointContent<T>> {
  if (!(await isCompleteCheckpoint(folder))) throw new Error(`${folder} is not a complete checkpoint (no valid ${MANIFEST_FILE} manifest)`);
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

/**
 * Keeps the newest `keepLast` complete checkpoints under `dir`; removes older ones, and incomplete
 * folders older than the newest complete one (leftovers of a kill mid-write).
 */
export async function pruneCheckpoints(dir: string, keepLast: number): Promise<void> {
  const all = await listCheckpoints(dir);
  const newestComplete = all.find((c) => c.complete);
  let kept = 0;
  for (const c of all) {
    if (c.complete) {
      kept++;
      if (kept > Math.max(1, keepLast)) await rm(c.path, { recursive: true, force: true });
    } else if (newestComplete && c.step < newestComplete.step) {
      await rm(c.path, { recursive: true, force: true });
    }
  }
}
