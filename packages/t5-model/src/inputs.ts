import type * as tf from '@tensorflow/tfjs-core';

/**
 * Shape and dtype checks of the seq2seq model's tensor inputs, done before any op runs, so a bad
 * batch is one error naming the argument and both shapes (tfjs would otherwise fail deep inside with
 * "Size(256) must match the product of shape 4,2,16", or broadcast a mask of the wrong batch silently).
 * Nothing is read back: token ids out of the vocabulary are left to the embedding's gather.
 */

const shape = (t: tf.Tensor) => `[${t.shape.join(', ')}]`;

/** Token ids or labels: a [batch, length] tensor of integers (int32, or float32 holding them). */
function checkIds(where: string, name: string, t: tf.Tensor): void {
  if (t.rank !== 2) throw new Error(`${where}: ${name} must be [batch, length], got ${shape(t)}`);
  if (t.dtype !== 'int32' && t.dtype !== 'float32') throw new Error(`${where}: ${name} must be int32 token ids, got ${t.dtype}`);
}

/** `inputIds` and its `attentionMask`: the same [batch, length] shape (no broadcasting, as transformers indexes it per row). */
export function checkEncoderInputs(where: string, inputIds: tf.Tensor, attentionMask: tf.Tensor): void {
  checkIds(where, 'inputIds', inputIds);
  if (attentionMask.dtype === 'string' || attentionMask.dtype === 'complex64') throw new Error(`${where}: attentionMask must hold 0/1 (int32, float32 or bool), got ${attentionMask.dtype}`);
  if (attentionMask.rank !== 2 || attentionMask.shape[0] !== inputIds.shape[0] || attentionMask.shape[1] !== inputIds.shape[1]) {
    throw new Error(`${where}: attentionMask ${shape(attentionMask)} does not match inputIds ${shape(inputIds)}`);
  }
}

/** `forward`'s inputs: the encoder's, then decoder ids and labels with the encoder's batch and, both given, one shape. */
export function checkForwardInputs(where: string, inputs: { inputIds: tf.Tensor; attentionMask: tf.Tensor; decoderInputIds?: tf.Tensor | undefined; labels?: tf.Tensor | undefined }): void {
  const { inputIds, attentionMask, decoderInputIds, labels } = inputs;
  checkEncoderInputs(where, inputIds, attentionMask);
  const batch = inputIds.shape[0];
  for (const [name, t] of [['decoderInputIds', decoderInputIds], ['labels', labels]] as const) {
    if (!t) continue;
    checkIds(where, name, t);
    if (t.shape[0] !== batch) throw new Error(`${where}: ${name} ${shape(t)} has another batch size than inputIds ${shape(inputIds)}`);
  }
  if (decoderInputIds && labels && decoderInputIds.shape[1] !== labels.shape[1]) {
    throw new Error(`${where}: decoderInputIds ${shape(decoderInputIds)} and labels ${shape(labels)} must have one shape (a label per decoder position)`);
  }
}

/** `decodeStep`'s tokens: [batch, length] ids, the encoder state's batch. */
export function checkDecodeTokens(where: string, tokens: tf.Tensor, encoderHidden: tf.Tensor): void {
  checkIds(where, 'tokens', tokens);
  if (tokens.shape[0] !== encoderHidden.shape[0]) {
    throw new Error(`${where}: tokens ${shape(tokens)} has another batch size than the encoder state [${encoderHidden.shape.join(', ')}]`);
  }
}
