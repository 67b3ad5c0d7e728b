/**
 * mergeAdapterIntoCheckpoint's throughput against a plain copy of the same checkpoint files.
 *   pnpm --filter @conifer/lora bench:merge   (TENSORS=12 DIM=4096 R=8; writes ~400 MB under the OS temp folder)
 * A synthetic BF16 checkpoint of TENSORS [DIM, DIM] weights, one in six adapted (Flan-UL2's q/v share
 * of its projections' weights), r R; wall time of the merge vs copying the same files byte for byte
 * (fs.copyFile + fsync: the merge fsyncs what it writes). Measured 29 Nov 2026 on the 2-core VM, see the README.
 * Prints the projected time for Flan-UL2 (19.5 B parameters in BF16, 192 adapted 4096 × 4096 weights).
 */
import { copyFile, mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { float32ToBf16Bits, serializeSafetensors } from '@conifer/safetensors';
import { adapterConfigJson, adapterSafetensorsBytes, mergeAdapterIntoCheckpoint, resolveLoraConfig } from '../src/index.js';

const env = (k: string, d: number) => Number(process.env[k] ?? d);
const [TENSORS, DIM, R] = [env('TENSORS', 12), env('DIM', 4096), env('R', 8)];
const random = (n: number, seed: number) => {
  let s = seed;
  return new Float32Array(n).map(() => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 0.05);
};

const root = await mkdtemp(join(tmpdir(), 'conifer-merge-bench-'));
try {
  const base = join(root, 'base');
  const adapter = join(root, 'adapter');
  await mkdir(base);
  await mkdir(adapter);
  const names = Array.from({ length: TENSORS }, (_, i) => `encoder.block.${Math.floor(i / 6)}.layer.0.SelfAttention.${'qkvoxy'[i % 6]}.weight`);
  const tensors = new Map(names.map((n, i) => [n, { dtype: 'BF16' as const, shape: [DIM, DIM], data: float32ToBf16Bits(random(DIM * DIM, i + 1)) }]));
  await writeFile(join(base, 'model.safetensors'), serializeSafetensors(tensors, { format: 'pt' }));
  await writeFile(join(base, 'config.json'), '{}');
  const adapted = names.filter((n) => n.includes('.q.'));
  const lora = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [i, n] of adapted.entries()) {
    const path = n.slice(0, -'.weight'.length);
    lora.set(`base_model.model.${path}.lora_A.weight`, { shape: [R, DIM], data: random(R * DIM, 100 + i) });
    lora.set(`base_model.model.${path}.lora_B.weight`, { shape: [DIM, R], data: random(DIM * R, 200 + i) });
  }
  await writeFile(join(adapter, 'adapter_config.json'), adapterConfigJson(resolveLoraConfig({ r: R, lora_alpha: 32, target_modules: ['q'] })));
  await writeFile(join(adapter, 'adapter_model.safetensors'), adapterSafetensorsBytes(lora));
  const bytes = TENSORS * DIM * DIM * 2;

  let t0 = performance.now();
  await mkdir(join(root, 'copy'));
  await copyFile(join(base, 'model.safetensors'), join(root, 'copy', 'model.safetensors'));
  const copied = await open(join(root, 'copy', 'model.safetensors'), 'r+');
  await copied.sync(); // the merge fsyncs each file it writes (atomic writes): so does the baseline
  await copied.close();
  const copyMs = performance.now() - t0;
  t0 = performance.now();
  const result = await mergeAdapterIntoCheckpoint(base, adapter, join(root, 'merged'));
  const mergeMs = performance.now() - t0;

  const rate = (ms: number) => `${(bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s`;
  console.log(`checkpoint: ${TENSORS} × [${DIM}, ${DIM}] BF16 (${(bytes / 1e6).toFixed(0)} MB), ${result.merged.length} adapted at r ${R}`);
  console.log(`copy (fs.copyFile + fsync)    ${copyMs.toFixed(0).padStart(7)} ms   ${rate(copyMs)}`);
  console.log(`mergeAdapterIntoCheckpoint    ${mergeMs.toFixed(0).padStart(7)} ms   ${rate(mergeMs)}`);
  console.log(`ratio merge / copy: ${(mergeMs / copyMs).toFixed(2)}`);
  // Flan-UL2: 39 GB of BF16 weights, 192 adapted [4096, 4096]. Per-byte cost of the untouched tensors
  // and per-adapted-tensor extra cost, both from this run.
  const perAdapted = (mergeMs - copyMs * (1 - adapted.length / TENSORS)) / adapted.length;
  const ul2 = (39e9 / bytes) * copyMs * (1 - adapted.length / TENSORS) + 192 * perAdapted * ((4096 * 4096) / (DIM * DIM));
  console.log(`projected Flan-UL2 (39 GB BF16, 192 adapted q/v at r ${R}): ≈ ${(ul2 / 60000).toFixed(1)} min on this machine's disk and core`);
} finally {
  await rm(root, { recursive: true, force: true });
}
