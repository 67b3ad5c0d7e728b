// Fixes from an audit against transformers' modeling_t5.py: a checkpoint whose embedding is stored only
// as an embed_tokens copy loads from it; labels out of the vocabulary are an error, not a zero loss.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { parseSafetensors, serializeSafetensors, type TensorToWrite } from '@conifer/safetensors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { T5ForConditionalGeneration } from '../src/index.js';
import { int2d, loadCase, modelDir, relErr, useBackend } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 't5-audit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
beforeAll(async () => {
  await useBackend('cpu');
});

describe('t5-model audit fixes', () => {
  it("a checkpoint without shared.weight loads its decoder.embed_tokens (or encoder's) copy, as transformers ties them: the golden logits", async () => {
    const c = loadCase('ul2-tiny');
    const { tensors } = parseSafetensors(new Uint8Array(readFileSync(join(modelDir('ul2-tiny'), 'model.safetensors'))));
    for (const copy of ['decoder.embed_tokens.weight', 'encoder.embed_tokens.weight']) {
      const dir = join(tmp, copy.split('.')[0]!);
      mkdirSync(dir, { recursive: true });
      const out = new Map<string, TensorToWrite>();
      for (const [k, t] of tensors) out.set(k === 'shared.weight' ? copy : k, { dtype: t.dtype, shape: t.shape, data: t.data });
      writeFileSync(join(dir, 'model.safetensors'), serializeSafetensors(out, { format: 'pt' }));
      for (const f of ['config.json', 'generation_config.json']) copyFileSync(join(modelDir('ul2-tiny'), f), join(dir, f));
      const m = await T5ForConditionalGeneration.fromPretrained(dir);
      const [ids, mask, dec] = [int2d(c.input_ids), int2d(c.attention_mask), int2d(c.decoder_input_ids)];
      const y = m.forward({ inputIds: ids, attentionMask: mask, decoderInputIds: dec }).logits;
      expect(relErr(await y.data(), c.logits.data), copy).toBeLessThan(1e-4);
      tf.dispose([ids, mask, dec, y]);
      m.dispose();
    }
  });

  it('lossSum refuses a label that is neither -100 nor a token id (PyTorch: "Target out of bounds"), instead of a silent zero loss', async () => {
    const m = await T5ForConditionalGeneration.fromPretrained(modelDir('ul2-tiny'));
    const batch = (labels: number[]) => ({ inputIds: Int32Array.from([5, 6, 1]), attentionMask: Int32Array.from([1, 1, 1]), labels: Int32Array.from(labels), batchSize: 1, sourceLength: 3, targetLength: 3 });
    const ok = m.lossSum(batch([2, 7, -100]), false);
    expect(ok.count).toBe(2);
    ok.sum.dispose();
    expect(() => m.lossSum(batch([2, 7, 512]), false)).toThrow(/label 512 is out of bounds: labels are token ids in \[0, 512\) or -100/);
    expect(() => m.lossSum(batch([2, -1, 3]), false)).toThrow(/label -1 is out of bounds/);
    m.dispose();
  });
});
