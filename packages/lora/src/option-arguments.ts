/**
 * The options arguments of the package's functions (other than the LoRA config, see `config.ts`): every key known,
 * as a `KnownOptions` list, PEFT's snake_case keyword names pointed to ours. One Error per call names every unknown
 * key, nested `hub` keys included, and an options argument (or `hub`) that is not an object.
 */
import type { AdapterFileOptions, AddAdapterOptions, InjectOptions, LoadAdapterOptions, LoadNamedAdapterOptions, SaveAdapterOptions } from './model-options.js';
import type { AdapterHubOptions } from './hub.js';
import type { LoadStateDictOptions } from './adapter-state.js';
import type { ParseAdapterConfigOptions, ReadAdapterOptions } from './adapter-files.js';
import type { AdapterLocation, MergeAdapterOptions } from './merge-files.js';
import type { LoraAdapterOptions } from './lora-adapter.js';
import type { LoraLinearOptions } from './lora-linear.js';
import type { AddWeightedAdapterOptions } from './weighted-adapter.js';
import type { WebGPULoraKernelOptions } from './lora-webgpu.js';
import { type KnownOptions, nestedOptionProblems, notAnOptionsObject, optionsMessage } from './unknown-options.js';

export const HUB_OPTIONS: KnownOptions<AdapterHubOptions> = { cacheDir: true, revision: true, hubUrl: true, accessToken: true, fetch: true };
/** huggingface_hub's keyword names inside `hub`. */
export const HUB_NAMES: Readonly<Record<string, string>> = { token: 'accessToken', use_auth_token: 'accessToken', endpoint: 'hubUrl' };
/** PEFT's `from_pretrained` / `load_adapter` download keywords, given at the top level: ours are under `hub`. */
const HUB_KEYWORDS: Readonly<Record<string, string>> = {
  revision: 'hub.revision', cache_dir: 'hub.cacheDir', token: 'hub.accessToken', use_auth_token: 'hub.accessToken',
  access_token: 'hub.accessToken', hub_url: 'hub.hubUrl', endpoint: 'hub.hubUrl', fetch: 'hub.fetch',
};

const FILE: KnownOptions<AdapterFileOptions> = { subfolder: true, onWarning: true };
export const INJECT_OPTIONS: KnownOptions<InjectOptions> = { seed: true, trainable: true, adapterName: true, allowUnmatchedTargets: true, doraWeightNorm: true };
export const ADD_ADAPTER_OPTIONS: KnownOptions<AddAdapterOptions> = { seed: true, allowUnmatchedTargets: true, doraWeightNorm: true };
export const LOAD_ADAPTER_OPTIONS: KnownOptions<LoadAdapterOptions> = { ...FILE, isTrainable: true, seed: true, hub: true, adapterName: true, doraWeightNorm: true };
export const LOAD_NAMED_ADAPTER_OPTIONS: KnownOptions<LoadNamedAdapterOptions> = { ...FILE, isTrainable: true, seed: true, hub: true, doraWeightNorm: true };
export const SAVE_ADAPTER_OPTIONS: KnownOptions<SaveAdapterOptions> = { baseModelNameOrPath: true, selectedAdapters: true };
export const SET_ADAPTER_OPTIONS: KnownOptions<{ inferenceMode?: boolean }> = { inferenceMode: true };
export const LOAD_STATE_DICT_OPTIONS: KnownOptions<LoadStateDictOptions> = { strict: true, onWarning: true, source: true };
export const PARSE_ADAPTER_CONFIG_OPTIONS: KnownOptions<ParseAdapterConfigOptions> = { onWarning: true };
export const READ_ADAPTER_OPTIONS: KnownOptions<ReadAdapterOptions> = { subfolder: true, onWarning: true };
export const MERGE_ADAPTER_OPTIONS: KnownOptions<MergeAdapterOptions> = { dtype: true, hub: true, onFile: true, overwrite: true, onWarning: true };
export const WEIGHTED_ADAPTER_OPTIONS: KnownOptions<AddWeightedAdapterOptions> = {
  combinationType: true, svdRank: true, svdClamp: true, svdFullMatrices: true, density: true, majoritySignMethod: true, seed: true,
};
export const WEBGPU_KERNEL_OPTIONS: KnownOptions<WebGPULoraKernelOptions> = { layout: true };
export const LORA_ADAPTER_OPTIONS: KnownOptions<LoraAdapterOptions> = {
  adapterName: true, r: true, loraAlpha: true, loraDropout: true, useRslora: true, initLoraWeights: true, seed: true, trainable: true, useDora: true, doraWeightNorm: true,
};
export const LORA_LINEAR_OPTIONS: KnownOptions<LoraLinearOptions> = { ...LORA_ADAPTER_OPTIONS, path: true };
export const ADAPTER_LOCATION: KnownOptions<AdapterLocation> = { dirOrId: true, subfolder: true };

