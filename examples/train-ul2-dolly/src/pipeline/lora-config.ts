import type { LoraConfigInput } from '@conifer/lora';
import type { TrainOptions } from '../options.js';

/** The train flags a PEFT LoraConfig is made of. */
export type LoraFlags = Pick<TrainOptions, 'r' | 'loraAlpha' | 'loraDropout' | 'targetModules' | 'useDora' | 'useRslora' | 'initLoraWeights'>;

/**
 * The PEFT LoraConfig fields of the train flags: what `train` injects (`@conifer/lora`'s `injectLora`, saved in
 * adapter_config.json) and what the command line is checked against at parse time (`resolveLoraConfig`).
 */
export function loraConfig(opts: LoraFlags): LoraConfigInput {
  return {
    r: opts.r,
    lora_alpha: opts.loraAlpha,
    lora_dropout: opts.loraDropout,
    target_modules: opts.targetModules,
    use_dora: opts.useDora,
    use_rslora: opts.useRslora,
    init_lora_weights: opts.initLoraWeights,
  };
}
