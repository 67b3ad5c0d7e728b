import { loadAdapter, type DoraWeightNorm, type LoraModel } from '@conifer/lora';
import type { T5ForConditionalGeneration } from '@conifer/t5-model';
import { CliError } from '../errors.js';

/**
 * `--adapter DIR|ID` onto the model (a hub id is downloaded first, as PEFT does); errors as one CLI message naming it once.
 * `doraWeightNorm` (--dora-weight-norm) applies when the adapter is a DoRA one.
 */
export async function loadAdapterFlag(model: T5ForConditionalGeneration, id: string, doraWeightNorm: DoraWeightNorm = 'factored'): Promise<LoraModel> {
  try {
    return await loadAdapter(model, id, { doraWeightNorm });
  } catch (e) {
    const message = (e as Error).message;
    throw new CliError(`--adapter ${message.startsWith(`${id}: `) ? message : `${id}: ${message}`}`);
  }
}
