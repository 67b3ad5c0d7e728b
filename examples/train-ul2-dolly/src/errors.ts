/**
 * An error the CLI reports as one line on stderr (no stack) and turns into an exit code.
 * Usage errors (bad flags, bad values) exit with 2, like most Unix tools; everything else with 1.
 */
export class CliError extends Error {
  constructor(
    message: string,
    /** The process exit code. */
    readonly exitCode: number = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A bad flag or a bad flag value: exit code 2, nothing written. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, 2);
    this.name = 'UsageError';
  }
}
