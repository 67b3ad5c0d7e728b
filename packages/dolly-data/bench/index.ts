/**
 * `pnpm bench`: throughput of read + format + tokenize over the bundled Dolly file (one
 * thread), and the padding of token-budget batches vs random fixed batches of 8.
 *
 * Throughput is reported per CPU second of this process (user + system), which stays
 * meaningful on a shared machine, and per wall-clock second.
 */
import { availableParallelism, loadavg } from 'node:os';
import {
  bundledDollyPath,
  fixedBatchPlan,
  loadT5Tokenizer,
  makeEncoder,
  paddingStats,
  readDolly,
  tokenBudgetPlan,
  type DollyRecord,
  type EncodedExample,
} from '../src';

interface Timing {
  wall: number;
  cpu: number;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, Timing]> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const out = await fn();
  const c = process.cpuUsage(c0);
  return [out, { wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 }];
}

const rate = (n: number, t: Timing, what = 'records'): string =>
  `${Math.round(n / t.cpu)} ${what}/CPU-s (${Math.round(n / t.wall)}/s wall, ${t.cpu.toFixed(2)} CPU-s)`;

async function main(): Promise<void> {
  const file = bundledDollyPath();
  console.log(`@conifer/dolly-data bench — node ${process.version}, ${availableParallelism()} cores, load ${loadavg()[0]!.toFixed(1)}\n`);

  const [n, tRead] = await timed(async () => {
    let k = 0;
    for await (const _ of readDolly(file)) k++;
    return k;
  });
  console.log(`read + validate                 ${n} records: ${rate(n, tRead)}`);

  const [tokenizer, tLoad] = await timed(() => loadT5Tokenizer());
  console.log(`load tokenizer                  ${(tLoad.wall * 1000).toFixed(0)} ms`);

  const pass = (encode: (r: DollyRecord) => EncodedExample) =>
    timed(async () => {
      const out: EncodedExample[] = [];
      for await (const r of readDolly(file)) out.push(encode(r));
      return out;
    });

  // A fresh tokenizer's word cache is empty: the first pass is the first-epoch cost.
  const encode = makeEncoder(tokenizer);
  const [examples, tCold] = await pass(encode);
  const tokens = examples.reduce((s, e) => s + e.fullSourceLength + e.fullTargetLength, 0);
  console.log(`read+format+tokenize, cold      ${rate(examples.length, tCold)}; ${Math.round(tokens / tCold.cpu)} tokens/CPU-s`);
  const [, tWarm] = await pass(encode);
  console.log(`read+format+tokenize, warm      ${rate(examples.length, tWarm)} (2nd pass, word cache filled)`);
  // Baseline: tokenizers.js as it is (whole-text lattice, no word cache).
  const [, tPlain] = await pass(makeEncoder(await loadT5Tokenizer(undefined, { wordCacheSize: 0 })));
  console.log(`read+format+tokenize, baseline  ${rate(examples.length, tPlain)} (tokenizers.js alone)`);

  const lengths = examples.map((e) => ({ source: e.sourceIds.length, target: e.targetIds.length }));
  console.log('\npadding on the real data (source + target tokens, 512 / 512 max): padded / real tokens');
  const fixed = [1, 2, 3].map((seed) => paddingStats(lengths, fixedBatchPlan(lengths.length, { batchSize: 8, seed })).factor);
  console.log(`  random fixed batches of 8     ${fixed.map((f) => f.toFixed(2)).join(' / ')} ×  (seeds 1 / 2 / 3)`);
  for (const maxTokens of [2048, 4096, 8192, 16384]) {
    const p = paddingStats(lengths, tokenBudgetPlan(lengths, { maxTokens, seed: 1 }));
    console.log(
      `  token budget ${String(maxTokens).padEnd(6)}           ${p.factor.toFixed(2)} ×  (${p.batches} batches, ${(lengths.length / p.batches).toFixed(1)} records each on average)`,
    );
  }
}

await main();
