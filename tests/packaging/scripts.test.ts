/**
 * Every package's scripts: the ones the repository's commands call through turbo exist (`pnpm bench`,
 * `pnpm test`, `pnpm lint`, …), and every file a script runs is there — a bench script pointing at a
 * missing file failed only when someone ran `pnpm bench`.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const packagesDir = fileURLToPath(new URL('../../packages/', import.meta.url));
const names = readdirSync(packagesDir).filter((n) => existsSync(join(packagesDir, n, 'package.json'))).sort();

describe.each(names)('@conifer/%s scripts', (name) => {
  it('has build, test, typecheck, lint and bench, and every file a script names exists', () => {
    const scripts = (JSON.parse(readFileSync(join(packagesDir, name, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    for (const s of ['build', 'test', 'typecheck', 'lint', 'bench']) expect(scripts[s], `${name}: no "${s}" script`).toBeTruthy();
    let files = 0;
    for (const [script, command] of Object.entries(scripts)) {
      // path-like words ending in a script extension: `bench/index.ts`, `../../scripts/tfjs-esm-hook.mjs`
      for (const m of command.matchAll(/(?:^|\s)((?:\.{1,2}\/)*(?:[\w.-]+\/)*[\w.-]+\.(?:ts|mts|cts|js|mjs|cjs))(?=\s|$)/g)) {
        files++;
        expect(existsSync(join(packagesDir, name, m[1]!)), `${name}: "${script}" runs ${m[1]}, which does not exist`).toBe(true);
      }
    }
    expect(files).toBeGreaterThan(0); // at least the bench's file was found (the pattern works)
  });
});
