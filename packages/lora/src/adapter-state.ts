import type * as tf from '@tensorflow/tfjs-core';
import type { AdapterTensor } from './adapter-files.js';
import { peftKey, peftMagnitudeKey } from './lora-adapter.js';
import type { LoraLinear } from './lora-linear.js';
import { checkOptionArgument, LOAD_STATE_DICT_OPTIONS } from './option-arguments.js';
import { showValue } from './unknown-options.js';

/** The A and B variables of adapter `name` (and DoRA's magnitude), by saved key (no adapter name in it, as PEFT saves), sorted by key. */
function variablesByKey(layers: ReadonlyMap<string, LoraLinear>, name: string): Array<[string, tf.Variable]> {
  const entries: Array<[string, tf.Variable]> = [];
  for (const [path, l] of layers) {
    const a = l.adapters.get(name);
    if (!a) continue;
    entries.push([peftKey(path, 'A'), a.loraA], [peftKey(path, 'B'), a.loraB]);
    if (a.magnitude) entries.push([peftMagnitudeKey(path), a.magnitude]);
  }
  return entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** PEFT's `get_peft_model_state_dict(model, adapter_name=name)`, read synchronously (cpu, wasm, tensorflow). */
export function adapterStateDict(layers: ReadonlyMap<string, LoraLinear>, name: string): Map<string, AdapterTensor> {
  return new Map(variablesByKey(layers, name).map(([k, v]) => [k, { shape: [...v.shape], data: v.dataSync() as Float32Array }]));
}

/** {@link adapterStateDict}, read asynchronously (every backend, webgpu in Node included). */
export async function readAdapterStateDict(layers: ReadonlyMap<string, LoraLinear>, name: string): Promise<Map<string, AdapterTensor>> {
  const out = new Map<string, AdapterTensor>();
  for (const [k, v] of variablesByKey(layers, name)) out.set(k, { shape: [...v.shape], data: (await v.data()) as Float32Array });
  return out;
}

/** How {@link loadAdapterStateDict} treats keys of the file that no layer of the adapter holds. */
export interface LoadStateDictOptions {
  /**
   * True (default): such keys are an error. False: PEFT's `load_state_dict(…, strict=False)` — they are
   * ignored and reported once through `onWarning` (missing keys and wrong shapes stay errors).
   */
  strict?: boolean;
  /** Receives the warning about ignored keys when `strict` is false (default `console.warn`). */
  onWarning?: (message: string) => void;
  /** Where the tensors come from (a folder), for the warning. */
  source?: string;
}

/** What is wrong with `strict` / `onWarning` (not a boolean / a function), worded without the function's name. */
export function loadStateDictValueProblems(options: { strict?: unknown; onWarning?: unknown }): string[] {
  return [
    ...(options.strict !== undefined && typeof options.strict !== 'boolean' ? [`strict must be true or false, not ${showValue(options.strict)}`] : []),
    ...(options.onWarning !== undefined && typeof options.onWarning !== 'function' ? [`onWarning must be a function, not ${showValue(options.onWarning)}`] : []),
  ];
}

/**
 * One error naming every unknown key of `options` and `strict` / `onWarning` of `where` when not a boolean / a function
 * (call it before reading or allocating).
 */
export function checkLoadStateDictOptions(options: unknown, where: string): void {
  checkOptionArgument(where, options, { known: LOAD_STATE_DICT_OPTIONS, values: loadStateDictValueProblems });
}

const list = (xs: readonly string[]) => xs.slice(0, 8).join(', ') + (xs.length > 8 ? `, … (${xs.length})` : '');

/** The end of a DoRA magnitude's key in the form PEFT's loader also takes: the saved key plus `.weight`. */
const MAGNITUDE_WEIGHT = '.lora_magnitude_vector.weight';

/**
 * `tensors` by the key PEFT saves, each with its key as given: `….lora_magnitude_vector.weight` counts as
 * `….lora_magnitude_vector`, as PEFT's `set_peft_model_state_dict` reads both (it appends `.weight` to the
 * saved form before `load_state_dict`). Both forms for one module are one error naming each such module (PEFT
 * would keep whichever comes last).
 */
function bySavedKey(tensors: ReadonlyMap<string, AdapterTensor>): Map<string, { key: string; tensor: AdapterTensor }> {
  const out = new Map<string, { key: string; tensor: AdapterTensor }>();
  const both: string[] = [];
  for (const [key, tensor] of tensors) {
    const saved = key.endsWith(MAGNITUDE_WEIGHT) ? key.slice(0, -'.weight'.length) : key;
    if (out.has(saved)) both.push(saved.replace(/^base_model\.model\./, '').slice(0, -'.lora_magnitude_vector'.length));
    out.set(saved, { key, tensor });
  }
  if (both.length) {
    throw new Error(`LoRA: the adapter holds the DoRA magnitude of ${list(both)} twice, keyed both …lora_magnitude_vector and …lora_magnitude_vector.weight (PEFT loads either form); keep one`);
  }
  return out;
}

/**
 * PEFT's `set_peft_model_state_dict(model, tensors, adapter_name=name)`: copies A and B of adapter
 * `name` from `tensors` (keys as saved). Every layer's A and B must be there with its shape (missing
 * keys and wrong shapes are errors). Keys no layer of the adapter holds are an error too, unless
 * `strict: false`: then, as PEFT's `load_state_dict(…, strict=False)`, they are ignored and named in one
 * warning (`onWarning`, default `console.warn`; the wording of transformers' `load_adapter`). A DoRA
 * magnitude may be keyed `….lora_magnitude_vector` (as PEFT saves it) or `….lora_magnitude_vector.weight`
 * (PEFT loads both); both for one module are an error naming it. Nothing is copied unless everything
 * needed matches.
 */
export function loadAdapterStateDict(layers: ReadonlyMap<string, LoraLinear>, name: string, tensors: ReadonlyMap<string, AdapterTensor>, options: LoadStateDictOptions = {}): void {
  checkLoadStateDictOptions(options, 'loadStateDict');
  const strict = options.strict ?? true;
  const saved = bySavedKey(tensors);
  const expected = new Map(variablesByKey(layers, name));
  const missing = [...expected.keys()].filter((k) => !saved.has(k));
  const unexpected = [...saved].filter(([k]) => !expected.has(k)).map(([, t]) => t.key);
  if (missing.length || (strict && unexpected.length)) {
    throw new Error(`LoRA: adapter keys do not match the model.${missing.length ? ` Missing: ${list(missing)}.` : ''}${unexpected.length ? ` Unexpected: ${list(unexpected)}.` : ''}`);
  }
  const wrong: string[] = [];
  let rankWrong = 0;
  for (const [key, v] of expected) {
    const { key: fileKey, tensor: t } = saved.get(key)!;
    if (`${t.shape}` === `${v.shape}`) continue;
    wrong.push(`${fileKey} is [${t.shape}], the model needs [${v.shape}]`);
    // The rank is A's first dimension and B's second.
    const rankAxis = key.endsWith('.lora_A.weight') ? 0 : key.endsWith('.lora_B.weight') ? 1 : -1;
    if (rankAxis >= 0 && t.shape.length === 2 && t.shape[rankAxis] !== v.shape[rankAxis]) rankWrong++;
  }
  if (wrong.length) {
    const more = wrong.length > 8 ? `; … (${wrong.length} tensors in all)` : '';
    const rank = rankWrong
      ? ` — ${rankWrong} of them with another rank than the adapter's r (or rank_pattern) gives that layer: the weights do not belong to this config`
      : '';
    throw new Error(`LoRA: adapter shapes do not match the model: ${wrong.slice(0, 8).join('; ')}${more}${rank}`);
  }
  const data = (key: string) => saved.get(key)!.tensor.data;
  for (const [path, l] of layers) {
    const a = l.adapters.get(name);
    if (a) l.setWeights(data(peftKey(path, 'A')), data(peftKey(path, 'B')), name, a.useDora ? data(peftMagnitudeKey(path)) : undefined);
  }
  if (unexpected.length) {
    const from = options.source === undefined ? '' : ` from ${options.source}`;
    (options.onWarning ?? console.warn)(
      `LoRA: loading adapter "${name}"${from} led to unexpected keys not found in the model, ignored (PEFT loads with strict=False): ${list(unexpected)}`,
    );
  }
}
