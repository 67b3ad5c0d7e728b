import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { main as cleanUp } from '../examples/clean-up.js';
import { main } from '../examples/reverse.js';

it("the README's example output is what examples/reverse.ts prints", async () => {
  const lines: string[] = [];
  await main((l) => lines.push(l));
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  expect(readme).toContain(['```', ...lines, '```'].join('\n'));
});

it("the README's clean-up and warnings output is what examples/clean-up.ts prints", async () => {
  const lines: string[] = [];
  await cleanUp((l) => lines.push(l));
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  expect(readme).toContain(['```', ...lines, '```'].join('\n'));
});
