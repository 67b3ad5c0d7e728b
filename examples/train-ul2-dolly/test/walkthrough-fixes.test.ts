// Fixes from a fresh-user walkthrough of the READMEs: --out only where something is written, local-looking
// paths that do not exist are usage errors (not hub downloads that fail after the backend starts), and the
// plan's wording.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { commandHelp, parseCommandLine } from '../src/args.js';
import { main } from '../src/main.js';
import { capture } from './capture.js';

const tmp = mkdtempSync(join(tmpdir(), 'conifer-walkthrough-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const ul2 = new URL('./fixtures/flan-ul2/config.json', import.meta.url).pathname;

describe('CLI walkthrough fixes', () => {
  it('--out belongs to train only: generate and eval write nothing, so they refuse it as an unknown flag', () => {
    expect(commandHelp('train')).toMatch(/--out DIR/);
    for (const cmd of ['generate', 'eval'] as const) {
      expect(commandHelp(cmd)).not.toMatch(/--out/);
      expect(() => parseCommandLine([cmd, '--out', '/etc/passwd'])).toThrow(/unknown flag --out/);
    }
    expect(commandHelp('train')).toMatch(/--device-memory GB .*\(default: cpu: free RAM; wasm: free RAM, at most its 4 GiB heap; GPU: unknown\)/);
  });

  it('an owner/name-shaped --model or --adapter that reads as a local path and does not exist is a usage error (exit 2, nothing fetched)', async () => {
    const cwd = process.cwd();
    mkdirSync(join(tmp, 'conifer-out'), { recursive: true });
    process.chdir(tmp);
    try {
      expect(() => parseCommandLine(['train', '--model', 'nope/config.json', '--dry-run'])).toThrow(/--model nope\/config\.json: no such file \(a \.json file name is a local path\)/);
      expect(() => parseCommandLine(['generate', '--adapter', 'conifer-out/adapter'])).toThrow(/--adapter conifer-out\/adapter: no such folder \(conifer-out\/ is a folder here, so this is read as a local path\)/);
      expect(() => parseCommandLine(['eval', '--model', 'conifer-out/model'])).toThrow(/--model conifer-out\/model: no such folder \(conifer-out\/ is a folder here/);
      const c = capture();
      expect(await main(['generate', '--adapter', 'conifer-out/adapter'], c.io)).toBe(2);
      expect(c.out).toEqual([]);
      // an owner that is no folder here is still a hub id
      expect(parseCommandLine(['train', '--model', 'google/flan-ul2', '--dry-run'])).toMatchObject({ kind: 'run', options: { model: { kind: 'hub', id: 'google/flan-ul2' } } });
      expect(parseCommandLine(['generate', '--adapter', 'coniferlabs/flan-ul2-dolly-lora'])).toMatchObject({ kind: 'run', options: { adapter: 'coniferlabs/flan-ul2-dolly-lora' } });
    } finally {
      process.chdir(cwd);
    }
  });

  it('the plan says "1 step", not "1 steps"', async () => {
    const c = capture();
    expect(await main(['train', '--model', ul2, '--dry-run', '--max-steps', '1'], c.io)).toBe(0);
    expect(c.out.join('\n')).toMatch(/; 1 step in all/);
  });
});
