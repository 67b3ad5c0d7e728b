// `--model <hub id>`: the download through @huggingface/hub against a local stand-in for the hub
// (test/fake-hub.ts), then the downloaded snapshot loads and reproduces the golden logits.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { T5ForConditionalGeneration } from '@conifer/t5-model';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../src/main.js';
import { tokenizerFor } from '../src/pipeline/data.js';
import { byteProgressBar } from '../src/pipeline/download-progress.js';
import { downloadModel } from '../src/pipeline/hub.js';
import { bundledDollyPath, bundledTokenizerDir } from '@conifer/dolly-data';
import { repoFromFiles, repoFromFolder, startFakeHub, type FakeHub } from '../../../packages/t5-model/test/fake-hub.js';
import { relL2, T5_FIXTURES } from './golden/helpers.js';
import { capture } from './capture.js';

interface Case {
  input_ids: number[][];
  attention_mask: number[][];
  decoder_input_ids: number[][];
  logits: { shape: number[]; data: number[] };
}

const tmp = mkdtempSync(join(tmpdir(), 'conifer-hub-'));
const DOLLY_HEAD = readFileSync(bundledDollyPath(), 'utf8').split('\n').slice(0, 24).join('\n') + '\n';
let hub: FakeHub;

beforeAll(async () => {
  hub = await startFakeHub({
    // The sharded golden checkpoint (12 shards + index) with files a T5 run must not download.
    'test-org/ul2-tiny': repoFromFolder(join(T5_FIXTURES, 'models/ul2-tiny-sharded'), { 'pytorch_model.bin': 'not a checkpoint', 'README.md': '# ul2-tiny' }),
    'test-org/no-safetensors': repoFromFiles({ 'config.json': '{}', 'pytorch_model.bin': new Uint8Array(8) }),
    // The first 24 records of the Dolly copy in the repo, as the hub's dataset file.
    'datasets/databricks/databricks-dolly-15k': repoFromFiles({ 'databricks-dolly-15k.jsonl': DOLLY_HEAD }),
  });
  vi.spyOn(console, 'debug').mockImplementation(() => {}); // @huggingface/hub logs each file it downloads
});
afterAll(async () => {
  await hub.close();
  vi.restoreAllMocks();
  rmSync(tmp, { recursive: true, force: true });
});
afterEach(() => vi.unstubAllEnvs());


