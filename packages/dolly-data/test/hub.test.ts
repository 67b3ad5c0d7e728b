import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { downloadDolly, hubCachePath, readDollyFromHub } from '../src';
import { fixture } from './helpers';

/**
 * A fake Hub for `@huggingface/hub`'s downloadFile: it answers the size probe (`Range: bytes=0-0`
 * → 206 with Content-Range and ETag) and the full GET of
 * `<hub>/datasets/<repo>/resolve/<revision>/<path>`. Nothing leaves the process.
 */
function fakeHub(files: Record<string, Uint8Array>) {
  const calls: string[] = [];
  const fetchImpl = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const range = new Headers(init?.headers).get('Range');
    calls.push(`${init?.method ?? 'GET'} ${url}${range ? ` ${range}` : ''}`);
    const m = /^https:\/\/huggingface\.co\/datasets\/(.+)\/resolve\/([^/]+)\/(.+)$/.exec(url);
    const body = m ? files[`${m[1]}@${m[2]}:${m[3]}`] : undefined;
    if (!body) return new Response('Entry not found', { status: 404, headers: { 'X-Error-Code': 'EntryNotFound' } });
    if (range === 'bytes=0-0') {
      return new Response(body.slice(0, 1), {
        status: 206,
        headers: { 'Content-Range': `bytes 0-0/${body.length}`, ETag: '"fake-etag"', 'Content-Type': 'text/plain' },
      });
    }
    return new Response(body, { status: 200, headers: { 'Content-Length': String(body.length), ETag: '"fake-etag"' } });
  };
  return { fetch: fetchImpl as typeof fetch, calls };
}

