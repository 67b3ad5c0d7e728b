import { mkdir, readdir, readFile, realpath, stat, unlink } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import {
  DTYPE_BYTES,
  type Dtype,
  float32ToBf16Bits,
  float32ToF16Bits,
  numElements,
  resolveCheckpointFiles,
  SafetensorsFile,
  toFloat32,
  type TensorInfo,
  writeFileAtomic,
  writeSafetensorsFile,
} from '@conifer/safetensors';
import { type AdapterTensor, readAdapter } from './adapter-files.js';
import { type LoraConfig, loraScaling } from './config.js';
import { type AdapterHubOptions, checkAdapterSubfolder, resolveAdapterDir } from './hub.js';
import { moduleRankAlpha } from './target.js';
import { ADAPTER_LOCATION, checkOptionArgument, MERGE_ADAPTER_NAMES, MERGE_ADAPTER_OPTIONS } from './option-arguments.js';
import { nestedOptionProblems } from './unknown-options.js';
import { loadStateDictValueProblems } from './adapter-state.js';

/** Stored dtype of the merged checkpoint's float tensors: each tensor's own (`same`), or one for all. */
export type MergedDtype = 'same' | 'F32' | 'BF16' | 'F16';

/** One adapter to merge: a folder or hub id, or {@link AdapterLocation} (with PEFT's `subfolder`). */
export type AdapterSource = string | AdapterLocation;

/** Where an adapter's files are. */
export interface AdapterLocation {
  /** A local adapter folder, or a hub id (`owner/name`) downloaded through `options.hub`. */
  dirOrId: string;
  /** PEFT's `subfolder`: the files are in `<dirOrId>/<subfolder>/` (relative, no `..`; for a hub id no `#`, `?`, `%`). */
  subfolder?: string;
}

/** Options of {@link mergeAdapterIntoCheckpoint}. */
export interface MergeAdapterOptions {
  /** Float tensors' stored dtype (default `same`: as in the base checkpoint; Flan-UL2's are BF16). */
  dtype?: MergedDtype;
  /** How an adapter hub id is downloaded (cache, revision, endpoint, token). */
  hub?: AdapterHubOptions;
  /** Called before each weight file is written (0-based index of `count`). */
  onFile?: (file: string, index: number, count: number) => void;
  /**
   * Write into an `outDir` that is not empty (default false: refused, so that an earlier checkpoint's
   * files cannot sit beside the merge): earlier weight files (`model*.safetensors`, their index,
   * `pytorch_model*`) are deleted first, files of the same names are replaced, other files stay.
   */
  overwrite?: boolean;
  /** Receives PEFT's warning about an adapter_config.json's fields its `LoraConfig` lacks (see `readAdapter`); none given: silent. */
  onWarning?: (message: string) => void;
}

/** What {@link mergeAdapterIntoCheckpoint} did. */
export interface MergeAdapterResult {
  /** Files written under the output folder (weights, index, then the copied config and tokenizer files). */
  files: string[];
  /** Module paths whose weight now includes its adapter (`encoder.block.0.layer.0.SelfAttention.q`, …). */
  merged: string[];
  /** Entries of the base folder not copied: other weight formats (`.bin`, …), adapter files, the model card, folders (`name/`). */
  skipped: string[];
}

const FLOAT_DTYPES = new Set<Dtype>(['F32', 'F16', 'BF16', 'F64']);
/** Weight files of any format (and their indexes), adapter files, the model card and dotfiles: not copied (the weights are written). */
const NOT_COPIED = /\.(bin|pt|pth|ckpt|h5|msgpack|gguf|onnx|safetensors)(\.index\.json)?$|^adapter_|^README\.md$|^\./;
/** Earlier weight files in an output folder, deleted with `overwrite`. */
const STALE_WEIGHTS = /^(model.*\.safetensors|model\.safetensors\.index\.json|pytorch_model.*\.bin(\.index\.json)?)$/;
const TORCH_DTYPE: Record<Exclude<MergedDtype, 'same'>, string> = { F32: 'float32', BF16: 'bfloat16', F16: 'float16' };
/** An adapter key: a LoRA A or B, or a DoRA magnitude as PEFT saves it (`….lora_magnitude_vector`) or with `.weight`, which PEFT's loader also takes. */
const ADAPTER_KEY = /^base_model\.model\.(.+)\.(?:lora_([AB])\.weight|lora_magnitude_vector(\.weight)?)$/;

