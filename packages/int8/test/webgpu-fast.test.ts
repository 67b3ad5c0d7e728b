import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installDawnNavigator, skipWebGPU } from '../../../vitest.webgpu';
import {
  compareTensorCoreWithTiled, dequantizeFloat32, disableTensorCoreKernels, Int8Linear, Int8MatMul, llmInt8MatMulJs, prepareTensorCoreKernels, prepareWebGPUTensorCores,
  quantizeFloat32, registerInt8Kernels, setTensorCoreEmulation, setWebGPUInt8Kernels, TENSOR_CORE_VARIANTS, tensorCoreDispatchCount, timeInt8MatMul,
  type WebGPUInt8KernelOptions,
} from '../src/index';
import { emulateSubgroupMatrices } from './subgroup-matrix-emulation';
import { matMulN, matMulT, randn, relError } from './helpers';

const skip = await skipWebGPU();

describe.skipIf(skip)('tiled webgpu int8 kernels (lavapipe in CI)', () => {
  let prev: WebGPUInt8KernelOptions;
  beforeAll(async () => {
    await installDawnNavigator();
    await import('@tensorflow/tfjs-backend-webgpu');
    await tf.setBackend('webgpu');
    registerInt8Kernels();
    prev = setWebGPUInt8Kernels({ path: 'tiled' });
  }, 120_000);
  afterAll(() => { setWebGPUInt8Kernels(prev); });

  const run = (x: Float32Array, M: number, packed: Int32Array, scale: Float32Array, N: number, K: number, mode: 'weight-only' | 'llm-int8', transposeWeight: boolean) => {
    const inner = transposeWeight ? K : N;
    return tf.tidy(() => tf.engine().runKernel(Int8MatMul, {
      x: tf.tensor2d(x, [M, inner]), packed: tf.tensor2d(packed, [N, packed.length / N], 'int32'), scale: tf.tensor1d(scale),
    }, { mode, threshold: 6, inFeatures: K, transposeWeight } as unknown as tf.NamedAttrMap) as tf.Tensor);
  };

  /**
   * LLM.int8 `x · Wᵀ` through whatever path is selected, for a random W (seed `seed`) and x (seed
   * `seed + 1`, then `outliers` applied): equals llmInt8MatMulJs within 1e-5 and leaves no tensors.
   */
  const expectLlmInt8MatchesJs = async (M: number, K: number, N: number, seed: number, outliers: (x: Float32Array) => void) => {
    const q = quantizeFloat32(randn(N * K, seed, 0.2), N, K);
    const x = randn(M * K, seed + 1);
    outliers(x);
    const before = tf.memory().numTensors;
    const y = run(x, M, q.packed, q.scale, N, K, 'llm-int8', true);
    const js = new Float32Array(M * N);
    llmInt8MatMulJs(x, M, K, q.packed, q.scale, N, 6, js);
    expect(relError(await y.data(), js)).toBeLessThan(1e-5);
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
  };

  // Shapes off the 64×64 (128×64, 128×128) tiles, the 32- (16-) step and multiples of 4.
  const shapes: Array<[number, number, number, 4 | 8, 4 | 8]> = [
    [37, 70, 45, 4, 4], [37, 70, 45, 8, 4], [1, 3, 1, 4, 4], [130, 33, 67, 8, 4], [64, 64, 64, 4, 4],
    [37, 70, 45, 8, 8], [130, 150, 260, 8, 8], [1, 3, 1, 4, 8],
  ];
  for (const [M, K, N, rows, cols] of shapes) {
    it(`weight-only x·Wᵀ and dY·W, M=${M} in=${K} out=${N}, ${rows}×${cols} per invocation: ≤ 1e-5 from the dequantized matMul`, async () => {
      setWebGPUInt8Kernels({ tiledRows: rows, tiledCols: cols });
      const w = randn(N * K, M + K + N, 0.2);
      const q = quantizeFloat32(w, N, K);
      const deq = dequantizeFloat32(q);
      const before = tf.memory().numTensors;
      const x = randn(M * K, 1);
      const y = run(x, M, q.packed, q.scale, N, K, 'weight-only', true);
      expect(y.shape).toEqual([M, N]);
      expect(relError(await y.data(), matMulT(x, deq, M, K, N))).toBeLessThan(1e-5);
      y.dispose();
      const dy = randn(M * N, 2);
      const dx = run(dy, M, q.packed, q.scale, N, K, 'weight-only', false);
      expect(dx.shape).toEqual([M, K]);
      expect(relError(await dx.data(), matMulN(dy, deq, M, N, K))).toBeLessThan(1e-5);
      dx.dispose();
      expect(tf.memory().numTensors).toBe(before);
      setWebGPUInt8Kernels({ tiledRows: 'auto', tiledCols: 4 });
    });
  }

  it('llm-int8 tiled (outliers, K over several 32-steps, ragged tiles) equals llmInt8MatMulJs', async () => {
    const [M, K] = [37, 70];
    await expectLlmInt8MatchesJs(M, K, 45, 3, (x) => {
      for (let m = 0; m < M; m++) x[m * K + 5] = 9 * (m % 2 ? 1 : -1);
      x[3 * K + 66] = -6.5;
    });
  });

  it('gradient through Int8Linear (weight-only and llm-int8) on webgpu equals cpu, no leaks', async () => {
    await import('@tensorflow/tfjs-backend-cpu');
    const [B, T, K, N] = [2, 19, 70, 45]; // 38 rows
    const w = randn(N * K, 30, 0.2);
    const xv = randn(B * T * K, 31);
    const r = randn(B * T * N, 32);
    const grads: Record<string, Float32Array> = {};
    for (const backend of ['cpu', 'webgpu']) {
      await tf.setBackend(backend);
      for (const mode of ['weight-only', 'llm-int8'] as const) {
        const layer = Int8Linear.fromFloat32(w, [N, K], { mode });
        const x = tf.tensor3d(xv, [B, T, K]);
        const dy = tf.tensor3d(r, [B, T, N]);
        const before = tf.memory().numTensors;
        const g = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(layer.apply(xx), dy)))(x);
        grads[`${backend}/${mode}`] = (await g.data()) as Float32Array;
        g.dispose();
        expect(tf.memory().numTensors).toBe(before);
        tf.dispose([x, dy]);
        layer.dispose();
      }
    }
    for (const mode of ['weight-only', 'llm-int8']) {
      expect(relError(grads[`webgpu/${mode}`] as Float32Array, grads[`cpu/${mode}`] as Float32Array)).toBeLessThan(1e-5);
    }
  });

  describe("the tensor-core kernels' own WGSL, subgroup-matrix builtins emulated (test/subgroup-matrix-emulation.ts)", () => {
    /**
     * dY · W, then the weight-only forward x · Wᵀ (W read column-major), each through f16 with a row
     * at 1e5 that would overflow plain f16, at widths that suit the f16 kernel's TN (`tnF16`) and the
     * f16t kernel's (`tnF16t`); each must be one more tensor-core dispatch.
     */
    // red: the reduction lengths of the forward (K) and of dY · W (N); the defaults 80 and 48 are off
    // the staged kernels' 32-step.
    const expectF16PathsMatch = async (tnF16: number, tnF16t: number, red = { fwd: 80, bwd: 48 }) => {
      for (const [i, fwd] of [false, true].entries()) {
        const dispatches = tensorCoreDispatchCount();
        const [Mf, Kf, Nf] = fwd ? [45, red.fwd, 64 * tnF16t] : [37, 64 * tnF16, red.bwd];
        const qf = quantizeFloat32(randn(Nf * Kf, 52 + 2 * i, 0.2), Nf, Kf);
        const xf = randn(Mf * (fwd ? Kf : Nf), 53 + 2 * i).map((v, j) => v * (j < (fwd ? Kf : Nf) ? 1e5 : 1));
        const before = tf.memory().numTensors;
        const yf = run(xf, Mf, qf.packed, qf.scale, Nf, Kf, 'weight-only', fwd);
        const ref = fwd ? matMulT(xf, dequantizeFloat32(qf), Mf, Kf, Nf) : matMulN(xf, dequantizeFloat32(qf), Mf, Nf, Kf);
        const errf = relError(await yf.data(), ref);
        expect(errf, fwd ? 'x · Wᵀ' : 'dY · W').toBeLessThan(2e-3);
        expect(errf).toBeGreaterThan(1e-6); // f16 rounding: the tensor-core path ran
        yf.dispose();
        expect(tf.memory().numTensors).toBe(before);
        expect(tensorCoreDispatchCount()).toBe(dispatches + 1);
      }
    };

    // Every variant; the default tiles (2 × 2), and 4 × 2 for the default variant.
    const cases = [...TENSOR_CORE_VARIANTS.map((variant) => ({ variant, tiles: { TM: 2, TN: 2 } })), { variant: TENSOR_CORE_VARIANTS[0]!, tiles: { TM: 4, TN: 2 } }];
    it.each(cases)('$variant.layout $variant.word, TM $tiles.TM TN $tiles.TN: prepare + self-check pass, LLM.int8 forward and dY · W equal the references', async ({ variant, tiles }) => {
      const backend = tf.backend();
      try {
        const report = await prepareTensorCoreKernels(backend, { variants: [variant], tiles, shaderTransform: emulateSubgroupMatrices, check: compareTensorCoreWithTiled });
        const name = `${variant.layout} ${variant.word}`;
        expect(report.i8).toMatch(new RegExp(`^ready \\(relative error .* vs tiled; ${name}\\)$`));
        for (const kind of ['f16', 'f16t'] as const) {
          expect(report[kind], kind).toMatch(variant.word === 'i32' ? new RegExp(`^ready \\(relative error .* vs tiled; ${name}\\)$`) : /^no variant to try$/);
        }
        setWebGPUInt8Kernels({ path: 'auto' });
        // Shapes other than the self-check's: M not a multiple of the tile, two workgroups across N.
        const [M, K] = [70, 96];
        const dispatches = tensorCoreDispatchCount();
        await expectLlmInt8MatchesJs(M, K, 32 * tiles.TM * 2, 50, (x) => {
          for (let m = 0; m < M; m++) x[m * K + 33] = 9 * (m % 2 ? 1 : -1); // an outlier column
        });
        expect(tensorCoreDispatchCount()).toBe(dispatches + 1);
        if (variant.word === 'i32') await expectF16PathsMatch(tiles.TN, tiles.TN);
      } finally {
        disableTensorCoreKernels(backend);
        setWebGPUInt8Kernels({ path: 'tiled' });
      }
    }, 120_000);

    it.each([{ TM: 2, TN: 2 }, { TM: 4, TN: 2 }])('staged kernels (blocks copied to workgroup memory first), TM $TM TN $TN: prepare + self-check pass, LLM.int8, x · Wᵀ and dY · W equal the references; a reduction off their step (64 for i8, 32 for f16) takes the tiled kernel', async (t) => {
      const backend = tf.backend();
      const tiles = { ...t, staged: true };
      try {
        const report = await prepareTensorCoreKernels(backend, { variants: [TENSOR_CORE_VARIANTS[0]!], tiles, shaderTransform: emulateSubgroupMatrices, check: compareTensorCoreWithTiled });
        for (const kind of ['i8', 'f16', 'f16t'] as const) {
          expect(report[kind], kind).toMatch(/^ready \(relative error .* vs tiled; 2x2 i32\)$/);
          expect(report.chosen[kind]?.tiles).toEqual(tiles);
        }
        setWebGPUInt8Kernels({ path: 'auto' });
        // LLM.int8: K over two 64-steps, M off the tile, two workgroups down N, an outlier column.
        const [M, K] = [70, 128];
        let dispatches = tensorCoreDispatchCount();
        await expectLlmInt8MatchesJs(M, K, 32 * t.TM * 2, 80, (x) => {
          for (let m = 0; m < M; m++) x[m * K + 100] = 9 * (m % 2 ? 1 : -1);
        });
        expect(tensorCoreDispatchCount()).toBe(dispatches + 1);
        // K = 96 is not a multiple of 64: the tiled LLM.int8 kernel.
        dispatches = tensorCoreDispatchCount();
        await expectLlmInt8MatchesJs(M, 96, 32 * t.TM, 82, (x) => { x[7] = 9; });
        expect(tensorCoreDispatchCount()).toBe(dispatches);
        await expectF16PathsMatch(t.TN, t.TN, { fwd: 96, bwd: 64 });
        // K = 80 is not a multiple of 32: no tensor-core dispatch, the tiled kernel's exact result.
        const [Mf, Kf, Nf] = [45, 80, 64 * t.TN];
        const q = quantizeFloat32(randn(Nf * Kf, 71, 0.2), Nf, Kf);
        const x = randn(Mf * Kf, 72);
        dispatches = tensorCoreDispatchCount();
        const y = run(x, Mf, q.packed, q.scale, Nf, Kf, 'weight-only', true);
        expect(relError(await y.data(), matMulT(x, dequantizeFloat32(q), Mf, Kf, Nf))).toBeLessThan(1e-5);
        y.dispose();
        expect(tensorCoreDispatchCount()).toBe(dispatches);
      } finally {
        disableTensorCoreKernels(backend);
        setWebGPUInt8Kernels({ path: 'tiled' });
      }
    }, 180_000);

    it.each(TENSOR_CORE_VARIANTS.slice(1))('staged LLM.int8 kernel, $layout $word: prepare + self-check pass, equals llmInt8MatMulJs', async (variant) => {
      const backend = tf.backend();
      try {
        const report = await prepareTensorCoreKernels(backend, { kinds: ['i8'], variants: [variant], tiles: { TM: 2, TN: 2, staged: true }, shaderTransform: emulateSubgroupMatrices, check: compareTensorCoreWithTiled });
        expect(report.i8).toMatch(new RegExp(`^ready \\(relative error .* vs tiled; ${variant.layout} ${variant.word}\\)$`));
        setWebGPUInt8Kernels({ path: 'auto' });
        const dispatches = tensorCoreDispatchCount();
        await expectLlmInt8MatchesJs(45, 192, 64, 90, (x) => { x[130] = -9; });
        expect(tensorCoreDispatchCount()).toBe(dispatches + 1);
      } finally {
        disableTensorCoreKernels(backend);
        setWebGPUInt8Kernels({ path: 'tiled' });
      }
    }, 120_000);

    it('tiles tuned per kernel: the fastest candidate that passes wins, each kernel dispatches with its own tiles', async () => {
      const backend = tf.backend();
      // Made-up times: i8 fastest at 4 × 2, f16 at 2 × 4, f16t at 2 × 2.
      const fastest = { i8: '4×2', f16: '2×4', f16t: '2×2' } as const;
      const timed: string[] = [];
      const time = async (kind: 'i8' | 'f16' | 'f16t', t: { TM: number; TN: number }) => {
        timed.push(`${kind} ${t.TM}×${t.TN}`);
        await compareTensorCoreWithTiled(kind); // reaches the kernel, as a real timing would
        return `${t.TM}×${t.TN}` === fastest[kind] ? 1 : 2 + t.TM;
      };
      const tiles = [{ TM: 2, TN: 2 }, { TM: 4, TN: 2 }, { TM: 2, TN: 4 }];
      try {
        const report = await prepareTensorCoreKernels(backend, { variants: [TENSOR_CORE_VARIANTS[0]!], tiles, shaderTransform: emulateSubgroupMatrices, check: compareTensorCoreWithTiled, time });
        expect(timed).toHaveLength(9); // every candidate of every kind passed and was timed
        for (const kind of ['i8', 'f16', 'f16t'] as const) {
          const [TM, TN] = fastest[kind].split('×').map(Number);
          expect(report.chosen[kind]?.tiles, kind).toEqual({ TM, TN });
          expect(report.chosen[kind]?.ms).toBe(1);
          expect(report[kind]).toMatch(new RegExp(`^ready \\(relative error .* vs tiled; 2x2 i32; tiles ${fastest[kind]}, fastest of: 2×2 [\\d.]+ ms, 4×2 [\\d.]+ ms, 2×4 [\\d.]+ ms\\)$`));
        }
        setWebGPUInt8Kernels({ path: 'auto' });
        // LLM.int8 with TM 4: N = 256 is two workgroups of 128 rows (2 × 2 subgroups × 16 · TM).
        const dispatches = tensorCoreDispatchCount();
        await expectLlmInt8MatchesJs(70, 96, 256, 60, (x) => { x[33] = 9; });
        expect(tensorCoreDispatchCount()).toBe(dispatches + 1);
        await expectF16PathsMatch(4, 2);
      } finally {
        disableTensorCoreKernels(backend);
        setWebGPUInt8Kernels({ path: 'tiled' });
      }
    }, 180_000);

    it('a candidate that fails the check is never chosen, however fast; timeInt8MatMul times the real kernels and leaks nothing', async () => {
      const backend = tf.backend();
      // Break only the TM 4 × TN 2 kernels (skip their first reduction step).
      const broken = (code: string) => emulateSubgroupMatrices(/array<array<TC, 2>, 4>/.test(code)
        ? code.replace('var k = 0u;', 'var k = 32u;').replace('var n = 0u;', 'var n = 16u;') : code);
      const before = tf.memory().numTensors;
      try {
        const report = await prepareTensorCoreKernels(backend, {
          kinds: ['i8', 'f16'], variants: [TENSOR_CORE_VARIANTS[0]!], tiles: [{ TM: 4, TN: 2 }, { TM: 2, TN: 2 }],
          shaderTransform: broken, check: compareTensorCoreWithTiled,
          time: (kind) => timeInt8MatMul(kind, { M: 40, N: 128, K: 256 }, 1),
        });
        for (const kind of ['i8', 'f16'] as const) {
          expect(report.chosen[kind]?.tiles, kind).toEqual({ TM: 2, TN: 2 });
          expect(report.chosen[kind]?.ms).toBeGreaterThan(0);
          expect(report[kind]).toMatch(/^ready \(.*; tiles 2×2, fastest of: 2x2 i32 4×2: check (failed|threw).*, 2×2 [\d.]+ ms\)$/);
        }
        expect(report.f16t).toBe('not requested');
        expect(tf.memory().numTensors).toBe(before);
        await expect(prepareTensorCoreKernels(backend, { tiles: 'tune', shaderTransform: broken })).rejects.toThrow(/needs a time function/);
      } finally {
        disableTensorCoreKernels(backend);
        setWebGPUInt8Kernels({ path: 'tiled' });
      }
    }, 180_000);

    it("under tfjs's profiler (backend.time) the raw tensor-core dispatch is timed like tfjs's own programs", async () => {
      const backend = tf.backend() as unknown as { time(f: () => void): Promise<{ kernelMs: number; getExtraProfileInfo(): string }> };
      try {
        await prepareTensorCoreKernels(backend, { variants: [TENSOR_CORE_VARIANTS[0]!], kinds: ['i8'], shaderTransform: emulateSubgroupMatrices });
        setWebGPUInt8Kernels({ path: 'auto' });
        const [M, K, N] = [40, 64, 128];
        const q = quantizeFloat32(randn(N * K, 70, 0.2), N, K);
        const x = randn(M * K, 71);
        let y: tf.Tensor | null = null;
        const info = await backend.time(() => { y = run(x, M, q.packed, q.scale, N, K, 'llm-int8', true); });
        const timed = info.getExtraProfileInfo().split(', ').map((s) => s.split(': ') as [string, string]);
        const tc = timed.filter(([name]) => name === 'conifer_int8_tc_i8');
        expect(tc).toHaveLength(1);
        expect(Number(tc[0]![1])).toBeGreaterThan(0);
        expect(timed.length).toBeGreaterThan(4); // tfjs's programs before it (outlier columns, absmax, quantize-transpose, outlier list)
        (y as unknown as tf.Tensor).dispose();
      } finally {
        disableTensorCoreKernels(backend);
        setWebGPUInt8Kernels({ path: 'tiled' });
      }
    }, 120_000);

    it('a kernel that computes the wrong thing is rejected by the self-check, and the report says so', async () => {
      const backend = tf.backend();
      // Break both kernels (skip their first reduction step), then emulate.
      const broken = (code: string) => emulateSubgroupMatrices(code.replace('var k = 0u;', 'var k = 32u;').replace('var n = 0u;', 'var n = 16u;'));
      const report = await prepareTensorCoreKernels(backend, { variants: [TENSOR_CORE_VARIANTS[0]!], shaderTransform: broken, check: compareTensorCoreWithTiled });
      expect(report.i8).toMatch(/^2x2 i32: check (failed, relative error|threw)/);
      expect(report.f16).toMatch(/^2x2 i32: check (failed, relative error|threw)/);
      expect(report.f16t).toMatch(/^2x2 i32: check (failed, relative error|threw)/);
      disableTensorCoreKernels(backend);
    }, 120_000);
  });

  describe('tensor-core pipeline with a plain-WGSL stand-in for the subgroup-matrix step', () => {
    beforeAll(() => { setTensorCoreEmulation(true); setWebGPUInt8Kernels({ path: 'auto' }); });
    afterAll(() => { setTensorCoreEmulation(false); setWebGPUInt8Kernels({ path: 'tiled' }); });

    it('llm-int8 forward (quantize-transpose, outlier list, epilogue; M padded) equals llmInt8MatMulJs', async () => {
      const [M, K] = [37, 96];
      await expectLlmInt8MatchesJs(M, K, 64, 40, (x) => {
        for (let m = 0; m < M; m++) x[m * K + 70] = 8 * (m % 2 ? 1 : -1);
        x[5 * K + 2] = 6;
      });
    });

    it('dY · W through f16 (rows scaled into [-1, 1]) is within 2e-3 of float64, even for dY ~ 1e5', async () => {
      const [M, K, N] = [37, 128, 48];
      const w = randn(N * K, 42, 0.2);
      const q = quantizeFloat32(w, N, K);
      const dy = randn(M * N, 43).map((v, i) => v * (i < N ? 1e5 : 1)); // row 0 overflows plain f16
      const before = tf.memory().numTensors;
      const dx = run(dy, M, q.packed, q.scale, N, K, 'weight-only', false);
      const err = relError(await dx.data(), matMulN(dy, dequantizeFloat32(q), M, N, K));
      expect(err).toBeLessThan(2e-3);
      expect(err).toBeGreaterThan(1e-6); // f16 rounding: the f16 path ran, not the float32 one
      dx.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });

    it('unsuited shapes fall back to the tiled kernels; the self-check compares with them', async () => {
      const [M, K, N] = [5, 70, 45]; // K % 32 ≠ 0
      const q = quantizeFloat32(randn(N * K, 44, 0.2), N, K);
      const x = randn(M * K, 45);
      const y = run(x, M, q.packed, q.scale, N, K, 'llm-int8', true);
      const js = new Float32Array(M * N);
      llmInt8MatMulJs(x, M, K, q.packed, q.scale, N, 6, js);
      expect(relError(await y.data(), js)).toBeLessThan(1e-5);
      y.dispose();
      expect(await compareTensorCoreWithTiled('i8')).toBeLessThan(1e-5);
      const f16 = await compareTensorCoreWithTiled('f16');
      expect(f16).toBeLessThan(5e-3);
      expect(f16).toBeGreaterThan(1e-6);
    });
  });

  it('prepareWebGPUTensorCores reports the feature absent on lavapipe and keeps the tiled kernels', async () => {
    await tf.setBackend('webgpu');
    const report = await prepareWebGPUTensorCores();
    expect(report.feature).toBe(false);
    expect(report.i8).toBe('feature absent');
  });

  it('the simple reference programs agree with the tiled ones', async () => {
    const [M, K, N] = [9, 21, 11];
    const q = quantizeFloat32(randn(N * K, 7, 0.2), N, K);
    const x = randn(M * K, 8);
    const tiled = await run(x, M, q.packed, q.scale, N, K, 'weight-only', true).data();
    setWebGPUInt8Kernels({ path: 'simple' });
    const simple = await run(x, M, q.packed, q.scale, N, K, 'weight-only', true).data();
    setWebGPUInt8Kernels({ path: 'tiled' });
    expect(relError(tiled, simple)).toBeLessThan(1e-6);
  });
});
