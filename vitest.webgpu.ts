import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { beforeAll } from 'vitest';

/**
 * WebGPU in tests: `webgpu` (Dawn) needs a Vulkan driver. On a machine without one (a fresh laptop
 * without Mesa 25) the WebGPU tests skip with a reason; in CI (`CONIFER_REQUIRE_WEBGPU=1`, set by
 * .ci/run after scripts/install-vulkan.sh) they must run, so a broken driver fails the build.
 *
 * The probe runs in a child process: a second Dawn instance in the test process (besides the one the
 * test creates) makes Dawn abort on the first asynchronous read-back.
 */
export const webgpuRequired = process.env.CONIFER_REQUIRE_WEBGPU === '1';

let probe: Promise<string | null> | undefined;

const PROBE = `
const { create } = require(process.argv[1]);
create([]).requestAdapter().then(
  (a) => { console.log(a ? 'ok' : 'no WebGPU adapter (install a Vulkan driver: scripts/install-vulkan.sh)'); process.exit(0); },
  (e) => { console.log('webgpu unavailable: ' + e.message); process.exit(0); },
);`;

/** Resolves to null when a WebGPU adapter exists, else the reason there is none. */
export function probeWebGPU(): Promise<string | null> {
  probe ??= new Promise((resolve) => {
    let entry: string;
    try {
      entry = createRequire(import.meta.url).resolve('webgpu');
    } catch (e) {
      resolve(`the webgpu package is not installed (${(e as Error).message})`);
      return;
    }
    execFile(process.execPath, ['-e', PROBE, entry], { timeout: 60_000 }, (err, stdout) => {
      const out = stdout.trim().split('\n').pop() ?? '';
      if (out === 'ok') resolve(null);
      else resolve(out || `webgpu probe failed: ${err?.message ?? 'no output'}`);
    });
  });
  return probe;
}

/** True when WebGPU tests should be skipped (no adapter and not required). Throws in CI when missing. */
export async function skipWebGPU(): Promise<boolean> {
  const reason = await probeWebGPU();
  if (reason === null) return false;
  if (webgpuRequired) throw new Error(`CONIFER_REQUIRE_WEBGPU=1 but ${reason}`);
  console.warn(`skipping WebGPU tests: ${reason}`);
  return true;
}

let installed: Promise<void> | undefined;

/**
 * Gives this process one Dawn GPU as `navigator.gpu` (with Dawn's WebGPU globals), which is what
 * `@tensorflow/tfjs-backend-webgpu`'s own registration looks for. Create no other Dawn instance in
 * the same process.
 */
export function installDawnNavigator(): Promise<void> {
  installed ??= (async () => {
    const { create, globals } = await import('webgpu');
    Object.assign(globalThis, globals);
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: create([]) }, configurable: true, writable: true });
  })();
  return installed;
}

/**
 * In a `describe`: before its tests, installs Dawn ({@link installDawnNavigator}), loads the
 * package's own `@tensorflow/tfjs-backend-webgpu` (passed in, so it resolves from the test's
 * package) and makes `webgpu` the active backend of the package's `tf`.
 */
export function useWebGPUBackend(tf: { setBackend(name: string): Promise<boolean> }, loadBackend: () => Promise<unknown>): void {
  beforeAll(async () => {
    await installDawnNavigator();
    await loadBackend();
    await tf.setBackend('webgpu');
  }, 120_000);
}
