import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BatchSampler,
  bundledTokenizerDir,
  collate,
  datasetStats,
  downloadDolly,
  encodeRecord,
  encodeRecords,
  fixedBatchPlan,
  hubCachePath,
  loadDolly,
  loadT5Tokenizer,
  makeEncoder,
  paddingStats,
  parseDolly,
  readDolly,
  readDollyFromHub,
  splitIndices,
  T5Tokenizer,
  tokenBudgetPlan,
  type EncodedExample,
  type TextTokenizer,
} from '../src';
import { suggestOption } from '../src/unknown-options';
import { fixture } from './helpers';

/** Options with a typo and a snake_case key besides the valid ones (a plain object: the functions take it as `unknown`). */
const bad = (valid: object, typo: string, snake: string): never => ({ ...valid, [typo]: 1, [snake]: 2 }) as never;

/** The one error `f` throws: its type, and the message naming both keys with their suggestions. */
function expectUnknown(f: () => unknown, where: string, typo: [string, string], snake: [string, string]): void {
  expect(f).toThrow(RangeError);
  expect(f).toThrow(`${where}: unknown options \`${typo[0]}\` (did you mean \`${typo[1]}\`?), \`${snake[0]}\` (did you mean \`${snake[1]}\`?)`);
}

async function expectUnknownAsync(p: () => Promise<unknown>, where: string, typo: [string, string], snake: [string, string]): Promise<void> {
  const e = await p().then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(RangeError);
  expect((e as Error).message).toBe(`${where}: unknown options \`${typo[0]}\` (did you mean \`${typo[1]}\`?), \`${snake[0]}\` (did you mean \`${snake[1]}\`?)`);
}

const tok: TextTokenizer = { encode: (t) => [...t].map((c) => c.charCodeAt(0) % 50).concat(1), decode: () => '', padId: 0, eosId: 1 };
const record = { instruction: 'Say hi', context: '', response: 'hi', category: 'open_qa' };
const ex = (s: number, t: number): EncodedExample => ({ sourceIds: new Int32Array(s).fill(5), targetIds: new Int32Array(t).fill(6), fullSourceLength: s, fullTargetLength: t, category: 'x' });
const examples = [ex(3, 2), ex(4, 1), ex(2, 2)];
const lengths = [{ source: 3, target: 2 }, { source: 4, target: 1 }];

