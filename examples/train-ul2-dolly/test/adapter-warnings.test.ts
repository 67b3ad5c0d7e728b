// `generate` / `eval --adapter` print PEFT's warnings about the adapter on stderr, one `warning: --adapter …` line
// each: here an adapter_config.json from an older PEFT (0.3's `merge_weights`), which PEFT loads with
// "Unexpected keyword arguments [...] for class LoraConfig, these are ignored" — the adapter still loads and generates.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/main.js';
import { capture } from './capture.js';
import { loraFixture, T5_FIXTURES } from './golden/helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'conifer-adapter-warnings-'));
const adapter = join(tmp, 'adapter');
beforeAll(() => {
  mkdirSync(adapter);
  const config = JSON.parse(readFileSync(loraFixture('ul2-tiny-qv-r4/adapter_config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(adapter, 'adapter_config.json'), JSON.stringify({ ...config, merge_weights: false }));
  copyFileSync(loraFixture('adamw_after_step3.safetensors'), join(adapter, 'adapter_model.safetensors'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('--adapter warnings', () => {
  it('generate: a field PEFT lacks is one warning line on stderr naming the flag and the field; the text is printed', async () => {
    const c = capture();
    const code = await main(['generate', '--backend', 'cpu', '--model', join(T5_FIXTURES, 'models/ul2-tiny'), '--adapter', adapter, '--prompt', 'a', '--max-length', '4', '--min-length', '0'], c.io);
    expect(code).toBe(0);
    const warnings = c.err.filter((l) => l.startsWith('warning: --adapter'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(new RegExp(`^warning: --adapter ${adapter}: .*unexpected keyword arguments \\['merge_weights'\\] for class LoraConfig`));
    expect(c.out.some((l) => l.startsWith('\n> a'))).toBe(true);
  }, 60_000);

  it('merge: the same warning line; the merge is written', async () => {
    const c = capture();
    const out = join(tmp, 'merged');
    expect(await main(['merge', '--model', join(T5_FIXTURES, 'models/ul2-tiny'), '--adapter', adapter, '--out', out], c.io)).toBe(0);
    expect(c.err).toEqual([expect.stringMatching(new RegExp(`^warning: --adapter ${adapter}: .*unexpected keyword arguments \\['merge_weights'\\] for class LoraConfig`))]);
    expect(c.out.some((l) => l.startsWith(`wrote ${out}: model.safetensors`))).toBe(true);
  }, 60_000);
});
