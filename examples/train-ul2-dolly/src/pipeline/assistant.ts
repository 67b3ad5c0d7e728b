import type { T5ForConditionalGeneration } from '@conifer/t5-model';
import { DEMO_CONFIG } from '../demo-config.js';
import { CliError } from '../errors.js';
import type { Int8Mode, ModelSource } from '../options.js';
import { readT5Config } from '../t5-config.js';
import { loadModel, resolveHubModel, type LoadedModel } from './model.js';

const FLAG = '--assistant-model';

/** `vocab_size` of a model's config.json (the embedded demo's own config for the demo model). */
function vocabSize(source: ModelSource, flag: string): number {
  if (source.kind === 'demo') return DEMO_CONFIG.vocab_size;
  if (source.kind !== 'dir') throw new Error(`vocabSize: ${source.kind} source`); // hub ids are downloaded first
  try {
    return readT5Config(source.dir, true).vocab_size;
  } catch (e) {
    if (e instanceof CliError && flag !== '--model') throw new CliError(`${flag} ${source.dir}: ${e.message}`);
    throw e;
  }
}

/**
 * generate's `--assistant-model` (transformers' `assistant_model`), step 1: downloaded when a hub id,
 * its config.json's `vocab_size` checked against the model's before either model's weights load
 * (assisted decoding compares token ids, so both need the same vocabulary: transformers' same-tokenizer
 * path; `@conifer/generate` would refuse it too, but only once both are loaded). `model.source`: the
 * model's source once downloaded (a folder or the demo).
 */
export async function resolveAssistant(
  assistant: ModelSource,
  model: { source: ModelSource; label: string },
  log: (line: string) => void,
): Promise<{ source: ModelSource; hubId: string | null; label: string }> {
  const { source, hubId } = await resolveHubModel(assistant, log, FLAG);
  const label = hubId ?? (source.kind === 'dir' ? source.dir : FLAG);
  const va = vocabSize(source, FLAG);
  const vm = vocabSize(model.source, '--model');
  if (va !== vm) {
    throw new CliError(
      `${FLAG} ${label}: its vocab_size is ${va}, the model's (${model.label}) ${vm}: assisted decoding needs the model's vocabulary (a T5-family checkpoint with the same tokenizer, e.g. google/flan-t5-small for google/flan-ul2)`,
    );
  }
  return { source, hubId, label };
}

/**
 * Step 2: the assistant loaded as `--model` is — same backend, the same `--int8` mode (`auto`
 * resolved by the assistant's own parameter count, so Flan-T5-small stays float32 beside an int8
 * Flan-UL2), without `--int8-skip-modules`, which names the model's modules.
 */
export function loadAssistant(resolved: { source: ModelSource; hubId: string | null }, options: { int8: Int8Mode; seed: number }): Promise<LoadedModel> {
  return loadModel(resolved.source, { int8: options.int8, int8SkipModules: [], seed: options.seed, hubId: resolved.hubId, flag: FLAG });
}

/**
 * Counts the decoder passes of `model` (each `decodeStep` call: one pass, over one token or, in
 * assisted decoding, over the last token and every candidate) until `stop()` is called, which puts
 * the model's own method back. Generation goes through `decodeStep` only, so this is the count of
 * the model's forward passes while decoding.
 */
export function countDecoderPasses(model: T5ForConditionalGeneration): { readonly passes: number; stop(): void } {
  const own = Object.prototype.hasOwnProperty.call(model, 'decodeStep');
  const original = model.decodeStep;
  let passes = 0;
  model.decodeStep = function (this: T5ForConditionalGeneration, ...args: Parameters<T5ForConditionalGeneration['decodeStep']>) {
    passes++;
    return original.apply(this, args);
  } as T5ForConditionalGeneration['decodeStep'];
  return {
    get passes() {
      return passes;
    },
    stop() {
      if (own) model.decodeStep = original;
      else delete (model as { decodeStep?: unknown }).decodeStep;
    },
  };
}
