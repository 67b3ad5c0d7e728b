import type { Io } from '../src/io.js';

/** An `Io` that collects what a command prints: `out` (stdout lines) and `err` (stderr lines). */
export function capture(): { io: Io; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (s: string) => void out.push(s), stderr: (s: string) => void err.push(s) }, out, err };
}
