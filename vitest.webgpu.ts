/**
 * WebGPU in tests: `webgpu` (Dawn) needs a Vulkan driver. On a machine without one (a fresh laptop
 * without Mesa 25) the WebGPU tests skip with a reason; in CI (`CONIFER_REQUIRE_WEBGPU=1`, set by
 * .ci/run after scripts/install-vulkan.sh) they must run, so a broken driver fails the build.
 */
export const webgpuRequired = process.env.CONIFER_REQUIRE_WEBGPU === '1';

let probe: Promise<string | null> | undefined;

/** Installs Dawn's navigator.gpu globals; resolves to null when an adapter exists, else a reason. */
export function probeWebGPU(): Promise<string | null> {
  probe ??= (async () => {
    try {
      const { create, globals } = await import('webgpu');
      Object.assign(globalThis, globals);
      const gpu = create([]);
      const adapter = await gpu.requestAdapter();
      if (!adapter) return 'no WebGPU adapter (install a Vulkan driver: scripts/install-vulkan.sh)';
      Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
      return null;
    } catch (e) {
      return `webgpu unavailable: ${(e as Error).message}`;
    }
  })();
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