describe('downloadModel (the hub download behind --model <id>)', () => {
  const cacheDir = join(tmp, 'cache');

  it('fetches config, index and safetensors shards at one commit into the Hugging Face cache layout, skipping other formats', async () => {
    const seen: string[] = [];
    const snapshot = await downloadModel('test-org/ul2-tiny', { cacheDir, hubUrl: hub.url, onFile: (p) => seen.push(p) });
    const sha = hub.repos.get('test-org/ul2-tiny')!.sha;
    expect(snapshot).toBe(join(cacheDir, 'models--test-org--ul2-tiny', 'snapshots', sha));
    expect(readFileSync(join(cacheDir, 'models--test-org--ul2-tiny', 'refs', 'main'), 'utf8')).toBe(sha);
    const files = readdirSync(snapshot).sort();
    expect(files).toEqual(readdirSync(join(T5_FIXTURES, 'models/ul2-tiny-sharded')).sort());
    expect(seen.sort()).toEqual(files);
    expect(files).not.toContain('pytorch_model.bin');
    for (const f of files) expect(readFileSync(join(snapshot, f)).equals(readFileSync(join(T5_FIXTURES, 'models/ul2-tiny-sharded', f))), f).toBe(true);
  });

  it('the downloaded snapshot loads and reproduces the golden logits', async () => {
    await tf.setBackend('cpu');
    const snapshot = await downloadModel('test-org/ul2-tiny', { cacheDir, hubUrl: hub.url });
    const golden = JSON.parse(readFileSync(join(T5_FIXTURES, 'cases/ul2-tiny.json'), 'utf8')) as Case;
    const model = await T5ForConditionalGeneration.fromPretrained(snapshot);
    const ids = tf.tensor2d(golden.input_ids, undefined, 'int32');
    const mask = tf.tensor2d(golden.attention_mask, undefined, 'int32');
    const dec = tf.tensor2d(golden.decoder_input_ids, undefined, 'int32');
    const logits = model.forward({ inputIds: ids, attentionMask: mask, decoderInputIds: dec }).logits;
    expect(logits.shape).toEqual(golden.logits.shape);
    expect(relL2(await logits.data(), golden.logits.data)).toBeLessThan(1e-5);
    tf.dispose([ids, mask, dec, logits]);
    model.dispose();
  });

  it('a second download finds every file in the cache and fetches nothing', async () => {
    const before = [...hub.downloads.values()].reduce((a, b) => a + b, 0);
    await downloadModel('test-org/ul2-tiny', { cacheDir, hubUrl: hub.url });
    expect([...hub.downloads.values()].reduce((a, b) => a + b, 0)).toBe(before);
  });

  it('reports progress in file bytes (listings and range probes not counted), cached files at once', async () => {
    const record = () => {
      const r = { total: -1, added: 0, files: [] as string[], stopped: false };
      return { r, progress: { start: (t: number) => void (r.total = t), add: (n: number) => void (r.added += n), file: (p: string) => void r.files.push(p), stop: () => void (r.stopped = true) } };
    };
    const folder = join(T5_FIXTURES, 'models/ul2-tiny-sharded');
    const bytes = readdirSync(folder).reduce((a, f) => a + readFileSync(join(folder, f)).length, 0);
    const fresh = record();
    await downloadModel('test-org/ul2-tiny', { cacheDir: join(tmp, 'cache-progress'), hubUrl: hub.url, progress: fresh.progress });
    expect(fresh.r).toMatchObject({ total: bytes, added: bytes, stopped: true });
    expect(fresh.r.files).toHaveLength(15);
    const again = record();
    await downloadModel('test-org/ul2-tiny', { cacheDir: join(tmp, 'cache-progress'), hubUrl: hub.url, progress: again.progress });
    expect(again.r).toMatchObject({ total: bytes, added: bytes, stopped: true });
    expect(byteProgressBar('download', { isTTY: false } as NodeJS.WriteStream)).toBeNull();
  });

  it('a connection dropped mid-file leaves no truncated weight file, and the retry completes it', async () => {
    const fresh = join(tmp, 'cache-broken');
    const shard = 'model-00003-of-00012.safetensors';
    hub.breakNext.add(`test-org/ul2-tiny/${shard}`);
    await expect(downloadModel('test-org/ul2-tiny', { cacheDir: fresh, hubUrl: hub.url })).rejects.toThrow(`downloading ${shard} failed`);
    const snapshot = join(fresh, 'models--test-org--ul2-tiny', 'snapshots', hub.repos.get('test-org/ul2-tiny')!.sha);
    expect(existsSync(join(snapshot, shard))).toBe(false);
    const blobs = readdirSync(join(fresh, 'models--test-org--ul2-tiny', 'blobs'));
    expect(blobs.filter((b) => !b.endsWith('.incomplete'))).toHaveLength(readdirSync(snapshot).length);
    await downloadModel('test-org/ul2-tiny', { cacheDir: fresh, hubUrl: hub.url });
    expect(readFileSync(join(snapshot, shard)).equals(readFileSync(join(T5_FIXTURES, 'models/ul2-tiny-sharded', shard)))).toBe(true);
  });

  it('an unknown repository or one without safetensors is one clear error', async () => {
    await expect(downloadModel('test-org/missing', { cacheDir, hubUrl: hub.url })).rejects.toThrow(/--model test-org\/missing: cannot read the hub repository \(.*not found.*\); download it yourself/);
    await expect(downloadModel('test-org/no-safetensors', { cacheDir, hubUrl: hub.url })).rejects.toThrow('--model test-org/no-safetensors: the hub repository has no config.json with safetensors weights');
  });
});

describe('tokenizerFor', () => {
  it("uses a model folder's tokenizer.json when it has one, else the shipped T5 tokenizer", async () => {
    const withTokenizer = join(tmp, 'model-with-tokenizer');
    mkdirSync(withTokenizer);
    copyFileSync(join(bundledTokenizerDir(), 'tokenizer.json'), join(withTokenizer, 'tokenizer.json'));
    expect((await tokenizerFor(withTokenizer)).source).toBe(join(withTokenizer, 'tokenizer.json'));
    expect((await tokenizerFor(join(T5_FIXTURES, 'models/ul2-tiny'))).source).toMatch(/shipped with @conifer\/dolly-data/);
    expect((await tokenizerFor(null)).tokenizer.encode('Dolly the lamb')).toEqual((await tokenizerFor(withTokenizer)).tokenizer.encode('Dolly the lamb'));
    writeFileSync(join(withTokenizer, 'tokenizer.json'), '{ not json');
    await expect(tokenizerFor(withTokenizer)).rejects.toThrow(/tokenizer\.json/);
  });
});

