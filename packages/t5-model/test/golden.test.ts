import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { T5ForConditionalGeneration } from '../src/index.js';
import { greedy, int2d, loadCase, modelDir, relErr, useBackend } from './helpers.js';

beforeAll(async () => {
  await useBackend('cpu');
});

async function check(model: string, caseName: string, tol: { hidden: number; logits: number; loss: number }) {
  const c = loadCase(caseName);
  const m = await T5ForConditionalGeneration.fromPretrained(modelDir(model));
  const inputIds = int2d(c.input_ids);
  const attentionMask = int2d(c.attention_mask);
  const labels = int2d(c.labels);
  const out = m.forward({ inputIds, attentionMask, labels });
  const hidden = relErr(out.encoderLastHiddenState.dataSync(), c.encoder_last_hidden_state.data);
  const logits = relErr(out.logits.dataSync(), c.logits.data);
  const loss = out.loss!.dataSync()[0]!;
  expect(out.logits.shape).toEqual(c.logits.shape);
  expect(out.encoderLastHiddenState.shape).toEqual(c.encoder_last_hidden_state.shape);
  expect(hidden).toBeLessThan(tol.hidden);
  expect(logits).toBeLessThan(tol.logits);
  expect(Math.abs(loss - c.loss) / c.loss).toBeLessThan(tol.loss);
  // row_loss: mean over each row's non-ignored labels.
  const tl = out.tokenLoss!.arraySync();
  c.row_loss.forEach((expected, r) => {
    const keep = c.labels[r]!.map((l) => l !== -100);
    const sum = tl[r]!.reduce((a, x, j) => a + (keep[j] ? x : 0), 0);
    const n = keep.filter(Boolean).length;
    expect(Math.abs(sum / n - expected) / expected).toBeLessThan(tol.loss);
  });
  expect(out.tokenCount!.dtype).toBe('int32');
  expect(out.tokenCount!.arraySync()).toBe(c.labels.flat().filter((l) => l !== -100).length);
  // decoder_input_ids defaulted from labels equal the case's.
  const shifted = m.shiftRight(labels);
  expect(shifted.arraySync()).toEqual(c.decoder_input_ids);
  tf.dispose([inputIds, attentionMask, labels, shifted, out.logits, out.encoderLastHiddenState, out.loss!, out.lossSum!, out.tokenLoss!, out.tokenCount!]);
  return { m, c, errs: { hidden, logits, loss: Math.abs(loss - c.loss) / c.loss } };
}

describe('golden parity with transformers (cpu)', () => {
  it('ul2-tiny: encoder state, logits, loss, row_loss within 1e-4; greedy equals', async () => {
    const { m, c, errs } = await check('ul2-tiny', 'ul2-tiny', { hidden: 1e-4, logits: 1e-4, loss: 1e-4 });
    console.log('ul2-tiny rel errors', errs);
    expect(await greedy(m, c, c.greedy.max_new_tokens)).toEqual(c.greedy.output);
    m.dispose();
  });

  it('flan-t5-tiny (gated-gelu): within 1e-4; greedy equals', async () => {
    const { m, c, errs } = await check('flan-t5-tiny', 'flan-t5-tiny', { hidden: 1e-4, logits: 1e-4, loss: 1e-4 });
    console.log('flan-t5-tiny rel errors', errs);
    expect(await greedy(m, c, c.greedy.max_new_tokens)).toEqual(c.greedy.output);
    m.dispose();
  });

  it('ul2-tiny-sharded (12 shards + index) equals the float32 case', async () => {
    const { m } = await check('ul2-tiny-sharded', 'ul2-tiny', { hidden: 1e-4, logits: 1e-4, loss: 1e-4 });
    m.dispose();
  });

  it('ul2-tiny-bf16 within its rounding (README: 2.5e-3 on logits)', async () => {
    const { m, errs } = await check('ul2-tiny-bf16', 'ul2-tiny', { hidden: 5e-3, logits: 4e-3, loss: 4e-3 });
    console.log('bf16 rel errors', errs);
    expect(errs.logits).toBeGreaterThan(1e-4); // it really is the rounded model
    m.dispose();
  });

  it('ul2-tiny-fp16 within its rounding (README: 2.7e-4 on logits)', async () => {
    const { m, errs } = await check('ul2-tiny-fp16', 'ul2-tiny', { hidden: 6e-4, logits: 5e-4, loss: 5e-4 });
    console.log('fp16 rel errors', errs);
    m.dispose();
  });
});
