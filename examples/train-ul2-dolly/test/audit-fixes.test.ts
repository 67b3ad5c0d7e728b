// Fixes from an audit of the CLI: flags checked before anything loads (also in --dry-run), the plan
// counting the given data and the wasm heap, --out and --max-length validated.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCommandLine } from '../src/args.js';
import { main } from '../src/main.js';
import { capture } from './capture.js';

const tmp = mkdtempSync(join(tmpdir(), 'conifer-cli-audit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const ul2 = new URL('./fixtures/flan-ul2/config.json', import.meta.url).pathname;

describe('CLI audit fixes', () => {
  it('--dry-run refuses --target-modules and --int8-skip-modules that name no projection of the model (exit 1, one line)', async () => {
    for (const [flag, re] of [['--target-modules', /--target-modules: wi matches no projection of this model \(it has q, k, v, o, wi_0, wi_1, wo\)/], ['--int8-skip-modules', /--int8-skip-modules: wi matches no projection/]] as const) {
      const c = capture();
      expect(await main(['train', '--model', ul2, '--dry-run', flag, 'wi'], c.io), flag).toBe(1);
      expect(c.err).toHaveLength(1);
      expect(c.err[0]).toMatch(re);
    }
  });

  it('--int8-skip-modules: a module path past the model is refused in --dry-run (exit 1, one line); a subtree is counted in the plan', async () => {
    const c = capture();
    expect(await main(['train', '--model', ul2, '--dry-run', '--int8-skip-modules', 'encoder,decoder.block.32'], c.io)).toBe(1);
    expect(c.err).toEqual(['conifer-train-ul2-dolly: --int8-skip-modules: decoder.block.32 matches no projection of this model (it has q, k, v, o, wi_0, wi_1, wo in encoder.block.0–31 and decoder.block.0–31)']);
    const d = capture();
    expect(await main(['train', '--model', ul2, '--dry-run', '--int8-skip-modules', 'encoder'], d.io)).toBe(0);
    // 19,872,124,928 bytes + the encoder's 32 blocks in float32 (test/plan.test.ts counts it by hand)
    expect(d.out.join('\n')).toContain('int8 45.64 GB (linears 1 byte/weight + a float32 scale per output row; encoder (--int8-skip-modules), embedding, norms, biases float32)');
    expect(d.out.join('\n')).toMatch(/memory +65\.9\d GB = 45\.64 GB weights/);
  });

  it('the plan counts a local --data file (and says when Dolly 15K is assumed); wasm is checked against its 4 GiB heap', async () => {
    const data = join(tmp, 'd30.jsonl');
    writeFileSync(data, Array.from({ length: 30 }, (_, i) => JSON.stringify({ instruction: `q${i}`, context: '', response: `a${i}`, category: 'open_qa' })).join('\n') + '\n\n');
    const c = capture();
    expect(await main(['train', '--model', ul2, '--dry-run', '--data', data], c.io)).toBe(0);
    expect(c.out.join('\n')).toMatch(/data +24 train \/ 6 test examples \(80\/20 of 30\)/);
    const d = capture();
    expect(await main(['train', '--model', ul2, '--dry-run', '--backend', 'wasm', '--device-memory', '1000'], d.io)).toBe(0); // an explicit size wins
    const w = capture();
    expect(await main(['train', '--dry-run', '--backend', 'wasm', '--batch-size', '64', '--max-source-length', '512', '--max-target-length', '512'], w.io)).toBe(0);
    expect(w.out.join('\n')).toMatch(/device [\d.]+ GB \((the wasm heap limit|free RAM)\)/);
    expect(w.out.join('\n')).not.toMatch(/device (2[5-9]|[3-9]\d|\d{3,})\.\d+ GB \(free RAM\)/); // never more than the heap on wasm
  });

  it('--out that is a file and --max-length below 2 are usage errors', () => {
    const file = join(tmp, 'afile');
    writeFileSync(file, 'x');
    expect(() => parseCommandLine(['train', '--out', file])).toThrow(/--out .*afile: is a file, not a folder/);
    expect(() => parseCommandLine(['generate', '--max-length', '1', '--min-length', '0'])).toThrow(/--max-length must be an integer ≥ 2/);
    expect(() => parseCommandLine(['eval', '--max-length', '1'])).toThrow(/--max-length must be an integer ≥ 2/);
  });
});
