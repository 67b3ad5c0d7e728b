import { parseCommandLine, PROGRAM } from './args.js';
import { CliError } from './errors.js';
import { runEval } from './eval.js';
import { runGenerate } from './generate.js';
import { processIo, type Io } from './io.js';
import { runMerge } from './merge.js';
import { runTrain } from './train.js';

/**
 * Runs the CLI on argv (without node and the script) and returns the exit code:
 * 0 ok, 2 bad flags or values (nothing written), 1 any other failure (one line on stderr).
 */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  try {
    const parsed = parseCommandLine(argv);
    if (parsed.kind === 'help') {
      io.stdout(parsed.text);
      return 0;
    }
    const o = parsed.options;
    switch (o.command) {
      case 'train':
        return await runTrain(o, io);
      case 'generate':
        return await runGenerate(o, io);
      case 'eval':
        return await runEval(o, io);
      case 'merge':
        return await runMerge(o, io);
    }
  } catch (e) {
    if (e instanceof CliError) {
      io.stderr(`${PROGRAM}: ${e.message}`);
      return e.exitCode;
    }
    io.stderr(`${PROGRAM}: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return 1;
  }
}
