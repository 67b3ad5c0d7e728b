/**
 * pnpm bench: @conifer/safetensors against plain Node file I/O and a plain copy, same run, on a file
 * shaped like one Flan-UL2 shard's projections (BF16 [4096, 4096] tensors; 16 by default = 512 MiB).
 * Prints, each as the best of BENCH_REPS after a warm-up:
 *   read      SafetensorsFile.open + read() of every tensor   vs fs.readFile of the whole file
 *   convert   toFloat32 of BF16 / F16 bytes                    vs a Float32Array copy of F32 bytes
 *   encode    float32ToBf16Bits / float32ToF16Bits             vs the same copy
 *   write     writeSafetensorsFile (streamed, atomic)           vs one write of the same bytes; both fsynced
 *   header    parseHeader (serde_json's rules, then validate)   vs TextDecoder + JSON.parse of the same header:
 *             a Flan-UL2-size one, BENCH_HEADER_TENSORS entries (default 1,000), best of 50
 * Ratios are conifer / baseline time: 1 = as fast as the plain operation.
 * Env: BENCH_TENSORS (default 16), BENCH_REPS (default 3), BENCH_DIR (default the OS temp folder),
 * BENCH_HEADER_TENSORS (default 1000).
 */
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SafetensorsFile, encodeHeader, float32ToBf16Bits, float32ToF16Bits, parseHeader, serializeSafetensors, toFloat32, writeSafetensorsFile } from '../src/index';

const env = (k: string, d: string) => process.env[k] ?? d;
const count = Number(env('BENCH_TENSORS', '16'));
const reps = Number(env('BENCH_REPS', '3'));
const side = 4096;

/** Best wall time in ms of `n` runs after one warm-up. */
async function best(f: () => unknown, n = reps): Promise<number> {
  let t = Infinity;
  for (let r = 0; r <= n; r++) {
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

/** The names of a T5 checkpoint with `n` tensors: Flan-UL2's blocks (9 tensors an encoder block, 14 a decoder one), as many as needed. */
function t5Names(n: number): string[] {
  const attn = (p: string) => ['q', 'k', 'v', 'o'].map((m) => `${p}.${m}.weight`);
  const ff = (p: string) => ['wi_0', 'wi_1', 'wo'].map((m) => `${p}.DenseReluDense.${m}.weight`);
  const out = ['shared.weight', 'lm_head.weight', 'encoder.final_layer_norm.weight', 'decoder.final_layer_norm.weight'];
  for (let b = 0; out.length < n; b++) {
    const e = `encoder.block.${b}.layer`;
    const d = `decoder.block.${b}.layer`;
    out.push(...attn(`${e}.0.SelfAttention`), `${e}.0.layer_norm.weight`, ...ff(`${e}.1`), `${e}.1.layer_norm.weight`);
    out.push(...attn(`${d}.0.SelfAttention`), `${d}.0.layer_norm.weight`, ...attn(`${d}.1.EncDecAttention`), `${d}.1.layer_norm.weight`, ...ff(`${d}.2`), `${d}.2.layer_norm.weight`);
  }
  return out.slice(0, n);
}

const headerTensors = Number(env('BENCH_HEADER_TENSORS', '1000'));

/** parseHeader of a Flan-UL2-size header against JSON.parse of the same bytes. */
async function benchHeader(): Promise<void> {
  const { bytes } = encodeHeader(t5Names(headerTensors).map((name) => [name, { dtype: 'BF16', shape: [4096, 4096] }] as const), { format: 'pt' });
  const header = bytes.subarray(8);
  const fileSize = bytes.byteLength + headerTensors * 4096 * 4096 * 2;
  const tParse = await best(() => parseHeader(header, fileSize), 50);
  const tJson = await best(() => JSON.parse(new TextDecoder().decode(header)), 50);
  row('header: parseHeader / JSON.parse', tParse, tJson, `${headerTensors} tensors, ${(header.byteLength / 1e6).toFixed(2)} MB`);
}

const dir = await mkdtemp(join(env('BENCH_DIR', tmpdir()), 'conifer-st-bench-'));
try {
  const values = randomFloats(side * side);
  const bf16 = new Uint8Array(float32ToBf16Bits(values).buffer);
  const f16 = new Uint8Array(float32ToF16Bits(values).buffer);
  const f32 = new Uint8Array(values.buffer);
  const mib = (bytes: number) => bytes / 2 ** 20;
  console.log(`@conifer/safetensors bench: ${count} BF16 [${side}, ${side}] tensors (${mib(count * bf16.byteLength).toFixed(0)} MiB), best of ${reps}, Node ${process.version}`);
  await benchHeader();

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
