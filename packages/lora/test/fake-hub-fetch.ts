// An injected `fetch` standing in for the Hugging Face Hub's HTTP API (no server, no network), so
// resolveAdapterDir's download path (src/hub.ts through @huggingface/hub) runs for real offline. It
// answers the calls a download makes: model info at a revision, the file tree at a commit (under a
// folder when asked), paths-info, and `resolve` (with the 1-byte Range probe). Every request is logged.
import { createHash } from 'node:crypto';

export interface FakeHubFetch {
  fetch: typeof fetch;
  /** "METHOD path" of every request, in order. */
  requests: string[];
  /** Full-body downloads per "repo/path". */
  downloads: Map<string, number>;
  /** The commit "main" resolves to, per repo. */
  sha(repo: string): string;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const gitOid = (b: Uint8Array) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
const json = (body: unknown) => new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
const notFound = (code: string) => new Response(JSON.stringify({ error: code }), { status: 404, headers: { 'content-type': 'application/json', 'x-error-code': code } });

/** A fake hub serving `repos` ("owner/name" → files by path, folders as "sub/file"). */
export function fakeHubFetch(repos: Record<string, Record<string, Uint8Array | string>>): FakeHubFetch {
  const files = new Map(Object.entries(repos).map(([name, fs]) => [name, new Map(Object.entries(fs).map(([p, v]) => [p, typeof v === 'string' ? new TextEncoder().encode(v) : v]))]));
  const sha = (repo: string) => createHash('sha1').update(`${repo}:${[...files.get(repo)!.keys()].join('\n')}`).digest('hex');
  const requests: string[] = [];
  const downloads = new Map<string, number>();
  const entry = (path: string, b: Uint8Array, i: number) => {
    const lfs = path.endsWith('.safetensors') || path.endsWith('.bin');
    const lastCommit = { id: createHash('sha1').update(`commit ${i}`).digest('hex'), title: `add ${path}`, date: '2024-01-01T00:00:00.000Z' };
    return { type: 'file', path, size: b.length, oid: gitOid(b), ...(lfs ? { lfs: { oid: sha256(b), size: b.length, pointerSize: 134 } } : {}), lastCommit };
  };

  const fake = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const method = init?.method ?? 'GET';
    requests.push(`${method} ${url.pathname}`);
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const api = parts[0] === 'api' && parts[1] === 'models';
    const name = api ? `${parts[2]}/${parts[3]}` : `${parts[0]}/${parts[1]}`;
    const repo = files.get(name);
    if (!repo) return notFound('RepoNotFound');
    const paths = [...repo.keys()];
    if (api && parts[4] === 'revision') return json({ _id: `id-${name}`, id: name, sha: sha(name), private: false, gated: false, downloads: 0, likes: 0, lastModified: '2024-01-01T00:00:00.000Z' });
    if (api && parts[4] === 'tree') {
      if (parts[5] !== sha(name) && parts[5] !== 'main') return notFound('RevisionNotFound');
      const folder = parts.slice(6).join('/');
      const recursive = url.searchParams.get('recursive') === 'true';
      // The hub's tree: the folder's direct entries (files, and sub-folders as directories) unless recursive.
      const out: unknown[] = [];
      const dirs = new Set<string>();
      for (const [i, p] of paths.entries()) {
        if (folder && !p.startsWith(`${folder}/`)) continue;
        const rest = folder ? p.slice(folder.length + 1) : p;
        if (!recursive && rest.includes('/')) {
          const d = (folder ? `${folder}/` : '') + rest.slice(0, rest.indexOf('/'));
          if (!dirs.has(d)) out.push({ type: 'directory', path: d, size: 0, oid: 'd'.repeat(40) });
          dirs.add(d);
          continue;
        }
        out.push(entry(p, repo.get(p)!, i));
      }
      if (folder && out.length === 0) return notFound('EntryNotFound');
      return json(out);
    }
    if (api && parts[4] === 'paths-info' && method === 'POST') {
      const body = init?.body;
      const text = typeof body === 'string' ? body : body instanceof URLSearchParams ? body.toString() : new TextDecoder().decode(body as Uint8Array);
      const asked = text.startsWith('{') ? (JSON.parse(text) as { paths: string[] }).paths : new URLSearchParams(text).getAll('paths');
      return json(asked.filter((p) => repo.has(p)).map((p) => entry(p, repo.get(p)!, paths.indexOf(p))));
    }
    if (!api && parts[2] === 'resolve') {
      const path = parts.slice(4).join('/');
      const b = repo.get(path);
      if (!b) return notFound('EntryNotFound');
      const etag = `"${path.endsWith('.safetensors') || path.endsWith('.bin') ? sha256(b) : gitOid(b)}"`;
      const range = /^bytes=(\d+)-(\d+)$/.exec(new Headers(init?.headers).get('range') ?? '');
      if (range) {
        const start = Number(range[1]);
        const end = Math.min(Number(range[2]), b.length - 1);
        return new Response(b.slice(start, end + 1), { status: 206, headers: { 'content-range': `bytes ${start}-${end}/${b.length}`, etag } });
      }
      const key = `${name}/${path}`;
      downloads.set(key, (downloads.get(key) ?? 0) + 1);
      return new Response(b.slice(), { status: 200, headers: { 'content-length': String(b.length), etag } });
    }
    return notFound('EntryNotFound');
  };
  return { fetch: fake as typeof fetch, requests, downloads, sha };
}
