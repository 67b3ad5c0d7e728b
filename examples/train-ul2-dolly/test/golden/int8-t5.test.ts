// @conifer/int8 linears inside @conifer/t5-model against the golden float32 reference
// (transformers 5.17; fixtures of @conifer/t5-model, see its test/fixtures/PROVENANCE.md).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { readFileSync } from 'node:fs';
import { int8LinearFactory, quantizeAllButLmHead } from '@conifer/int8';
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
