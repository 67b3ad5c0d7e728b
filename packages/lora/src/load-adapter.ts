import type { LoraConfigInput } from './config.js';
import { readAdapter } from './adapter-files.js';
import { loadStateDictValueProblems } from './adapter-state.js';
import { resolveAdapterDir } from './hub.js';
import { DEFAULT_ADAPTER_NAME } from './lora-adapter.js';
import { LoraModel } from './lora-model.js';
import type { InjectOptions, LoadAdapterOptions } from './model-options.js';
import { checkOptionArgument, INJECT_NAMES, INJECT_OPTIONS, LOAD_ADAPTER_NAMES, LOAD_ADAPTER_OPTIONS } from './option-arguments.js';
import type { LinearHost } from './types.js';

/**
 * Wraps the host's target linears with LoRA (PEFT's `get_peft_model`) and returns the handle.
 * `config` uses PEFT's names: `r`, `lora_alpha`, `lora_dropout`, `target_modules` (default
 * `["q", "v"]`), `use_rslora`, `bias: "none"`, …
 */
export function injectLora(host: LinearHost, config: LoraConfigInput = {}, options: InjectOptions = {}): LoraModel {
  checkOptionArgument('injectLora', options, { known: INJECT_OPTIONS, aliases: INJECT_NAMES });
  return LoraModel.inject(host, config, options);
}

/**
 * PEFT's `PeftModel.from_pretrained(model, dir)`: reads `adapter_config.json` (missing fields get
 * PEFT's defaults; fields PEFT's `LoraConfig` lacks are kept, ignored and named in a warning to `onWarning`), injects LoRA into `host` accordingly and
 * loads A and B from `adapter_model.safetensors` (or the legacy `adapter_model.bin`). Every injected
 * layer's A and B must be in the file with its shape; keys of layers the host does not have (an
 * encoder-decoder adapter on an encoder-only model) are ignored with a warning (`onWarning`), as PEFT
 * loads with `strict=False`. A hub id (`coniferlabs/flan-ul2-dolly-lora`) that is not a local folder is
 * downloaded first into the Hugging Face cache (`options.hub`), as PEFT does; `subfolder` reads
 * `<dirOrId>/<subfolder>/` (PEFT's `subfolder`).
 */
export async function loadAdapter(host: LinearHost, dirOrId: string, options: LoadAdapterOptions = {}): Promise<LoraModel> {
  checkOptionArgument('loadAdapter', options, { known: LOAD_ADAPTER_OPTIONS, aliases: LOAD_ADAPTER_NAMES, hub: true, values: (o) => loadStateDictValueProblems({ onWarning: o['onWarning'] }) });
  const dir = await resolveAdapterDir(dirOrId, options.hub, options.subfolder);
  const { config, tensors } = await readAdapter(dir, options.onWarning ? { onWarning: options.onWarning } : {});
  const name = options.adapterName ?? DEFAULT_ADAPTER_NAME;
  const model = LoraModel.inject(host, { ...config, inference_mode: !options.isTrainable }, {
    seed: options.seed ?? 0,
    trainable: options.isTrainable ?? false,
    allowUnmatchedTargets: true,
    adapterName: name,
    ...(options.doraWeightNorm !== undefined ? { doraWeightNorm: options.doraWeightNorm } : {}),
  }, true);
  try {
    model.loadStateDict(tensors, name, { strict: false, source: dir, ...(options.onWarning ? { onWarning: options.onWarning } : {}) });
  } catch (e) {
    model.unload();
    throw e;
  }
  return model;
}
