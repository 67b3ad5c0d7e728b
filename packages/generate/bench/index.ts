/**
 * Tokens/s of greedy decoding with and without the self-attention cache, on tfjs `cpu` and `wasm`.
 *
 *   pnpm bench                                   # SMALL fake shape, new-token counts 8 16 32
 *   pnpm bench -- --shape flan-t5-small --lengths 8,32 --backends wasm --runs 1
 *   pnpm bench -- --only assisted --backends wasm    # assisted decoding vs plain greedy (bench/assisted.ts)
 *
 * The model is a RANDOMLY INITIALISED T5-SHAPED FAKE (bench/fake-t5.ts), not a checkpoint: it does the same
 * kind of work per step (self-attention over the prefix, cross-attention, gated feed-forward, vocabulary
 * projection) so the cache's effect is realistic, but its tokens mean nothing. Without the cache, every step
 * re-runs the decoder over the whole prefix and projects every position to the vocabulary, as transformers
 * does with `use_cache=False`. No EOS is set, so every run decodes exactly the requested number of tokens.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { generate } from '../src/index.js';
import { benchAssisted } from './assisted.js';
import { FakeT5, FLAN_T5_SMALL, SMALL } from './fake-t5.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? dflt) : dflt;
};
const shapeName = arg('shape', 'small');
const shape = shapeName === 'flan-t5-small' ? FLAN_T5_SMALL : SMALL;
const lengths = arg('lengths', '8,16,32').split(',').map(Number);
const backends = arg('backends', 'cpu,wasm').split(',');
const promptLength = Number(arg('prompt', '32'));
const runs = Number(arg('runs', '3'));
const only = arg('only', 'all'); // 'cache', 'assisted' or 'all'
const draftLayers = Number(arg('draft-layers', '2'));

/** Median tokens/s over `runs`, by wall clock and by this process's CPU time (steadier on a busy machine). */
async function tokensPerSecond(model: FakeT5, n: number, useCache: boolean): Promise<{ wall: number; cpu: number }> {
  const inputIds = [Array.from({ length: promptLength }, (_, i) => 2 + ((i * 7) % 100))];
  const o = { decoderStartTokenId: 0, maxNewTokens: n, useCache };
  await generate(model, { inputIds }, o); // warm-up: same shapes (kernels, JIT, wasm compile)
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const { sequences } = await generate(model, { inputIds }, o);
    const c = process.cpuUsage(c0);
    wall.push((performance.now() - t0) / 1000);
    cpu.push((c.user + c.system) / 1e6);
    if (sequences[0]!.length !== n + 1) throw new Error('unexpected length');
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  return { wall: n / median(wall), cpu: n / median(cpu) };
}

console.log(`@conifer/generate greedy decoding, batch 1, prompt ${promptLength} tokens, median of ${runs} runs after a warm-up`);
console.log(`model: RANDOM T5-SHAPED FAKE "${shapeName}" ${JSON.stringify(shape)} (not a checkpoint)`);
for (const backend of backends) {
  if (!(await tf.setBackend(backend))) {
    console.log(`${backend}: not available`);
    continue;
  }
  await tf.ready();
  if (only !== 'cache') await benchAssisted({ shape, shapeName, draftLayers, newTokens: Math.max(...lengths), promptLength, runs });
  if (only === 'assisted') continue;
  const model = new FakeT5(shape);
  console.log(`\nbackend ${tf.getBackend()}`);
  console.log('new tokens | cached tok/s (wall, cpu) | uncached tok/s (wall, cpu) | cached / uncached (wall, cpu)');
  for (const n of lengths) {
    const c = await tokensPerSecond(model, n, true);
    const u = await tokensPerSecond(model, n, false);
    const f = (x: number) => x.toFixed(1);
    console.log(`${String(n).padStart(10)} | ${`${f(c.wall)}, ${f(c.cpu)}`.padStart(24)} | ${`${f(u.wall)}, ${f(u.cpu)}`.padStart(26)} | ${`${(c.wall / u.wall).toFixed(2)}×, ${(c.cpu / u.cpu).toFixed(2)}×`.padStart(29)}`);
  }
  model.dispose();
}
