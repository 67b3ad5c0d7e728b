import * as tf from '@tensorflow/tfjs-core';
// Imported before navigator.gpu exists, so its own registration (which asks for no optional
// features) is skipped; we register a backend built on our device instead.
import { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { create, globals } from 'webgpu';
import { type BufferPoolCap, capWebGPUBufferPool } from './webgpu-pool.js';

/**
 * Dawn toggles (../shared/device/README.md): `allow_unsafe_apis` exposes the experimental
 * `chromium-experimental-subgroup-matrix` feature (tensor cores from WGSL), and
 * `vulkan_enable_f16_on_nvidia` lets NVIDIA's Vulkan driver offer `shader-f16`.
 */
export const DAWN_FLAGS = ['enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia'];

/** Features requested when the adapter offers them (none is required). */
export const OPTIONAL_FEATURES = ['timestamp-query', 'shader-f16', 'subgroups', 'chromium-experimental-subgroup-matrix'] as const;

/** What the plan printout says about the GPU. */
export interface WebGPUDescription {
  /** e.g. "mesa llvmpipe (LLVM 19.1.7, 256 bits)" or "nvidia nvidia-h100-80gb-hbm3". */
  adapter: string;
  /** The optional features the device was created with. */
  features: string[];
  /** Tensor cores from WGSL (`chromium-experimental-subgroup-matrix`). */
  subgroupMatrix: boolean;
  /**
   * The subgroup-matrix shapes the adapter lists (Dawn's `GPUAdapterInfo.subgroupMatrixConfigs`), e.g.
   * "f16→f32 16×16×16", "i8→i32 16×16×32"; empty when it lists none (lavapipe, Dawn's null device).
   */
  subgroupMatrixConfigs: string[];
  shaderF16: boolean;
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number; maxComputeWorkgroupStorageSize: number };
}

export interface WebGPUNodeOptions {
  /** Dawn flags for `create()` (default DAWN_FLAGS). */
  flags?: string[];
  /** Default 'high-performance', as tfjs. */
  powerPreference?: GPUPowerPreference;
  /** Register under this backend name (default 'webgpu'). */
  backendName?: string;
  /** Make it the active tfjs backend (default true). */
  select?: boolean;
  /**
   * Keep at most this many bytes in tfjs's pool of free GPU buffers (webgpu-pool.ts; tfjs keeps every
   * released buffer, and varied batch shapes make it grow without bound). Default: no cap.
   */
  maxFreePoolBytes?: number;
}

export interface WebGPUSetup extends WebGPUDescription {
  device: GPUDevice;
  /** The cap on the free-buffer pool, when `maxFreePoolBytes` was given. */
  pool: BufferPoolCap | null;
  /** Removes the backend and destroys the device. */
  dispose(): void;
}

function installGlobals(gpu: GPU): void {
  Object.assign(globalThis, globals);
  const g = globalThis as { navigator?: { gpu?: GPU } };
  if (g.navigator === undefined) {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  } else if (g.navigator.gpu === undefined) {
    Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true, writable: true });
  }
}

function describeAdapter(info: GPUAdapterInfo | undefined): string {
  if (!info) return 'unknown adapter';
  if (info.description) return info.description;
  return [info.vendor, info.device || info.architecture].filter((s) => s).join(' ') || 'unknown adapter';
}

/** One subgroup-matrix config of Dawn's adapter info (experimental; not in @webgpu/types). */
interface SubgroupMatrixConfig { componentType: string; resultComponentType: string; M: number; N: number; K: number }

/** `"<component>→<result> M×N×K"` for each subgroup-matrix config the adapter info lists. */
export function subgroupMatrixConfigNames(info: GPUAdapterInfo | undefined): string[] {
  const list = (info as { subgroupMatrixConfigs?: Iterable<SubgroupMatrixConfig> } | undefined)?.subgroupMatrixConfigs;
  return list ? Array.from(list, (c) => `${c.componentType}→${c.resultComponentType} ${c.M}×${c.N}×${c.K}`) : [];
}

const instances = new Map<string, GPU>();

/**
 * Creates (once per process) the Dawn GPU with the toggles, a device with the optional features the adapter offers
 * (shader-f16, subgroup matrices, …) and the adapter's limits that tfjs-backend-webgpu's own
 * registration asks for (base.js) plus the storage-buffer count, then registers
 * `new WebGPUBackend(device)` and selects it. Without the features it falls back to a plain
 * WebGPU device; without an adapter it throws.
 */
export async function setupWebGPUNode(options: WebGPUNodeOptions = {}): Promise<WebGPUSetup> {
  const flags = options.flags ?? DAWN_FLAGS;
  // One Dawn instance per process and flag set: a second instance (even after the first one's
  // device was destroyed) makes Dawn abort the process; devices are created per call.
  const key = flags.join('\n');
  let gpu = instances.get(key);
  if (!gpu) instances.set(key, (gpu = create(flags)));
  installGlobals(gpu);
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) throw new Error('no WebGPU adapter (Dawn found no Vulkan/Metal/D3D12 device; on Linux install libvulkan1 and a driver, e.g. mesa-vulkan-drivers)');
  const features = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  const l = adapter.limits;
  // The limits tfjs-backend-webgpu's registration (dist/base.js) requests, plus bindings for kernels with many inputs.
  const requiredLimits: Record<string, number> = {
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxBufferSize: l.maxBufferSize,
    maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
    maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
  };
  let device: GPUDevice;
  let granted: string[] = [...features];
  try {
    device = await adapter.requestDevice({ requiredFeatures: features as GPUFeatureName[], requiredLimits });
  } catch {
    // An adapter that lists a feature it then refuses: fall back to a plain device.
    granted = [];
    device = await adapter.requestDevice({ requiredLimits });
  }
  void device.lost.then((info) => {
    if (info.reason !== 'destroyed') process.stderr.write(`WebGPU device lost: ${info.message}\n`);
  });
  const name = options.backendName ?? 'webgpu';
  if (tf.findBackendFactory(name)) tf.removeBackend(name);
  const adapterInfo = adapter.info;
  tf.registerBackend(name, () => new WebGPUBackend(device, adapterInfo), 3);
  if (options.select ?? true) {
    const ok = await tf.setBackend(name);
    if (!ok) throw new Error(`tfjs could not initialise the ${name} backend`);
  }
  const pool = options.maxFreePoolBytes === undefined ? null : capWebGPUBufferPool(tf.engine().findBackend(name), options.maxFreePoolBytes);
  return {
    device,
    pool,
    adapter: describeAdapter(adapterInfo),
    features: granted,
    subgroupMatrix: granted.includes('chromium-experimental-subgroup-matrix'),
    subgroupMatrixConfigs: subgroupMatrixConfigNames(adapterInfo),
    shaderF16: granted.includes('shader-f16'),
    limits: {
      maxBufferSize: device.limits.maxBufferSize,
      maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize,
      maxComputeWorkgroupStorageSize: device.limits.maxComputeWorkgroupStorageSize,
    },
    dispose() {
      if (tf.findBackendFactory(name)) tf.removeBackend(name);
      device.destroy();
    },
  };
}
