// Cross-package golden test: @conifer/lora's withAdapterDisabled around an async @conifer/generate
// call on @conifer/t5-model's ul2-tiny with the golden PEFT adapter. PEFT's `with
// model.disable_adapter(): model.generate(...)` (peft/peft_model.py `PeftModel.disable_adapter`, a
// context manager: the adapter layers stay disabled until the block ends) gives the base model's
// generation; here the block is the promise generate returns, whose decoding steps run after it has
// returned. Checked against transformers' greedy and beam outputs of the plain ul2-tiny
// (t5-model's cases/ul2-tiny.json), and the adapter back on afterwards against PEFT's logits_step0.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate, generationOptionsFromConfig, type Seq2Seq } from '@conifer/generate';
import { loadAdapter } from '@conifer/lora';
import { T5ForConditionalGeneration } from '@conifer/t5-model';
import { beforeAll, describe, expect, it } from 'vitest';
import { loraFixture, relL2, T5_FIXTURES } from './helpers.js';

interface LoraCase {
  input_ids: number[][];
  attention_mask: number[][];
  labels: number[][];
  logits_step0: { shape: number[]; data: number[] };
}
interface BaseCase {
  input_ids: number[][];
  attention_mask: number[][];
  greedy: { max_new_tokens: number; output: number[][] };
  beam: { num_beams: number; max_new_tokens: number; output: number[][] };
}
const lc = JSON.parse(readFileSync(loraFixture('lora-ul2-tiny.json'), 'utf8')) as LoraCase;
const bc = JSON.parse(readFileSync(join(T5_FIXTURES, 'cases', 'ul2-tiny.json'), 'utf8')) as BaseCase;
const int2d = (rows: number[][]) => tf.tensor2d(rows.flat(), [rows.length, rows[0]!.length], 'int32');

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('withAdapterDisabled(async () => generate(…)) on ul2-tiny with the golden adapter', () => {
  it('greedy and beam inside equal transformers\' base-model outputs; the adapter is on again afterwards (PEFT logits_step0); no leaks', async () => {
    expect(lc.input_ids).toEqual(bc.input_ids); // the same prompts in both golden cases
    const model = await T5ForConditionalGeneration.fromPretrained(loraFixture('ul2-tiny'));
    const lora = await loadAdapter(model, loraFixture('ul2-tiny-qv-r4'));
    const seq2seq = model as unknown as Seq2Seq;
    const defaults = generationOptionsFromConfig(JSON.parse(readFileSync(loraFixture('ul2-tiny/generation_config.json'), 'utf8')));
    const inputs = { inputIds: bc.input_ids, attentionMask: bc.attention_mask };
    const greedy = { ...defaults, maxNewTokens: bc.greedy.max_new_tokens };
    const beam = { ...defaults, numBeams: bc.beam.num_beams, maxNewTokens: bc.beam.max_new_tokens };

    // With the adapter the tokens differ from the base model's: the check below can fail.
    const adapted = await generate(seq2seq, inputs, greedy);
    expect(adapted.sequences).not.toEqual(bc.greedy.output);

    const before = tf.memory().numTensors;
    const pending = lora.withAdapterDisabled(async () => generate(seq2seq, inputs, greedy));
    // Still off while the promise runs (before ea15668 the layers came back on at its first await).
    expect([...lora.layers.values()].every((l) => !l.adapterEnabled)).toBe(true);
    expect((await pending).sequences).toEqual(bc.greedy.output);
    const beamOut = await lora.withAdapterDisabled(() => generate(seq2seq, inputs, beam));
    expect(beamOut.sequences).toEqual(bc.beam.output);
    expect(tf.memory().numTensors).toBe(before);

    // Back on: PEFT's logits with the adapter.
    expect([...lora.layers.values()].every((l) => l.adapterEnabled)).toBe(true);
    const [inputIds, attentionMask, labels] = [int2d(lc.input_ids), int2d(lc.attention_mask), int2d(lc.labels)];
    const logits = tf.tidy(() => model.forward({ inputIds, attentionMask, labels }).logits);
    expect(relL2(logits.dataSync(), lc.logits_step0.data)).toBeLessThan(1e-4);
    tf.dispose([logits, inputIds, attentionMask, labels]);
    lora.unload();
    model.dispose();
  });
});
