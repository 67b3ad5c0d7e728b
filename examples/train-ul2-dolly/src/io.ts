/** Where the commands print (injectable so tests capture it). Each call is one line or block; a newline is added. */
export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Writes without a newline (streamed tokens); when absent, callers gather a whole line first. */
  write?(text: string): void;
}

export const processIo: Io = {
  stdout: (text) => void process.stdout.write(`${text}\n`),
  stderr: (text) => void process.stderr.write(`${text}\n`),
  write: (text) => void process.stdout.write(text),
};
