import { existsSync } from 'node:fs';
import { snapshotDownload } from '@huggingface/hub';

/** Where {@link resolveAdapterDir} fetches a hub adapter from, and how. */
export interface AdapterHubOptions {
  /** Hugging Face cache folder (default: the library's: $HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** Branch, tag or commit (default "main"). */
  revision?: string;
  /** Hub endpoint (default: $HF_ENDPOINT, else https://huggingface.co). */
  hubUrl?: string;
  /** Access token for gated or private repositories (default: $HF_TOKEN). */
  accessToken?: string;
  /** Injectable fetch (tests, proxies). */
  fetch?: typeof fetch;
}

/** `owner/name` or `name`, not a path: how PEFT's `from_pretrained` tells a hub id from a folder. */
export function isAdapterHubId(s: string): boolean {
  return /^(?:[\w-][\w.-]*\/)?[\w-][\w.-]*$/.test(s) && !s.includes('..');
}

/**
 * `dirOrId` as a local folder: itself when it exists, else (a hub id) the snapshot of that adapter
 * repository in the Hugging Face cache, downloaded once through `@huggingface/hub` (adapter repos are
 * small: config, weights, a README).
 */
export async function resolveAdapterDir(dirOrId: string, options: AdapterHubOptions = {}): Promise<string> {
  if (existsSync(dirOrId) || !isAdapterHubId(dirOrId)) return dirOrId;
  const hubUrl = (options.hubUrl ?? process.env['HF_ENDPOINT'])?.replace(/\/+$/, '');
  const accessToken = options.accessToken ?? process.env['HF_TOKEN'];
  try {
    return await snapshotDownload({
      repo: { type: 'model', name: dirOrId },
      ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
      ...(options.revision ? { revision: options.revision } : {}),
      ...(hubUrl ? { hubUrl } : {}),
      ...(accessToken ? { accessToken } : {}),
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
  } catch (e) {
    throw new Error(`${dirOrId}: not a local folder, and downloading it from the hub failed (${(e as Error).message})`);
  }
}
