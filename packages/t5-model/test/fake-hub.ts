// A local stand-in for the Hugging Face Hub's HTTP API, serving model repositories from folders,
// so the download path (src/hub.ts through @huggingface/hub) runs for real without
// network. It answers the four calls a download makes: model info at a revision, the file tree
// at a commit, paths-info (etag, last commit) and `resolve` (with HTTP Range), and it can cut a
// file's body short to simulate a dropped connection.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export interface FakeRepo {
  /** Files by path. */
  files: Map<string, Uint8Array>;
  /** The commit "main" resolves to. */
  sha: string;
}

export interface FakeHub {
  url: string;
  repos: Map<string, FakeRepo>;
  /** Full-body GETs of `resolve` per "repo/path" (range probes of 1 byte are not counted). */
  downloads: Map<string, number>;
  /** "repo/path" whose next full-body GET is cut after half its bytes. */
  breakNext: Set<string>;
  close(): Promise<void>;
}

/** A repo from in-memory files (keys "<owner>/<name>" for models, "datasets/<owner>/<name>" for datasets). */
export function repoFromFiles(files: Record<string, Uint8Array | string>): FakeRepo {
  const map = new Map<string, Uint8Array>(Object.entries(files).map(([k, v]) => [k, typeof v === 'string' ? new TextEncoder().encode(v) : v]));
  return { files: map, sha: createHash('sha1').update([...map.keys()].join('\n')).digest('hex') };
}

/** A repo from a folder's files (plus extras, e.g. a pytorch_model.bin the client must skip). */
export function repoFromFolder(dir: string, extra: Record<string, string> = {}): FakeRepo {
  const files = new Map<string, Uint8Array>();
  for (const name of readdirSync(dir).sort()) files.set(name, readFileSync(join(dir, name)));
  return repoFromFiles({ ...Object.fromEntries(files), ...extra });
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const gitOid = (b: Uint8Array) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

export async function startFakeHub(repos: Record<string, FakeRepo>): Promise<FakeHub> {
  const hub: Omit<FakeHub, 'url' | 'close'> = { repos: new Map(Object.entries(repos)), downloads: new Map(), breakNext: new Set() };

  const notFound = (res: ServerResponse, what: string) => {
    res.writeHead(404, { 'content-type': 'application/json', 'x-error-code': 'RepoNotFound' });
    res.end(JSON.stringify({ error: `${what} not found` }));
  };
  const json = (res: ServerResponse, body: unknown) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const entry = (repo: FakeRepo, path: string, i: number) => {
    const b = repo.files.get(path)!;
    const lfs = path.endsWith('.safetensors') || path.endsWith('.bin');
    // Every file's last commit differs from the repo's head, as on the real hub.
    const lastCommit = { id: createHash('sha1').update(`commit ${i}`).digest('hex'), title: `add ${path}`, date: '2024-01-01T00:00:00.000Z' };
    return { type: 'file', path, size: b.length, oid: gitOid(b), ...(lfs ? { lfs: { oid: sha256(b), size: b.length, pointerSize: 134 } } : {}), lastCommit };
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://hub');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    // Datasets live under /datasets/<owner>/<name>/… and are keyed "datasets/<owner>/<name>".
    const dataset = parts[0] === 'datasets';
    if (dataset) parts.shift();
    const api = parts[0] === 'api' && parts[1] === 'models';
    const name = `${dataset ? 'datasets/' : ''}${api ? `${parts[2]}/${parts[3]}` : `${parts[0]}/${parts[1]}`}`;
    const repo = hub.repos.get(name);
    if (!repo) return notFound(res, `repository ${name}`);
    const paths = [...repo.files.keys()];
    if (api && parts[4] === 'revision') {
      return json(res, { _id: `id-${name}`, id: name, sha: repo.sha, private: false, gated: false, downloads: 0, likes: 0, lastModified: '2024-01-01T00:00:00.000Z' });
    }
    if (api && parts[4] === 'tree') {
      if (parts[5] !== repo.sha && parts[5] !== 'main') return notFound(res, `revision ${parts[5]}`);
      return json(res, paths.map((p, i) => entry(repo, p, i)));
    }
    if (api && parts[4] === 'paths-info' && req.method === 'POST') {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const asked = (JSON.parse(body) as { paths: string[] }).paths;
        json(res, asked.filter((p) => repo.files.has(p)).map((p) => entry(repo, p, paths.indexOf(p))));
      });
      return;
    }
    if (!api && parts[2] === 'resolve') {
      const path = parts.slice(4).join('/');
      const b = repo.files.get(path);
      if (!b) {
        res.writeHead(404, { 'x-error-code': 'EntryNotFound' });
        return res.end();
      }
      const etag = `"${path.endsWith('.safetensors') ? sha256(b) : gitOid(b)}"`;
      const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
      if (range) {
        const start = Number(range[1]);
        const end = Math.min(Number(range[2]), b.length - 1);
        res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${b.length}`, 'content-length': end - start + 1, etag });
        return res.end(Buffer.from(b.subarray(start, end + 1)));
      }
      const key = `${name}/${path}`;
      hub.downloads.set(key, (hub.downloads.get(key) ?? 0) + 1);
      res.writeHead(200, { 'content-length': b.length, etag });
      if (hub.breakNext.delete(key)) {
        // Half the body, then a dropped connection.
        res.write(Buffer.from(b.subarray(0, b.length >> 1)), () => res.destroy());
        return;
      }
      return res.end(Buffer.from(b));
    }
    notFound(res, url.pathname);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    ...hub,
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
