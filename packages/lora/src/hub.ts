import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { downloadFileToCacheDir, listFiles, modelInfo } from '@huggingface/hub';
import { checkHubSubfolder, checkSubfolder, joinSubfolder } from './subfolder.js';
import { checkOptionArgument, HUB_NAMES, HUB_OPTIONS } from './option-arguments.js';

/** The files PEFT reads from an adapter repository (others — checkpoints, optimizer state, tokenizers — are not fetched). */
const ADAPTER_FILES = new Set(['adapter_config.json', 'adapter_model.safetensors', 'adapter_model.bin']);

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

/** Whether `dirOrId` is read from the disk (an existing path, or anything that is not an `owner/name` hub id). */
function isLocalAdapter(dirOrId: string): boolean {
  return existsSync(dirOrId) || !isAdapterHubId(dirOrId);
}

/**
 * `subfolder` checked for where `dirOrId` is read from: {@link checkSubfolder} for a folder,
 * {@link checkHubSubfolder} for a hub id; call it before reading or fetching anything.
 */
export function checkAdapterSubfolder(dirOrId: string, subfolder: string | undefined): string | undefined {
  return isLocalAdapter(dirOrId) ? checkSubfolder(subfolder) : checkHubSubfolder(subfolder);
}

/**
 * `dirOrId` as a local folder: itself when it exists, else (a hub id) that adapter's snapshot folder
 * in the Hugging Face cache: `adapter_config.json` and the weights (`adapter_model.safetensors` or
 * `.bin`) at one commit, downloaded once through `@huggingface/hub`. With `subfolder` (PEFT's
 * `subfolder` keyword, see {@link checkSubfolder}): `<dirOrId>/<subfolder>` for a folder, and for a hub
 * id the files `<subfolder>/adapter_config.json` and `<subfolder>/adapter_model.safetensors` (or
 * `.bin`) — as PEFT's `PeftConfig.from_pretrained` and `load_peft_weights` call `hf_hub_download(…,
 * subfolder=subfolder)` — returning the snapshot's `<subfolder>` folder. A subfolder that could leave
 * the folder or repository is refused before anything is read or fetched, and so, for a hub id, is one
 * with `#`, `?` or `%` (see {@link checkHubSubfolder}).
 */
export async function resolveAdapterDir(dirOrId: string, options: AdapterHubOptions = {}, subfolder?: string): Promise<string> {
  checkOptionArgument('resolveAdapterDir', options, { known: HUB_OPTIONS, aliases: HUB_NAMES });
  const sub = checkAdapterSubfolder(dirOrId, subfolder);
  if (isLocalAdapter(dirOrId)) return joinSubfolder(dirOrId, sub);
  const hubUrl = (options.hubUrl ?? process.env['HF_ENDPOINT'])?.replace(/\/+$/, '');
  const accessToken = options.accessToken ?? process.env['HF_TOKEN'];
  const common = { ...(hubUrl ? { hubUrl } : {}), ...(accessToken ? { accessToken } : {}), ...(options.fetch ? { fetch: options.fetch } : {}) };
  const prefix = sub === undefined ? '' : `${sub}/`;
  const where = sub === undefined ? '' : ` (subfolder ${sub})`;
  try {
    const info = await modelInfo({ ...common, name: dirOrId, revision: options.revision ?? 'main', additionalFields: ['sha'] });
    const sha = info.sha;
    if (typeof sha !== 'string' || sha === '') throw new Error('the hub did not return a commit for this revision');
    const files: string[] = [];
    for await (const f of listFiles({ ...common, repo: dirOrId, revision: sha, ...(sub === undefined ? {} : { path: sub }) })) {
      if (f.type === 'file' && f.path.startsWith(prefix) && ADAPTER_FILES.has(f.path.slice(prefix.length))) files.push(f.path);
    }
    const config = `${prefix}adapter_config.json`;
    if (!files.includes(config)) throw new Error(`the repository has no ${config}`);
    // As PEFT: the .bin only when there is no .safetensors.
    const [st, bin] = [`${prefix}adapter_model.safetensors`, `${prefix}adapter_model.bin`];
    if (files.includes(st) && files.includes(bin)) files.splice(files.indexOf(bin), 1);
    let dir = '';
    for (const path of files.sort()) {
      const local = await downloadFileToCacheDir({ ...common, repo: dirOrId, path, revision: sha, ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}) });
      dir = dirname(local);
    }
    return dir;
  } catch (e) {
    throw new Error(`${dirOrId}${where}: not a local folder, and downloading it from the hub failed (${(e as Error).message})`);
  }
}
