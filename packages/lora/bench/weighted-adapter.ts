/**
 * addWeightedAdapter's host work for one layer of Flan-UL2's size, per combination type:
 *   npx tsx bench/weighted-adapter.ts   (DIM=4096 R=8 ADAPTERS=2 DENSITY=0.5 JACOBI=512)
 * Two adapters of rank R on a DIM × DIM layer (random A and B), combined with weights [0.7, -0.4]
 * into rank R (combineLayer: what addWeightedAdapter runs per layer after reading A and B). Then the
 * full one-sided Jacobi SVD on a JACOBI × JACOBI matrix, which the pruned *_svd types would need at
 * DIM without the truncated SVD (its cost grows as DIM³). Process CPU time (single-threaded; the
 * machine may be shared, wall time then runs longer); Flan-UL2's q and v are 192 layers.
 */
import { thinSvd } from '../src/svd.js';
import { COMBINATION_TYPES, type CombinationType, type WeightedAdapterPlan, type WeightedSource, combineLayer } from '../src/weighted-adapter.js';

const env = (k: string, d: number) => Number(process.env[k] ?? d);
const [DIM, R, ADAPTERS, DENSITY, JACOBI] = [env('DIM', 4096), env('R', 8), env('ADAPTERS', 2), env('DENSITY', 0.5), env('JACOBI', 512)];
const random = (n: number, seed: number, scale: number) => {
  let s = seed;
  return new Float32Array(n).map(() => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * scale);
};
const sources: WeightedSource[] = Array.from({ length: ADAPTERS }, (_, i) => ({
  name: `a${i}`,
  weight: i === 0 ? 0.7 : -0.4,
  scaling: 2,
  r: R,
  a: random(R * DIM, 10 + i, 0.05),
  b: random(DIM * R, 20 + i, 0.05),
}));
const plan = (combinationType: CombinationType): WeightedAdapterPlan => ({
  combinationType,
  newRank: combinationType === 'cat' ? R * ADAPTERS : R,
  config: {} as WeightedAdapterPlan['config'],
  paths: ['layer'],
  density: combinationType === 'linear' || combinationType === 'cat' || combinationType === 'svd' ? null : DENSITY,
  majoritySignMethod: 'total',
  svdClamp: null,
  seed: 0,
});

const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};
console.log(`one ${DIM} × ${DIM} layer, ${ADAPTERS} adapters of r ${R}, density ${DENSITY} where used; CPU time`);
for (const type of COMBINATION_TYPES) {
  const t0 = cpuMs();
  combineLayer(plan(type), 'layer', sources, DIM, DIM);
  const ms = cpuMs() - t0;
  console.log(`${type.padEnd(20)} ${ms.toFixed(0).padStart(8)} ms   × 192 layers ≈ ${((ms * 192) / 60_000).toFixed(1)} min`);
}
const m = random(JACOBI * JACOBI, 7, 1);
const t0 = cpuMs();
thinSvd(m, JACOBI, JACOBI);
const ms = cpuMs() - t0;
console.log(`full Jacobi SVD of ${JACOBI} × ${JACOBI}: ${ms.toFixed(0)} ms (× (${DIM}/${JACOBI})³ ≈ ${((ms * (DIM / JACOBI) ** 3) / 3_600_000).toFixed(1)} h at ${DIM})`);
