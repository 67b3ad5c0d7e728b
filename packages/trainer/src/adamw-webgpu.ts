import * as tf from '@tensorflow/tfjs-core';

/**
 * AdamW's update as three WGSL kernels for tfjs-backend-webgpu (m, then v, then p) instead of
 * ~15 tensor ops, each with its own dispatch, uniform buffer and scalar uploads: on a GPU the
 * optimizer step of a LoRA model (hundreds of small variables) is bound by the host's cost per
 * dispatch, not by arithmetic. Same operation order as the tensor path (adamw.ts); every
 * operation is an f32 operation, but a GPU compiler may fuse a multiply and an add, so results
 * can differ from the cpu path by an ulp.
 */
export const ADAMW_M = 'ConiferAdamWMoment1';
export const ADAMW_V = 'ConiferAdamWMoment2';
export const ADAMW_P = 'ConiferAdamWParam';

/** Structural copy of tfjs-backend-webgpu's `WebGPUProgram` (the fields used; no dependency on the backend). */
interface WgslProgram {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  size: boolean;
  uniforms: string;
  getUserCode(): string;
}
type Uniform = { type: 'float32' | 'int32'; data: number[] };
interface WebGPULike {
  runWebGPUProgram(program: WgslProgram, inputs: tf.TensorInfo[], dtype: 'float32', uniforms: Uniform[]): tf.TensorInfo;
}

function elementwise(key: string, variableNames: string[], shape: number[], uniforms: string, body: string): WgslProgram {
  const size = shape.reduce((a, d) => a * d, 1);
  const groups = Math.ceil(size / 64);
  const x = groups <= 65535 ? groups : Math.ceil(Math.sqrt(groups));
  return {
    variableNames, outputShape: shape, shaderKey: key, size: true, uniforms,
    dispatchLayout: { x: shape.map((_, i) => i) }, dispatch: [x, Math.ceil(groups / x), 1], workgroupSize: [64, 1, 1],
    getUserCode: () => `
      fn main(index : i32) {
        if (index < uniforms.size) {
          ${body}
        }
      }`,
  };
}

const f32 = (...names: string[]) => names.map((n) => `${n} : f32,`).join(' ');
const uniform = (values: number[]): Uniform[] => values.map((v) => ({ type: 'float32', data: [v] }));

/** m ← m + (1−β1)·(g − m). */
const moment1: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { m, g } = inputs as { m: tf.TensorInfo; g: tf.TensorInfo };
  const prog = elementwise('conifer_adamw_m', ['m', 'g'], [...m.shape], f32('oneMinusB1'), `
          let mi = m[index];
          let d = g[index] - mi;
          let s = d * uniforms.oneMinusB1;
          setOutputAtIndex(index, mi + s);`);
  return (backend as unknown as WebGPULike).runWebGPUProgram(prog, [m, g], 'float32', uniform([(attrs as { oneMinusB1: number }).oneMinusB1]));
};

/** v ← v·β2 + ((1−β2)·g)·g. */
const moment2: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { v, g } = inputs as { v: tf.TensorInfo; g: tf.TensorInfo };
  const a = attrs as { b2: number; oneMinusB2: number };
  const prog = elementwise('conifer_adamw_v', ['v', 'g'], [...v.shape], f32('b2', 'oneMinusB2'), `
          let gi = g[index];
          let a = v[index] * uniforms.b2;
          let b = (uniforms.oneMinusB2 * gi) * gi;
          setOutputAtIndex(index, a + b);`);
  return (backend as unknown as WebGPULike).runWebGPUProgram(prog, [v, g], 'float32', uniform([a.b2, a.oneMinusB2]));
};

/** p ← p·(1 − lr·wd) + ((−lr/(1−β1^t))·m) / (√v / √(1−β2^t) + eps), with the new m and v. */
const param: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { p, m, v } = inputs as { p: tf.TensorInfo; m: tf.TensorInfo; v: tf.TensorInfo };
  const a = attrs as { decay: number; bc2: number; eps: number; negStep: number; weightDecay: boolean };
  const prog = elementwise(`conifer_adamw_p${a.weightDecay ? '_wd' : ''}`, ['p', 'm', 'v'], [...p.shape], f32('decay', 'bc2', 'eps', 'negStep'), `
          let decayed = ${a.weightDecay ? 'p[index] * uniforms.decay' : 'p[index]'};
          let denom = sqrt(v[index]) / uniforms.bc2 + uniforms.eps;
          let step = (uniforms.negStep * m[index]) / denom;
          setOutputAtIndex(index, decayed + step);`);
  return (backend as unknown as WebGPULike).runWebGPUProgram(prog, [p, m, v], 'float32', uniform([a.decay, a.bc2, a.eps, a.negStep]));
};

