// `merge` through the CLI's `main`: the golden step-3 adapter folded into the golden ul2-tiny files
// (the numbers are checked against PEFT in test/golden/lora-t5.test.ts; here the command itself).
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensorsFile } from '@conifer/safetensors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCommandLine } from '../src/args.js';
import { main } from '../src/main.js';
import { capture } from './capture.js';
import { loraFixture } from './golden/helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'conifer-merge-cli-'));
const adapter = join(tmp, 'adapter');
beforeAll(() => {
  mkdirSync(adapter);
  copyFileSync(loraFixture('ul2-tiny-qv-r4/adapter_config.json'), join(adapter, 'adapter_config.json'));
  copyFileSync(loraFixture('adamw_after_step3.safetensors'), join(adapter, 'adapter_model.safetensors'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('merge command', () => {
  it('writes the merged snapshot (bf16 on request) and says what it did', async () => {
    const out = join(tmp, 'merged');
    const c = capture();
    const code = await main(['merge', '--model', loraFixture('ul2-tiny'), '--adapter', adapter, '--out', out, '--dtype', 'bf16'], c.io);
    expect(c.err).toEqual([]);
    expect(code).toBe(0);
    expect(c.out[0]).toBe('  write        model.safetensors (1/1)');
    expect(c.out[1]).toMatch(new RegExp(`^merged 16 weights of ${adapter} into .*ul2-tiny in [\\d.]+ s$`));
    expect(c.out[2]).toBe(`wrote ${out}: model.safetensors, config.json, generation_config.json`);
    expect(c.out[3]).toBe(`use it: conifer-train-ul2-dolly generate --model ${out}`);
    expect(readdirSync(out).sort()).toEqual(['config.json', 'generation_config.json', 'model.safetensors']);
    const { tensors } = await readSafetensorsFile(join(out, 'model.safetensors'));
    expect(new Set([...tensors.values()].map((t) => t.dtype))).toEqual(new Set(['BF16']));
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'))).toMatchObject({ dtype: 'bfloat16' });
    // Again into the same folder: refused without --overwrite (nothing touched), done with it.
    const again = capture();
    expect(await main(['merge', '--model', loraFixture('ul2-tiny'), '--adapter', adapter, '--out', out], again.io)).toBe(1);
    expect(again.err[0]).toMatch(/merge: the output folder .* is not empty .*pass --overwrite$/);
    const over = capture();
    expect(await main(['merge', '--model', loraFixture('ul2-tiny'), '--adapter', adapter, '--out', out, '--overwrite'], over.io)).toBe(0);
    const { tensors: f32 } = await readSafetensorsFile(join(out, 'model.safetensors'));
    expect(new Set([...f32.values()].map((t) => t.dtype))).toEqual(new Set(['F32']));
  });

  it('flags: --model and --adapter are required, --dtype is checked, defaults', () => {
    const bad: Array<[string[], RegExp]> = [
      [['merge', '--adapter', adapter], /merge: --model is required/],
      [['merge', '--model', loraFixture('ul2-tiny')], /merge: --adapter is required/],
      [['merge', '--model', loraFixture('ul2-tiny'), '--adapter', adapter, '--dtype', 'f8'], /--dtype must be one of same, f32, bf16, f16 \(got "f8"\)/],
      [['merge', '--model', loraFixture('ul2-tiny/config.json'), '--adapter', adapter], /merge needs the snapshot folder/],
      [['merge', '--model', loraFixture('ul2-tiny'), '--adapter', adapter, '--backend', 'cpu'], /merge: unknown flag --backend/],
    ];
    for (const [argv, re] of bad) expect(() => parseCommandLine(argv), argv.join(' ')).toThrow(re);
    const parsed = parseCommandLine(['merge', '--model', loraFixture('ul2-tiny'), '--adapter', adapter]);
    expect(parsed).toMatchObject({ kind: 'run', options: { command: 'merge', out: 'conifer-out/merged', dtype: 'same', adapter } });
    const help = parseCommandLine(['merge', '--help']);
    expect(help.kind === 'help' && help.text).toMatch(/--dtype same\|f32\|bf16\|f16/);
  });

  it('an adapter that does not fit the model: one line, exit 1, nothing written', async () => {
    const wrong = join(tmp, 'wrong');
    mkdirSync(wrong);
    const config = JSON.parse(readFileSync(join(adapter, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(wrong, 'adapter_config.json'), JSON.stringify({ ...config, r: 16 }));
    copyFileSync(join(adapter, 'adapter_model.safetensors'), join(wrong, 'adapter_model.safetensors'));
    const out = join(tmp, 'never');
    const c = capture();
    expect(await main(['merge', '--model', loraFixture('ul2-tiny'), '--adapter', wrong, '--out', out], c.io)).toBe(1);
    expect(c.err).toHaveLength(1);
    expect(c.err[0]).toMatch(/^conifer-train-ul2-dolly: merge: the adapter does not fit the checkpoint: .*at r 16/);
    expect(existsSync(out)).toBe(false);
  });
});
