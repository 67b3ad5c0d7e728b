// train's held-out sample and eval's side-by-side samples are decoded as transformers' `decode` (the
// tokenizer_config.json's clean_up_tokenization_spaces; true in T5's), as generate's texts are
// (test/generate-text-decoding.test.ts): ul2-tiny answers the prompt "it 's I 'm we 've they 're" with
// " 's" (raw "' 's 's' I"), which the clean-up joins.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { copyFileSync, cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { main } from '../src/main.js';
import { capture } from './capture.js';
import { cleanUp } from './clean-up.js';
import { T5_FIXTURES } from './golden/helpers.js';

const UL2_TINY = join(T5_FIXTURES, 'models/ul2-tiny');
const BUNDLED_TOKENIZER = join(__dirname, '../../../packages/dolly-data/data/t5-tokenizer');
const tmp = mkdtempSync(join(tmpdir(), 'conifer-sample-decoding-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));


/** ul2-tiny with the bundled tokenizer.json and a tokenizer_config.json whose clean_up_tokenization_spaces is false. */
function rawUl2Tiny(): string {
  const dir = join(tmp, 'raw');
  cpSync(UL2_TINY, dir, { recursive: true });
  copyFileSync(join(BUNDLED_TOKENIZER, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ clean_up_tokenization_spaces: false }));
  return dir;
}

// five records of that prompt (original format: instruction + "\n" + an empty context): 4 train / 1 test
const data = join(tmp, 'dolly-5.jsonl');
writeFileSync(data, `${Array.from({ length: 5 }, () => JSON.stringify({ instruction: "it 's I 'm we 've they 're", context: '', response: "I 'm", category: 'open_qa' })).join('\n')}\n`);
const raw = rawUl2Tiny();

async function run(argv: string[]) {
  const c = capture();
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation(() => true); // the trainer's progress lines
  try {
    const code = await main(argv, c.io);
    return { code, ...c };
  } finally {
    spy.mockRestore();
  }
}

describe('samples decoded with the tokenizer config’s clean_up_tokenization_spaces (ul2-tiny, cpu)', () => {
  it("eval: the base line is the cleaned-up text of what a config without clean-up prints; nothing leaks", async () => {
    const before = tf.memory().numTensors;
    const argv = ['eval', '--backend', 'cpu', '--data', data, '--samples', '1', '--max-length', '30'];
    const clean = await run([...argv, '--model', UL2_TINY]);
    const plain = await run([...argv, '--model', raw]);
    expect([clean.code, plain.code]).toEqual([0, 0]);
    expect(tf.memory().numTensors).toBe(before);
    const base = (out: string[]) => out.filter((l) => l.startsWith('  base: ')).map((l) => l.replace(/^ {2}base: +/, ''));
    expect(base(plain.out)).toEqual(["' 's 's' I"]);
    expect(base(clean.out)).toEqual([cleanUp("' 's 's' I")]);
    expect(base(clean.out)).toEqual(["''s's' I"]);
  }, 120_000);

  it("train: the held-out sample likewise (the LoRA update at lr 1e-9 leaves ul2-tiny's answer as it is)", async () => {
    const argv = ['train', '--backend', 'cpu', '--data', data, '--max-steps', '1', '--batch-size', '1', '--grad-accum', '1', '--lr', '1e-9', '--r', '2', '--lora-alpha', '4'];
    const clean = await run([...argv, '--model', UL2_TINY, '--out', join(tmp, 'clean')]);
    const plain = await run([...argv, '--model', raw, '--out', join(tmp, 'plain')]);
    expect([clean.err, plain.err]).toEqual([[], []]);
    expect([clean.code, plain.code]).toEqual([0, 0]);
    const sample = (out: string[]) => out.flatMap((l) => (l.startsWith('sample (held-out prompt') ? [l.split('\n')[2]] : []));
    expect(sample(plain.out)).toEqual(["' 's 's' I"]);
    expect(sample(clean.out)).toEqual(["''s's' I"]);
  }, 180_000);
});
