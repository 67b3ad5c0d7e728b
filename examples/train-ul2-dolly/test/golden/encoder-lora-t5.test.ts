// Cross-package golden test: @conifer/lora on @conifer/t5-model's T5EncoderModel (transformers'
// encoder-only T5) with the golden PEFT adapter of ul2-tiny (r 4, q and v of both stacks: 16 layers,
// 32 keys; PEFT 0.21's saved names `base_model.model.encoder.block.0.layer.0.SelfAttention.q.lora_A.weight`).
//
// The encoder-only host has the encoder's linears under the same paths as the seq2seq model, so
// PEFT's q/v targets match its 4 encoder layers and their 8 keys; the 24 decoder keys have no layer.
// PEFT loads such a file: PeftModel.load_adapter → set_peft_model_state_dict (peft/utils/save_and_load.py)
// ends in `model.load_state_dict(peft_model_state_dict, strict=False)`, which returns the decoder keys in
// `load_result.unexpected_keys` without raising. @conifer/lora's loadAdapter does the same and names the
// ignored keys in one warning (`onWarning`, transformers' "led to unexpected keys not found in the model");
// missing keys of injected layers and wrong shapes stay errors (packages/lora/test/unexpected-keys.test.ts).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { injectLora, loadAdapter, LoraLinear, readAdapter } from '@conifer/lora';
import { T5EncoderModel, T5ForConditionalGeneration } from '@conifer/t5-model';
import { beforeAll, describe, expect, it } from 'vitest';
import { loraFixture, relL2, T5_FIXTURES } from './helpers.js';

interface BaseCase {
  input_ids: number[][];
  attention_mask: number[][];
  encoder_last_hidden_state: { shape: number[]; data: number[] };
}
const bc = JSON.parse(readFileSync(join(T5_FIXTURES, 'cases', 'ul2-tiny.json'), 'utf8')) as BaseCase;
const int2d = (rows: number[][]) => tf.tensor2d(rows.flat(), [rows.length, rows[0]!.length], 'int32');
const QV_R4 = loraFixture('ul2-tiny-qv-r4');

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('T5EncoderModel + the golden PEFT adapter (ul2-tiny)', () => {
  it("loadAdapter loads the 4 encoder layers and ignores the 24 decoder keys with one warning (PEFT: unexpected_keys); the same encoder output as T5ForConditionalGeneration with the whole adapter", async () => {
    const encoder = await T5EncoderModel.fromPretrained(loraFixture('ul2-tiny'));
    const seq2seq = await T5ForConditionalGeneration.fromPretrained(loraFixture('ul2-tiny'));
    const warnings: string[] = [];
    const before = tf.memory().numTensors;
    const lora = await loadAdapter(encoder, QV_R4, { onWarning: (m) => warnings.push(m) });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^LoRA: loading adapter "default" from .* led to unexpected keys not found in the model, ignored \(PEFT loads with strict=False\): base_model\.model\.decoder\.block\.0\.layer\.0\.SelfAttention\.q\.lora_A\.weight, .*, … \(24\)$/);
    expect(warnings[0]).not.toMatch(/base_model\.model\.encoder\./); // every encoder key has its layer
    expect([...lora.layers.keys()].sort()).toEqual(['0', '1'].flatMap((b) => ['q', 'v'].map((m) => `encoder.block.${b}.layer.0.SelfAttention.${m}`)));
    const { tensors } = await readAdapter(QV_R4);
    for (const [path, layer] of lora.layers) {
      // each encoder layer holds the file's A and B
      expect(Array.from(layer.loraA.dataSync()), path).toEqual(Array.from(tensors.get(`base_model.model.${path}.lora_A.weight`)!.data));
      expect(Array.from(layer.loraB.dataSync()), path).toEqual(Array.from(tensors.get(`base_model.model.${path}.lora_B.weight`)!.data));
    }
    const full = await loadAdapter(seq2seq, QV_R4);
    const [inputIds, attentionMask] = [int2d(bc.input_ids), int2d(bc.attention_mask)];
    const ours = encoder.forward({ inputIds, attentionMask }).lastHiddenState;
    const enc = seq2seq.encode(inputIds, attentionMask);
    expect(ours.dataSync()).toEqual(enc.lastHiddenState.dataSync());
    seq2seq.disposeEncoder(enc);
    tf.dispose([ours, inputIds, attentionMask]);
    full.unload();
    lora.unload();
    expect(tf.memory().numTensors).toBe(before);
    seq2seq.dispose();
    encoder.dispose();
  });

  it("injectLora + the encoder keys: its layers are PEFT's encoder keys; last_hidden_state = T5ForConditionalGeneration.encode with the whole adapter (bit for bit), ≠ without it", async () => {
    const { config, tensors } = await readAdapter(QV_R4);
    expect(tensors.size).toBe(32);
    const encoderKeys = [...tensors.keys()].filter((k) => k.startsWith('base_model.model.encoder.')).sort();
    expect(encoderKeys).toHaveLength(8);

    const encoder = await T5EncoderModel.fromPretrained(loraFixture('ul2-tiny'));
    const lora = injectLora(encoder, { ...config, inference_mode: true }, { trainable: false });
    expect([...lora.layers.keys()].sort()).toEqual(['0', '1'].flatMap((b) => ['q', 'v'].map((m) => `encoder.block.${b}.layer.0.SelfAttention.${m}`)));
    expect([...lora.stateDict().keys()].sort()).toEqual(encoderKeys); // the host's paths give PEFT's key names
    lora.loadStateDict(new Map(encoderKeys.map((k) => [k, tensors.get(k)!])));
    expect([...encoder.listLinears()].filter(([, l]) => l instanceof LoraLinear)).toHaveLength(4);

    const seq2seq = await T5ForConditionalGeneration.fromPretrained(loraFixture('ul2-tiny'));
    const full = await loadAdapter(seq2seq, QV_R4);
    const [inputIds, attentionMask] = [int2d(bc.input_ids), int2d(bc.attention_mask)];
    const warm = encoder.forward({ inputIds, attentionMask }).lastHiddenState; // t5-model's first-call caches
    warm.dispose();
    const before = tf.memory().numTensors;
    const ours = encoder.forward({ inputIds, attentionMask }).lastHiddenState;
    const enc = seq2seq.encode(inputIds, attentionMask);
    expect(ours.shape).toEqual(bc.encoder_last_hidden_state.shape);
    expect(ours.dataSync()).toEqual(enc.lastHiddenState.dataSync());
    seq2seq.disposeEncoder(enc);
    // The adapter changes the output; without it the encoder is transformers' (golden, ≤ 1e-5 rel).
    const off = lora.withAdapterDisabled(() => encoder.forward({ inputIds, attentionMask }).lastHiddenState);
    const errOff = relL2(off.dataSync(), bc.encoder_last_hidden_state.data);
    expect(errOff).toBeLessThan(1e-5);
    expect(relL2(ours.dataSync(), bc.encoder_last_hidden_state.data)).toBeGreaterThan(1e-3);
    tf.dispose([ours, off]);
    expect(tf.memory().numTensors).toBe(before);

    tf.dispose([inputIds, attentionMask]);
    full.unload();
    seq2seq.dispose();
    lora.unload();
    encoder.dispose();
  });
});