/** One adapter's delta on one weight: `scaling · B·A`; with DoRA's magnitude m, the row rescale of PEFT's `merge_safe`. */
interface Delta {
  A: AdapterTensor;
  B: AdapterTensor;
  scaling: number;
  /** DoRA: W' = m / ‖W + ΔW‖ · (W + ΔW) per row. */
  magnitude?: AdapterTensor;
}

interface Adapted {
  path: string;
  /** The deltas of the adapters that adapt this module, in the order the adapters were given (PEFT's merge order). */
  deltas: Delta[];
  /** An 8-bit weight (bitsandbytes' I8 + `<path>.SCB`): merged as PEFT merges into Linear8bitLt. */
  int8?: boolean;
}

/**
 * PEFT's `merge_and_unload()` followed by `save_pretrained()`, done on the files: writes to `outDir`
 * the base checkpoint (`model.safetensors`, or the shards of `model.safetensors.index.json`) with
 * every adapted projection's weight replaced by `W + scaling · B·A` — the adapter's keys
 * (`base_model.model.<path>.lora_A.weight`) name the checkpoint's own tensors (`<path>.weight`), so
 * any model with Hugging Face names works, T5 or not. Tensors are read, merged and written one at a
 * time (memory: the adapters, plus one tensor in its stored and float32 forms — for Flan-UL2 at most
 * ≈ 1 GB, its embedding converted to F16); every other tensor is copied byte for byte (or converted,
 * with `dtype`); the other files of the snapshot (config, generation config, tokenizer, chat template,
 * code) are copied — config's `torch_dtype` updated when `dtype` converts — so `outDir` is a snapshot a
 * Hugging Face loader reads without PEFT. Each merged row is summed in float64 and stored as float32,
 * then (BF16/F16) rounded to the stored dtype — PEFT adds a float32 delta to the weight in its own
 * dtype, the same roundings. `adapter` is a folder or a hub id. Everything is checked before anything
 * is written (the error names each missing tensor, wrong shape or index entry); each file is written
 * atomically; `outDir` must not be the base folder, and must be empty unless `overwrite`.
 *
 * DoRA adapters (`use_dora`, a `lora_magnitude_vector` per module — or `lora_magnitude_vector.weight`,
 * which PEFT's `set_peft_model_state_dict` loads too; both for one module are refused, naming it): each
 * row of `W + scaling · B·A` is then rescaled to m / ‖W + scaling · B·A‖ (PEFT's
 * `DoraLinearVariant.merge_safe`; W the weight as merged so far when several adapters are merged).
 *
 * Several adapters (an array): PEFT's `merge_and_unload(adapter_names=[…])` with those adapters
 * loaded — each weight becomes `W + Σᵢ scalingᵢ · Bᵢ·Aᵢ` over the adapters that adapt it, added one
 * adapter at a time in the array's order as PEFT's `lora.Linear.merge` loops over `adapter_names`, each
 * sum stored in the dtype the merge runs in before the next: a BF16/F16 weight kept in its dtype is
 * rounded to it after each adapter (the bf16 model merged); with a `dtype` conversion every adapter is
 * added in float32 and rounded once (the model loaded in float32, merged, then converted); an 8-bit
 * weight is quantized again after each, as PEFT's `Linear8bitLt.merge`. The same folder twice adds its
 * delta twice, like one adapter loaded under two names. Each adapter is checked against the checkpoint
 * (the error names it by position and folder) before anything is written.
 */
