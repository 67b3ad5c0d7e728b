import { readFile, mkdir, access } from 'node:fs/promises';
import { join } from 'node:path';
import { readSafetensorsFile, serializeSafetensors, toFloat32, writeFileAtomic } from '@conifer/safetensors';
import { describeUnknownField, FILE_FIELDS, unknownFields } from './config-fields.js';
import { CODE_ONLY_FIELDS, type LoraConfig, type LoraConfigInput, PEFT_FORMAT_VERSION, completeLoraConfig, peftLoraFields } from './config.js';
import { pythonJsonDumps } from './python-json.js';
import { joinSubfolder } from './subfolder.js';
import { readTorchStateDict } from './torch-bin.js';
import { checkOptionArgument, PARSE_ADAPTER_CONFIG_OPTIONS, READ_ADAPTER_OPTIONS } from './option-arguments.js';
import { loadStateDictValueProblems } from './adapter-state.js';

export const ADAPTER_CONFIG_NAME = 'adapter_config.json';
export const ADAPTER_SAFETENSORS_NAME = 'adapter_model.safetensors';
export const ADAPTER_BIN_NAME = 'adapter_model.bin';

/** One adapter tensor in float32, row-major. */
export interface AdapterTensor {
  shape: number[];
  data: Float32Array;
}

/** Fields PEFT declares as Python floats (written `0.0`, not `0`). */
const FLOAT_FIELDS = new Set(['lora_dropout']);

/** `adapter_config.json` text exactly as PEFT writes it (`json.dumps(indent=2, sort_keys=True)`, no trailing newline). */
export function adapterConfigJson(config: LoraConfig): string {
  return pythonJsonDumps(config, FLOAT_FIELDS);
}

/** `adapter_model.safetensors` bytes as PEFT writes them: float32, keys sorted, metadata `{"format": "pt"}`. */
export function adapterSafetensorsBytes(tensors: Map<string, AdapterTensor>): Uint8Array {
  const out = new Map<string, { dtype: 'F32'; shape: number[]; data: Float32Array }>();
  for (const [k, t] of tensors) out.set(k, { dtype: 'F32', shape: t.shape, data: t.data });
  return serializeSafetensors(out, { format: 'pt' });
}

/**
 * Writes `adapter_config.json` and `adapter_model.safetensors` into `dir` (created if needed),
 * each atomically. `inference_mode` is written true, as PEFT's `save_pretrained` does.
 */
export async function writeAdapter(dir: string, config: LoraConfig, tensors: Map<string, AdapterTensor>): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, ADAPTER_SAFETENSORS_NAME), adapterSafetensorsBytes(tensors));
  await writeFileAtomic(join(dir, ADAPTER_CONFIG_NAME), adapterConfigJson({ ...config, inference_mode: true }));
}

/** Options of {@link parseAdapterConfig}. */
export interface ParseAdapterConfigOptions {
  /**
   * Receives one warning naming the fields PEFT's `LoraConfig` lacks (PEFT's `from_pretrained` warns about them
   * and drops them; here they are kept, written back and otherwise ignored). Nothing is printed without it.
   */
  onWarning?: (message: string) => void;
}

/**
 * Parses an `adapter_config.json` text: PEFT defaults for missing fields; fields PEFT's `LoraConfig` lacks
 * (another PEFT version's, e.g. PEFT 0.3's `enable_lora`, `merge_weights`) are kept, written back and otherwise
 * ignored, and named in one warning to `onWarning` (as PEFT's `from_pretrained` warns; PEFT drops them).
 */
