// Cross-package golden test: @conifer/lora's withAdapterNames (PEFT's mixed-adapter batches,
// `model(**inputs, adapter_names=[...])` / `model.generate(..., adapter_names=[...])`) on
// @conifer/t5-model's ul2-tiny, through @conifer/generate. PEFT's definition
// (peft/tuners/lora/layer.py `LoraLayer._mixed_batch_forward`): each example's rows are what the
// model gives with only that example's adapter, the base model's for "__base__". Checked row by row
// against that single-adapter run (forward: the same batch, bit for bit; generate: the golden pair of
// prompts, tokens up to EOS), and against PEFT / transformers where the golden
// files have the numbers: "default" = the golden PEFT adapter (logits_step0 of lora-ul2-tiny.json),
// "__base__" = the plain model (logits, greedy and beam of t5-model's cases/ul2-tiny.json), "step3"
// = PEFT's adapter after 3 AdamW steps (merged_loss_after_step3: the mean loss of the two rows with
// PEFT's merge_and_unload() weights).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { readFileSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate, generationOptionsFromConfig, type GenerateOptions, type Seq2Seq } from '@conifer/generate';
import { BASE_ADAPTER_NAME, loadAdapter, type LoraModel } from '@conifer/lora';
import { T5ForConditionalGeneration } from '@conifer/t5-model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loraFixture, relL2, T5_FIXTURES } from './helpers.js';

interface LoraCase {
  input_ids: number[][];
  attention_mask: number[][];
  labels: number[][];
  logits_step0: { shape: number[]; data: number[] };
  merged_loss_after_step3: number;
}
interface BaseCase {
  input_ids: number[][];
  logits: { shape: number[]; data: number[] };
  greedy: { max_new_tokens: number; output: number[][] };
  beam: { num_beams: number; max_new_tokens: number; output: number[][] };
}
const lc = JSON.parse(readFileSync(loraFixture('lora-ul2-tiny.json'), 'utf8')) as LoraCase;
const bc = JSON.parse(readFileSync(join(T5_FIXTURES, 'cases', 'ul2-tiny.json'), 'utf8')) as BaseCase;

// Four examples of the golden pair of prompts (p0, p1; p1 padded): example i is prompt ROW[i] under
// NAMES[i]; step3 runs on both prompts (rows 0 and 3, not contiguous), __base__ on p1, default on p0.
const NAMES = ['step3', BASE_ADAPTER_NAME, 'default', 'step3'];
const ROW = [0, 1, 0, 1];
const pick = (rows: number[][]) => ROW.map((r) => rows[r]!);
const int2d = (rows: number[][]) => tf.tensor2d(rows.flat(), [rows.length, rows[0]!.length], 'int32');
const [, T, V] = lc.logits_step0.shape as [number, number, number];
/** Example i's [T, V] logits (flat). */
const exampleOf = (data: ArrayLike<number>, i: number) => Array.prototype.slice.call(data, i * T * V, (i + 1) * T * V) as number[];
/** A generated row up to and including its first EOS (1): the padding after it follows the batch's longest row. */
const trim = (seq: number[]) => (seq.includes(1) ? seq.slice(0, seq.indexOf(1) + 1) : seq);

let model: T5ForConditionalGeneration;
let lora: LoraModel;
let tmp: string;
let defaults: GenerateOptions;
beforeAll(async () => {
  await tf.setBackend('cpu');
  tmp = await mkdtemp(join(tmpdir(), 'conifer-mixed-t5-'));
  // PEFT's adapter after 3 AdamW steps, as an adapter folder (the golden r4 config).
  await copyFile(loraFixture('ul2-tiny-qv-r4/adapter_config.json'), join(tmp, 'adapter_config.json'));
  await writeFile(join(tmp, 'adapter_model.safetensors'), await readFile(loraFixture('adamw_after_step3.safetensors')));
  model = await T5ForConditionalGeneration.fromPretrained(loraFixture('ul2-tiny'));
  lora = await loadAdapter(model, loraFixture('ul2-tiny-qv-r4')); // "default"
  await lora.loadAdapter(tmp, 'step3');
  defaults = generationOptionsFromConfig(JSON.parse(readFileSync(loraFixture('ul2-tiny/generation_config.json'), 'utf8')));
});
afterAll(async () => {
  lora.unload();
  model.dispose();
  await rm(tmp, { recursive: true, force: true });
});

/** Runs `fn` with only `name` on every row: setAdapter, or the adapter layers disabled for "__base__". */
async function alone<R>(name: string, fn: () => R | Promise<R>): Promise<R> {
  if (name === BASE_ADAPTER_NAME) lora.disableAdapterLayers();
  else lora.setAdapter(name);
  try {
    return await fn();
  } finally {
    lora.enableAdapterLayers();
    lora.setAdapter('default');
  }
}