export async function mergeAdapterIntoCheckpoint(baseDir: string, adapter: AdapterSource | readonly AdapterSource[], outDir: string, options: MergeAdapterOptions = {}): Promise<MergeAdapterResult> {
  const locations = (Array.isArray(adapter) ? (adapter as readonly unknown[]) : [adapter]).flatMap((a, i) =>
    typeof a === 'object' && a !== null ? nestedOptionProblems(Array.isArray(adapter) ? `adapter[${i}]` : 'adapter', a, ADAPTER_LOCATION, { sub_folder: 'subfolder', dir: 'dirOrId', path: 'dirOrId', model_id: 'dirOrId' }) : []);
  checkOptionArgument('mergeAdapterIntoCheckpoint', options, { known: MERGE_ADAPTER_OPTIONS, aliases: MERGE_ADAPTER_NAMES, hub: true, moreUnknown: locations, values: mergeValueProblems });
  const dtype = options.dtype ?? 'same';
  const sources = adapterSources(adapter);
  const base = await realpath(baseDir);
  if ((await realpath(outDir).catch(() => resolve(outDir))) === base) throw new Error(`mergeAdapterIntoCheckpoint: the output folder ${outDir} is the base folder; choose another`);
  const existing = await readdir(outDir).catch(() => [] as string[]);
  if (existing.length && !options.overwrite) {
    throw new Error(`mergeAdapterIntoCheckpoint: the output folder ${outDir} is not empty (${existing.slice(0, 3).join(', ')}${existing.length > 3 ? ', …' : ''}); choose an empty one or pass overwrite`);
  }
  const adapters: Array<{ label: string; config: LoraConfig; tensors: Map<string, AdapterTensor> }> = [];
  for (const [i, { dirOrId, subfolder }] of sources.entries()) {
    const { config, tensors } = await readAdapter(await resolveAdapterDir(dirOrId, options.hub, subfolder), options.onWarning ? { onWarning: options.onWarning } : {});
    const label = sources.length === 1 ? '' : `adapter ${i} (${dirOrId}${subfolder === undefined ? '' : `, subfolder ${subfolder}`}): `;
    adapters.push({ label, config, tensors });
  }
  const modelConfig = await readModelConfig(base);
  const { files, weightMap } = await resolveCheckpointFiles(base);
  const opened: SafetensorsFile[] = [];
  try {
    for (const f of files) opened.push(await SafetensorsFile.open(f));
    const where = checkpointTensors(opened, weightMap);
    const adapted = adaptedModulesOfAll(adapters, where, modelConfig);
    await mkdir(outDir, { recursive: true });
    for (const name of existing) if (STALE_WEIGHTS.test(name)) await unlink(join(outDir, name));
    const written: string[] = [];
    const outBytes = new Map<string, number>();
    const int8 = new Int8Merges(where, adapted);
    for (const [i, f] of opened.entries()) {
      const name = basename(f.path);
      options.onFile?.(name, i, opened.length);
      const sources = f.names().filter((t) => where.get(t)?.file === f).map((t) => {
        const info = f.info(t);
        const a = adapted.get(t);
        const scbOf = int8.scbOwner(t);
        // 8-bit weights and their SCB (float32 row absmax) keep their dtypes; other float tensors follow `dtype`.
        const out = scbOf ? 'F32' : FLOAT_DTYPES.has(info.dtype) && dtype !== 'same' && !t.endsWith('.SCB') ? dtype : info.dtype;
        outBytes.set(t, numElements(info.shape) * DTYPE_BYTES[out]);
        const bytes = a?.int8 ? async () => asBytes((await int8.merged(a)).weight)
          : scbOf ? async () => asBytes((await int8.merged(scbOf)).SCB)
          : async () => tensorBytes(await f.read(t), out, a);
        return { name: t, dtype: out, shape: [...info.shape], bytes };
      });
      await writeSafetensorsFile(join(outDir, name), sources, f.header.metadata);
      written.push(name);
    }
    if (weightMap) written.push(await writeIndex(base, outDir, outBytes, weightMap));
    const { copied, skipped } = await copySnapshotFiles(base, outDir, dtype, modelConfig, written);
    return { files: [...written, ...copied], merged: [...adapted.values()].map((a) => a.path), skipped };
  } finally {
    for (const f of opened) await f.close();
  }
}

/** config.json of the base folder (parsed before anything is written), or null when it has none. */
async function readModelConfig(base: string): Promise<Record<string, unknown> | null> {
  const text = await readFile(join(base, 'config.json'), 'utf8').catch(() => null);
  if (text === null) return null;
  try {
    const c = JSON.parse(text) as unknown;
    if (typeof c !== 'object' || c === null || Array.isArray(c)) throw new Error('not a JSON object');
    return c as Record<string, unknown>;
  } catch (e) {
    throw new Error(`mergeAdapterIntoCheckpoint: ${join(base, 'config.json')}: ${(e as Error).message}`);
  }
}

/**
 * Each tensor's file and header entry. With an index, a tensor counts only in the shard the index
 * names (a copy in another shard is not written), and every index entry must be in its shard.
 */
