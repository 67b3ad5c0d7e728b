// LoraModel.addWeightedAdapter against PEFT's peft/tuners/lora/model.py: add_weighted_adapter,
// _check_add_weighted_adapter, _generalized_task_arithmetic_weighted_adapter (with the negative-weight
// handling of PR #2918) and _svd_generalized_task_arithmetic_weighted_adapter (with PR #3111: the
// scaling is in get_delta_weight once; PR #3449: the new adapter never uses rslora). Expected values
// are derived from those lines in the comments, on the two-layer fake host (layers.0.q 8→6,
// layers.1.v 6→4); merge_utils itself is tested in merge-utils.test.ts, the SVD in svd.test.ts.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import seedrandom from 'seedrandom';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AddWeightedAdapterOptions, injectLora, loadAdapter, type LoraModel } from '../src/index.js';
import { dareLinear, dareTies, magnitudePrune, ties } from '../src/merge-utils.js';
import { matMul, thinSvd } from '../src/svd.js';
import { type WeightedAdapterPlan, combineLayer, quantile } from '../src/weighted-adapter.js';
import { TwoLayerHost, maxAbsDiff, randomValues, relL2 } from './helpers.js';

let tmp: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  tmp = await mkdtemp(join(tmpdir(), 'conifer-lora-weighted-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const PATHS = ['layers.0.q', 'layers.1.v'];
const SHAPE: Record<string, [number, number]> = { 'layers.0.q': [6, 8], 'layers.1.v': [4, 6] }; // [out, in]

/** default (r 2, α 4: s 2), b (r 2, α 1: s 0.5), c (r 3, α 6: s 2), all with random A and B. */
const setup = () => {
  const host = new TwoLayerHost(5);
  const lora = injectLora(host, { target_modules: ['q', 'v'], r: 2, lora_alpha: 4, init_lora_weights: false }, { seed: 1 });
  lora.addAdapter('b', { target_modules: ['q', 'v'], r: 2, lora_alpha: 1, init_lora_weights: false }, { seed: 2 });
  lora.addAdapter('c', { target_modules: ['q', 'v'], r: 3, lora_alpha: 6, init_lora_weights: false }, { seed: 3 });
  return { host, lora };
};
const free = (host: TwoLayerHost, lora: LoraModel) => {
  lora.unload();
  host.dispose();
};
const ab = (lora: LoraModel, path: string, name: string) => {
  const a = lora.layers.get(path)!.adapter(name);
  return { a: Float64Array.from(a.loraA.dataSync()), b: Float64Array.from(a.loraB.dataSync()), r: a.r, scaling: a.scaling };
};
/** scaling·B·A of adapter `name` at `path`, float64 from its float32 A and B. */
const delta = (lora: LoraModel, path: string, name: string) => {
  const { a, b, r, scaling } = ab(lora, path, name);
  const [out, inF] = SHAPE[path]!;
  return matMul(b, a, out, r, inF).map((x) => x * scaling);
};
const lin = (xs: Float64Array[], ws: number[]) => xs[0]!.map((_, i) => xs.reduce((t, x, j) => t + ws[j]! * x[i]!, 0));

describe('addWeightedAdapter: linear, cat, svd (PEFT add_weighted_adapter)', () => {
  it('linear: A = Σ sign(cᵢ)√|cᵢ|·Aᵢ, B = Σ √|cᵢ|·Bᵢ with cᵢ = wᵢ·sᵢ; r = lora_alpha = the common r; inactive, frozen; +2 tensors per layer', async () => {
    const { host, lora } = setup();
    const before = tf.memory().numTensors;
    await lora.addWeightedAdapter(['default', 'b'], [0.7, -0.4], 'mix', { combinationType: 'linear' });
    expect(tf.memory().numTensors).toBe(before + 4);
    const cfg = lora.peftConfig.get('mix')!;
    expect([cfg.r, cfg.lora_alpha, cfg.target_modules, cfg.use_rslora]).toEqual([2, 2, ['q', 'v'], false]);
    expect(lora.activeAdapters).toEqual(['default']);
    expect(lora.trainableVariables().some((v) => v.name.includes('.mix.'))).toBe(false);
    // c = [0.7·2, −0.4·0.5] = [1.4, −0.2]
    for (const path of PATHS) {
      const [d, b, m] = [ab(lora, path, 'default'), ab(lora, path, 'b'), ab(lora, path, 'mix')];
      expect(m.scaling).toBe(1);
      expect(maxAbsDiff(m.a, lin([d.a, b.a], [Math.sqrt(1.4), -Math.sqrt(0.2)]))).toBeLessThan(1e-6);
      expect(maxAbsDiff(m.b, lin([d.b, b.b], [Math.sqrt(1.4), Math.sqrt(0.2)]))).toBeLessThan(1e-6);
    }
    free(host, lora);
  });

  it('cat: A = [w₁s₁A₁; w₂s₂A₂], B = [B₁, B₂] (ranks may differ, r = Σ rᵢ), so B·A = Σ wᵢ·sᵢ·Bᵢ·Aᵢ', async () => {
    const { host, lora } = setup();
    await lora.addWeightedAdapter(['default', 'c'], [0.5, -2], 'cat', { combinationType: 'cat' });
    expect([lora.peftConfig.get('cat')!.r, lora.peftConfig.get('cat')!.lora_alpha]).toEqual([5, 5]);
    for (const path of PATHS) {
      const [out, inF] = SHAPE[path]!;
      const [d, c, m] = [ab(lora, path, 'default'), ab(lora, path, 'c'), ab(lora, path, 'cat')];
      expect(maxAbsDiff(m.a, [...d.a.map((x) => x * 0.5 * 2), ...c.a.map((x) => x * -2 * 2)])).toBeLessThan(1e-6);
      const bWant = new Float64Array(out * 5);
      for (let o = 0; o < out; o++) for (let j = 0; j < 5; j++) bWant[o * 5 + j] = j < 2 ? d.b[o * 2 + j]! : c.b[o * 3 + j - 2]!;
      expect(maxAbsDiff(m.b, bWant)).toBe(0);
      const got = matMul(m.b, m.a, out, 5, inF);
      expect(relL2(got, lin([delta(lora, path, 'default'), delta(lora, path, 'c')], [0.5, -2]))).toBeLessThan(1e-6);
    }
    free(host, lora);
  });

  it('svd: the best rank-r approximation of Σ wᵢ·sᵢ·Bᵢ·Aᵢ (r = max rᵢ by default), B = U·S and A = Vh; svdRank ≥ Σ rᵢ is exact', async () => {
    const { host, lora } = setup();
    await lora.addWeightedAdapter(['default', 'c'], [1, 0.5], 'svd'); // combination_type defaults to "svd", as PEFT
    await lora.addWeightedAdapter(['default', 'c'], [1, 0.5], 'svd5', { svdRank: 5 });
    expect(lora.peftConfig.get('svd')!.r).toBe(3);
    for (const path of PATHS) {
      const [out, inF] = SHAPE[path]!;
      const exact = lin([delta(lora, path, 'default'), delta(lora, path, 'c')], [1, 0.5]);
      const sigma = thinSvd(exact, out, inF).s;
      const m = ab(lora, path, 'svd');
      const got = matMul(m.b, m.a, out, 3, inF);
      // Eckart–Young: the top three singular values, and ‖exact − got‖²_F = Σ_{i>3} σᵢ²
      expect(maxAbsDiff(thinSvd(got, out, inF).s.slice(0, 3), sigma.slice(0, 3))).toBeLessThan(1e-5 * sigma[0]!);
      const rest = sigma.slice(3).reduce((t, s) => t + s * s, 0);
      expect(Math.abs(exact.reduce((t, x, i) => t + (x - got[i]!) ** 2, 0) - rest)).toBeLessThan(1e-5 * sigma[0]! ** 2);
      // A = Vh: orthonormal rows
      const aat = matMul(m.a, Float64Array.from({ length: inF * 3 }, (_, i) => m.a[(i % 3) * inF + Math.floor(i / 3)]!), 3, inF, 3);
      expect(maxAbsDiff(aat, [1, 0, 0, 0, 1, 0, 0, 0, 1])).toBeLessThan(1e-6);
      const m5 = ab(lora, path, 'svd5');
      expect(relL2(matMul(m5.b, m5.a, out, 5, inF), exact)).toBeLessThan(1e-6);
    }
    free(host, lora);
  });

  it('svd with a rank above a layer’s min(out, in): the missing rows of A and columns of B are zeros, the delta exact', async () => {
    const { host, lora } = setup();
    await lora.addWeightedAdapter(['default', 'c'], [1, 0.5], 'big', { svdRank: 7, svdFullMatrices: false });
    await lora.addWeightedAdapter(['default', 'c'], [1, 0.5], 'bigFull', { svdRank: 7 });
    const m = ab(lora, 'layers.1.v', 'big'); // [4, 6]: 4 singular triplets at most
    expect(m.a.slice(4 * 6).every((x) => x === 0)).toBe(true);
    for (let o = 0; o < 4; o++) for (let j = 4; j < 7; j++) expect(m.b[o * 7 + j]).toBe(0);
    const exact = lin([delta(lora, 'layers.1.v', 'default'), delta(lora, 'layers.1.v', 'c')], [1, 0.5]);
    expect(relL2(matMul(m.b, m.a, 4, 7, 6), exact)).toBeLessThan(1e-6);
    expect(ab(lora, 'layers.1.v', 'bigFull').a).toEqual(m.a); // svd_full_matrices does not change the result
    free(host, lora);
  });

  it('one adapter is always combined "linear" (PEFT), negative weights included: the delta is w·s·B·A', async () => {
    const { host, lora } = setup();
    await lora.addWeightedAdapter(['c'], [-2], 'neg', { combinationType: 'cat' });
    expect(lora.peftConfig.get('neg')!.r).toBe(3); // linear keeps r (cat would too here; the A's and B's show which ran)
    for (const path of PATHS) {
      const [c, m] = [ab(lora, path, 'c'), ab(lora, path, 'neg')];
      // c = −2·2 = −4: A = −√4·A, B = √4·B (cat would give A = −4·A, B = B)
      expect(maxAbsDiff(m.a, c.a.map((x) => -2 * x))).toBeLessThan(1e-6);
      expect(maxAbsDiff(m.b, c.b.map((x) => 2 * x))).toBeLessThan(1e-6);
    }
    free(host, lora);
  });

  it('rslora sources: their scaling is folded into A and B and the new adapter has use_rslora false (PEFT PR #3449)', async () => {
    const host = new TwoLayerHost(5);
    const lora = injectLora(host, { target_modules: ['q', 'v'], r: 4, lora_alpha: 8, use_rslora: true, init_lora_weights: false }, { seed: 4 });
    await lora.addWeightedAdapter(['default'], [1], 'same');
    expect(lora.peftConfig.get('same')!.use_rslora).toBe(false);
    for (const path of PATHS) {
      const m = ab(lora, path, 'same');
      expect(m.scaling).toBe(1);
      const [out, inF] = SHAPE[path]!;
      expect(relL2(matMul(m.b, m.a, out, 4, inF), delta(lora, path, 'default'))).toBeLessThan(1e-6); // s = 8/√4 = 4 once
    }
    free(host, lora);
  });
});

describe('addWeightedAdapter: target modules and ranks (PEFT _check_add_weighted_adapter)', () => {
  it('target_modules: the union of the lists; a layer only some sources adapt gets those (cat zero-fills the rest)', async () => {
    const { host, lora } = setup();
    lora.addAdapter('onlyQ', { target_modules: ['q'], r: 2, lora_alpha: 2, init_lora_weights: false }, { seed: 6 });
    await lora.addWeightedAdapter(['onlyQ', 'default'], [1, 1], 'u', { combinationType: 'cat' });
    expect(lora.peftConfig.get('u')!.target_modules).toEqual(['q', 'v']);
    const v = ab(lora, 'layers.1.v', 'u'); // only default there: rows 0–1 of A are its w·s·A, rows 2–3 zeros
    const d = ab(lora, 'layers.1.v', 'default');
    expect(maxAbsDiff(v.a.slice(0, 12), d.a.map((x) => 2 * x))).toBeLessThan(1e-7);
    expect(v.a.slice(12).every((x) => x === 0)).toBe(true);
    free(host, lora);
  });

  it('"all-linear" counts as the last names of the linears it adapts (PEFT stores that set), so it joins a list', async () => {
    const { host, lora } = setup();
    lora.addAdapter('all', { target_modules: 'all-linear', r: 2, lora_alpha: 2, init_lora_weights: false }, { seed: 8 });
    lora.addAdapter('onlyQ', { target_modules: ['q'], r: 2, lora_alpha: 2, init_lora_weights: false }, { seed: 9 });
    await lora.addWeightedAdapter(['onlyQ', 'all'], [1, 1], 'u', { combinationType: 'linear' });
    expect(lora.peftConfig.get('u')!.target_modules).toEqual(['q', 'v']);
    free(host, lora);
  });

  it('regex target_modules are joined as "(t₁)|(t₂)"', async () => {
    const host = new TwoLayerHost(5);
    const lora = injectLora(host, { target_modules: 'layers\\.0\\.q', r: 2, lora_alpha: 2, init_lora_weights: false }, { seed: 1 });
    lora.addAdapter('v', { target_modules: 'layers\\.1\\.v', r: 2, lora_alpha: 2, init_lora_weights: false }, { seed: 2 });
    await lora.addWeightedAdapter(['default', 'v'], [1, 1], 'both', { combinationType: 'linear' });
    expect(lora.peftConfig.get('both')!.target_modules).toBe('(layers\\.0\\.q)|(layers\\.1\\.v)');
    expect([...lora.layers.values()].every((l) => l.adapters.has('both'))).toBe(true);
    free(host, lora);
  });

  it('rank_pattern: the new rank uses each adapter’s largest rank; cat zero-fills layers of smaller rank', async () => {
    const { host, lora } = setup();
    lora.addAdapter('p', { target_modules: ['q', 'v'], r: 2, lora_alpha: 2, rank_pattern: { v: 4 }, init_lora_weights: false }, { seed: 7 });
    await lora.addWeightedAdapter(['default', 'p'], [1, 1], 'pc', { combinationType: 'cat' });
    const cfg = lora.peftConfig.get('pc')!;
    expect([cfg.r, cfg.rank_pattern]).toEqual([6, {}]);
    const q = ab(lora, 'layers.0.q', 'pc'); // 2 + 2 rows used, 2 zero
    expect(q.a.slice(4 * 8).every((x) => x === 0)).toBe(true);
    expect(q.a.slice(0, 4 * 8).some((x) => x !== 0)).toBe(true);
    free(host, lora);
  });
});

describe('addWeightedAdapter: ties, dare, magnitude_prune', () => {
  it('ties: the A’s and B’s merged by merge_utils.ties with weights sign(c)√|c| and √|c|', async () => {
    const { host, lora } = setup();
    await lora.addWeightedAdapter(['default', 'b'], [0.7, -0.4], 't', { combinationType: 'ties', density: 0.5, majoritySignMethod: 'frequency' });
    await lora.addWeightedAdapter(['default', 'b'], [0.7, -0.4], 'mp', { combinationType: 'magnitude_prune', density: 0.5 });
    const wa = [Math.sqrt(1.4), -Math.sqrt(0.2)];
    const wb = [Math.sqrt(1.4), Math.sqrt(0.2)];
    for (const path of PATHS) {
      const [d, b, t, mp] = [ab(lora, path, 'default'), ab(lora, path, 'b'), ab(lora, path, 't'), ab(lora, path, 'mp')];
      expect(maxAbsDiff(t.a, ties([d.a, b.a], wa, 0.5, 'frequency'))).toBeLessThan(1e-6);
      expect(maxAbsDiff(t.b, ties([d.b, b.b], wb, 0.5, 'frequency'))).toBeLessThan(1e-6);
      expect(maxAbsDiff(mp.a, magnitudePrune([d.a, b.a], wa, 0.5))).toBeLessThan(1e-6);
      expect(maxAbsDiff(mp.b, magnitudePrune([d.b, b.b], wb, 0.5))).toBeLessThan(1e-6);
    }
    free(host, lora);
  });

  it('ties_svd / magnitude_prune_svd: the merged deltas (weights wᵢ, deltas sᵢ·Bᵢ·Aᵢ) truncated by SVD', async () => {
    const { host, lora } = setup();
    await lora.addWeightedAdapter(['default', 'b'], [0.7, -0.4], 'ts', { combinationType: 'ties_svd', density: 0.5, svdRank: 4 });
    await lora.addWeightedAdapter(['default', 'b'], [0.7, -0.4], 'ms', { combinationType: 'magnitude_prune_svd', density: 0.6, svdRank: 4 });
    for (const path of PATHS) {
      const [out, inF] = SHAPE[path]!;
      const deltas = [delta(lora, path, 'default'), delta(lora, path, 'b')];
      for (const [name, merged] of [
        ['ts', ties(deltas, [0.7, -0.4], 0.5, 'total')],
        ['ms', magnitudePrune(deltas, [0.7, -0.4], 0.6)],
      ] as const) {
        const sigma = thinSvd(merged, out, inF).s;
        const m = ab(lora, path, name);
        const got = thinSvd(matMul(m.b, m.a, out, 4, inF), out, inF).s;
        expect(maxAbsDiff(got.slice(0, 4), sigma.slice(0, 4))).toBeLessThan(1e-5 * sigma[0]!);
      }
    }
    free(host, lora);
  });

  it('dare_linear: every entry of A is one of the sums of kept, 1/density-rescaled terms; seeded', async () => {
    const { host, lora } = setup();
    const opts: AddWeightedAdapterOptions = { combinationType: 'dare_linear', density: 0.5, seed: 3 };
    await lora.addWeightedAdapter(['default', 'b'], [0.7, 0.4], 'd1', opts);
    await lora.addWeightedAdapter(['default', 'b'], [0.7, 0.4], 'd2', opts);
    await lora.addWeightedAdapter(['default', 'b'], [0.7, 0.4], 'd3', { ...opts, seed: 4 });
    const w = [Math.sqrt(1.4), Math.sqrt(0.2)];
    let zeros = 0;
    let n = 0;
    for (const path of PATHS) {
      const [d, b, m] = [ab(lora, path, 'default'), ab(lora, path, 'b'), ab(lora, path, 'd1')];
      for (let i = 0; i < m.a.length; i++) {
        const t1 = (w[0]! * d.a[i]!) / 0.5;
        const t2 = (w[1]! * b.a[i]!) / 0.5;
        expect(Math.min(...[0, t1, t2, t1 + t2].map((x) => Math.abs(x - m.a[i]!)))).toBeLessThan(1e-6);
        if (m.a[i] === 0) zeros++;
        n++;
      }
      expect(ab(lora, path, 'd2').a).toEqual(m.a);
    }
    // P(neither kept) = 0.25 over 28 entries of A
    expect(zeros).toBeGreaterThan(0);
    expect(zeros).toBeLessThan(n / 2);
    expect(ab(lora, 'layers.0.q', 'd3').a).not.toEqual(ab(lora, 'layers.0.q', 'd1').a);
    free(host, lora);
  });

  it('dare_linear, dare_ties and their _svd types: exactly merge_utils on the seeded stream (A first, then B; the deltas for _svd)', async () => {
    // The masks come from seedrandom(`${seed}:${path}:${type}`), one stream per layer drawn by the A merge
    // then the B merge (PEFT: torch.bernoulli per call); replaying it pins each type to its merge_utils function.
    const { host, lora } = setup();
    const [w, density, seed] = [[0.7, -0.4], 0.7, 5];
    for (const combinationType of ['dare_linear', 'dare_ties', 'dare_linear_svd', 'dare_ties_svd'] as const) {
      await lora.addWeightedAdapter(['default', 'b'], w, combinationType, { combinationType, density, seed });
      expect(lora.peftConfig.get(combinationType)!.r).toBe(2);
    }
    const [wa, wb] = [[Math.sqrt(1.4), -Math.sqrt(0.2)], [Math.sqrt(1.4), Math.sqrt(0.2)]];
    for (const path of PATHS) {
      const [out, inF] = SHAPE[path]!;
      const stream = (type: string) => {
        const rng = seedrandom(`${seed}:${path}:${type}`);
        return () => rng();
      };
      const [d, b] = [ab(lora, path, 'default'), ab(lora, path, 'b')];
      const lin = stream('dare_linear');
      const ti = stream('dare_ties');
      for (const [type, a2, b2] of [
        ['dare_linear', dareLinear([d.a, b.a], wa, density, lin), dareLinear([d.b, b.b], wb, density, lin)],
        ['dare_ties', dareTies([d.a, b.a], wa, density, 'total', ti), dareTies([d.b, b.b], wb, density, 'total', ti)],
      ] as const) {
        expect(maxAbsDiff(ab(lora, path, type).a, a2), `${type} A at ${path}`).toBeLessThan(1e-6);
        expect(maxAbsDiff(ab(lora, path, type).b, b2), `${type} B at ${path}`).toBeLessThan(1e-6);
      }
      const deltas = [delta(lora, path, 'default'), delta(lora, path, 'b')];
      for (const [type, merged] of [
        ['dare_linear_svd', dareLinear(deltas, w, density, stream('dare_linear_svd'))],
        ['dare_ties_svd', dareTies(deltas, w, density, 'total', stream('dare_ties_svd'))],
      ] as const) {
        const sigma = thinSvd(merged, out, inF).s;
        const m = ab(lora, path, type);
        expect(maxAbsDiff(thinSvd(matMul(m.b, m.a, out, 2, inF), out, inF).s.slice(0, 2), sigma.slice(0, 2)), `${type} at ${path}`).toBeLessThan(1e-5 * sigma[0]!);
      }
    }
    free(host, lora);
  });

  it('*_svd on a layer large enough for the truncated SVD ([90, 80], rank 2): B·A is the rank-2 truncation of the merged delta', () => {
    const [out, inF] = [90, 80];
    const plan: WeightedAdapterPlan = { combinationType: 'ties_svd', newRank: 2, config: {} as WeightedAdapterPlan['config'], paths: ['l'], density: 0.5, majoritySignMethod: 'total', svdClamp: null, seed: 0 };
    const sources = [0, 1].map((i) => ({ name: `s${i}`, weight: [0.7, -0.4][i]!, scaling: 2, r: 2, a: randomValues(2 * inF, 60 + i), b: randomValues(out * 2, 70 + i) }));
    const { a, b } = combineLayer(plan, 'l', sources, inF, out);
    // _svd_generalized_task_arithmetic_weighted_adapter: ties of the deltas, then U[:, :2]·S[:2] and Vh[:2]
    const deltas = sources.map((src) => matMul(src.b, src.a, out, 2, inF).map((x) => x * src.scaling));
    const full = thinSvd(ties(deltas, [0.7, -0.4], 0.5, 'total'), out, inF);
    const want = new Float64Array(out * inF);
    for (let o = 0; o < out; o++) for (let i = 0; i < inF; i++) want[o * inF + i] = full.u[o * full.k]! * full.s[0]! * full.v[i * full.k]! + full.u[o * full.k + 1]! * full.s[1]! * full.v[i * full.k + 1]!;
    expect(maxAbsDiff(matMul(Float64Array.from(b), Float64Array.from(a), out, 2, inF), want)).toBeLessThan(1e-6 * full.s[0]!);
    // and A = Vh[:2] itself (the sign convention of thinSvd)
    expect(maxAbsDiff(a, Float64Array.from({ length: 2 * inF }, (_, x) => full.v[(x % inF) * full.k + Math.floor(x / inF)]!))).toBeLessThan(1e-6);
  });
});

describe('addWeightedAdapter: svd_clamp (torch.quantile + clamp)', () => {
  const plan = (svdClamp: number | null): WeightedAdapterPlan => ({
    combinationType: 'svd',
    newRank: 2,
    config: {} as WeightedAdapterPlan['config'],
    paths: ['x'],
    density: null,
    majoritySignMethod: 'total',
    svdClamp,
    seed: 0,
  });
  // Δ = [[3, 0, 0], [0, 2, 0]] from two rank-1 sources: U = I, S = (3, 2), Vh = [e₁; e₂]
  const sources = [
    { name: 's1', weight: 1, scaling: 1, r: 1, a: [1, 0, 0], b: [3, 0] },
    { name: 's2', weight: 1, scaling: 1, r: 1, a: [0, 1, 0], b: [0, 2] },
  ];

  it('torch.quantile interpolates linearly between the nearest ranks', () => {
    expect(quantile([3, 1, 2, 4], 0.5)).toBe(2.5); // pos 1.5 → 2 + 0.5·(3 − 2)
    expect(quantile([0, 10], 0.25)).toBe(2.5);
    expect(quantile([5, 1, 3], 1)).toBe(5);
    expect(quantile([5, 1, 3], 0)).toBe(1);
  });

  it('U·S and Vh are clamped to ±quantile of their entries together', () => {
    const free = combineLayer(plan(null), 'x', sources, 3, 2);
    expect([...free.b]).toEqual([3, 0, 0, 2]);
    expect([...free.a]).toEqual([1, 0, 0, 0, 1, 0]);
    // entries of U·S [3, 0, 0, 2] and Vh [1, 0, 0, 0, 1, 0], sorted: 0×6, 1, 1, 2, 3;
    // q = 0.85: pos = 0.85·9 = 7.65 → 1 + 0.65·(2 − 1) = 1.65
    const c = combineLayer(plan(0.85), 'x', sources, 3, 2);
    expect(maxAbsDiff(c.b, [1.65, 0, 0, 1.65])).toBeLessThan(1e-6);
    expect([...c.a]).toEqual([1, 0, 0, 0, 1, 0]);
    // q = 0.5: pos 4.5 among six zeros → 0: everything clamped to 0
    const z = combineLayer(plan(0.5), 'x', sources, 3, 2);
    expect([...z.a, ...z.b].every((x) => x === 0)).toBe(true);
  });

  it('the clamp is symmetric: negative entries go to −quantile (this package’s signs: V’s largest entry positive)', () => {
    // Δ = [[3, 0, 0], [0, −2, 0]]: U·S = [[3, 0], [0, −2]], Vh = [e₁; e₂]; entries sorted −2, 0×6, 1, 1, 3;
    // q = 0.85: pos 7.65 → 1 + 0.65·(1 − 1) = 1 → U·S clamped to [[1, 0], [0, −1]]
    const neg = [sources[0]!, { ...sources[1]!, b: [0, -2] }];
    const c = combineLayer(plan(0.85), 'x', neg, 3, 2);
    expect([...c.b].map((x) => x + 0)).toEqual([1, 0, 0, -1]); // (+ 0: −0 → 0)
    expect([...c.a].map((x) => x + 0)).toEqual([1, 0, 0, 0, 1, 0]);
  });
});

describe('addWeightedAdapter: save and load', () => {
  it('the combined adapter saves in PEFT’s layout (r, lora_alpha, target_modules) and loads back to the same weights and outputs', async () => {
    const { host, lora } = setup();
    await lora.addWeightedAdapter(['default', 'c'], [0.5, 1.5], 'mix', { combinationType: 'cat' });
    const dir = join(tmp, 'saved');
    await lora.saveAdapter(dir, { selectedAdapters: ['mix'] });
    const cfg = JSON.parse(await readFile(join(dir, 'mix', 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    expect([cfg.r, cfg.lora_alpha, cfg.target_modules, cfg.use_rslora, cfg.rank_pattern]).toEqual([5, 5, ['q', 'v'], false, {}]);
    lora.setAdapter('mix');
    const x = tf.tensor2d(Array.from({ length: 16 }, (_, i) => Math.cos(i)), [2, 8]);
    const y = host.forward(x);

    const host2 = new TwoLayerHost(5);
    const before = tf.memory().numTensors;
    const again = await loadAdapter(host2, join(dir, 'mix'));
    expect(tf.memory().numTensors).toBe(before + 4);
    for (const [k, t] of lora.stateDict('mix')) expect(again.stateDict().get(k)!.data).toEqual(t.data);
    const y2 = host2.forward(x);
    expect(maxAbsDiff(y2.dataSync(), y.dataSync())).toBeLessThan(1e-6);
    tf.dispose([x, y, y2]);
    free(host2, again);
    free(host, lora);
  });
});

describe('addWeightedAdapter: bad arguments are one clear error and change nothing', () => {
  type Case = [string, (l: LoraModel) => Promise<void>, RegExp, ((l: LoraModel) => void)?];
  const cases: Case[] = [
    ['no adapters', (l) => l.addWeightedAdapter([], [], 'x'), /adapters must name at least one adapter \(adapters: default, b, c\)/],
    ['an unknown adapter', (l) => l.addWeightedAdapter(['default', 'nope'], [1, 1], 'x'), /no adapter named "nope" \(adapters: default, b, c\)/],
    ['weights of another length', (l) => l.addWeightedAdapter(['default', 'b'], [1], 'x'), /weights must have one number per adapter \(2\), got \[1\]/],
    ['a non-finite weight', (l) => l.addWeightedAdapter(['default', 'b'], [1, Number.NaN], 'x'), /weights must be finite numbers/],
    ['an existing name', (l) => l.addWeightedAdapter(['default', 'b'], [1, 1], 'c'), /an adapter named "c" already exists \(PEFT would silently keep it\)/],
    ['a bad name', (l) => l.addWeightedAdapter(['default', 'b'], [1, 1], 'a.b'), /adapter name "a\.b" is not allowed/],
    ['an unknown combination type', (l) => l.addWeightedAdapter(['default', 'b'], [1, 1], 'x', { combinationType: 'mean' as never }), /invalid combination_type "mean" \(one of svd, linear, cat/],
    ['linear with different ranks', (l) => l.addWeightedAdapter(['default', 'c'], [1, 1], 'x', { combinationType: 'linear' }), /all adapters must have the same r value .*default: 2, c: 3 \(use "cat" or an \*svd type\)/],
    ['ties without density', (l) => l.addWeightedAdapter(['default', 'b'], [1, 1], 'x', { combinationType: 'ties' }), /combination_type "ties" needs density/],
    ['a negative density', (l) => l.addWeightedAdapter(['default', 'b'], [1, 1], 'x', { combinationType: 'ties', density: -0.5 }), /density must be a number >= 0/],
    ['dare with density 0', (l) => l.addWeightedAdapter(['default', 'b'], [1, 1], 'x', { combinationType: 'dare_linear', density: 0 }), /density 0 with "dare_linear" divides/],
    ['density with linear', (l) => l.addWeightedAdapter(['default', 'b'], [1, 1], 'x', { combinationType: 'linear', density: 0.5 }), /density is only used by ties, .*, not "linear"/],
    ['svdRank with cat', (l) => l.addWeightedAdapter(['default', 'b'], [1, 1], 'x', { combinationType: 'cat', svdRank: 2 }), /svdRank is only used by the \*svd combination types, not "cat"/],
    ['svdRank 0', (l) => l.addWeightedAdapter(['default', 'b'], [1, 1], 'x', { svdRank: 0 }), /svdRank must be a positive integer, got 0/],
    ['svdClamp above 1', (l) => l.addWeightedAdapter(['default', 'b'], [1, 1], 'x', { svdClamp: 1.5 }), /svdClamp is a quantile and must be in \[0, 1\], got 1.5/],
    ['a bad majority sign method', (l) => l.addWeightedAdapter(['default', 'b'], [1, 1], 'x', { combinationType: 'ties', density: 0.5, majoritySignMethod: 'mean' as never }), /majoritySignMethod must be "total" or "frequency"/],
    [
      'a list and a regex',
      (l) => l.addWeightedAdapter(['default', 're'], [1, 1], 'x'),
      /mix of list\/set and string is not supported/,
      (l) => l.addAdapter('re', { target_modules: 'layers\\.0\\.q', r: 2, lora_alpha: 2 }),
    ],
    [
      'layer selections that do not agree',
      (l) => l.addWeightedAdapter(['ex', 'default'], [1, 1], 'x', { combinationType: 'cat' }),
      /would not adapt layers\.1\.v, which they adapt/,
      (l) => l.addAdapter('ex', { target_modules: ['q', 'v'], exclude_modules: ['v'], r: 2, lora_alpha: 2 }),
    ],
    [
      'a NaN in a source adapter (PEFT: torch.linalg.svd raises; its other types would spread it)',
      (l) => l.addWeightedAdapter(['default', 'b'], [1, 1], 'x', { combinationType: 'linear' }),
      /^LoRA addWeightedAdapter: adapter "b"'s lora_A of layers\.0\.q has a non-finite value \(NaN\) at \[1, 3\]$/,
      (l) => {
        const layer = l.layers.get('layers.0.q')!;
        const a = layer.adapter('b').loraA.dataSync().slice() as Float32Array;
        a[8 + 3] = Number.NaN; // A [2, 8]: row 1, column 3
        layer.setWeights(a, layer.adapter('b').loraB.dataSync() as Float32Array, 'b');
      },
    ],
    [
      'weights that overflow float32',
      (l) => l.addWeightedAdapter(['default', 'b'], [1e39, 1], 'x', { combinationType: 'cat' }),
      /the combined A and B of layers\.0\.q overflow float32 \(weights \[1e\+39,1\]\)/,
    ],
    [
      'linear with per-layer ranks that differ',
      (l) => l.addWeightedAdapter(['p', 'p4'], [1, 1], 'x', { combinationType: 'linear' }),
      /every layer's rank must be 4: p at layers\.0\.q \(r 2\)/,
      (l) => {
        l.addAdapter('p', { target_modules: ['q', 'v'], r: 2, lora_alpha: 2, rank_pattern: { v: 4 } });
        l.addAdapter('p4', { target_modules: ['q', 'v'], r: 4, lora_alpha: 4 });
      },
    ],
  ];

  it.each(cases)('%s', async (_, call, message, prepare) => {
    const { host, lora } = setup();
    prepare?.(lora);
    const names = [...lora.peftConfig.keys()];
    const before = tf.memory().numTensors;
    await expect(call(lora)).rejects.toThrow(message);
    expect(tf.memory().numTensors).toBe(before);
    expect([...lora.peftConfig.keys()]).toEqual(names);
    expect([...lora.layers.values()].some((l) => l.adapters.has('x'))).toBe(false);
    free(host, lora);
  });
});
