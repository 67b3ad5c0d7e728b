// The tensor-core (subgroup-matrix) shaders, compiled by Tint: Dawn's null backend offers
// `chromium-experimental-subgroup-matrix` with `allow_unsafe_apis`, so every variant is parsed,
// type-checked, uniformity-analysed and turned into a pipeline here, although nothing can run them
// (no GPU here; lavapipe lacks the feature). Runs in a child process (one Dawn instance per process).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const tsx = pathToFileURL(join(root, 'node_modules/tsx/dist/esm/index.mjs')).href;
const script = fileURLToPath(new URL('./scripts/tensor-core-compile.ts', import.meta.url));

interface Result {
  error?: string;
  compiled: Record<string, string>;
  overLimit: string[];
  limit: number;
  overReport: string;
  broken: string;
  report: { feature: boolean; i8: string; f16: string; f16t: string; chosen: Record<string, unknown> };
}

function runChild(): Promise<Result> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', tsx, script], { cwd: root, timeout: 120_000 }, (err, stdout, stderr) => {
      const last = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as Result);
      } catch {
        reject(new Error(`child printed no result (${err?.message ?? ''}): ${stderr.slice(-2000)}`));
      }
    });
  });
}

describe('tensor-core shaders compile with Tint (Dawn null backend)', () => {
  it('every variant and tile size, direct and staged through workgroup memory; a type error is reported; prepareTensorCoreKernels enables the first variant and tiles that compile', async () => {
    const r = await runChild();
    expect(r.error).toBeUndefined();
    const names = Object.keys(r.compiled);
    expect(names).toHaveLength(64); // 4 tile sizes × (4 i8 + 2 f16 + 2 f16t variants), each direct and staged
    // 16 KiB of workgroup memory on the null device: the 4 × 4 staged kernels with 2 × 2 subgroups
    // (16 KiB of blocks + 4 KiB for the folded epilogue) are refused by Dawn, as tensorCoreWorkgroupBytes says.
    expect(r.limit).toBe(16384);
    expect(r.overLimit).toEqual(['i8 TM4 TN4 staged 2x2 i32', 'i8 TM4 TN4 staged 2x2 u32', 'f16 TM4 TN4 staged 2x2 i32', 'f16t TM4 TN4 staged 2x2 i32']);
    for (const [name, result] of Object.entries(r.compiled)) {
      if (r.overLimit.includes(name)) expect(result, name).toMatch(/workgroup storage/);
      else if (name.includes(' 2x2 ')) expect(result, name).toBe('ok');
      // One subgroup of 32 per workgroup: valid WGSL; the null device's maxSubgroupSize (128) rejects
      // only the pipeline (the H100 has 32).
      else expect(result, name).toMatch(/^ok$|workgroup_size \(32\) must be a multiple of the device maxSubgroupSize \(128\)/);
    }
    expect(r.overReport).toMatch(/^2x2 i32: needs 20 KiB of workgroup memory, the device offers 16 KiB \| 1 i32: compile error/);
    expect(r.broken).toMatch(/no matching call to 'subgroupMatrixMultiplyAccumulate/);
    const chosen = { variant: { layout: '2x2', word: 'i32' }, tiles: { TM: 4, TN: 4 } };
    expect(r.report).toEqual({
      feature: true, i8: 'ready (unchecked; 2x2 i32)', f16: 'ready (unchecked; 2x2 i32)', f16t: 'ready (unchecked; 2x2 i32)',
      chosen: { i8: chosen, f16: chosen, f16t: chosen },
    });
  }, 150_000);
});
