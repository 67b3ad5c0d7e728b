import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Absolute path of a file in test/fixtures. */
export const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

export const readJsonFixture = <T>(name: string): T => JSON.parse(readFileSync(fixture(name), 'utf8')) as T;

export interface TokenizerCase {
  text: string;
  ids: number[];
  ids_no_special: number[];
  decoded: string;
}
