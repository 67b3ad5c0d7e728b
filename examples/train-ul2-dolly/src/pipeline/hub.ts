import { downloadPretrained, type DownloadPretrainedOptions } from '@conifer/t5-model';
import { CliError } from '../errors.js';

export type DownloadModelOptions = DownloadPretrainedOptions;

/**
 * `--model <hub id>`: `@conifer/t5-model`'s `downloadPretrained` (the safetensors snapshot in the
 * Hugging Face cache, at one commit), its errors as one CLI message naming `flag` (`--assistant-model` for the assistant).
 */
export async function downloadModel(id: string, options: DownloadModelOptions = {}, flag = '--model'): Promise<string> {
  try {
    return await downloadPretrained(id, options);
  } catch (e) {
    const message = (e as Error).message;
    throw new CliError(`${flag} ${message.startsWith(`${id}: `) ? message : `${id}: ${message}`}`);
  }
}
