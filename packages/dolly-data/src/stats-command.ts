import { encodeRecords } from './encode';
import { loadDolly } from './read-dolly';
import { fixedBatchPlan, paddingStats, tokenBudgetPlan, type PaddingStats } from './plan';
import { datasetStats, type DatasetStats, type LengthStats } from './stats';
import { loadT5Tokenizer } from './tokenizer';

export const STATS_USAGE = `usage: conifer-dolly stats FILE [options]

  --tokenizer DIR            folder with tokenizer.json (default: the bundled T5 tokenizer)
  --max-source-length N      default 512
  --max-target-length N      default 512
  --max-tokens N             token budget of bucketed batches (default 4096)
  --batch-size N             size of the random fixed batches compared (default 8)
  --seed S                   default 42
  --skip-invalid             skip and count malformed lines instead of failing
  --json                     print JSON`;

/** Options of the `stats` command. */
export interface StatsCommandOptions {
  tokenizerDir?: string | undefined;
  maxSourceLength: number;
  maxTargetLength: number;
  maxTokens: number;
  batchSize: number;
  seed: string;
  skipInvalid: boolean;
  json: boolean;
}

/** What `conifer-dolly stats` computes. */
export interface StatsReport extends DatasetStats {
  file: string;
  skippedLines: number;
  paddingTokenBudget: PaddingStats & { maxTokens: number };
  paddingFixed: PaddingStats & { batchSize: number };
}

/** Runs `conifer-dolly stats FILE` and returns what it prints. */
export async function runStats(file: string, o: StatsCommandOptions): Promise<string> {
  const { records, skipped } = await loadDolly(file, { onInvalid: o.skipInvalid ? 'skip' : 'throw' });
  const tokenizer = await loadT5Tokenizer(o.tokenizerDir);
  const examples = encodeRecords(records, tokenizer, { maxSourceLength: o.maxSourceLength, maxTargetLength: o.maxTargetLength });
  const lengths = examples.map((e) => ({ source: e.sourceIds.length, target: e.targetIds.length }));
  const report: StatsReport = {
    file,
    skippedLines: skipped.length,
    ...datasetStats(examples, { maxSourceLength: o.maxSourceLength, maxTargetLength: o.maxTargetLength }),
    paddingTokenBudget: { maxTokens: o.maxTokens, ...paddingStats(lengths, tokenBudgetPlan(lengths, { maxTokens: o.maxTokens, seed: o.seed })) },
    paddingFixed: { batchSize: o.batchSize, ...paddingStats(lengths, fixedBatchPlan(lengths.length, { batchSize: o.batchSize, seed: o.seed })) },
  };
  return o.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report, o);
}

const f1 = (x: number): string => (Number.isInteger(x) ? String(x) : x.toFixed(1));
const lengthLine = (name: string, s: LengthStats, max: number): string =>
  `${name.padEnd(8)} mean ${f1(s.mean)}  p50 ${f1(s.p50)}  p90 ${f1(s.p90)}  p99 ${f1(s.p99)}  max ${s.max}  truncated ${s.truncated} (> ${max})`;
const padLine = (name: string, p: PaddingStats): string =>
  `${name.padEnd(26)} ${p.batches} batches, padded/real ${p.factor.toFixed(2)}x (padding ${(100 * p.paddingFraction).toFixed(1)}%)`;

function formatReport(r: StatsReport, o: StatsCommandOptions): string {
  const lines = [
    `${r.file}: ${r.records} records${r.skippedLines > 0 ? `, ${r.skippedLines} malformed lines skipped` : ''}`,
    '',
    'categories',
    ...Object.entries(r.categories).map(([c, n]) => `  ${c.padEnd(24)} ${String(n).padStart(6)}`),
    '',
    'tokens (</s> included, before truncation)',
    `  ${lengthLine('source', r.source, o.maxSourceLength)}`,
    `  ${lengthLine('target', r.target, o.maxTargetLength)}`,
    '',
    'padding (source + target tokens)',
    `  ${padLine(`token budget ${o.maxTokens}`, r.paddingTokenBudget)}`,
    `  ${padLine(`random batches of ${o.batchSize}`, r.paddingFixed)}`,
  ];
  return `${lines.join('\n')}\n`;
}
