// `generate` and `eval` on `--backend webgpu` (lavapipe in CI) print what they print on cpu, for an
// adapter trained on cpu. Its own file: one Dawn instance per process (the webgpu command makes it).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { skipWebGPU } from '../../../vitest.webgpu';
import { main } from '../src/main.js';
import { capture } from './capture.js';

const skip = await skipWebGPU();
const tmp = mkdtempSync(join(tmpdir(), 'conifer-e2e-webgpu-gen-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));


describe.skipIf(skip)('generate and eval on webgpu', () => {
  it('print the same generations and eval loss as on cpu', async () => {
    const out = join(tmp, 'run');
    const t = capture();
    const trainArgs = ['train', '--backend', 'cpu', '--limit', '16', '--max-steps', '1', '--batch-size', '2', '--grad-accum', '1', '--lr', '3e-2', '--max-source-length', '24', '--max-target-length', '12', '--out', out];
    expect(await main(trainArgs, t.io)).toBe(0);
    const adapter = join(out, 'adapter');
    const gen = ['--adapter', adapter, '--prompt', 'What is a lamb?', '--prompt', 'Name three colours.', '--max-length', '6', '--min-length', '3', '--num-beams', '2'];
    const ev = ['--adapter', adapter, '--limit', '16', '--samples', '1', '--max-length', '5', '--max-source-length', '24', '--max-target-length', '12'];
    const run = async (backend: string) => {
      const g = capture();
      expect(await main(['generate', '--backend', backend, ...gen], g.io)).toBe(0);
      const e = capture();
      expect(await main(['eval', '--backend', backend, ...ev], e.io)).toBe(0);
      expect([...g.err, ...e.err]).toEqual([]);
      // Everything after the header line (which names the backend) and, on webgpu, the tensor-core line.
      const tc = (l: string) => l.startsWith('  tensor cores');
      if (backend === 'webgpu') {
        for (const lines of [g.out, e.out]) expect(lines.filter(tc)).toEqual(['  tensor cores not offered by this GPU (no chromium-experimental-subgroup-matrix): tiled int8 kernels']);
      }
      return { gen: g.out.slice(1).filter((l) => !tc(l)).join('\n'), evalLines: e.out.slice(1).filter((l) => !tc(l)) };
    };
    const gpu = await run('webgpu');
    const cpu = await run('cpu');
    expect(gpu.gen).toContain('> Name three colours.');
    expect(gpu.gen).toBe(cpu.gen);
    const loss = (lines: string[]) => Number(/eval loss (\d+\.\d+)/.exec(lines.join('\n'))![1]);
    expect(Math.abs(loss(gpu.evalLines) - loss(cpu.evalLines))).toBeLessThan(2e-4);
    expect(gpu.evalLines.filter((l) => !/eval loss/.test(l))).toEqual(cpu.evalLines.filter((l) => !/eval loss/.test(l)));
  }, 300_000);
});
