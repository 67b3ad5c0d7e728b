// The README's "Encoder only (T5EncoderModel)" example, runnable: `npx tsx examples/encoder-model.ts`
// (from packages/t5-model, with the test fixture ul2-tiny).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { T5EncoderModel } from '@conifer/t5-model';

await tf.setBackend('wasm');
// A full seq2seq checkpoint: its decoder.* and lm_head.weight are skipped, never read.
const encoder = await T5EncoderModel.fromPretrained('test/fixtures/models/ul2-tiny');
console.log(encoder.listLinears().length, 'linears, e.g.', encoder.listLinears()[0]![0]);

const inputIds = tf.tensor2d([[15, 18, 35, 10, 1], [11, 8, 1, 0, 0]], [2, 5], 'int32');
const attentionMask = tf.tensor2d([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], [2, 5], 'int32');
const { lastHiddenState } = encoder.forward({ inputIds, attentionMask }); // [batch, seq, d_model]
console.log('last_hidden_state', lastHiddenState.shape);

// Mean-pooled sentence embeddings over the real tokens.
const pooled = tf.tidy(() => {
  const m = tf.expandDims(tf.cast(attentionMask, 'float32'), -1); // (B, S, 1)
  return tf.div(tf.sum(tf.mul(lastHiddenState, m), 1), tf.sum(m, 1)); // (B, d_model)
});
console.log('pooled', pooled.shape, Array.from((await pooled.data()).slice(0, 3), (x) => x.toFixed(4)));

// An encoder-only checkpoint (shared.weight + encoder.*, architectures ["T5EncoderModel"]), as transformers writes it.
const dir = mkdtempSync(join(tmpdir(), 't5-encoder-'));
console.log(await encoder.savePretrained(dir));
const again = await T5EncoderModel.fromPretrained(dir);
console.log(again.numParameters(), 'parameters');

tf.dispose([inputIds, attentionMask, lastHiddenState, pooled]);
encoder.dispose();
again.dispose();
rmSync(dir, { recursive: true, force: true });
console.log('tensors left', tf.memory().numTensors);
