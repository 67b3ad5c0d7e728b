import { loadAdapter, type DoraWeightNorm, type LoraModel } from '@conifer/lora';
import type { T5ForConditionalGeneration } from '@conifer/t5-model';
import { CliError } from '../errors.js';

/**
 * `--adapter DIR|ID` onto the model (a hub id is downloaded first, as PEFT does); errors as one CLI message naming it once.
 * `doraWeightNorm` (--dora-weight-norm) applies when the adapter is a DoRA one. PEFT's warnings (config fields its
 * LoraConfig lacks, adapter keys of layers the model does not have) go to `warn` as `warning: --adapter …` lines.
 */
export async function loadAdapterFlag(model: T5ForConditionalGeneration, id: string, doraWeightNorm: DoraWeightNorm = 'factored', warn?: (line: string) => void): Promise<LoraModel> {
  try {
    return await loadAdapter(model, id, { doraWeightNorm, ...(warn ? { onWarning: (m: string) => warn(`warning: --adapter ${id}: ${m}`) } : {}) });
  } catch (e) {
    const message = (e as Error).message;
    throw new CliError(`--adapter ${message.startsWith(`${id}: `) ? message : `${id}: ${message}`}`);
  }
}
