import { parseArgs } from 'node:util';
import { DollyFormatError } from './errors';
import { runStats, STATS_USAGE } from './stats-command';

/** A bad command line (unknown option, bad option value): exit status 2, like the other usage errors. */
class UsageError extends Error {}

const USAGE = `usage: conifer-dolly <command>\n\ncommands:\n  stats FILE   counts, token lengths, truncation and padding of a Dolly jsonl\n\n${STATS_USAGE}`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  if (command !== 'stats') {
    process.stderr.write(`conifer-dolly: unknown command "${command}"\n\n${USAGE}\n`);
    return 2;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        tokenizer: { type: 'string' },
        'max-source-length': { type: 'string', default: '512' },
        'max-target-length': { type: 'string', default: '512' },
        'max-tokens': { type: 'string', default: '4096' },
        'batch-size': { type: 'string', default: '8' },
        seed: { type: 'string', default: '42' },
        'skip-invalid': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${STATS_USAGE}\n`);
    return 0;
  }
  const file = positionals[0];
  if (file === undefined || positionals.length > 1) {
    process.stderr.write(`conifer-dolly stats: expected one FILE\n\n${STATS_USAGE}\n`);
    return 2;
  }
  const int = (name: string, v: string): number => {
    // digits only, as Python's int(): not Number()'s "0x10", "1e3" or "" (0)
    const n = /^\s*\+?\d+\s*$/.test(v) ? Number(v) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got "${v}"`);
    return n;
  };
  const out = await runStats(file, {
    tokenizerDir: values.tokenizer,
    maxSourceLength: int('max-source-length', values['max-source-length']),
    maxTargetLength: int('max-target-length', values['max-target-length']),
    maxTokens: int('max-tokens', values['max-tokens']),
    batchSize: int('batch-size', values['batch-size']),
    seed: values.seed,
    skipInvalid: values['skip-invalid'],
    json: values.json,
  });
  process.stdout.write(out);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    const msg = e instanceof DollyFormatError || e instanceof Error ? e.message : String(e);
    process.stderr.write(`conifer-dolly: ${msg}\n`);
    process.exitCode = e instanceof UsageError ? 2 : 1;
  },
);