/** Registers the three kernels for `webgpu` where none is registered (idempotent). */
export function registerAdamWWebGPUKernels(): void {
  for (const [kernelName, kernelFunc] of [[ADAMW_M, moment1], [ADAMW_V, moment2], [ADAMW_P, param]] as const) {
    if (!tf.getKernel(kernelName, 'webgpu')) tf.registerKernel({ kernelName, backendName: 'webgpu', kernelFunc });
  }
}

/** The constants of one step, as float32 (the tensor path's scalar operands). */
export interface AdamWStepConstants {
  oneMinusB1: number; b2: number; oneMinusB2: number; decay: number; bc2: number; eps: number; negStep: number; weightDecay: boolean;
}

/** One variable's update through the kernels: three dispatches, the moments and the parameter assigned. */
export function webgpuAdamWUpdate(p: tf.Variable, g: tf.Tensor, m: tf.Variable, v: tf.Variable, c: AdamWStepConstants): void {
  registerAdamWWebGPUKernels();
  const run = (name: string, inputs: tf.NamedTensorMap, attrs: object) => tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
  tf.tidy(() => {
    const m2 = run(ADAMW_M, { m, g }, { oneMinusB1: c.oneMinusB1 });
    const v2 = run(ADAMW_V, { v, g }, { b2: c.b2, oneMinusB2: c.oneMinusB2 });
    const p2 = run(ADAMW_P, { p, m: m2, v: v2 }, { decay: c.decay, bc2: c.bc2, eps: c.eps, negStep: c.negStep, weightDecay: c.weightDecay });
    m.assign(m2);
    v.assign(v2);
    p.assign(p2);
  });
}

/* ---------- in place: one raw dispatch per variable, all in one compute pass ---------- */

/*
 * The three kernels above allocate a new p, m and v per variable per step (each a tfjs program with
 * its own uniform buffer and bind group). Where p, m and v are GPU buffers that only the variable
 * holds, one raw compute pipeline updates all three in their own buffers instead: one dispatch per
 * variable, every variable in one compute pass, the step's constants in one uniform buffer. It is
 * recorded in the backend's command encoder, after the programs that produced the gradients and read
 * the old values, so the order is the program order. Uses tfjs-backend-webgpu internals
 * (tensorMap, commandEncoder); when any is missing, or a buffer is shared (a clone or the tensor a
 * variable was made from is alive: its values must not change), that variable takes the kernels.
 * Await a read-back (`data()`) of a parameter or moment before the next step: tfjs caches what a
 * read returns on the tensor, and a read still in flight during an in-place step would cache the
 * values from before it (the old path gave every step new tensors, so a late read could not).
 */

/** The part of tfjs-backend-webgpu's `WebGPUBackend` used (internal fields included). */
interface Backend {
  device: {
    createShaderModule(d: { code: string }): unknown;
    createComputePipeline(d: unknown): { getBindGroupLayout(i: number): unknown };
    createBindGroup(d: unknown): unknown;
  };
  tensorMap: { get(dataId: object): TensorData | undefined };
  commandEncoder: { beginComputePass(): Pass } | null;
  commandQueueOwnedIds: WeakSet<object>;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  uploadToGPU(dataId: object): void;
  makeUniforms(u: Array<{ type: 'float32' | 'uint32'; data: number[] }>): { buffer: unknown; offset: number; size: number };
}
interface TensorData { refCount: number; resource: unknown; values: unknown; external?: boolean; dtype: string }
interface Pass { setPipeline(p: unknown): void; setBindGroup(i: number, g: unknown): void; dispatchWorkgroups(x: number, y?: number, z?: number): void; end(): void }

/** Same arithmetic, in the same order, as {@link moment1}, {@link moment2} and {@link param}. */
const IN_PLACE_WGSL = `
struct Step { oneMinusB1 : f32, b2 : f32, oneMinusB2 : f32, decay : f32, bc2 : f32, eps : f32, negStep : f32, weightDecay : u32 }
@group(0) @binding(0) var<storage, read_write> p : array<f32>;
@group(0) @binding(1) var<storage, read_write> m : array<f32>;
@group(0) @binding(2) var<storage, read_write> v : array<f32>;
@group(0) @binding(3) var<storage, read> g : array<f32>;
@group(0) @binding(4) var<uniform> u : Step;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid : vec3<u32>, @builtin(num_workgroups) groups : vec3<u32>) {
  let i = gid.y * groups.x * 64u + gid.x;
  if (i >= arrayLength(&p)) { return; }
  let gi = g[i];
  let mi = m[i];
  let d = gi - mi;
  let s = d * u.oneMinusB1;
  let mn = mi + s;
  let vn = v[i] * u.b2 + (u.oneMinusB2 * gi) * gi;
  var decayed = p[i];
  if (u.weightDecay != 0u) { decayed = decayed * u.decay; }
  let denom = sqrt(vn) / u.bc2 + u.eps;
  let step = (u.negStep * mn) / denom;
  p[i] = decayed + step;
  m[i] = mn;
  v[i] = vn;
}`;