function checkpointTensors(opened: SafetensorsFile[], weightMap: ReadonlyMap<string, string> | null): Map<string, TensorInfo & { file: SafetensorsFile }> {
  const where = new Map<string, TensorInfo & { file: SafetensorsFile }>();
  const problems: string[] = [];
  for (const f of opened) {
    for (const name of f.names()) {
      if (weightMap && weightMap.get(name) !== f.path) continue;
      if (where.has(name)) problems.push(`${name} is in more than one file`);
      where.set(name, { ...f.info(name), file: f });
    }
  }
  if (weightMap) for (const [name, file] of weightMap) if (!where.has(name)) problems.push(`the index puts ${name} in ${basename(file)}, which does not hold it`);
  if (problems.length) throw new Error(`mergeAdapterIntoCheckpoint: the checkpoint is inconsistent: ${problems.slice(0, 8).join('; ')}${problems.length > 8 ? `; … (${problems.length})` : ''}`);
  return where;
}

/** `dtype` not one of ours, `overwrite` not a boolean, `onWarning` / `onFile` not a function: worded without the function's name. */
function mergeValueProblems(o: Record<string, unknown>): string[] {
  const dtype = o['dtype'];
  return [
    ...(dtype === undefined || ['same', 'F32', 'BF16', 'F16'].includes(dtype as string) ? [] : [`dtype ${JSON.stringify(dtype)} is not same, F32, BF16 or F16`]),
    ...(o['onFile'] === undefined || typeof o['onFile'] === 'function' ? [] : ['onFile must be a function']),
    ...(o['overwrite'] === undefined || typeof o['overwrite'] === 'boolean' ? [] : [`overwrite must be true or false, not ${JSON.stringify(o['overwrite'])}`]),
    ...loadStateDictValueProblems({ onWarning: o['onWarning'] }),
  ];
}

/** `adapter` as a checked, non-empty list of `{ dirOrId, subfolder }` (nothing read yet). */
function adapterSources(adapter: AdapterSource | readonly AdapterSource[]): Array<{ dirOrId: string; subfolder?: string }> {
  const list = Array.isArray(adapter) ? (adapter as readonly AdapterSource[]) : [adapter as AdapterSource];
  if (list.length === 0) throw new Error('mergeAdapterIntoCheckpoint: no adapter given (an empty list)');
  return list.map((a, i) => {
    const s = typeof a === 'string' ? { dirOrId: a } : a;
    if (typeof s !== 'object' || s === null || typeof s.dirOrId !== 'string' || s.dirOrId === '') {
      throw new Error(`mergeAdapterIntoCheckpoint: adapter ${i} is ${JSON.stringify(a)}; give a folder or hub id, or { dirOrId, subfolder }`);
    }
    // Checked here (for the hub too, for a hub id), so that a bad one is refused before any adapter is fetched.
    const subfolder = checkAdapterSubfolder(s.dirOrId, s.subfolder);
    return subfolder === undefined ? { dirOrId: s.dirOrId } : { dirOrId: s.dirOrId, subfolder };
  });
}

/**
 * {@link adaptedModules} of every adapter, joined by checkpoint key: a module's deltas in the
 * adapters' order. One error lists every adapter's problems.
 */
function adaptedModulesOfAll(
  adapters: ReadonlyArray<{ label: string; config: LoraConfig; tensors: ReadonlyMap<string, AdapterTensor> }>,
  where: ReadonlyMap<string, TensorInfo>,
  modelConfig: Record<string, unknown> | null,
): Map<string, Adapted> {
  const problems: string[] = [];
  const all = new Map<string, Adapted>();
  const limit = adapters.length === 1 ? 8 : 4; // per adapter, so that each one's problems show
  for (const { label, config, tensors } of adapters) {
    const { adapted, problems: p } = adaptedModules(tensors, config, where, modelConfig);
    if (p.length) problems.push(label + p.slice(0, limit).join('; ') + (p.length > limit ? `; … (${p.length} problems)` : ''));
    for (const [key, a] of adapted) {
      const seen = all.get(key);
      if (seen) seen.deltas.push(...a.deltas);
      else all.set(key, a);
    }
  }
  if (problems.length) throw new Error(`mergeAdapterIntoCheckpoint: the adapter${adapters.length > 1 ? 's do' : ' does'} not fit the checkpoint: ${problems.join(' — ')}`);
  return all;
}

