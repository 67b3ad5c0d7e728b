// @conifer/int8 linears inside @conifer/t5-model against the golden float32 reference
// (transformers 5.17; fixtures of @conifer/t5-model, see its test/fixtures/PROVENANCE.md).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Float32Linear, type Int8Linear, int8LinearFactory, quantizeAllButLmHead, skipModules } from '@conifer/int8';
import { T5ForConditionalGeneration } from '@conifer/t5-model';
import { beforeAll, describe, expect, it } from 'vitest';
import { T5_FIXTURES, relL2 } from './helpers.js';

const FIXTURES = T5_FIXTURES;

interface Case {
  input_ids: number[][];
  attention_mask: number[][];
  labels: number[][];
  logits: { shape: number[]; data: number[] };
  loss: number;
}


beforeAll(async () => {
  await tf.setBackend('cpu');
});

for (const name of ['ul2-tiny', 'flan-t5-tiny']) {
  describe(`int8 linears in ${name}`, () => {
    const c = JSON.parse(readFileSync(`${FIXTURES}/cases/${name}.json`, 'utf8')) as Case;
    for (const mode of ['weight-only', 'llm-int8'] as const) {
      it(`${mode}: logits within 3 % (rel L2) of float32 transformers, loss within 2 %, no leaks`, async () => {
        const model = await T5ForConditionalGeneration.fromPretrained(`${FIXTURES}/models/${name}`, {
          makeLinear: int8LinearFactory({ mode, shouldQuantize: quantizeAllButLmHead }),
        });
        const before = tf.memory().numTensors;
        const inputIds = tf.tensor2d(c.input_ids, undefined, 'int32');
        const attentionMask = tf.tensor2d(c.attention_mask, undefined, 'int32');
        const labels = tf.tensor2d(c.labels, undefined, 'int32');
        const out = model.forward({ inputIds, attentionMask, labels });
        const logits = out.logits.dataSync();
        const loss = out.loss!.dataSync()[0]!;
        const err = relL2(logits, c.logits.data);
        console.log(`${name} ${mode}: logits rel L2 ${err.toExponential(2)}, loss ${loss.toFixed(5)} vs ${c.loss.toFixed(5)}`);
        // Per-row absmax int8 rounds each weight by ≤ absmax/254; through 5 layers that stays ~1 %.
        expect(err).toBeLessThan(0.03);
        expect(err).toBeGreaterThan(0); // the int8 path really ran (float32 would be ~1e-7)
        expect(Math.abs(loss - c.loss) / c.loss).toBeLessThan(0.02);
        tf.dispose([inputIds, attentionMask, labels, out.logits, out.encoderLastHiddenState, out.loss, out.lossSum, out.tokenLoss, out.tokenCount]);
        expect(tf.memory().numTensors).toBe(before);
        model.dispose();
      });
    }
  });
}

describe('int8 model saved in 8 bit (bitsandbytes serialization) and loaded back', () => {
  it('savePretrained({ keepInt8 }) then fromPretrained with the int8 factory: the same int8 values and scales, the same logits (wo kept float32 and listed in llm_int8_skip_modules)', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'conifer-int8-save-'));
    try {
      const makeLinear = int8LinearFactory({ shouldQuantize: skipModules(['wo']) });
      const model = await T5ForConditionalGeneration.fromPretrained(`${FIXTURES}/models/ul2-tiny`, { makeLinear });
      const files = await model.savePretrained(tmp, { keepInt8: true });
      expect(files).toContain('model.safetensors');
      const config = JSON.parse(readFileSync(join(tmp, 'config.json'), 'utf8')) as { quantization_config: { llm_int8_skip_modules: string[] } };
      expect(config.quantization_config.llm_int8_skip_modules).toHaveLength(5 + 1); // 2 + 3 blocks' wo, and lm_head
      const back = await T5ForConditionalGeneration.fromPretrained(tmp, { makeLinear });
      const [a, b] = [new Map(model.listLinears()), new Map(back.listLinears())];
      for (const [path, l] of a) {
        if (path.endsWith('.wo')) {
          expect(b.get(path)).toBeInstanceOf(Float32Linear);
          continue;
        }
        const [x, y] = [await (l as Int8Linear).int8Weight(), await (b.get(path) as Int8Linear).int8Weight()];
        expect(Buffer.compare(Buffer.from(x.weight.buffer), Buffer.from(y.weight.buffer)), path).toBe(0);
        expect(Array.from(y.SCB), path).toEqual(Array.from(x.SCB));
      }
      const logits = (m: T5ForConditionalGeneration) => tf.tidy(() => {
        const ids = tf.tensor2d([[37, 8, 99, 1]], undefined, 'int32');
        return m.forward({ inputIds: ids, attentionMask: tf.onesLike(ids) as tf.Tensor2D, decoderInputIds: tf.tensor2d([[0, 5, 6]], undefined, 'int32') }).logits.dataSync();
      });
      expect(relL2(logits(back), logits(model))).toBeLessThan(1e-7);
      // Half the size of a float32 save for these weights: int8 values + 4 bytes per row.
      expect(statSync(join(tmp, 'model.safetensors')).size).toBeLessThan(0.55 * (await model.savePretrained(join(tmp, 'f32')), statSync(join(tmp, 'f32', 'model.safetensors')).size));
      model.dispose();
      back.dispose();
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