/** PEFT's keyword names whose option here is named differently. */
export const LOAD_ADAPTER_NAMES: Readonly<Record<string, string>> = { ...HUB_KEYWORDS, trainable: 'isTrainable' };
export const INJECT_NAMES: Readonly<Record<string, string>> = { is_trainable: 'trainable' };
export const SAVE_ADAPTER_NAMES: Readonly<Record<string, string>> = { base_model_name_or_path: 'baseModelNameOrPath' };
export const MERGE_ADAPTER_NAMES: Readonly<Record<string, string>> = { ...HUB_KEYWORDS, torch_dtype: 'dtype' };

/** `inferenceMode` of `setAdapter` not a boolean (it was read as truthy or not). */
export const inferenceModeProblems = (o: Record<string, unknown>): string[] =>
  o['inferenceMode'] === undefined || typeof o['inferenceMode'] === 'boolean' ? [] : [`inferenceMode must be true or false, not ${JSON.stringify(o['inferenceMode']) ?? String(o['inferenceMode'])}`];

/** How an options argument is checked: its keys, other libraries' names for them, and its nested `hub` object. */
export interface OptionArgument {
  known: Readonly<Record<string, true>>;
  aliases?: Readonly<Record<string, string>>;
  /** Whether `hub` holds download options ({@link AdapterHubOptions}), checked in the same pass. */
  hub?: boolean;
  /** Problems with values, worded without `where` (`strict must be true or false, not "yes"`). */
  values?: (options: Record<string, unknown>) => string[];
  /** Unknown keys found elsewhere in the same call (e.g. `adapter[1].subFolder`), named in the same error. */
  moreUnknown?: readonly string[];
  /** For options that must be given: what they hold (`{ r, loraAlpha, … }`), named when `options` is undefined. */
  required?: string;
}

/** What a LoRA adapter's options hold, for the error when they are missing. */
export const ADAPTER_OPTIONS_REQUIRED = '{ r, loraAlpha, … }';

/**
 * Throws one Error naming everything wrong with `options` (`where: unknown options `a` (did you mean `b`?),
 * `hub.token` (did you mean `hub.accessToken`?); hub must be …`): unknown keys, nested `hub` keys, a `hub` or
 * `options` that is not an object, bad values. `undefined` is no options, unless `spec.required`.
 */
export function checkOptionArgument(where: string, options: unknown, spec: OptionArgument): void {
  const message = optionsMessage(where, options, {
    ...spec, // known, aliases, required
    more: (o, p) => {
      if (spec.hub === true) {
        const wrongHub = notAnOptionsObject(o['hub']);
        if (wrongHub !== undefined) p.values.push(`hub must be an object of download options (cacheDir, revision, accessToken, hubUrl, fetch), got ${wrongHub}`);
        else if (o['hub'] !== undefined) p.unknown.push(...nestedOptionProblems('hub', o['hub'] as object, HUB_OPTIONS, HUB_NAMES));
      }
      p.unknown.push(...(spec.moreUnknown ?? []));
      p.values.push(...(spec.values?.(o) ?? []));
    },
  });
  if (message !== undefined) throw new Error(message);
}
