/**
 * Golden transformers 5.17 outputs (greedy, beam 3) reproduced with a test-only minimal T5 (mini-t5.ts)
 * on the tiny golden checkpoints, read from the copy shipped with @conifer/t5-model's tests
 * (packages/t5-model/test/fixtures, see its PROVENANCE.md; CONIFER_GOLDEN points elsewhere). The
 * cross-package version of this check, against @conifer/t5-model itself, is
 * examples/train-ul2-dolly/test/golden/generate-t5.test.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate, generationOptionsFromConfig } from '../src/index.js';
import { MiniT5 } from './mini-t5.js';

const GOLDEN = process.env.CONIFER_GOLDEN ?? fileURLToPath(new URL('../../t5-model/test/fixtures', import.meta.url));

interface Case {
  input_ids: number[][];
  attention_mask: number[][];
  decoder_input_ids: number[][];
  logits: { shape: number[]; data: number[] };
  greedy: { max_new_tokens: number; output: number[][] };
  beam: { num_beams: number; max_new_tokens: number; output: number[][] };
}

describe('golden outputs with a minimal T5', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  for (const name of ['ul2-tiny', 'flan-t5-tiny']) {
    describe(name, () => {
      const dir = join(GOLDEN, 'models', name);
      let c: Case;
      let model: MiniT5;
      let defaults: ReturnType<typeof generationOptionsFromConfig>;
      let inputs: { inputIds: number[][]; attentionMask: number[][] };
      beforeAll(() => {
        c = JSON.parse(readFileSync(join(GOLDEN, 'cases', `${name}.json`), 'utf8')) as Case;
        model = new MiniT5(dir);
        defaults = generationOptionsFromConfig(JSON.parse(readFileSync(join(dir, 'generation_config.json'), 'utf8')));
        inputs = { inputIds: c.input_ids, attentionMask: c.attention_mask };
      });
      afterAll(() => model.dispose());

      it('the minimal T5 reproduces the golden teacher-forced logits (so the checks below test generate)', () => {
        const ids = tf.tensor2d(c.input_ids, undefined, 'int32');
        const mask = tf.tensor2d(c.attention_mask, undefined, 'int32');
        const dec = tf.tensor2d(c.decoder_input_ids, undefined, 'int32');
        const enc = model.encode(ids, mask);
        const out = model.decodeStep(dec, enc, null);
        const got = out.logits.dataSync();
        let num = 0;
        let den = 0;
        c.logits.data.forEach((w, i) => { num += (got[i]! - w) ** 2; den += w * w; });
        expect(Math.sqrt(num / den)).toBeLessThan(1e-5);
        model.disposeCache(out.cache);
        model.disposeEncoder(enc);
        tf.dispose([ids, mask, dec, out.logits]);
      });

      it('greedy equals transformers', async () => {
        const before = tf.memory().numTensors;
        const out = await generate(model, inputs, { ...defaults, maxNewTokens: c.greedy.max_new_tokens });
        expect(out.sequences).toEqual(c.greedy.output);
        expect(tf.memory().numTensors).toBe(before);
      });

      it('beam search (num_beams 3) equals transformers, with and without the cache', async () => {
        const before = tf.memory().numTensors;
        const o = { ...defaults, numBeams: c.beam.num_beams, maxNewTokens: c.beam.max_new_tokens };
        expect((await generate(model, inputs, o)).sequences).toEqual(c.beam.output);
        expect((await generate(model, inputs, { ...o, useCache: false })).sequences).toEqual(c.beam.output);
        expect(tf.memory().numTensors).toBe(before);
      });
    });
  }
});