describe('unknown option keys are one RangeError naming each, with the option meant', () => {
  it('suggests the camelCase of a snake_case key, or a known key within 2 edits, else nothing', () => {
    const known = ['maxSourceLength', 'maxTargetLength', 'seed'];
    expect(suggestOption('max_source_length', known)).toBe('maxSourceLength');
    expect(suggestOption('MAX_TARGET_LENGTH', known)).toBe('maxTargetLength');
    expect(suggestOption('sede', known)).toBe('seed');
    expect(suggestOption('maxSorceLenth', known)).toBe('maxSourceLength'); // 2 edits
    expect(suggestOption('maxSourceLen', known)).toBeUndefined(); // 3 edits
    expect(suggestOption('ab', ['a'])).toBeUndefined(); // not just a shorter name rewritten
  });

  it('makeEncoder / encodeRecord / encodeRecords', () => {
    expectUnknown(() => makeEncoder(tok, bad({ maxSourceLength: 8 }, 'maxTargetLenght', 'max_source_length')), 'makeEncoder', ['maxTargetLenght', 'maxTargetLength'], ['max_source_length', 'maxSourceLength']);
    expectUnknown(() => encodeRecord(record, tok, bad({}, 'fromat', 'max_target_length')), 'encodeRecord', ['fromat', 'format'], ['max_target_length', 'maxTargetLength']);
    expectUnknown(() => encodeRecords([record], tok, bad({}, 'fromat', 'max_target_length')), 'encodeRecords', ['fromat', 'format'], ['max_target_length', 'maxTargetLength']);
    // a key without a near option is named bare; `undefined` counts as absent
    expect(() => makeEncoder(tok, { truncation: true } as never)).toThrow(/^makeEncoder: unknown option `truncation`$/);
    expect(makeEncoder(tok, { maxSourceLength: 4, max_source_length: undefined } as never)(record).sourceIds.length).toBe(4);
  });

  it('BatchSampler (and its batching object), collate', () => {
    const batching = { kind: 'fixed', batchSize: 2 } as const;
    expectUnknown(() => new BatchSampler(examples, bad({ batching }, 'sede', 'pad_to_multiple_of')), 'BatchSampler', ['sede', 'seed'], ['pad_to_multiple_of', 'padToMultipleOf']);
    expectUnknown(() => new BatchSampler(examples, { batching: bad(batching, 'batchsize', 'drop_last') }), "BatchSampler: batching (kind 'fixed')", ['batchsize', 'batchSize'], ['drop_last', 'dropLast']);
    // maxTokens is a tokenBudget key, not a fixed one
    expect(() => new BatchSampler(examples, { batching: { ...batching, maxTokens: 9 } as never })).toThrow("BatchSampler: batching (kind 'fixed'): unknown option `maxTokens`");
    expectUnknown(() => collate(examples, [0, 1], bad({}, 'padid', 'decoder_start_id')), 'collate', ['padid', 'padId'], ['decoder_start_id', 'decoderStartId']);
    // transformers' collator names point to ours
    expect(() => collate(examples, [0], { pad_token_id: 0 } as never)).toThrow('collate: unknown option `pad_token_id` (did you mean `padId`?)');
    expect(() => new BatchSampler(examples, { batching, decoder_start_token_id: 0 } as never)).toThrow('BatchSampler: unknown option `decoder_start_token_id` (did you mean `decoderStartId`?)');
    // valid options (all of them) still work, through the sampler's own collate
    const sampler = new BatchSampler(examples, { batching: { kind: 'tokenBudget', maxTokens: 99, maxBatchSize: 2, bucketWidth: 0.2 }, seed: 1, shuffle: false, padToMultipleOf: 2, padId: 0, decoderStartId: 0, seedCompatLabels: false });
    expect([...sampler.batches()].map((b) => b.batch.batchSize).reduce((a, b) => a + b)).toBe(3);
  });

  it('fixedBatchPlan / tokenBudgetPlan / paddingStats / splitIndices / datasetStats', () => {
    expectUnknown(() => fixedBatchPlan(3, bad({ batchSize: 2 }, 'epoc', 'drop_last')), 'fixedBatchPlan', ['epoc', 'epoch'], ['drop_last', 'dropLast']);
    expectUnknown(() => tokenBudgetPlan(lengths, bad({ maxTokens: 9 }, 'maxToken', 'max_batch_size')), 'tokenBudgetPlan', ['maxToken', 'maxTokens'], ['max_batch_size', 'maxBatchSize']);
    expectUnknown(() => paddingStats(lengths, [[0, 1]], bad({}, 'padToMultipleof', 'pad_to_multiple_of')), 'paddingStats', ['padToMultipleof', 'padToMultipleOf'], ['pad_to_multiple_of', 'padToMultipleOf']);
    expectUnknown(() => splitIndices(10, bad({}, 'sed', 'test_fraction')), 'splitIndices', ['sed', 'seed'], ['test_fraction', 'testFraction']);
    expectUnknown(() => datasetStats(examples, bad({}, 'plna', 'max_source_length')), 'datasetStats', ['plna', 'plan'], ['max_source_length', 'maxSourceLength']);
    // datasets' train_test_split names point to ours
    expect(() => splitIndices(10, { test_size: 0.1, stratify_by_column: 'category' } as never)).toThrow('splitIndices: unknown options `test_size` (did you mean `testFraction`?), `stratify_by_column` (did you mean `stratifyBy`?)');
    expect(splitIndices(10, { seed: 1, testFraction: 0.5, stratifyBy: undefined }).test).toHaveLength(5);
  });

  it('readDolly throws before opening the file; loadDolly, parseDolly reject', async () => {
    expectUnknown(() => readDolly('/no/such/file.jsonl', bad({}, 'onInvaild', 'field_map')), 'readDolly', ['onInvaild', 'onInvalid'], ['field_map', 'fieldMap']);
    await expectUnknownAsync(() => loadDolly(fixture('dolly-sample.jsonl'), bad({}, 'onskip', 'source_name')), 'loadDolly', ['onskip', 'onSkip'], ['source_name', 'sourceName']);
    await expectUnknownAsync(() => parseDolly(['{}'], 'x', bad({}, 'onInvaild', 'on_skip')).next(), 'parseDolly', ['onInvaild', 'onInvalid'], ['on_skip', 'onSkip']);
    // parseDolly takes its source name as an argument, not an option
    await expect(parseDolly(['{}'], 'x', { sourceName: 'y' } as never).next()).rejects.toThrow(/^parseDolly: unknown option `sourceName`$/);
    const { records } = await loadDolly(fixture('dolly-sample.jsonl'), { onInvalid: 'throw', fieldMap: {}, onSkip: () => {}, sourceName: 's' });
    expect(records.length).toBeGreaterThan(0);
  });

  it('hubCachePath / downloadDolly / readDollyFromHub, before any fetch', async () => {
    let fetched = 0;
    const fetch = (async () => {
      fetched++;
      return new Response('', { status: 404 });
    }) as unknown as typeof globalThis.fetch;
    expectUnknown(() => hubCachePath(bad({ cacheDir: '/tmp/x' }, 'revison', 'cache_dir')), 'hubCachePath', ['revison', 'revision'], ['cache_dir', 'cacheDir']);
    await expectUnknownAsync(() => downloadDolly(bad({ fetch }, 'repoo', 'force_download')), 'downloadDolly', ['repoo', 'repo'], ['force_download', 'forceDownload']);
    // the hub options and readDolly's are both known here
    await expectUnknownAsync(() => readDollyFromHub(bad({ fetch, onInvalid: 'skip', repo: 'a/b' }, 'hubUrll', 'on_invalid')).next(), 'readDollyFromHub', ['hubUrll', 'hubUrl'], ['on_invalid', 'onInvalid']);
    expect(fetched).toBe(0);
    // valid: hub options and readDolly's together, from the cache (no fetch)
    const cacheDir = mkdtempSync(join(tmpdir(), 'dolly-options-'));
    try {
      const cached = hubCachePath({ cacheDir });
      mkdirSync(dirname(cached), { recursive: true });
      copyFileSync(fixture('dolly-sample.jsonl'), cached);
      const records = [];
      for await (const r of readDollyFromHub({ cacheDir, fetch, onInvalid: 'skip', fieldMap: {}, sourceName: undefined })) records.push(r);
      expect(records.length).toBeGreaterThan(0);
      expect(fetched).toBe(0);
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
    expect(hubCachePath({ cacheDir: '/c', repo: 'a/b', path: 'f.jsonl', revision: 'main' })).toBe('/c/datasets--a--b/main/f.jsonl');
  });

  it('loadT5Tokenizer / T5Tokenizer.fromJSON / encode / decode', async () => {
    await expectUnknownAsync(() => loadT5Tokenizer(bundledTokenizerDir(), bad({}, 'wordCachSize', 'word_cache_size')), 'loadT5Tokenizer', ['wordCachSize', 'wordCacheSize'], ['word_cache_size', 'wordCacheSize']);
    const t = await loadT5Tokenizer(bundledTokenizerDir(), { wordCacheSize: 10 });
    expectUnknown(() => T5Tokenizer.fromJSON({}, {}, bad({}, 'wordCachSize', 'word_cache_size')), 'T5Tokenizer.fromJSON', ['wordCachSize', 'wordCacheSize'], ['word_cache_size', 'wordCacheSize']);
    expectUnknown(() => new T5Tokenizer(t.tokenizer, bad({}, 'wordCachSize', 'word_cache_size')), 'T5Tokenizer', ['wordCachSize', 'wordCacheSize'], ['word_cache_size', 'wordCacheSize']);
    expectUnknown(() => t.encode('hi', bad({}, 'addSpecialToken', 'add_special_tokens')), 'T5Tokenizer.encode', ['addSpecialToken', 'addSpecialTokens'], ['add_special_tokens', 'addSpecialTokens']);
    expectUnknown(() => t.decode([1], bad({}, 'skipSpecialToken', 'clean_up_tokenization_spaces')), 'T5Tokenizer.decode', ['skipSpecialToken', 'skipSpecialTokens'], ['clean_up_tokenization_spaces', 'cleanUpTokenizationSpaces']);
    expect(t.decode(t.encode('Hello', { addSpecialTokens: true }), { skipSpecialTokens: true, cleanUpTokenizationSpaces: false })).toBe('Hello');
  });

  it('an options argument that is not an object is one error, not read as no options', async () => {
    const t = await loadT5Tokenizer(bundledTokenizerDir());
    // T5Tokenizer.decode(ids, True) in Python's style: skip_special_tokens would have been silently off
    expect(() => t.decode([1], true as never)).toThrow(new RangeError('T5Tokenizer.decode: options must be an object, got boolean true'));
    expect(() => splitIndices(10, 'test' as never)).toThrow(new RangeError('splitIndices: options must be an object, got a string "test"'));
    await expect(parseDolly([''], 'x.jsonl', [] as never).next()).rejects.toThrow(new RangeError('parseDolly: options must be an object, got an array'));
    expect(() => fixedBatchPlan(4, null as never)).toThrow(new RangeError('fixedBatchPlan: options must be an object, got null'));
    expect(splitIndices(10, undefined)).toEqual(splitIndices(10));
  });
});
