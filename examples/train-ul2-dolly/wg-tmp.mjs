import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
const gpu = create(['enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia']);
const a = await gpu.requestAdapter();
console.log(a && a.info, a && [...a.features], a && a.limits.maxBufferSize, a && a.limits.maxStorageBufferBindingSize);