export function parseAdapterConfig(text: string, where = ADAPTER_CONFIG_NAME, options: ParseAdapterConfigOptions = {}): LoraConfig {
  checkOptionArgument('parseAdapterConfig', options, { known: PARSE_ADAPTER_CONFIG_OPTIONS, values: (o) => loadStateDictValueProblems({ onWarning: o['onWarning'] }) });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${where}: not JSON: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${where}: not a JSON object`);
  let config: LoraConfig;
  try {
    config = completeLoraConfig(raw as LoraConfigInput);
  } catch (e) {
    (e as Error).message = `${where}: ${(e as Error).message}`;
    throw e;
  }
  const known = peftLoraFields();
  // runtime_config: a LoraConfig field PEFT never saves (dropped here too, not warned about)
  const unknown = unknownFields(raw, [...known, ...CODE_ONLY_FIELDS]).sort();
  if (unknown.length) (config as unknown as Record<symbol, unknown>)[FILE_FIELDS] = unknown;
  if (unknown.length && options.onWarning) {
    // PEFT's PeftConfigMixin.from_peft_type, which then drops them.
    options.onWarning(
      `${where}: unexpected keyword arguments [${unknown.map((k) => `'${k}'`).join(', ')}] for class LoraConfig (PEFT ${PEFT_FORMAT_VERSION}'s fields), these are ignored` +
        ` (kept, and written back when the adapter is saved). This probably means that the file was saved by another PEFT version` +
        (unknown.some((k) => describeUnknownField(k, known) !== k) ? `, or misspells a field: ${unknown.map((k) => describeUnknownField(k, known)).join(', ')}` : ''),
    );
  }
  return config;
}

const exists = (p: string) => access(p).then(() => true, () => false);

/** Options of {@link readAdapter}. */
export interface ReadAdapterOptions {
  /** PEFT's `subfolder`: the files are in `<dir>/<subfolder>/` (relative, no `..`; see `checkSubfolder`). */
  subfolder?: string;
  /** As {@link ParseAdapterConfigOptions.onWarning}: the config's fields PEFT's `LoraConfig` lacks. */
  onWarning?: (message: string) => void;
}

/**
 * Reads an adapter folder: `adapter_config.json` and `adapter_model.safetensors` (F32/F16/BF16,
 * converted to float32), or else the legacy `adapter_model.bin` (PyTorch zip, read by a
 * restricted unpickler that executes nothing). With `subfolder`, from `<dir>/<subfolder>/`.
 */
export async function readAdapter(folder: string, options: ReadAdapterOptions = {}): Promise<{ config: LoraConfig; tensors: Map<string, AdapterTensor>; format: 'safetensors' | 'bin' }> {
  checkOptionArgument('readAdapter', options, { known: READ_ADAPTER_OPTIONS, values: (o) => loadStateDictValueProblems({ onWarning: o['onWarning'] }) });
  const dir = joinSubfolder(folder, options.subfolder);
  const config = parseAdapterConfig(await readFile(join(dir, ADAPTER_CONFIG_NAME), 'utf8'), join(dir, ADAPTER_CONFIG_NAME), options.onWarning ? { onWarning: options.onWarning } : {});
  const st = join(dir, ADAPTER_SAFETENSORS_NAME);
  const bin = join(dir, ADAPTER_BIN_NAME);
  const tensors = new Map<string, AdapterTensor>();
  if (await exists(st)) {
    const file = await readSafetensorsFile(st);
    for (const [k, t] of file.tensors) {
      if (t.dtype !== 'F32' && t.dtype !== 'F16' && t.dtype !== 'BF16') throw new Error(`${st}: tensor "${k}" is ${t.dtype}; adapters are F32, F16 or BF16`);
      tensors.set(k, { shape: t.shape, data: toFloat32(t.dtype, t.data) });
    }
    return { config, tensors, format: 'safetensors' };
  }
  if (await exists(bin)) {
    for (const [k, t] of readTorchStateDict(new Uint8Array(await readFile(bin)), bin)) tensors.set(k, { shape: t.shape, data: t.data });
    return { config, tensors, format: 'bin' };
  }
  throw new Error(`${dir}: neither ${ADAPTER_SAFETENSORS_NAME} nor ${ADAPTER_BIN_NAME} found`);
}