describe('withAdapterNames on ul2-tiny (default, __base__, step3 per example)', () => {
  it('forward: each example = the batch with only its adapter (bit for bit); default rows = PEFT logits_step0, __base__ rows = transformers logits, step3 rows\' loss = PEFT merged_loss_after_step3; no leaks', async () => {
    expect(lora.activeAdapters).toEqual(['default']);
    const inputIds = int2d(pick(lc.input_ids));
    const attentionMask = int2d(pick(lc.attention_mask));
    const labels = int2d(pick(lc.labels));
    const run = () =>
      tf.tidy(() => {
        const out = model.forward({ inputIds, attentionMask, labels });
        return { logits: out.logits.dataSync().slice(), tokenLoss: out.tokenLoss!.dataSync().slice() };
      });
    const single = new Map<string, ReturnType<typeof run>>();
    for (const n of ['default', BASE_ADAPTER_NAME, 'step3']) single.set(n, await alone(n, run));
    expect(relL2(exampleOf(single.get('default')!.logits, 0), exampleOf(single.get('step3')!.logits, 0))).toBeGreaterThan(1e-3); // the names matter

    const before = tf.memory().numTensors;
    const mixed = lora.withAdapterNames(NAMES, run);
    expect(tf.memory().numTensors).toBe(before);
    expect(lora.adapterNames).toBeNull();
    expect(lora.activeAdapters).toEqual(['default']);

    NAMES.forEach((n, i) => expect(exampleOf(mixed.logits, i), `example ${i} (${n})`).toEqual(exampleOf(single.get(n)!.logits, i)));
    // Against the Python references, per prompt r of the golden pair.
    const goldenRow = (g: { data: number[] }, r: number) => g.data.slice(r * T * V, (r + 1) * T * V);
    let worst = 0;
    NAMES.forEach((n, i) => {
      if (n === 'default') worst = Math.max(worst, relL2(exampleOf(mixed.logits, i), goldenRow(lc.logits_step0, ROW[i]!)));
      if (n === BASE_ADAPTER_NAME) worst = Math.max(worst, relL2(exampleOf(mixed.logits, i), goldenRow(bc.logits, ROW[i]!)));
    });
    console.log(`mixed batch vs PEFT / transformers logits: worst rel L2 ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-4);
    // step3: PEFT's loss after merge_and_unload() of the step-3 adapter is the mean over both prompts' labels.
    let sum = 0;
    let count = 0;
    NAMES.forEach((n, i) => {
      if (n !== 'step3') return;
      for (let t = 0; t < T; t++) sum += mixed.tokenLoss[i * T + t]!;
      count += lc.labels[ROW[i]!]!.filter((l) => l !== -100).length;
    });
    expect(Math.abs(sum / count - lc.merged_loss_after_step3) / lc.merged_loss_after_step3).toBeLessThan(1e-4);
    tf.dispose([inputIds, attentionMask, labels]);
  });

  it('generate (greedy; beam 3 × 2 sequences) inside withAdapterNames: each example\'s tokens = its adapter alone; __base__ rows = transformers\' greedy / best beam; no leaks', async () => {
    const greedy: GenerateOptions = { ...defaults, maxNewTokens: bc.greedy.max_new_tokens };
    const beam: GenerateOptions = { ...defaults, numBeams: bc.beam.num_beams, numReturnSequences: 2, maxNewTokens: bc.beam.max_new_tokens };
    const gen = (rows: number[][], mask: number[][], o: GenerateOptions) =>
      generate(model as unknown as Seq2Seq, { inputIds: rows, attentionMask: mask }, o).then((r) => r.sequences);
    // Each adapter alone on the golden pair (p0, p1): example i's reference is row ROW[i] of its name's
    // run. The base model's greedy run is transformers' own output (generate-t5.test.ts checks ours equal).
    const single = new Map<string, { greedy: number[][]; beam: number[][] }>();
    for (const n of ['default', BASE_ADAPTER_NAME, 'step3']) {
      single.set(n, await alone(n, async () => ({
        greedy: n === BASE_ADAPTER_NAME ? bc.greedy.output : await gen(lc.input_ids, lc.attention_mask, greedy),
        beam: await gen(lc.input_ids, lc.attention_mask, beam),
      })));
    }
    expect(single.get('default')!.greedy).not.toEqual(single.get(BASE_ADAPTER_NAME)!.greedy); // the adapters change the tokens
    expect(single.get('step3')!.greedy).not.toEqual(single.get('default')!.greedy);

    const before = tf.memory().numTensors;
    const [ids, mask] = [pick(lc.input_ids), pick(lc.attention_mask)];
    const pending = lora.withAdapterNames(NAMES, () => gen(ids, mask, greedy));
    expect(lora.adapterNames).toEqual(NAMES); // held until generate's promise settles (ea15668's runThenEnd)
    const mixedGreedy = await pending;
    const mixedBeam = await lora.withAdapterNames(NAMES, () => gen(ids, mask, beam));
    expect(tf.memory().numTensors).toBe(before);
    expect(lora.adapterNames).toBeNull();

    expect(mixedGreedy).toHaveLength(NAMES.length);
    expect(mixedBeam).toHaveLength(2 * NAMES.length); // row b·2 + k: example b's k-th sequence
    NAMES.forEach((n, i) => {
      const r = ROW[i]!;
      expect(trim(mixedGreedy[i]!), `greedy example ${i} (${n})`).toEqual(trim(single.get(n)!.greedy[r]!));
      for (const k of [0, 1]) expect(trim(mixedBeam[2 * i + k]!), `beam example ${i} (${n}) sequence ${k}`).toEqual(trim(single.get(n)!.beam[2 * r + k]!));
      if (n === BASE_ADAPTER_NAME) expect(trim(mixedBeam[2 * i]!)).toEqual(trim(bc.beam.output[r]!)); // transformers' best beam
    });
  });
});
