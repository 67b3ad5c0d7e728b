import type * as tf from '@tensorflow/tfjs-core';
import type { DoraWeightNorm } from './dora.js';
import type { AdapterHubOptions } from './hub.js';

/** Options of {@link injectLora} that are not part of PEFT's config. */
export interface InjectOptions {
  /** Seed of A's (and B's, with `init_lora_weights: false`) initialisation and of the dropout masks (default 0). */
  seed?: number | string;
  /** Whether A and B are trainable (default true). */
  trainable?: boolean;
  /** The adapter's name (default `"default"`, PEFT's `get_peft_model(model, config, adapter_name)`). */
  adapterName?: string;
  /**
   * By default every entry of a `target_modules` list must match at least one linear, else the error
   * names those that matched nothing. True: only fail when nothing at all matched (PEFT's check).
   */
  allowUnmatchedTargets?: boolean;
  /**
   * DoRA (`use_dora`) only: how the forward computes the weight norm ‖W + s·B·A‖ per row — `'factored'`
   * (default: W never materialised; loses precision when s·B·A cancels much of W) or `'direct'` (PEFT's
   * `get_weight_norm` on `base.dequantize()` each forward). Not a PEFT config field; see the README.
   */
  doraWeightNorm?: DoraWeightNorm;
}

/** PEFT's `print_trainable_parameters` numbers. */
export interface ParameterCounts {
  trainable: number;
  /** Base model parameters (host.numParameters(), or the listed linears' weights) + adapter parameters. */
  all: number;
  /** 100 · trainable / all */
  percent: number;
}

/**
 * What {@link LoraModel.trainable} needs from the host model: a summed token loss over a batch in
 * training or eval mode (`@conifer/t5-model`'s `lossSum`), and optionally its own dropout reseeding.
 */
export interface LossModel<B> {
  lossSum(batch: B, training: boolean): { sum: tf.Scalar; count: number };
  setDropoutSeed?(seed: number): void;
}

/** The host model and its adapter as one trainable unit (`@conifer/trainer`'s `Trainable`, structurally). */
export interface LoraTrainable<B> {
  /** Switches LoRA's dropout with `training`, then the host's `lossSum`. */
  lossSum(batch: B, training: boolean): { sum: tf.Scalar; count: number };
  /** LoRA's A and B: the only variables the optimizer updates. */
  trainableVariables(): tf.Variable[];
  /** Reseeds the host's dropout and every LoRA layer's, so a resumed run draws the same masks. */
  setDropoutSeed(seed: number): void;
}

/** Options of {@link LoraModel.addAdapter} (PEFT's `add_adapter`). */
export interface AddAdapterOptions {
  /** Seed of the new adapter's initialisation (and of the dropout of layers only it adapts; default 0). */
  seed?: number | string;
  /** As {@link InjectOptions.allowUnmatchedTargets}. */
  allowUnmatchedTargets?: boolean;
  /** As {@link InjectOptions.doraWeightNorm}. */
  doraWeightNorm?: DoraWeightNorm;
}

/** Where an adapter's files are and what happens to keys the model lacks: options both adapter loaders take. */
export interface AdapterFileOptions {
  /**
   * PEFT's `subfolder`: the adapter's files are in `<dirOrId>/<subfolder>/` (a folder) or under
   * `<subfolder>/` of the hub repository. Relative, without `..` (refused otherwise); `""` is the top
   * level; for a hub id without `#`, `?` or `%` (see `checkHubSubfolder`).
   */
  subfolder?: string;
  /**
   * Receives the warning when the file holds keys that no injected layer has (e.g. an encoder-decoder
   * adapter loaded onto an encoder-only model: its decoder keys); they are ignored, as PEFT's
   * `load_state_dict(strict=False)` does. Default `console.warn`. Also receives (only when given: nothing is
   * printed otherwise) one warning naming the `adapter_config.json` fields PEFT's `LoraConfig` lacks (PEFT's
   * `from_pretrained` warns and drops them; they are kept here, written back and otherwise ignored).
   */
  onWarning?: (message: string) => void;
}

/** Options of {@link LoraModel.loadAdapter} (PEFT's `PeftModel.load_adapter`). */
export interface LoadNamedAdapterOptions extends AdapterFileOptions {
  /** PEFT's `is_trainable`: false (default) loads it frozen — and, as PEFT, puts the model in eval mode. */
  isTrainable?: boolean;
  /** Seed of the dropout of layers only this adapter adapts. */
  seed?: number | string;
  /** How a hub id is downloaded (see {@link LoadAdapterOptions.hub}). */
  hub?: AdapterHubOptions;
  /** As {@link InjectOptions.doraWeightNorm}. */
  doraWeightNorm?: DoraWeightNorm;
}

/** Options of {@link LoraModel.saveAdapter} (PEFT's `save_pretrained`). */
export interface SaveAdapterOptions {
  /** Written as `base_model_name_or_path` in each adapter's config. */
  baseModelNameOrPath?: string;
  /** PEFT's `selected_adapters`: the adapters to save (default: all, in the order they were added). */
  selectedAdapters?: readonly string[];
}

/** Options of {@link loadAdapter}. */
export interface LoadAdapterOptions extends AdapterFileOptions {
  /** PEFT's `is_trainable`: false (default, as PEFT) freezes A and B for inference. */
  isTrainable?: boolean;
  /** Seed of the dropout masks. */
  seed?: number | string;
  /** How a hub id (`owner/name` that is not a local folder) is downloaded: cache, revision, endpoint, token. */
  hub?: AdapterHubOptions;
  /** PEFT's `adapter_name` (default `"default"`): the name the adapter gets in the model. */
  adapterName?: string;
  /** As {@link InjectOptions.doraWeightNorm}. */
  doraWeightNorm?: DoraWeightNorm;
}
