import { downloadPretrained, type DownloadPretrainedOptions } from '@conifer/t5-model';
import { CliError } from '../errors.js';

export type DownloadModelOptions = DownloadPretrainedOptions;

/**
 * `--model <hub id>`: `@conifer/t5-model`'s `downloadPretrained` (the safetensors snapshot in the
 * Hugging Face cache, at one commit), its errors as one CLI message.
 */
export async function downloadModel(id: string, options: DownloadModelOptions = {}): Promise<string> {
  try {
    return await downloadPretrained(id, options);
  } catch (e) {
    const message = (e as Error).message;
    throw new CliError(`--model ${message.startsWith(`${id}: `) ? message : `${id}: ${message}`}`);
  }
}