const pipelines = new WeakMap<object, { getBindGroupLayout(i: number): unknown }>();
let inPlaceDispatches = 0;

/** Dispatches of the in-place update so far (they are not tfjs programs: profilers and dispatch counters do not see them). */
export function adamwInPlaceDispatchCount(): number {
  return inPlaceDispatches;
}

function hasInternals(b: Partial<Backend>): b is Backend {
  return typeof b.device?.createComputePipeline === 'function' && b.tensorMap !== undefined && b.commandQueueOwnedIds !== undefined
    && typeof b.ensureCommandEncoderReady === 'function' && typeof b.endComputePassEncoder === 'function'
    && typeof b.uploadToGPU === 'function' && typeof b.makeUniforms === 'function';
}

/** The variable's own GPU buffer, or null when it is shared, external or not float32. */
function ownBuffer(b: Backend, t: tf.Tensor): TensorData | null {
  const d = b.tensorMap.get(t.dataId);
  if (!d || d.refCount !== 1 || d.external || d.dtype !== 'float32') return null;
  b.uploadToGPU(t.dataId);
  return d.resource ? d : null;
}

/** One variable's step for {@link webgpuAdamWInPlace}. */
export interface AdamWItem { p: tf.Variable; g: tf.Tensor; m: tf.Variable; v: tf.Variable }

/**
 * Updates each item's p, m and v in their own GPU buffers (webgpu backend). Returns the items it
 * did not update (shared buffers, or tfjs internals missing): give those to {@link webgpuAdamWUpdate}.
 */
export function webgpuAdamWInPlace(items: readonly AdamWItem[], c: AdamWStepConstants): AdamWItem[] {
  const b = tf.backend() as unknown as Partial<Backend>;
  if (!hasInternals(b)) return [...items];
  const rest: AdamWItem[] = [];
  const ready: Array<{ item: AdamWItem; data: TensorData[] }> = [];
  for (const item of items) {
    if (item.p.size === 0) continue;
    const data = [item.p, item.m, item.v].map((t) => ownBuffer(b, t));
    b.uploadToGPU(item.g.dataId);
    const gd = b.tensorMap.get(item.g.dataId);
    if (data.some((d) => d === null) || !gd?.resource || item.g.size !== item.p.size) rest.push(item);
    else ready.push({ item, data: [...(data as TensorData[]), gd] });
  }
  if (ready.length === 0) return rest;
  let pipeline = pipelines.get(b.device);
  if (!pipeline) {
    pipeline = b.device.createComputePipeline({ layout: 'auto', compute: { module: b.device.createShaderModule({ code: IN_PLACE_WGSL }), entryPoint: 'main' } });
    pipelines.set(b.device, pipeline);
  }
  const step = b.makeUniforms([
    ...[c.oneMinusB1, c.b2, c.oneMinusB2, c.decay, c.bc2, c.eps, c.negStep].map((x) => ({ type: 'float32' as const, data: [x] })),
    { type: 'uint32', data: [c.weightDecay ? 1 : 0] },
  ]);
  const layout = pipeline.getBindGroupLayout(0);
  b.ensureCommandEncoderReady();
  b.endComputePassEncoder();
  const pass = b.commandEncoder!.beginComputePass();
  pass.setPipeline(pipeline);
  for (const { item, data } of ready) {
    const bytes = item.p.size * 4;
    const entries = data.map((d, i) => ({ binding: i, resource: { buffer: d.resource, offset: 0, size: bytes } }));
    entries.push({ binding: 4, resource: step });
    pass.setBindGroup(0, b.device.createBindGroup({ layout, entries }));
    const groups = Math.ceil(item.p.size / 64);
    const x = Math.min(groups, 65535);
    pass.dispatchWorkgroups(x, Math.ceil(groups / x));
    inPlaceDispatches++;
    for (const t of [item.p, item.m, item.v, item.g]) b.commandQueueOwnedIds.add(t.dataId);
    for (const d of data.slice(0, 3)) d.values = null; // a copy read back before is stale now
  }
  pass.end();
  return rest;
}