describe('downloadDolly / readDollyFromHub (offline, fake fetch)', () => {
  let cacheDir: string;
  let sample: Uint8Array;
  beforeEach(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'dolly-hub-'));
    sample = new Uint8Array(await readFile(fixture('dolly-sample.jsonl')));
  });
  afterEach(async () => {
    await rm(cacheDir, { recursive: true, force: true });
  });

  it('takes the token and endpoint from $HF_TOKEN and $HF_ENDPOINT when not given (as huggingface_hub)', async () => {
    const seen: string[] = [];
    const recording = (async (input: string | URL | Request, init?: RequestInit) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      seen.push(`${url} ${new Headers(init?.headers).get('Authorization') ?? 'no auth'}`);
      return new Response('Entry not found', { status: 404, headers: { 'X-Error-Code': 'EntryNotFound' } });
    }) as typeof fetch;
    const saved = { token: process.env['HF_TOKEN'], endpoint: process.env['HF_ENDPOINT'] };
    process.env['HF_TOKEN'] = 'hf_env_token';
    process.env['HF_ENDPOINT'] = 'https://mirror.example/'; // a trailing slash is dropped
    try {
      await expect(downloadDolly({ cacheDir, fetch: recording })).rejects.toThrow(/not found/);
      expect(seen[0]).toBe('https://mirror.example/datasets/databricks/databricks-dolly-15k/resolve/main/databricks-dolly-15k.jsonl Bearer hf_env_token');
      seen.length = 0;
      await expect(downloadDolly({ cacheDir, fetch: recording, accessToken: 'hf_given', hubUrl: 'https://hub.example' })).rejects.toThrow(/not found/);
      expect(seen[0]).toMatch(/^https:\/\/hub\.example\/.* Bearer hf_given$/);
    } finally {
      for (const [k, v] of [['HF_TOKEN', saved.token], ['HF_ENDPOINT', saved.endpoint]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('downloads databricks/databricks-dolly-15k once, then reads from the cache without fetching', async () => {
    const hub = fakeHub({ 'databricks/databricks-dolly-15k@main:databricks-dolly-15k.jsonl': sample });
    const path = await downloadDolly({ cacheDir, fetch: hub.fetch });
    expect(path).toBe(join(cacheDir, 'datasets--databricks--databricks-dolly-15k', 'main', 'databricks-dolly-15k.jsonl'));
    expect(path).toBe(hubCachePath({ cacheDir }));
    expect(new Uint8Array(await readFile(path))).toEqual(sample);
    expect(hub.calls.length).toBeGreaterThan(0);
    expect(hub.calls.every((c) => c.includes('https://huggingface.co/datasets/databricks/databricks-dolly-15k/resolve/main/databricks-dolly-15k.jsonl'))).toBe(true);

    const before = hub.calls.length;
    const records = [];
    for await (const r of readDollyFromHub({ cacheDir, fetch: hub.fetch })) records.push(r);
    expect(records).toHaveLength(40);
    expect(hub.calls.length).toBe(before); // served from the cache
  });

  it('forceDownload fetches again; another revision is cached separately', async () => {
    const hub = fakeHub({
      'databricks/databricks-dolly-15k@main:databricks-dolly-15k.jsonl': sample,
      'databricks/databricks-dolly-15k@v2:databricks-dolly-15k.jsonl': sample.slice(0, 100),
    });
    await downloadDolly({ cacheDir, fetch: hub.fetch });
    const n = hub.calls.length;
    await downloadDolly({ cacheDir, fetch: hub.fetch, forceDownload: true });
    expect(hub.calls.length).toBeGreaterThan(n);
    const v2 = await downloadDolly({ cacheDir, fetch: hub.fetch, revision: 'v2' });
    expect((await readFile(v2)).length).toBe(100);
  });

  it('a custom repo and path, and errors naming the file in hub messages', async () => {
    const broken = new TextEncoder().encode('{"instruction": "a"}\n');
    const hub = fakeHub({ 'me/my-set@main:data/train.jsonl': broken });
    const read = async () => {
      for await (const _ of readDollyFromHub({ cacheDir, fetch: hub.fetch, repo: 'me/my-set', path: 'data/train.jsonl' })) void _;
    };
    await expect(read()).rejects.toThrow('hf://datasets/me/my-set/data/train.jsonl:1: missing field "context"');
  });

  it('a missing file is an error and leaves nothing in the cache', async () => {
    const hub = fakeHub({});
    await expect(downloadDolly({ cacheDir, fetch: hub.fetch })).rejects.toThrow(/not found in dataset databricks\/databricks-dolly-15k/);
    await expect(readFile(hubCachePath({ cacheDir }))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a server error during the download leaves no partial file', async () => {
    const hub = fakeHub({ 'databricks/databricks-dolly-15k@main:databricks-dolly-15k.jsonl': sample });
    const failing = (async (input: string | URL | Request, init?: RequestInit) => {
      if (new Headers(init?.headers).get('Range') === 'bytes=0-0') return hub.fetch(input, init);
      return new Response('boom', { status: 500 });
    }) as typeof fetch;
    await expect(downloadDolly({ cacheDir, fetch: failing })).rejects.toThrow();
    await expect(readFile(hubCachePath({ cacheDir }))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a revision with slashes is one cache folder', () => {
    expect(hubCachePath({ cacheDir, revision: 'refs/pr/1' })).toBe(
      join(cacheDir, 'datasets--databricks--databricks-dolly-15k', 'refs%2Fpr%2F1', 'databricks-dolly-15k.jsonl'),
    );
  });

  it('rejects paths that would leave the cache folder', () => {
    expect(() => hubCachePath({ cacheDir, path: '../x.jsonl' })).toThrow(/invalid hub path/);
    expect(() => hubCachePath({ cacheDir, revision: 'a/../b' })).toThrow(/invalid hub path/);
    // revision "." used to be joined away: its file landed in the repo folder itself, where revision "main" of
    // path "main/databricks-dolly-15k.jsonl" would share it
    expect(() => hubCachePath({ cacheDir, revision: '.' })).toThrow('invalid hub path or revision: databricks-dolly-15k.jsonl @ .');
  });
});
