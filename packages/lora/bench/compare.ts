/** Timing shared by the benchmarks: process CPU time (tfjs-backend-cpu is single-threaded JavaScript) and wall time. */

/** [cpu ms, wall ms] of one call. */
export function measure(fn: () => void): [number, number] {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  fn();
  const c = process.cpuUsage(c0);
  return [(c.user + c.system) / 1000, performance.now() - t0];
}

/**
 * Runs the cases interleaved `reps` times (so drifting load hits each alike) after one warm-up each
 * (`warmUp`, else the case itself), prints each case's mean CPU and wall ms, and returns the CPU means.
 */
export function compare(cases: Array<[label: string, run: () => void, warmUp?: () => void]>, reps: number, labelWidth = 42): number[] {
  for (const [, run, warm] of cases) (warm ?? run)();
  const sums = cases.map(() => [0, 0]);
  for (let r = 0; r < reps; r++) {
    cases.forEach(([, run], i) => {
      const [c, w] = measure(run);
      sums[i]![0]! += c;
      sums[i]![1]! += w;
    });
  }
  return cases.map(([label], i) => {
    const [c, w] = sums[i]!.map((s) => s / reps) as [number, number];
    console.log(`${label.padEnd(labelWidth)} cpu ${c.toFixed(1).padStart(9)} ms   wall ${w.toFixed(1).padStart(9)} ms`);
    return c;
  });
}
