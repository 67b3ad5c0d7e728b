import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { CliError } from './errors.js';
import type { BackendName } from './options.js';
import type { WebGPUDescription } from './webgpu-node.js';

/** The optional CUDA backend: installed by the user, never by this repo. */
export const TFJS_NODE_GPU = '@tensorflow/tfjs-node-gpu';

export const TFJS_NODE_GPU_MISSING =
  `--backend tensorflow needs ${TFJS_NODE_GPU}, an optional dependency that is not installed. ` +
  `On a Linux x64 machine with an NVIDIA GPU, CUDA 11.x and cuDNN 8, install it next to this app ` +
  `(pnpm --filter @conifer/example-train-ul2-dolly add -O ${TFJS_NODE_GPU}@4.22.0), or run from a folder where ` +
  `'npm install ${TFJS_NODE_GPU}@4.22.0' put it; without CUDA use --backend webgpu or wasm.`;

export interface BackendInfo {
  name: BackendName;
  /** One line for the plan printout. */
  detail: string;
  webgpu?: WebGPUDescription;
  /** Frees the device (webgpu); no-op elsewhere. */
  dispose(): void;
}

export interface BackendSetupOptions {
  /** How to load a module by name (tests inject a failing one); default import() from here, then from the working folder. */
  importModule?: (specifier: string) => Promise<unknown>;
  /** webgpu: bytes of released GPU buffers kept for reuse (default: tfjs's unbounded pool). */
  maxFreePoolBytes?: number;
}

function isModuleNotFound(e: unknown, specifier: string): boolean {
  const err = e as { code?: string; message?: string };
  return (err.code === 'ERR_MODULE_NOT_FOUND' || err.code === 'MODULE_NOT_FOUND') && (err.message ?? '').includes(specifier);
}

/** import() resolves from this file; a user may also have installed the module in the working folder. */
async function importFromHereOrCwd(specifier: string): Promise<unknown> {
  try {
    // A variable specifier: bundlers leave it alone (the module is optional and absent at build time).
    return await import(specifier);
  } catch (e) {
    if (!isModuleNotFound(e, specifier)) throw e;
    let resolved: string;
    try {
      resolved = createRequire(join(process.cwd(), 'noop.js')).resolve(specifier);
    } catch {
      throw e;
    }
    return await import(pathToFileURL(resolved).href);
  }
}

async function select(name: string): Promise<void> {
  const ok = await tf.setBackend(name);
  if (!ok) throw new CliError(`the ${name} backend failed to initialise (see the message above)`);
  await tf.ready();
}

/** Registers and selects a tfjs backend. Failures are one-line CliErrors (exit code 1). */
export async function setupBackend(name: BackendName, options: BackendSetupOptions = {}): Promise<BackendInfo> {
  const importModule = options.importModule ?? importFromHereOrCwd;
  const none = () => {};
  switch (name) {
    case 'cpu':
      await import('@tensorflow/tfjs-backend-cpu');
      await select('cpu');
      // The cpu backend's first write prints a banner recommending tfjs-node; --help already lists the choices.
      (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
      return { name, detail: 'cpu (pure JavaScript)', dispose: none };
    case 'wasm': {
      // In Node the wasm backend finds its .wasm files next to its own dist/ (no setWasmPaths needed).
      await import('@tensorflow/tfjs-backend-wasm');
      await select('wasm');
      const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
      const threads = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT');
      return { name, detail: `wasm (${simd ? 'SIMD' : 'no SIMD'}, ${threads ? 'threads' : 'one thread'})`, dispose: none };
    }
    case 'webgpu': {
      let setup;
      try {
        const { setupWebGPUNode } = await import('./webgpu-node.js');
        setup = await setupWebGPUNode({ maxFreePoolBytes: options.maxFreePoolBytes });
      } catch (e) {
        throw new CliError(`--backend webgpu: ${(e as Error).message}`);
      }
      const { device: _device, pool: _pool, dispose, ...webgpu } = setup;
      const detail = `webgpu on ${webgpu.adapter} (shader-f16 ${webgpu.shaderF16 ? 'yes' : 'no'}, subgroup matrix ${webgpu.subgroupMatrix ? (webgpu.subgroupMatrixConfigs.length ? webgpu.subgroupMatrixConfigs.join(', ') : 'yes') : 'no'})`;
      return { name, detail, webgpu, dispose };
    }
    case 'tensorflow': {
      try {
        await importModule(TFJS_NODE_GPU);
      } catch (e) {
        if (isModuleNotFound(e, TFJS_NODE_GPU)) throw new CliError(TFJS_NODE_GPU_MISSING);
        throw new CliError(
          `${TFJS_NODE_GPU} is installed but failed to load: ${(e as Error).message} (it needs CUDA 11.x and cuDNN 8 on the library path)`,
        );
      }
      await select('tensorflow');
      return { name, detail: `tensorflow (${TFJS_NODE_GPU}, CUDA)`, dispose: none };
    }
  }
}
