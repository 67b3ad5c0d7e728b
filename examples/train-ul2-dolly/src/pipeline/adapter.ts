import { loadAdapter, type LoraModel } from '@conifer/lora';
import type { T5ForConditionalGeneration } from '@conifer/t5-model';
import { CliError } from '../errors.js';

/** `--adapter DIR|ID` onto the model (a hub id is downloaded first, as PEFT does); errors as one CLI message naming it once. */
export async function loadAdapterFlag(model: T5ForConditionalGeneration, id: string): Promise<LoraModel> {
  try {
    return await loadAdapter(model, id);
  } catch (e) {
    const message = (e as Error).message;
    throw new CliError(`--adapter ${message.startsWith(`${id}: `) ? message : `${id}: ${message}`}`);
  }
}
