import { downloadFileToCacheDir, getHFHubCachePath, getRepoFolderName, listFiles, modelInfo } from '@huggingface/hub';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { checkOptions, type KnownOptions } from './unknown-options.js';

/** The files of a snapshot a T5 model needs: config, safetensors weights (+ index), tokenizer, generation config. */
export function wantedFile(path: string): boolean {
  return (
    /^(config|generation_config|tokenizer|tokenizer_config|special_tokens_map|added_tokens)\.json$/.test(path) ||
    path === 'model.safetensors.index.json' ||
    /^model(-\d+-of-\d+)?\.safetensors$/.test(path) ||
    path === 'spiece.model'
  );
}

/** Options of {@link downloadPretrained}. */
export interface DownloadPretrainedOptions {
  /** Hugging Face cache folder (default: the library's, i.e. $HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub). */
  cacheDir?: string | undefined;
  /** Branch, tag or commit (default "main"). */
  revision?: string | undefined;
  /** Only config.json (enough for the plan). */
  configOnly?: boolean;
  /** Hub endpoint (default: $HF_ENDPOINT, else https://huggingface.co), as Python's huggingface_hub. */
  hubUrl?: string | undefined;
  /** Access token for gated or private models (default: $HF_TOKEN). */
  accessToken?: string | undefined;
  /** Injectable fetch (tests, proxies). */
  fetch?: typeof fetch;
  /** Called before each file is fetched (or found in the cache). */
  onFile?: (path: string, index: number, count: number) => void;
  /** Bytes of the snapshot so far (cached files count at once); e.g. `byteProgressBar(…)`. */
  progress?: ByteProgress | null | undefined;
}

/** Every option of {@link DownloadPretrainedOptions}. */
export const DOWNLOAD_OPTIONS: KnownOptions<DownloadPretrainedOptions> = {
  cacheDir: true, revision: true, configOnly: true, hubUrl: true, accessToken: true, fetch: true, onFile: true, progress: true,
};
/** huggingface_hub's names of those options that are named differently here. */
export const HUB_NAMES: Readonly<Record<string, string>> = { token: 'accessToken', endpoint: 'hubUrl' };

/**
 * Downloads the safetensors snapshot of a hub model (e.g. google/flan-ul2) through
 * `@huggingface/hub` into its cache — the same layout as Python's huggingface_hub
 * (`models--org--name/{blobs,snapshots/<commit>,refs/<revision>}`), so either can reuse the
 * other's files — skipping PyTorch `.bin` and other formats, and returns the snapshot folder.
 *
 * The revision is resolved to one commit first and every file is fetched at that commit, so all
 * files land in one snapshot folder even when they were last changed by different commits.
 * Files already in the cache are not fetched again; a file is renamed into place only once it is
 * complete, so an interrupted download never leaves a truncated weight file.
 */
