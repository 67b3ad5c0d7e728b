/**
 * What a user gets from npm: every package packed as `pnpm publish` would pack it, checked with publint,
 * installed (tarballs only, no workspace links) into an empty project beside tfjs, then imported as ESM
 * and CommonJS, and the README examples run there — their output must be the README's.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const packagesDir = join(root, 'packages');
const names = readdirSync(packagesDir).filter((n) => existsSync(join(packagesDir, n, 'package.json'))).sort();
const manifest = (name: string) => JSON.parse(readFileSync(join(packagesDir, name, 'package.json'), 'utf8'));
/** The exact version the workspace installed (from its lockfile), so the install here resolves nothing new. */
const installed = (p: string) => JSON.parse(readFileSync(join(root, 'node_modules', p, 'package.json'), 'utf8')).version as string;

/** Newest modification time of the files under `dir` (ms). */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}
const tsx = join(root, 'node_modules', '.bin', 'tsx');

let work = '';
let app = '';
const tarballs: Record<string, string> = {};

/** Runs a command in the app; returns stdout (stderr is tfjs's banner and warnings). */
function runIn(cwd: string, cmd: string, args: string[], timeout = 120_000): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
}

/** A README's fenced code blocks, in order: language tag and body lines. */
function blocksOf(readme: string): Array<{ lang: string; lines: string[] }> {
  const blocks: Array<{ lang: string; lines: string[] }> = [];
  const lines = readme.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i]!);
    blocks.push({ lang: open[1]!, lines: body });
  }
  return blocks;
}

beforeAll(() => {
  // What is packed is dist/: it must exist and be newer than every source file.
  const missing = names.filter((n) => !existsSync(join(packagesDir, n, 'dist', 'index.js')));
  if (missing.length) throw new Error(`packages not built (${missing.join(', ')}): run \`pnpm build\` first`);
  // internal/: source several packages bundle (turbo rebuilds every package when it changes)
  const shared = newest(join(packagesDir, '..', 'internal'));
  const stale = names.filter((n) => Math.max(newest(join(packagesDir, n, 'src')), shared) > statSync(join(packagesDir, n, 'dist', 'index.js')).mtimeMs);
  if (stale.length) throw new Error(`dist/ older than src/ in ${stale.join(', ')}: run \`pnpm build\` first`);
  work = mkdtempSync(join(tmpdir(), 'conifer-packed-'));
  const packs = join(work, 'tarballs');
  for (const n of names) {
    runIn(join(packagesDir, n), 'pnpm', ['pack', '--pack-destination', packs]);
    const m = manifest(n);
    tarballs[m.name] = join(packs, `${m.name.replace('@', '').replace('/', '-')}-${m.version}.tgz`);
    if (!existsSync(tarballs[m.name]!)) throw new Error(`pnpm pack wrote no ${tarballs[m.name]}`);
  }
  // An empty project: the tarballs (their @conifer dependencies pointed at the tarballs too, as the
  // registry would serve them) and the tfjs packages the READMEs install, at the exact versions the
  // workspace installed (already in pnpm's store: nothing new is resolved or fetched).
  app = join(work, 'app');
  const tfjs = installed;
  const files = Object.fromEntries(Object.entries(tarballs).map(([k, v]) => [k, `file:${v}`]));
  mkdirSync(app);
  cpSync(join(packagesDir, 't5-model', 'test', 'fixtures', 'models', 'ul2-tiny'), join(app, 'test', 'fixtures', 'models', 'ul2-tiny'), { recursive: true });
  writeFileSync(join(app, 'package.json'), JSON.stringify({
    name: 'conifer-user', private: true, type: 'module',
    dependencies: {
      ...files,
      '@tensorflow/tfjs-core': tfjs('@tensorflow/tfjs-core'),
      '@tensorflow/tfjs-backend-cpu': tfjs('@tensorflow/tfjs-backend-cpu'),
      '@tensorflow/tfjs-backend-wasm': tfjs('@tensorflow/tfjs-backend-wasm'),
    },
    pnpm: { overrides: files },
  }, null, 2));
  runIn(app, 'pnpm', ['install', '--prefer-offline', '--ignore-workspace', '--config.confirmModulesPurge=false'], 300_000);
}, 600_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe.each(names)('@conifer/%s as published', (name) => {
  it('passes publint (strict): exports, files and types resolve in the packed tarball', async () => {
    const pkgDir = join(packagesDir, name);
    const { messages } = await publint({ pkgDir, pack: 'pnpm', strict: true });
    const pkg = manifest(name);
    expect(messages.map((m) => `${m.type}: ${formatMessage(m, pkg)}`)).toEqual([]);
  });

  it('holds no sources, tests or workspace: ranges', () => {
    const pkgName = manifest(name).name as string;
    const list = runIn(work, 'tar', ['tzf', tarballs[pkgName]!]).trim().split('\n');
    expect(list.filter((f) => /^package\/(src|test|bench|examples)\//.test(f))).toEqual([]);
    const packed = JSON.parse(runIn(work, 'tar', ['xzOf', tarballs[pkgName]!, 'package/package.json']));
    expect(JSON.stringify(packed.dependencies ?? {})).not.toContain('workspace:');
  });

  it('loads from the install as ESM and as CommonJS, with the same exports', () => {
    const pkgName = manifest(name).name as string;
    const esm = runIn(app, 'node', ['--input-type=module', '-e', `const m = await import('${pkgName}'); console.log(JSON.stringify(Object.keys(m).sort()))`]);
    const cjs = runIn(app, 'node', ['--input-type=commonjs', '-e', `console.log(JSON.stringify(Object.keys(require('${pkgName}')).sort()))`]);
    const keys = JSON.parse(esm.trim().split('\n').pop()!) as string[];
    expect(keys.length).toBeGreaterThan(0);
    expect(JSON.parse(cjs.trim().split('\n').pop()!)).toEqual(keys.filter((k) => k !== 'default'));
  });

  const examples = existsSync(join(packagesDir, name, 'examples'))
    ? readdirSync(join(packagesDir, name, 'examples')).filter((f) => f.endsWith('.ts'))
    : [];
  it.each(examples)("examples/%s runs from the install and prints the README's output", (file) => {
    cpSync(join(packagesDir, name, 'examples', file), join(app, `${name}-${file}`));
    const out = runIn(app, tsx, [`${name}-${file}`]).trimEnd().split('\n');
    const readme = readFileSync(join(packagesDir, name, 'README.md'), 'utf8');
    expect(readme).toContain(['```', ...out, '```'].join('\n'));
  });
});

/** Output lines that vary from run to run (throughput), masked in both. */
const unstable = (line: string) => line.replace(/tok\/s \d+/, 'tok/s N');

describe.each(['t5-model', 'trainer'])("@conifer/%s README's JavaScript example", (name) => {
  it('runs from the install and prints the output shown under it', () => {
    const blocks = blocksOf(readFileSync(join(packagesDir, name, 'README.md'), 'utf8'));
    const at = blocks.findIndex((b) => b.lang === 'js');
    expect(at).toBeGreaterThanOrEqual(0);
    const shown = blocks[at + 1]!;
    expect(shown.lang).toBe('');
    writeFileSync(join(app, `readme-${name}.mjs`), blocks[at]!.lines.join('\n') + '\n');
    const out = runIn(app, 'node', [`readme-${name}.mjs`]).trimEnd().split('\n');
    expect(out.map(unstable)).toEqual(shown.lines.map(unstable));
  });
});