/**
 * The adapted modules by checkpoint key (`<path>.weight`), checked against the checkpoint: every
 * adapter key is a LoRA A or B (or a DoRA magnitude, in either of its two forms), each module has both,
 * its weight is a float `[out, in]` tensor there, A is `[r, in]` and B `[out, r]` with r the config's
 * rank for that module. Returns every problem.
 */
function adaptedModules(tensors: ReadonlyMap<string, AdapterTensor>, config: LoraConfig, where: ReadonlyMap<string, TensorInfo>, modelConfig: Record<string, unknown> | null): { adapted: Map<string, Adapted>; problems: string[] } {
  const problems: string[] = [];
  const pairs = new Map<string, { A?: AdapterTensor; B?: AdapterTensor; M?: AdapterTensor }>();
  for (const [key, t] of tensors) {
    const m = ADAPTER_KEY.exec(key);
    if (!m) {
      problems.push(`adapter key ${key} is not a LoRA A or B weight${config.use_dora ? ' nor a DoRA lora_magnitude_vector' : ''}`);
      continue;
    }
    const p = pairs.get(m[1]!) ?? {};
    if (!m[2] && p.M) {
      problems.push(`${m[1]} has both lora_magnitude_vector and lora_magnitude_vector.weight (PEFT loads either form; keep one)`);
      continue;
    }
    p[m[2] ? (m[2] as 'A' | 'B') : 'M'] = t;
    pairs.set(m[1]!, p);
  }
  const adapted = new Map<string, Adapted>();
  for (const [path, { A, B, M }] of pairs) {
    if (M && !config.use_dora) {
      problems.push(`${path} has a lora_magnitude_vector but the config says use_dora false`);
      continue;
    }
    if (config.use_dora && !M) {
      problems.push(`${path} has no lora_magnitude_vector (use_dora is true)`);
      continue;
    }
    if (!A || !B) {
      problems.push(`${path} has lora_${A ? 'A' : 'B'} but no lora_${A ? 'B' : 'A'}`);
      continue;
    }
    const key = `${path}.weight`;
    if ((path === 'lm_head' || path.endsWith('.lm_head')) && modelConfig?.tie_word_embeddings !== false) {
      problems.push(`${path} is tied to the input embedding (tie_word_embeddings): a merge into it would be dropped at load`);
      continue;
    }
    const w = where.get(key);
    if (!w) {
      problems.push(`the checkpoint has no ${key}`);
      continue;
    }
    const { r, alpha } = moduleRankAlpha(config, path);
    const [out, inF] = w.shape;
    const scb = where.get(`${path}.SCB`);
    const int8 = w.dtype === 'I8' && w.shape.length === 2 && scb !== undefined && `${scb.shape}` === `${out}` && FLOAT_DTYPES.has(scb.dtype);
    if (w.shape.length !== 2 || !(FLOAT_DTYPES.has(w.dtype) || int8)) {
      problems.push(`${key} is ${w.dtype}[${w.shape}], not a float matrix${w.dtype === 'I8' ? ` (nor an 8-bit one with ${path}.SCB [${out}])` : ''}`);
    } else if (`${A.shape}` !== `${r},${inF}` || `${B.shape}` !== `${out},${r}`) {
      problems.push(`${path}: lora_A [${A.shape}] and lora_B [${B.shape}] do not fit ${key} [${w.shape}] at r ${r} (want [${r},${inF}] and [${out},${r}])`);
    } else if (M && `${M.shape}` !== `${out}`) {
      problems.push(`${path}: lora_magnitude_vector [${M.shape}] does not fit ${key} [${w.shape}] (want [${out}])`);
    } else {
      const delta: Delta = { A, B, scaling: loraScaling(r, alpha, config.use_rslora), ...(M ? { magnitude: M } : {}) };
      adapted.set(key, { path, deltas: [delta], ...(int8 ? { int8 } : {}) });
    }
  }
  if (!problems.length && !adapted.size) problems.push('the adapter has no LoRA weights');
  return { adapted, problems };
}

