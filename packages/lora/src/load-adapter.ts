import type { LoraConfigInput } from './config.js';
import { readAdapter } from './adapter-files.js';
import { resolveAdapterDir } from './hub.js';
import { DEFAULT_ADAPTER_NAME } from './lora-adapter.js';
import { LoraModel } from './lora-model.js';
import type { InjectOptions, LoadAdapterOptions } from './model-options.js';
import type { LinearHost } from './types.js';

/**
 * Wraps the host's target linears with LoRA (PEFT's `get_peft_model`) and returns the handle.
 * `config` uses PEFT's names: `r`, `lora_alpha`, `lora_dropout`, `target_modules` (default
 * `["q", "v"]`), `use_rslora`, `bias: "none"`, …
 */
export function injectLora(host: LinearHost, config: LoraConfigInput = {}, options: InjectOptions = {}): LoraModel {
  return LoraModel.inject(host, config, options);
}

/**
 * PEFT's `PeftModel.from_pretrained(model, dir)`: reads `adapter_config.json` (missing fields get
 * PEFT's defaults, unknown ones are kept and ignored), injects LoRA into `host` accordingly and
 * loads A and B from `adapter_model.safetensors` (or the legacy `adapter_model.bin`). The key set
 * and shapes must match the model exactly. A hub id (`coniferlabs/flan-ul2-dolly-lora`) that is not
 * a local folder is downloaded first into the Hugging Face cache (`options.hub`), as PEFT does.
 */
export async function loadAdapter(host: LinearHost, dirOrId: string, options: LoadAdapterOptions = {}): Promise<LoraModel> {
  const { config, tensors } = await readAdapter(await resolveAdapterDir(dirOrId, options.hub));
  const name = options.adapterName ?? DEFAULT_ADAPTER_NAME;
  const model = LoraModel.inject(host, { ...config, inference_mode: !options.isTrainable }, {
    seed: options.seed ?? 0,
    trainable: options.isTrainable ?? false,
    allowUnmatchedTargets: true,
    adapterName: name,
  }, true);
  try {
    model.loadStateDict(tensors, name);
  } catch (e) {
    model.unload();
    throw e;
  }
  return model;
}
