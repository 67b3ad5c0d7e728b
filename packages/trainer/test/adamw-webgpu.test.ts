import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { parseSafetensors, toFloat32 } from '@conifer/safetensors';
import { describe, expect, it } from 'vitest';
import { skipWebGPU, useWebGPUBackend } from '../../../vitest.webgpu';
import { AdamW } from '../src/adamw';
import { ADAMW_M, ADAMW_P, ADAMW_V, adamwInPlaceDispatchCount } from '../src/adamw-webgpu';

const skip = await skipWebGPU();
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
function load(name: string): Map<string, { shape: number[]; values: Float32Array }> {
  const { tensors } = parseSafetensors(new Uint8Array(readFileSync(fixture(name))), name);
  return new Map([...tensors].map(([k, t]) => [k, { shape: t.shape, values: toFloat32(t.dtype, t.data) }]));
}
const relErr = (got: ArrayLike<number>, want: ArrayLike<number>, floor: number) => {
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / Math.max(Math.abs(want[i]!), floor));
  return worst;
};

describe.skipIf(skip)('AdamW on webgpu: one in-place dispatch per variable, or three WGSL kernels (lavapipe in CI)', () => {
  useWebGPUBackend(tf, () => import('@tensorflow/tfjs-backend-webgpu'));

  it('one step from the golden LoRA parameters equals PyTorch within 1e-6 relative, in place (one dispatch per variable, no tfjs kernel), no leaks', async () => {
    const init = load('adapter_initial.safetensors');
    const grads = load('grads_step0.safetensors');
    const after = load('adamw_after_step1.safetensors');
    const vars = [...init].map(([name, t]) => tf.tidy(() => tf.variable(tf.tensor(t.values, t.shape), true, name)));
    const g = Object.fromEntries([...grads].map(([name, t]) => [name, tf.tensor(t.values, t.shape)]));
    const opt = new AdamW({ lr: 0.01, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 }); // fused 'auto' → the WGSL kernels here
    opt.initSlots(vars);
    const before = tf.memory().numTensors;
    const dataIds = vars.map((v) => v.dataId);
    const dispatches = adamwInPlaceDispatchCount();
    const prof = await tf.profile(() => opt.applyGradients(vars, g));
    expect(prof.kernels.map((k) => k.name)).toEqual([]);
    expect(adamwInPlaceDispatchCount() - dispatches).toBe(vars.length);
    expect(vars.map((v) => v.dataId)).toEqual(dataIds); // the same buffers
    expect(tf.memory().numTensors).toBe(before);
    let worst = 0;
    for (const v of vars) worst = Math.max(worst, relErr(await v.data(), after.get(v.name)!.values, 1e-2));
    console.log(`AdamW (webgpu kernels) vs PyTorch after step 1: worst relative error ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-6);
    tf.dispose([...vars, ...Object.values(g)]);
    opt.dispose();
  });

  it('three steps (with and without weight decay, a 1e-6 gradient step) equal the cpu path within 1e-6; moments too; a variable sharing its tensor\'s buffer takes the kernels, which leave that tensor unchanged', async () => {
    for (const weightDecay of [0.01, 0]) {
      const shapes = [[37, 11], [300], [1000, 70]];
      const inits = shapes.map((s, i) => Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, (_, j) => Math.sin(j * 0.37 + i) * 0.1));
      const gradsOf = (step: number) => shapes.map((_, i) => inits[i]!.map((_v, j) => Math.cos(j * 1.3 + step + i) * (step === 1 ? 1e-6 : 1)));
      const run = async (backend: string) => {
        await tf.setBackend(backend);
        // Each variable shares its buffer with `made` (tf.variable keeps the tensor's data): step 0
        // must not write into it, so it takes the three kernels; the assigned results are the
        // variables' own, so steps 1 and 2 run in place.
        const made = shapes.map((s, i) => tf.tensor(inits[i]!, s));
        const vars = made.map((t, i) => tf.variable(t, true, `wg.${backend}.${weightDecay}.${i}`));
        const opt = new AdamW({ lr: 0.01, weightDecay });
        const kernels: string[][] = [];
        const inPlace: number[] = [];
        for (let step = 0; step < 3; step++) {
          const gs = gradsOf(step).map((v, i) => tf.tensor(v, shapes[i]));
          if (step === 2) for (const v of vars) await v.data(); // GPU values read back: tfjs caches them, the in-place step must drop that copy
          const n = adamwInPlaceDispatchCount();
          const prof = await tf.profile(() => opt.applyGradients(vars, Object.fromEntries(vars.map((v, i) => [v.name, gs[i]!]))));
          kernels.push(prof.kernels.map((k) => k.name).filter((k) => k.startsWith('ConiferAdamW'))); // step 0 also makes the moments
          inPlace.push(adamwInPlaceDispatchCount() - n);
          tf.dispose(gs);
        }
        if (backend === 'webgpu') {
          expect(kernels).toEqual([shapes.flatMap(() => [ADAMW_M, ADAMW_V, ADAMW_P]), [], []]);
          expect(inPlace).toEqual([0, shapes.length, shapes.length]);
        }
        for (let i = 0; i < shapes.length; i++) expect(await made[i]!.data()).toEqual(inits[i]);
        tf.dispose(made);
        const values = await Promise.all(vars.map((v) => v.data()));
        const state = await opt.getState();
        const moments = vars.map((v) => [state.m[v.name]!, state.v[v.name]!]);
        tf.dispose(vars);
        opt.dispose();
        return { values, moments };
      };
      const gpu = await run('webgpu');
      const cpu = await run('cpu');
      await tf.setBackend('webgpu');
      for (let i = 0; i < shapes.length; i++) {
        expect(relErr(gpu.values[i]!, cpu.values[i]!, 1e-2), `p ${i}`).toBeLessThan(1e-6);
        expect(relErr(gpu.moments[i]![0]!, cpu.moments[i]![0]!, 1e-3), `m ${i}`).toBeLessThan(1e-6);
        expect(relErr(gpu.moments[i]![1]!, cpu.moments[i]![1]!, 1e-6), `v ${i}`).toBeLessThan(1e-6);
      }
    }
  });
});