/**
 * A tensor's bytes in the output: as stored when nothing changes, else decoded, merged (`a`'s deltas
 * one after another) and encoded as `out`. The merge runs in one dtype, as in one PEFT session
 * (`lora.Linear.merge`: `base_layer.weight.data += delta` per adapter, in the weight's dtype): a BF16/F16
 * weight kept in its dtype is the bf16/f16 model merged, so the running sum is rounded to it between
 * two adapters; when `out` converts, it is the model loaded in float32, merged, then `.to(dtype)`:
 * every adapter (the first one too) added in float32 and one rounding to `out` at the end.
 */
function tensorBytes(t: { dtype: Dtype; shape: number[]; data: Uint8Array }, out: Dtype, a: Adapted | undefined): Uint8Array {
  if (!a && out === t.dtype) return t.data;
  let w = toFloat32(t.dtype, t.data);
  const half = out === t.dtype && (out === 'BF16' || out === 'F16') ? out : null; // the merge's dtype, when not float32
  for (const [i, d] of (a?.deltas ?? []).entries()) {
    if (i > 0 && half) w = toFloat32(half, asBytes(half === 'BF16' ? float32ToBf16Bits(w) : float32ToF16Bits(w)));
    addScaledProduct(w, d, t.shape[0]!, t.shape[1]!);
  }
  return asBytes(out === 'F32' ? w : out === 'BF16' ? float32ToBf16Bits(w) : out === 'F16' ? float32ToF16Bits(w) : Float64Array.from(w));
}

/** The bytes of a typed array (a view, no copy). */
const asBytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/**
 * The merges of 8-bit weights (bitsandbytes' `<path>.weight` I8 + `<path>.SCB`), as PEFT merges into a
 * `Linear8bitLt`: dequantized as bitsandbytes does (`(CB · SCB) · (1/127)`), `scaling · B·A` added,
 * rounded to float16 (bitsandbytes' `Int8Params` quantizes an fp16 copy) and quantized again per row
 * (`round(W · 127 / absmax)`, half to even as `torch.round`; SCB = absmax). The weight and its SCB are
 * written by separate producers, in whatever order the file holds them (transformers' files put all
 * SCBs first), so each computes the merge itself: nothing is held between them — twice the arithmetic
 * for 8-bit adapted weights, one merged tensor in memory at a time.
 */
class Int8Merges {
  /** The 8-bit adapted modules by their SCB tensor's name. */
  private readonly scb: Map<string, Adapted>;
  constructor(private readonly where: ReadonlyMap<string, TensorInfo & { file: SafetensorsFile }>, adapted: ReadonlyMap<string, Adapted>) {
    this.scb = new Map([...adapted.values()].filter((a) => a.int8).map((a) => [`${a.path}.SCB`, a]));
  }

  /** The adapted module whose SCB tensor `name` is, if any. */
  scbOwner(name: string): Adapted | undefined {
    return this.scb.get(name);
  }

  async merged(a: Adapted): Promise<{ weight: Int8Array; SCB: Float32Array }> {
    const read = (name: string) => this.where.get(name)!.file.read(name);
    const [w, s] = await Promise.all([read(`${a.path}.weight`), read(`${a.path}.SCB`)]);
    const [out, inF] = w.shape as [number, number];
    let weight = new Int8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength);
    let SCB = toFloat32(s.dtype, s.data);
    // PEFT's Linear8bitLt.merge: per adapter, dequantize, add its delta, quantize again.
    for (const d of a.deltas) ({ weight, SCB } = Int8Merges.mergeOne(weight, SCB, d, out, inF));
    return { weight, SCB };
  }

  /** One adapter's delta merged into an 8-bit weight: dequantized, added, rounded to fp16, quantized per row. */
  private static mergeOne(q: Int8Array, SCB: Float32Array, d: Delta, out: number, inF: number): { weight: Int8Array; SCB: Float32Array } {
    const inv127 = Math.fround(7.874015718698502e-3);
    const f = Float32Array.from(q, (v, i) => Math.fround(Math.fround(v * SCB[Math.floor(i / inF)]!) * inv127));
    addScaledProduct(f, d, out, inF);
    const h = toFloat32('F16', asBytes(float32ToF16Bits(f))); // the fp16 copy bitsandbytes quantizes
    const weight = new Int8Array(out * inF);
    const absmax = new Float32Array(out);
    for (let r = 0; r < out; r++) {
      let m = 0;
      for (let c = 0; c < inF; c++) m = Math.max(m, Math.abs(h[r * inF + c]!));
      absmax[r] = m;
      if (m === 0) continue;
      const k = Math.fround(127 / m);
      for (let c = 0; c < inF; c++) weight[r * inF + c] = roundHalfEven(Math.fround(h[r * inF + c]! * k));
    }
    return { weight, SCB: absmax };
  }
}

