import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll } from 'vitest';

export const fixtures = (p: string) => fileURLToPath(new URL(`./fixtures/${p}`, import.meta.url));
export const modelDir = (name: string) => fixtures(`models/${name}`);

export interface GoldenCase {
  model: string;
  input_ids: number[][];
  attention_mask: number[][];
  labels: number[][];
  decoder_input_ids: number[][];
  encoder_last_hidden_state: { shape: number[]; data: number[] };
  logits: { shape: number[]; data: number[] };
  loss: number;
  row_loss: number[];
  greedy: { max_new_tokens: number; output: number[][] };
  beam: { num_beams: number; max_new_tokens: number; output: number[][] };
}

export function loadCase(name: string): GoldenCase {
  return JSON.parse(readFileSync(fixtures(`cases/${name}.json`), 'utf8')) as GoldenCase;
}

/** A golden case's inputs and labels as a `lossSum` batch (row-major int32, shapes from the case; also the example's lora cases). */
export function goldenBatch(c: Pick<GoldenCase, 'input_ids' | 'attention_mask' | 'labels'>) {
  return {
    inputIds: Int32Array.from(c.input_ids.flat()),
    attentionMask: Int32Array.from(c.attention_mask.flat()),
    labels: Int32Array.from(c.labels.flat()),
    batchSize: c.input_ids.length,
    sourceLength: c.input_ids[0]!.length,
    targetLength: c.labels[0]!.length,
  };
}

/** ‖a − b‖₂ / ‖b‖₂. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

export const int2d = (rows: number[][]) => tf.tensor2d(rows, [rows.length, rows[0]!.length], 'int32');

/** `tmp(prefix)`: a fresh folder under the OS temp dir; every one is removed after the calling file's tests. */
export function tempDirs(): (prefix: string) => string {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  return (prefix) => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
}

/** Backends register once per test file. */
export async function useBackend(name: 'cpu' | 'wasm'): Promise<void> {
  if (name === 'cpu') await import('@tensorflow/tfjs-backend-cpu');
  else await import('@tensorflow/tfjs-backend-wasm');
  await tf.setBackend(name);
  await tf.ready();
}

/** Greedy decoding with decodeStep (the golden `greedy` semantics: stop rows at eos, pad with 0). */
export async function greedy(model: import('../src/index.js').T5ForConditionalGeneration, c: GoldenCase, maxNew: number): Promise<number[][]> {
  const ids = int2d(c.input_ids);
  const mask = int2d(c.attention_mask);
  const enc = model.encode(ids, mask);
  const b = c.input_ids.length;
  const out: number[][] = Array.from({ length: b }, () => [0]);
  const done = new Array<boolean>(b).fill(false);
  let cache = null;
  let tokens = tf.tensor2d(new Int32Array(b), [b, 1], 'int32');
  for (let step = 0; step < maxNew && !done.every(Boolean); step++) {
    const r = model.decodeStep(tokens, enc, cache);
    cache = r.cache;
    tokens.dispose();
    const next = tf.tidy(() => tf.argMax(tf.squeeze(r.logits, [1]), -1));
    const nextIds = Array.from(await next.data());
    next.dispose();
    r.logits.dispose();
    for (let i = 0; i < b; i++) {
      const id = done[i] ? 0 : nextIds[i]!;
      out[i]!.push(id);
      if (id === 1) done[i] = true;
      nextIds[i] = id;
    }
    tokens = tf.tensor2d(Int32Array.from(nextIds), [b, 1], 'int32');
  }
  tokens.dispose();
  if (cache) model.disposeCache(cache);
  model.disposeEncoder(enc);
  ids.dispose();
  mask.dispose();
  return out;
}
