import { downloadFileToCacheDir, listFiles } from '@huggingface/hub';
import { dirname } from 'node:path';
import { CliError } from '../errors.js';

/** The files of a snapshot a T5 run needs: config, safetensors weights (+ index), tokenizer, generation config. */
export function wantedFile(path: string): boolean {
  return (
    /^(config|generation_config|tokenizer|tokenizer_config|special_tokens_map|added_tokens)\.json$/.test(path) ||
    path === 'model.safetensors.index.json' ||
    /^model(-\d+-of-\d+)?\.safetensors$/.test(path) ||
    path === 'spiece.model'
  );
}

export interface DownloadModelOptions {
  /** Hugging Face cache folder (default: the library's, i.e. $HF_HOME/hub or ~/.cache/huggingface/hub). */
  cacheDir?: string | undefined;
  /** Branch, tag or commit (default "main"). */
  revision?: string;
  /** Injectable fetch (tests, proxies). */
  fetch?: typeof fetch;
  /** Called before each file. */
  onFile?: (path: string) => void;
}

/**
 * Downloads the safetensors snapshot of a hub model (e.g. google/flan-ul2) through
 * `@huggingface/hub` into its cache, skipping PyTorch `.bin` and other formats, and returns the
 * snapshot folder. Files already in the cache are not fetched again.
 */
export async function downloadModel(id: string, options: DownloadModelOptions = {}): Promise<string> {
  const common = {
    repo: id,
    ...(options.revision ? { revision: options.revision } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  };
  let paths: string[];
  try {
    paths = [];
    for await (const f of listFiles({ ...common, recursive: false })) if (f.type === 'file' && wantedFile(f.path)) paths.push(f.path);
  } catch (e) {
    throw new CliError(`--model ${id}: cannot list the hub repository (${(e as Error).message}); download it yourself and pass the folder`);
  }
  if (!paths.includes('config.json') || !paths.some((p) => p.endsWith('.safetensors'))) {
    throw new CliError(`--model ${id}: the hub repository has no config.json with safetensors weights`);
  }
  let snapshot = '';
  for (const path of paths.sort()) {
    options.onFile?.(path);
    try {
      const local = await downloadFileToCacheDir({ ...common, path, ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}) });
      snapshot = dirname(local);
    } catch (e) {
      throw new CliError(`--model ${id}: downloading ${path} failed (${(e as Error).message})`);
    }
  }
  return snapshot;
}