describe('the CLI with a hub id ($HF_ENDPOINT, $HF_HUB_CACHE)', () => {
  it('train --dry-run downloads config.json only and prints the plan', async () => {
    const cache = join(tmp, 'cli-cache');
    vi.stubEnv('HF_ENDPOINT', hub.url);
    vi.stubEnv('HF_HUB_CACHE', cache);
    const c = capture();
    expect(await main(['train', '--dry-run', '--model', 'test-org/ul2-tiny', '--backend', 'cpu'], c.io)).toBe(0);
    expect(c.err).toEqual([]);
    const text = c.out.join('\n');
    expect(text).toMatch(/^Plan: test-org\/ul2-tiny/);
    expect(text).toMatch(/d_model 64, 4 heads × d_kv 16, d_ff 128, 2 \+ 3 layers, vocab 512/);
    const snapshot = join(cache, 'models--test-org--ul2-tiny', 'snapshots', hub.repos.get('test-org/ul2-tiny')!.sha);
    expect(readdirSync(snapshot)).toEqual(['config.json']);
  });

  it('train downloads the weights after the plan, then refuses a tokenizer whose ids exceed the vocabulary (nothing written)', async () => {
    const cache = join(tmp, 'cli-cache-2');
    vi.stubEnv('HF_ENDPOINT', hub.url);
    vi.stubEnv('HF_HUB_CACHE', cache);
    const c = capture();
    const out = join(tmp, 'never-out-vocab');
    // ul2-tiny has vocab_size 512 and no tokenizer.json: the shipped T5 tokenizer's ids do not fit.
    expect(await main(['train', '--model', 'test-org/ul2-tiny', '--backend', 'cpu', '--limit', '8', '--out', out], c.io)).toBe(1);
    expect(c.err).toHaveLength(1);
    expect(c.err[0]).toMatch(/--model test-org\/ul2-tiny: the tokenizer produced token id \d+, but the model's vocab_size is 512/);
    const text = c.out.join('\n');
    expect(text.indexOf('Plan: test-org/ul2-tiny')).toBeLessThan(text.indexOf('download     test-org/ul2-tiny: model-00001-of-00012.safetensors (3/15)'));
    expect(text).toMatch(/download     test-org\/ul2-tiny: model\.safetensors\.index\.json \(15\/15\)/);
    expect(existsSync(out)).toBe(false);
  });

  it('--data hub reads Dolly from the hub (downloaded once into ~/.cache/conifer/hub)', async () => {
    vi.stubEnv('HF_ENDPOINT', hub.url);
    vi.stubEnv('HOME', join(tmp, 'home'));
    const c = capture();
    const args = ['eval', '--data', 'hub', '--backend', 'cpu', '--samples', '0', '--max-source-length', '32', '--max-target-length', '16'];
    expect(await main(args, c.io)).toBe(0);
    expect(c.err).toEqual([]);
    // 24 records → 80/20 → 5 in the test split.
    expect(c.out.join('\n')).toMatch(/test split: 5 examples/);
    const cached = join(tmp, 'home', '.cache', 'conifer', 'hub', 'datasets--databricks--databricks-dolly-15k', 'main', 'databricks-dolly-15k.jsonl');
    expect(readFileSync(cached, 'utf8')).toBe(DOLLY_HEAD);
    const c2 = capture();
    expect(await main(['eval', '--data', 'hf://datasets/databricks/missing', '--backend', 'cpu', '--samples', '0'], c2.io)).toBe(1);
    expect(c2.err).toHaveLength(1);
    expect(c2.err[0]).toMatch(/--data hf:\/\/datasets\/databricks\/missing: cannot download databricks\/missing from the hub/);
  });

  it('generate --assistant-model <hub id> downloads the assistant as --model does, and errors name --assistant-model', async () => {
    vi.stubEnv('HF_ENDPOINT', hub.url);
    vi.stubEnv('HF_HUB_CACHE', join(tmp, 'assistant-cache'));
    const run = ['generate', '--backend', 'cpu', '--model', join(T5_FIXTURES, 'models/ul2-tiny'), '--prompt', 'He said that it was the best day of his life.', '--max-length', '12', '--min-length', '0'];
    const plain = capture();
    expect(await main(run, plain.io)).toBe(0);
    const c = capture();
    expect(await main([...run, '--assistant-model', 'test-org/ul2-tiny'], c.io)).toBe(0);
    expect(c.err).toEqual([]);
    expect(c.out).toContain('  download     test-org/ul2-tiny: model.safetensors.index.json (15/15)');
    expect(c.out).toContain('assistant test-org/ul2-tiny, linears float32');
    // the sharded golden checkpoint is ul2-tiny itself: the same text, every candidate accepted
    expect(c.out.slice(-3, -1)).toEqual(plain.out.slice(-2));
    expect(c.out.at(-1)).toMatch(/^\nassistant test-org\/ul2-tiny: (\d+) tokens in \d+ decoder passes of the model/);
    const missing = capture();
    expect(await main([...run, '--assistant-model', 'test-org/missing'], missing.io)).toBe(1);
    expect(missing.err).toHaveLength(1);
    expect(missing.err[0]).toMatch(/^conifer-train-ul2-dolly: --assistant-model test-org\/missing: /);
  });

  it('a hub that cannot be reached: one line on stderr, exit 1, nothing written', async () => {
    vi.stubEnv('HF_ENDPOINT', 'http://127.0.0.1:9'); // the discard port: connection refused
    vi.stubEnv('HF_HUB_CACHE', join(tmp, 'never-cache'));
    const c = capture();
    const out = join(tmp, 'never-out');
    expect(await main(['train', '--model', 'google/flan-ul2', '--backend', 'cpu', '--out', out], c.io)).toBe(1);
    expect(c.err).toHaveLength(1);
    expect(c.err[0]).toMatch(/--model google\/flan-ul2: cannot read the hub repository/);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(join(tmp, 'never-cache'))).toBe(false);
  });
});
