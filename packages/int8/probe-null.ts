import { create, globals } from 'webgpu';
import { int8TensorCoreShader, f16TensorCoreShader } from './src/kernels/webgpu-tensor-core';
Object.assign(globalThis, globals);
const gpu = create(['backend=null', 'enable-dawn-features=allow_unsafe_apis']);
const a: any = await gpu.requestAdapter({ featureLevel: 'core' });
console.log('info', a.info, a.info?.subgroupMatrixConfigs);
const feats = ['chromium-experimental-subgroup-matrix', 'shader-f16', 'subgroups'].filter((f) => a.features.has(f));
const d: any = await a.requestDevice({ requiredFeatures: feats });
console.log('device features', [...d.features].filter((f: string) => feats.includes(f)));
async function compile(name: string, code: string) {
  d.pushErrorScope('validation');
  const m = d.createShaderModule({ code });
  const info = await m.getCompilationInfo();
  const errs = info.messages.filter((x: any) => x.type === 'error').map((x: any) => `line ${x.lineNum}: ${x.message}`);
  let ok = false;
  if (!errs.length) {
    try { await d.createComputePipelineAsync({ layout: 'auto', compute: { module: m, entryPoint: 'main' } }); ok = true; } catch (e) { errs.push((e as Error).message); }
  }
  const scoped = await d.popErrorScope();
  if (scoped) errs.push(scoped.message);
  console.log(name, ok && !scoped ? 'OK' : 'FAIL', errs.join(' | ').slice(0, 800));
}
for (const subgroupId of [true, false]) for (const word of ['i32', 'u32'] as const) {
  await compile(`i8 sg=${subgroupId} ${word}`, int8TensorCoreShader({ TM: 2, TN: 2 }, { subgroupId, word }));
}
const alt = (code: string) => code.replace('let sg = li / sgSize;', 'let sg = subgroupBroadcastFirst(li / sgSize);');
await compile('i8 broadcastFirst', alt(int8TensorCoreShader({ TM: 2, TN: 2 }, { subgroupId: false, word: 'i32' })));
await compile('i8 workgroupUniform?', int8TensorCoreShader({ TM: 4, TN: 2 }, { subgroupId: true, word: 'i32' }));
for (const subgroupId of [true, false]) await compile(`f16 sg=${subgroupId}`, f16TensorCoreShader({ TM: 2, TN: 2 }, { subgroupId, word: 'i32' }));
process.exit(0);
