import type { Batch } from '@conifer/dolly-data';
import type { LoraModel } from '@conifer/lora';
import type { T5ForConditionalGeneration } from '@conifer/t5-model';
import type * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';

/**
 * The `Trainable` the trainer drives: the T5 model's summed token loss, LoRA's A and B as the only
 * variables, and one dropout seed per optimizer step for both the model's dropout and every LoRA
 * layer's (so a resumed run draws the same masks as an uninterrupted one).
 */
export function loraTrainable(model: T5ForConditionalGeneration, lora: LoraModel) {
  return {
    lossSum(batch: Batch, training: boolean): { sum: tf.Scalar; count: number } {
      if (training) lora.train();
      else lora.eval();
      return model.lossSum(batch, training);
    },
    trainableVariables(): tf.Variable[] {
      return lora.trainableVariables();
    },
    setDropoutSeed(seed: number): void {
      model.setDropoutSeed(seed);
      for (const [path, layer] of lora.layers) {
        layer.setRandomState(seedrandom(`${seed}:${path}`, { state: true }).state());
      }
    },
  };
}
