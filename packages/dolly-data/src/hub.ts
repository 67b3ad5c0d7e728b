import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { downloadFile } from '@huggingface/hub';
import { READ_DOLLY_OPTIONS, readDollyChecked, type ReadDollyOptions } from './read-dolly';
import type { DollyRecord } from './record';
import { checkOptions, type KnownOptions } from './unknown-options';

/** Options for {@link downloadDolly}. */
export interface HubDollyOptions {
  /** Dataset repository (default `databricks/databricks-dolly-15k`). */
  repo?: string;
  /** File inside the repository (default `databricks-dolly-15k.jsonl`). */
  path?: string;
  /** Branch, tag or commit (default `main`). Cached per revision name: pin a commit for reproducibility. */
  revision?: string;
  /** Local cache folder (default `~/.cache/conifer/hub`). */
  cacheDir?: string;
  /** Download again even when the file is cached (default false). */
  forceDownload?: boolean;
  /** The fetch to use (default the global one); inject a fake to run offline. */
  fetch?: typeof fetch;
  /** Hugging Face token, for gated or private repositories (default: `$HF_TOKEN`, as huggingface_hub). */
  accessToken?: string;
  /** Hub endpoint (default: `$HF_ENDPOINT`, else https://huggingface.co, as huggingface_hub). */
  hubUrl?: string;
}

const HUB_OPTIONS: KnownOptions<HubDollyOptions> = {
  repo: true, path: true, revision: true, cacheDir: true, forceDownload: true, fetch: true, accessToken: true, hubUrl: true,
};

export const DOLLY_HUB_REPO = 'databricks/databricks-dolly-15k';
export const DOLLY_HUB_FILE = 'databricks-dolly-15k.jsonl';

/** Where {@link downloadDolly} keeps a file: `<cacheDir>/datasets--<owner>--<name>/<revision>/<path>`. */
export function hubCachePath(options: HubDollyOptions = {}): string {
  checkOptions('hubCachePath', options, HUB_OPTIONS);
  return cachePath(options);
}

function cachePath(options: HubDollyOptions): string {
  const { repo = DOLLY_HUB_REPO, path = DOLLY_HUB_FILE, revision = 'main' } = options;
  const cacheDir = options.cacheDir ?? join(homedir(), '.cache', 'conifer', 'hub');
  // revision "." would be joined away (its file in the repo folder itself); ".." would leave it
  if (path.split('/').some((p) => p === '..' || p === '.' || p === '') || revision === '' || revision === '.' || revision.split('/').includes('..')) {
    throw new Error(`invalid hub path or revision: ${path} @ ${revision}`);
  }
  // A revision may hold slashes (refs/pr/1): one folder, URI-encoded.
  return join(cacheDir, `datasets--${repo.replaceAll('/', '--')}`, encodeURIComponent(revision), ...path.split('/'));
}

/**
 * Downloads a Dolly jsonl from the Hugging Face Hub through `@huggingface/hub` into a local
 * cache (once), and returns the local path.
 */
export async function downloadDolly(options: HubDollyOptions = {}): Promise<string> {
  checkOptions('downloadDolly', options, HUB_OPTIONS);
  return download(options);
}

async function download(options: HubDollyOptions): Promise<string> {
  const { repo = DOLLY_HUB_REPO, path = DOLLY_HUB_FILE, revision = 'main' } = options;
  const target = cachePath(options);
  if (!options.forceDownload && (await stat(target).catch(() => null))?.isFile()) return target;
  const accessToken = options.accessToken ?? process.env['HF_TOKEN'];
  const hubUrl = (options.hubUrl ?? process.env['HF_ENDPOINT'])?.replace(/\/+$/, '');
  const blob = await downloadFile({
    repo: { type: 'dataset', name: repo },
    path,
    revision,
    ...(options.fetch && { fetch: options.fetch }),
    ...(accessToken && { accessToken }),
    ...(hubUrl && { hubUrl }),
  });
  if (!blob) throw new Error(`${path} not found in dataset ${repo} @ ${revision}`);
  await mkdir(dirname(target), { recursive: true });
  const partial = `${target}.${process.pid}.incomplete`;
  try {
    await pipeline(Readable.fromWeb(blob.stream() as WebReadableStream<Uint8Array>), createWriteStream(partial));
    await rename(partial, target);
  } catch (e) {
    await rm(partial, { force: true });
    throw e;
  }
  return target;
}

/** Downloads (or finds in the cache) a Dolly jsonl from the Hub and streams its records. */
export async function* readDollyFromHub(options: HubDollyOptions & ReadDollyOptions = {}): AsyncGenerator<DollyRecord> {
  checkOptions('readDollyFromHub', options, { ...HUB_OPTIONS, ...READ_DOLLY_OPTIONS });
  const file = await download(options);
  yield* readDollyChecked(file, { sourceName: `hf://datasets/${options.repo ?? DOLLY_HUB_REPO}/${options.path ?? DOLLY_HUB_FILE}`, ...options });
}
