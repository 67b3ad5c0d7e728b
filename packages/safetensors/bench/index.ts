/**
 * pnpm bench: @conifer/safetensors against plain Node file I/O and a plain copy, same run, on a file
 * shaped like one Flan-UL2 shard's projections (BF16 [4096, 4096] tensors; 16 by default = 512 MiB).
 * Prints, each as the best of BENCH_REPS after a warm-up:
 *   read      SafetensorsFile.open + read() of every tensor   vs fs.readFile of the whole file
 *   convert   toFloat32 of BF16 / F16 bytes                    vs a Float32Array copy of F32 bytes
 *   encode    float32ToBf16Bits / float32ToF16Bits             vs the same copy
 *   write     writeSafetensorsFile (streamed, atomic)           vs one write of the same bytes; both fsynced
 * Ratios are conifer / baseline time: 1 = as fast as the plain operation.
 * Env: BENCH_TENSORS (default 16), BENCH_REPS (default 3), BENCH_DIR (default the OS temp folder).
 */
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SafetensorsFile, float32ToBf16Bits, float32ToF16Bits, serializeSafetensors, toFloat32, writeSafetensorsFile } from '../src/index';

const env = (k: string, d: string) => process.env[k] ?? d;
const count = Number(env('BENCH_TENSORS', '16'));
const reps = Number(env('BENCH_REPS', '3'));
const side = 4096;

/** Best wall time in ms of `reps` runs after one warm-up. */
async function best(f: () => unknown): Promise<number> {
  let t = Infinity;
  for (let r = 0; r <= reps; r++) {
    const t0 = performance.now();
    await f();
    const dt = performance.now() - t0;
    if (r > 0) t = Math.min(t, dt);
  }
  return t;
}

function randomFloats(n: number): Float32Array {
  const out = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 0.1;
  }
  return out;
}

const row = (what: string, mine: number, base: number, unit: string) => {
  console.log(`${what.padEnd(44)} ${mine.toFixed(1).padStart(9)} ms  vs ${base.toFixed(1).padStart(9)} ms  ratio ${(mine / base).toFixed(2)}  ${unit}`);
};

const dir = await mkdtemp(join(env('BENCH_DIR', tmpdir()), 'conifer-st-bench-'));
try {
  const values = randomFloats(side * side);
  const bf16 = new Uint8Array(float32ToBf16Bits(values).buffer);
  const f16 = new Uint8Array(float32ToF16Bits(values).buffer);
  const f32 = new Uint8Array(values.buffer);
  const mib = (bytes: number) => bytes / 2 ** 20;
  console.log(`@conifer/safetensors bench: ${count} BF16 [${side}, ${side}] tensors (${mib(count * bf16.byteLength).toFixed(0)} MiB), best of ${reps}, Node ${process.version}`);

  const tensors = Array.from({ length: count }, (_, i) => ({ name: `encoder.block.${i}.layer.1.DenseReluDense.wi_0.weight`, dtype: 'BF16' as const, shape: [side, side], bytes: () => bf16 }));
  const file = join(dir, 'model.safetensors');
  const plain = join(dir, 'plain.bin');
  const whole = serializeSafetensors(new Map(tensors.map((t) => [t.name, { dtype: t.dtype, shape: t.shape, data: bf16 }])));
  const size = whole.byteLength;
  const tWrite = await best(() => writeSafetensorsFile(file, tensors));
  const tPlainWrite = await best(async () => {
    const h = await open(plain, 'w');
    await h.writeFile(whole);
    await h.sync();
    await h.close();
  });
  row('write: writeSafetensorsFile / write + fsync', tWrite, tPlainWrite, `${(mib(size) / (tWrite / 1000)).toFixed(0)} MiB/s`);

  const tRead = await best(async () => {
    const st = await SafetensorsFile.open(file);
    try {
      for (const name of st.names()) await st.read(name);
    } finally {
      await st.close();
    }
  });
  const tPlainRead = await best(() => readFile(plain));
  row('read: SafetensorsFile.read all / fs.readFile', tRead, tPlainRead, `${(mib(size) / (tRead / 1000)).toFixed(0)} MiB/s`);

  const tCopy = await best(() => new Float32Array(f32.buffer.slice(0)));
  row('convert: toFloat32(BF16) / F32 copy', await best(() => toFloat32('BF16', bf16)), tCopy, `${((side * side) / 1e6).toFixed(1)} M values`);
  row('convert: toFloat32(F16) / F32 copy', await best(() => toFloat32('F16', f16)), tCopy, '');
  row('encode: float32ToBf16Bits / F32 copy', await best(() => float32ToBf16Bits(values)), tCopy, '');
  row('encode: float32ToF16Bits / F32 copy', await best(() => float32ToF16Bits(values)), tCopy, '');
} finally {
  await rm(dir, { recursive: true, force: true });
}
