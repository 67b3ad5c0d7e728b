/**
 * Golden equality of @conifer/generate with transformers 5.17 on the real tiny checkpoints, through
 * @conifer/t5-model (the cross-package check; @conifer/generate's own golden-mini-t5.test.ts does the
 * same with a test-only minimal T5). Fixtures: @conifer/t5-model's copy of the golden models and cases
 * (packages/t5-model/test/fixtures/{models,cases}, PROVENANCE.md there), or CONIFER_GOLDEN.
 * The model is used only through the Seq2Seq contract of docs/interfaces.md.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { generate, generationOptionsFromConfig, type Seq2Seq } from '@conifer/generate';
import { T5ForConditionalGeneration } from '@conifer/t5-model';

// The golden checkpoints and cases ship with @conifer/t5-model's test fixtures (see PROVENANCE.md there).
const GOLDEN = process.env.CONIFER_GOLDEN ?? fileURLToPath(new URL('../../../../packages/t5-model/test/fixtures', import.meta.url));

interface Case {
  input_ids: number[][];
  attention_mask: number[][];
  greedy: { max_new_tokens: number; output: number[][] };
  beam: { num_beams: number; max_new_tokens: number; output: number[][] };
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

for (const name of ['ul2-tiny', 'flan-t5-tiny']) {
  describe(`golden generation: ${name}`, () => {
    const c = JSON.parse(readFileSync(join(GOLDEN, 'cases', `${name}.json`), 'utf8')) as Case;
    const dir = join(GOLDEN, 'models', name);
    const defaults = generationOptionsFromConfig(JSON.parse(readFileSync(join(dir, 'generation_config.json'), 'utf8')));
    const inputs = { inputIds: c.input_ids, attentionMask: c.attention_mask };
    let model: Seq2Seq;

    beforeAll(async () => {
      model = (await T5ForConditionalGeneration.fromPretrained(dir)) as unknown as Seq2Seq;
    });

    it('greedy equals transformers (max_new_tokens 12)', async () => {
      const before = tf.memory().numTensors;
      const out = await generate(model, inputs, { ...defaults, maxNewTokens: c.greedy.max_new_tokens });
      expect(out.sequences).toEqual(c.greedy.output);
      expect(tf.memory().numTensors).toBe(before);
    });

    it("with no token ids given, the loaded model's generation_config.json supplies them (as transformers' generate)", async () => {
      expect((model as { generationConfig?: unknown }).generationConfig).not.toBeNull();
      const out = await generate(model, inputs, { maxNewTokens: c.greedy.max_new_tokens });
      expect(out.sequences).toEqual(c.greedy.output);
    });

    it('beam search equals transformers (num_beams 3, max_new_tokens 12)', async () => {
      const before = tf.memory().numTensors;
      const out = await generate(model, inputs, {
        ...defaults, numBeams: c.beam.num_beams, maxNewTokens: c.beam.max_new_tokens,
      });
      expect(out.sequences).toEqual(c.beam.output);
      expect(tf.memory().numTensors).toBe(before);
    });

    it('the same without the cache (full decoder on the prefix each step)', async () => {
      const greedy = await generate(model, inputs, { ...defaults, maxNewTokens: 12, useCache: false });
      expect(greedy.sequences).toEqual(c.greedy.output);
      const beam = await generate(model, inputs, { ...defaults, numBeams: 3, maxNewTokens: 12, useCache: false });
      expect(beam.sequences).toEqual(c.beam.output);
    });

    it('cached decoding gives the logits of the full decoder on the prefix (≤ 1e-5 rel) at every step', async () => {
      const steps: Array<{ cached: Float32Array; full: Float32Array }> = [];
      // Record the last-position logits of both ways while greedy-decoding with the cache.
      const prefixes: number[][] = c.input_ids.map(() => [0]);
      const spy: Seq2Seq = {
        encode: (i, m) => model.encode(i, m),
        reorderCache: (x, i) => model.reorderCache(x, i),
        reorderEncoder: (e, i) => model.reorderEncoder(e, i),
        disposeCache: (x) => model.disposeCache(x),
        disposeEncoder: (e) => model.disposeEncoder(e),
        decodeStep: (tokens, enc, cache) => {
          const out = model.decodeStep(tokens, enc, cache);
          const cached = out.logits.dataSync() as Float32Array; // (B, 1, V)
          const ids = tf.tensor2d(prefixes, undefined, 'int32'); // (B, L): the whole prefix
          const again = model.decodeStep(ids, enc, null);
          const [, l, v] = again.logits.shape;
          const last = tf.slice(again.logits, [0, l - 1, 0], [-1, 1, v]);
          steps.push({ cached: Float32Array.from(cached), full: Float32Array.from(last.dataSync()) });
          tf.dispose([ids, last, again.logits]);
          model.disposeCache(again.cache);
          return out;
        },
      };
      await generate(spy, inputs, {
        ...defaults, maxNewTokens: 12,
        onToken: (tokens) => tokens.forEach((t, r) => prefixes[r]!.push(t)),
      });
      expect(steps.length).toBeGreaterThan(5);
      for (const { cached, full: f } of steps) {
        let num = 0;
        let den = 0;
        cached.forEach((x, i) => { num += (x - f[i]!) ** 2; den += f[i]! ** 2; });
        expect(Math.sqrt(num / den)).toBeLessThanOrEqual(1e-5);
      }
    });
  });
}
