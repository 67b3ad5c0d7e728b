// Prompts given as rows of numbers (`number[][]`, as a tokenizer returns them) become an int32 tensor: before,
// NaN became 0 (a pad id, then masked out when the mask is inferred), 2.5 became 2 and a mask value of 2 stayed 2,
// all without a word, and a negative id reached the model. Each is now one error naming the row, the column and the
// value, before the model is called, with nothing left allocated.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { generate, streamGenerate } from '../src';
import { TableModel, hashedLogits } from './fakes';

const t5 = { decoderStartTokenId: 0, eosTokenId: 1, padTokenId: 0, maxNewTokens: 3 };

describe('inputIds / attentionMask rows: values that are not token ids or 0/1 are refused', () => {
  it('names the position and value of the first bad id or mask value; the model is never called; nothing leaks', async () => {
    const model = new TableModel(12, hashedLogits(12, 7));
    const before = tf.memory().numTensors;
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ inputIds: [[5, 6, 1], [5, Number.NaN, 1]] }, 'inputIds[1][1] is NaN: token ids are integers >= 0'],
      [{ inputIds: [[5, 2.5, 1]] }, 'inputIds[0][1] is 2.5: token ids are integers >= 0'],
      [{ inputIds: [[5, 6, -1]] }, 'inputIds[0][2] is -1: token ids are integers >= 0'],
      [{ inputIds: [['5', 6, 1]] }, 'inputIds[0][0] is "5": token ids are integers >= 0'],
      [{ inputIds: [[5, 6, 1]], attentionMask: [[1, 2, 1]] }, 'attentionMask[0][1] is 2: a mask value is 1 (attend) or 0 (padding)'],
      [{ inputIds: [[5, 6, 1]], attentionMask: [[1, 1, 0.5]] }, 'attentionMask[0][2] is 0.5: a mask value is 1 (attend) or 0 (padding)'],
    ];
    for (const [inputs, message] of cases) {
      await expect(generate(model, inputs as never, t5)).rejects.toThrow(message);
      await expect(streamGenerate(model, { inputIds: (inputs.inputIds as unknown[][]).slice(-1), ...(inputs.attentionMask ? { attentionMask: inputs.attentionMask } : {}) } as never, t5).next()).rejects.toThrow(/is .*: (token ids are|a mask value is)/);
    }
    expect(model.calls.encode).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    // valid rows still generate (ids beyond the vocabulary are the model's to judge: transformers does not check them)
    const ok = await generate(model, { inputIds: [[5, 6, 1], [7, 0, 0]], attentionMask: [[1, 1, 1], [1, 0, 0]] }, t5);
    expect(ok.sequences.length).toBe(2);
    expect(tf.memory().numTensors).toBe(before);
  });
});