export async function downloadPretrained(id: string, options: DownloadPretrainedOptions = {}): Promise<string> {
  checkOptions('downloadPretrained', options, DOWNLOAD_OPTIONS, HUB_NAMES, (m) => new Error(m));
  const revision = options.revision ?? 'main';
  const hubUrl = options.hubUrl ?? process.env['HF_ENDPOINT'];
  const accessToken = options.accessToken ?? process.env['HF_TOKEN'];
  const progress = options.progress ?? null;
  const baseFetch = options.fetch ?? fetch;
  const common = {
    ...(hubUrl ? { hubUrl: hubUrl.replace(/\/+$/, '') } : {}),
    ...(accessToken ? { accessToken } : {}),
    fetch: progress ? countingFetch((n) => progress.add(n), baseFetch) : baseFetch,
  };
  let sha: string;
  let paths: string[];
  const sizes = new Map<string, number>();
  try {
    const info = await modelInfo({ ...common, name: id, revision, additionalFields: ['sha'] });
    if (typeof info.sha !== 'string' || info.sha === '') throw new Error('the hub did not return a commit for this revision');
    sha = info.sha;
    paths = [];
    for await (const f of listFiles({ ...common, repo: id, revision: sha, recursive: false })) {
      if (f.type === 'file' && wantedFile(f.path)) {
        paths.push(f.path);
        sizes.set(f.path, f.lfs?.size ?? f.size);
      }
    }
  } catch (e) {
    throw new Error(`${id}: cannot read the hub repository (${(e as Error).message}); download it yourself and pass the folder`);
  }
  if (!paths.includes('config.json') || !paths.some((p) => p.endsWith('.safetensors'))) {
    throw new Error(`${id}: the hub repository has no config.json with safetensors weights`);
  }
  const todo = options.configOnly ? ['config.json'] : paths.sort();
  let snapshot = '';
  const cached = join(options.cacheDir ?? getHFHubCachePath(), getRepoFolderName({ type: 'model', name: id }), 'snapshots', sha);
  progress?.start(todo.reduce((a, p) => a + (sizes.get(p) ?? 0), 0));
  try {
    for (const [i, path] of todo.entries()) {
      options.onFile?.(path, i, todo.length);
      progress?.file?.(path, i, todo.length);
      if (existsSync(join(cached, path))) progress?.add(sizes.get(path) ?? 0);
      await fetchOne(path);
    }
  } finally {
    progress?.stop();
  }
  async function fetchOne(path: string): Promise<void> {
    try {
      const local = await downloadFileToCacheDir({ ...common, repo: id, path, revision: sha, ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}) });
      if (path === 'config.json') snapshot = dirname(local);
    } catch (e) {
      throw new Error(`${id}: downloading ${path} failed (${(e as Error).message})`);
    }
  }
  if (revision !== sha) {
    // refs/<revision> → commit, as huggingface_hub writes it (lets offline tools find the snapshot).
    const ref = join(dirname(dirname(snapshot)), 'refs', revision);
    await mkdir(dirname(ref), { recursive: true });
    await writeFile(ref, sha);
  }
  return snapshot;
}

/**
 * File bytes, not API answers: JSON (model info, trees, paths-info, xet reconstruction plans) and
 * the 1-byte range probes @huggingface/hub sends before each download are not counted. Plain
 * downloads and xet chunk transfers (compressed, so a little under the file size) are.
 */
export function isFileBody(res: Response): boolean {
  if ((res.headers.get('content-type') ?? '').includes('json')) return false;
  return !(res.status === 206 && Number(res.headers.get('content-length')) <= 1);
}

/**
 * A `fetch` that reports the body bytes of the responses `filter` accepts to `onBytes` as they are
 * read. The response keeps its status, headers and `url` (which @huggingface/hub compares with the
 * hub's origin).
 */
export function countingFetch(onBytes: (n: number) => void, inner: typeof fetch = fetch, filter: (res: Response) => boolean = isFileBody): typeof fetch {
  return async (input, init) => {
    const res = await inner(input, init);
    if (!res.body || !filter(res)) return res;
    const counted = res.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          onBytes(chunk.byteLength);
          controller.enqueue(chunk);
        },
      }),
    );
    const out = new Response(counted, { status: res.status, statusText: res.statusText, headers: res.headers });
    Object.defineProperty(out, 'url', { value: res.url });
    return out;
  };
}

/** How a download reports progress: bytes so far of a known total. */
export interface ByteProgress {
  start(totalBytes: number): void;
  add(bytes: number): void;
  /** The file being fetched now. */
  file?(path: string, index: number, count: number): void;
  stop(): void;
}

/** Whether `s` has the form of a hub model id (`name` or `owner/name`), as transformers' `from_pretrained` tells ids from paths. */
export function isHubId(s: string): boolean {
  return /^(?:[\w-][\w.-]*\/)?[\w-][\w.-]*$/.test(s) && !s.includes('..') && !s.endsWith('.json');
}

/**
 * What `fromPretrained(dirOrId)` loads from: a local folder when `dirOrId` exists, else a hub id
 * downloaded first ({@link downloadPretrained}), as transformers' `from_pretrained` decides. `dtype`
 * other than `'float32'` is refused before anything is fetched.
 */
export async function pretrainedDir(dirOrId: string, options: { dtype?: string; hub?: DownloadPretrainedOptions | undefined } = {}): Promise<string> {
  if (options.dtype !== undefined && options.dtype !== 'float32') {
    throw new Error(`fromPretrained: dtype ${JSON.stringify(options.dtype)} is not supported (TensorFlow.js computes in float32)`);
  }
  return !existsSync(dirOrId) && isHubId(dirOrId) ? downloadPretrained(dirOrId, options.hub) : dirOrId;
}
