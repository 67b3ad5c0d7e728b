import type { Batch } from '@conifer/dolly-data';
import type { LoraModel, LoraTrainable } from '@conifer/lora';
import type { T5ForConditionalGeneration } from '@conifer/t5-model';

/**
 * The `Trainable` the trainer drives: the T5 model's summed token loss, LoRA's A and B as the only
 * variables, and one dropout seed per optimizer step for both the model's dropout and every LoRA
 * layer's (so a resumed run draws the same masks as an uninterrupted one) — `LoraModel.trainable`.
 */
export function loraTrainable(model: T5ForConditionalGeneration, lora: LoraModel): LoraTrainable<Batch> {
  return lora.trainable<Batch>(model);
}
