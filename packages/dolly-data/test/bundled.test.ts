import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { bundledDollyPath, bundledTokenizerDir } from '../src';

const run = promisify(execFile);
const pkgDir = fileURLToPath(new URL('..', import.meta.url));

describe('bundled data', () => {
  it('resolves to the package data folder from the sources', () => {
    expect(bundledTokenizerDir()).toBe(join(pkgDir, 'data', 't5-tokenizer'));
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'PROVENANCE.md']) {
      expect(existsSync(join(bundledTokenizerDir(), f))).toBe(true);
    }
    expect(existsSync(join(pkgDir, 'data', 'dolly', 'PROVENANCE.md'))).toBe(true);
  });

  it('ships the exact files named in the PROVENANCE notes (sha256)', () => {
    const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
    expect(sha(bundledDollyPath())).toBe('368595fbd36460844f2cce1dae98f76159e46f82a87719b8fea896d5bb6b8f1a');
    expect(sha(join(bundledTokenizerDir(), 'tokenizer.json'))).toBe('652ffdfc379606bad8edfb653f92dcf28e2e5dbf1cdfe50d685d29b2cad12dd6');
    expect(sha(join(bundledTokenizerDir(), 'tokenizer_config.json'))).toBe('83b3e7737eef754efca607d9f580798cc35457daa96052cc60179f095a375c14');
  });

  it('resolves beside dist/ from both the ESM and the CommonJS build (tsup with shims, as tsup.config.ts)', async () => {
    const out = await mkdtemp(join(tmpdir(), 'dolly-bundled-'));
    try {
      await run('npx', ['tsup', 'src/bundled.ts', '--no-config', '--format', 'esm,cjs', '--shims', '--target', 'node20', '--out-dir', join(out, 'dist'), '--silent'], { cwd: pkgDir });
      const esm = await run(process.execPath, ['--input-type=module', '-e', `import(${JSON.stringify(join(out, 'dist', 'bundled.js'))}).then((m) => console.log(m.bundledTokenizerDir()))`]);
      const cjs = await run(process.execPath, ['-e', `console.log(require(${JSON.stringify(join(out, 'dist', 'bundled.cjs'))}).bundledDollyPath())`]);
      expect(esm.stdout.trim()).toBe(join(out, 'data', 't5-tokenizer'));
      expect(cjs.stdout.trim()).toBe(join(out, 'data', 'dolly', 'databricks-dolly-15k.jsonl'));
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 60_000);
});
