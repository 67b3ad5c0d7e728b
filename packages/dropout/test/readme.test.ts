import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { main } from '../examples/basic';

it("the README's example output is what examples/basic.ts prints", async () => {
  const lines: string[] = [];
  await main((l) => lines.push(l));
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  expect(readme).toContain(['```', ...lines, '```'].join('\n'));
});
