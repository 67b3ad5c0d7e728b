// Child process of tensor-core-compile.test.ts: compiles every tensor-core shader variant with Tint
// on Dawn's null backend (which offers `chromium-experimental-subgroup-matrix`; it compiles and
// validates but runs nothing), then runs prepareTensorCoreKernels on that device. Prints one JSON line.
// A child process because a second Dawn instance in a test process makes Dawn abort on read-back.
import { create, globals } from 'webgpu';
import {
  compileComputeShader, prepareTensorCoreKernels, TENSOR_CORE_KINDS, TENSOR_CORE_TILE_CANDIDATES, TENSOR_CORE_VARIANTS, tensorCoreShader, tensorCoreWorkgroupBytes, type GpuDevice,
} from '../../src/kernels/webgpu-tensor-core';

Object.assign(globalThis, globals);
const FEATURES = ['chromium-experimental-subgroup-matrix', 'shader-f16', 'subgroups'];

async function main(): Promise<void> {
  const gpu = create(['backend=null', 'enable-dawn-features=allow_unsafe_apis']);
  const adapter = await gpu.requestAdapter({ featureLevel: 'core' } as GPURequestAdapterOptions);
  if (!adapter) throw new Error('no null-backend adapter');
  const missing = FEATURES.filter((f) => !adapter.features.has(f));
  if (missing.length) throw new Error(`the null adapter lacks ${missing.join(', ')}`);
  // As the example's setupWebGPUNode does: the adapter's workgroup storage (the null adapter's is
  // WebGPU's default 16 KiB; the 4 × 4 staged f16 kernels need 20, the H100 offers 48).
  const requiredLimits = { maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize };
  const device = (await adapter.requestDevice({ requiredFeatures: FEATURES as GPUFeatureName[], requiredLimits })) as unknown as GpuDevice;
  const compiled: Record<string, string> = {};
  const overLimit: string[] = []; // shaders that declare more workgroup memory than this device offers
  for (const tiles of TENSOR_CORE_TILE_CANDIDATES) {
    for (const kind of TENSOR_CORE_KINDS) {
      for (const v of TENSOR_CORE_VARIANTS) {
        if (kind !== 'i8' && v.word !== 'i32') continue;
        const r = await compileComputeShader(device, tensorCoreShader(kind, tiles, v));
        const name = `${kind} TM${tiles.TM} TN${tiles.TN}${tiles.staged ? ' staged' : ''} ${v.layout} ${v.word}`;
        compiled[name] = typeof r === 'string' ? r : 'ok';
        if (tensorCoreWorkgroupBytes(kind, tiles, v) > device.limits!.maxComputeWorkgroupStorageSize!) overLimit.push(name);
      }
    }
  }
  // A broken shader must be reported, not pass: the same kernel with a type error.
  const broken = await compileComputeShader(device, tensorCoreShader('i8', { TM: 2, TN: 2 }, TENSOR_CORE_VARIANTS[0]!).replace('var acc : array<array<TC,', 'var acc : array<array<TA,'));
  // Several tiles without a time function: the first candidate that compiles is kept.
  const report = await prepareTensorCoreKernels({ device }, { tiles: [{ TM: 4, TN: 4 }, { TM: 2, TN: 2 }] });
  // A candidate that needs more workgroup memory than the device offers is skipped, with the reason.
  const overReport = await prepareTensorCoreKernels({ device }, { kinds: ['f16'], tiles: [{ TM: 4, TN: 4, staged: true }] });
  console.log(JSON.stringify({ compiled, overLimit, limit: device.limits!.maxComputeWorkgroupStorageSize, broken: typeof broken === 'string' ? broken : 'ok', report, overReport: overReport.f16 }));
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.log(JSON.stringify({ error: e.message }));
    process.exit(0);
  },
);