/** `torch.round`: to nearest, half to even. */
function roundHalfEven(v: number): number {
  const fl = Math.floor(v);
  const d = v - fl;
  return d > 0.5 || (d === 0.5 && fl % 2 !== 0) ? fl + 1 : fl;
}

/**
 * `w [out, in] += scaling · B [out, r] · A [r, in]`, each row summed in float64 and rounded once. With
 * DoRA's magnitude m, each row of the float32 sum is then scaled by m / ‖row‖ (the norm and the factor in
 * float64, the product rounded to float32): PEFT's `DoraLinearVariant.merge_safe`.
 */
function addScaledProduct(w: Float32Array, { A, B, scaling, magnitude }: Delta, out: number, inF: number): void {
  const r = A.shape[0]!;
  const [a, bs] = [A.data, B.data]; // hoisted: the inner loop is ~130 M steps per Flan-UL2 weight
  const acc = new Float64Array(inF);
  for (let o = 0; o < out; o++) {
    acc.fill(0);
    for (let k = 0; k < r; k++) {
      const b = bs[o * r + k]!;
      if (b === 0) continue;
      const row = k * inF;
      for (let i = 0; i < inF; i++) acc[i]! += b * a[row + i]!;
    }
    const at = o * inF;
    for (let i = 0; i < inF; i++) w[at + i] = w[at + i]! + scaling * acc[i]!;
    if (magnitude) {
      let sq = 0;
      for (let i = 0; i < inF; i++) sq += w[at + i]! * w[at + i]!;
      const factor = magnitude.data[o]! / Math.sqrt(sq);
      for (let i = 0; i < inF; i++) w[at + i] = w[at + i]! * factor;
    }
  }
}

/** `model.safetensors.index.json`: the same weight map and the output's total size, as transformers writes it (indent 2, keys sorted). */
async function writeIndex(base: string, outDir: string, outBytes: ReadonlyMap<string, number>, weightMap: ReadonlyMap<string, string>): Promise<string> {
  const name = 'model.safetensors.index.json';
  const index = JSON.parse(await readFile(join(base, name), 'utf8')) as { metadata?: Record<string, unknown> };
  const total = [...outBytes.values()].reduce((a, b) => a + b, 0);
  const sorted = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const map = sorted(Object.fromEntries([...weightMap].map(([k, v]) => [k, basename(v)])));
  const out = { metadata: sorted({ ...(index.metadata ?? {}), total_size: total }), weight_map: map };
  await writeFileAtomic(join(outDir, name), `${JSON.stringify(out, null, 2)}\n`);
  return name;
}

/**
 * Copies the snapshot's other top-level files (config, generation config, tokenizer, chat template,
 * code…) into `outDir`: all but weight files of any format, adapter files, the model card and
 * dotfiles; folders are listed as skipped. With a `dtype`, config.json's `torch_dtype` (or
 * transformers 5's `dtype`) says so.
 */
async function copySnapshotFiles(base: string, outDir: string, dtype: MergedDtype, modelConfig: Record<string, unknown> | null, written: readonly string[]): Promise<{ copied: string[]; skipped: string[] }> {
  const copied: string[] = [];
  const skipped: string[] = [];
  for (const name of (await readdir(base)).sort()) {
    if (written.includes(name)) continue; // the merged weights and index
    if (!(await stat(join(base, name))).isFile()) {
      skipped.push(`${name}/`);
      continue;
    }
    if (NOT_COPIED.test(name)) {
      skipped.push(name);
      continue;
    }
    if (name === 'config.json' && dtype !== 'same' && modelConfig) {
      const config = { ...modelConfig };
      for (const k of ['torch_dtype', 'dtype']) if (k in config) config[k] = TORCH_DTYPE[dtype];
      await writeFileAtomic(join(outDir, name), `${JSON.stringify(config, null, 2)}\n`);
    } else {
      await writeFileAtomic(join(outDir, name), await readFile(join(base, name)));
    }
    copied.push(name);
  }
  return { copied, skipped };
}
