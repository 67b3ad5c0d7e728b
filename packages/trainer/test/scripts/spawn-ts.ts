import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const tsxLoader = pathToFileURL(join(repoRoot, 'node_modules/tsx/dist/esm/index.mjs')).href;
const hook = fileURLToPath(new URL('../../../../scripts/tfjs-esm-hook.mjs', import.meta.url));

/**
 * Runs a TypeScript test script (`script` relative to packages/trainer/test) in a child process: node itself runs it with tsx's
 * loader and the repo's tfjs ESM hook (the tsx CLI would run it in a grandchild that SIGKILL would
 * orphan). stdout and stderr are piped, stdin ignored.
 */
export function spawnTs(script: string, args: readonly string[]): ChildProcessByStdio<null, Readable, Readable> {
  const path = fileURLToPath(new URL(`../${script}`, import.meta.url));
  return spawn(process.execPath, ['--import', tsxLoader, '--import', hook, path, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
}
