import { streamText, generateText, type GenerateOptions as DecodeOptions } from '@conifer/generate';
import { setupBackend } from './backends.js';
import { enableTensorCores } from './pipeline/tensor-cores.js';
import type { Io } from './io.js';
import type { GenerateOptions } from './options.js';
import { loadAdapterFlag } from './pipeline/adapter.js';
import { loadModel, modelDir, resolveHubModel } from './pipeline/model.js';
import { checkVocabulary, tokenizerFor } from './pipeline/data.js';

/**
 * The decoding options of the CLI flags (the original project passed min 10 / max 250). The token ids
 * (decoder start, EOS, pad) come from the model: its generation_config.json, else its config.json.
 */
export function decodeOptions(opts: Pick<GenerateOptions, 'maxLength' | 'minLength' | 'numBeams' | 'doSample' | 'temperature' | 'topK' | 'topP' | 'seed'>): DecodeOptions {
  return {
    maxLength: opts.maxLength,
    minLength: opts.minLength,
    numBeams: opts.numBeams,
    doSample: opts.doSample,
    temperature: opts.temperature,
    topK: opts.topK,
    topP: opts.topP,
    seed: opts.seed,
  };
}

/** `generate`: base model (+ adapter) + prompts → text, streamed to the terminal when decoding one sequence. */
export async function runGenerate(opts: GenerateOptions, io: Io): Promise<number> {
  const backend = await setupBackend(opts.backend, { maxFreePoolBytes: opts.gpuPoolMiB * 2 ** 20 });
  try {
    const { source, hubId } = await resolveHubModel(opts.model, io.stdout);
    const { model, label, int8 } = await loadModel(source, { int8: opts.int8, int8SkipModules: opts.int8SkipModules, seed: opts.seed, hubId });
    try {
      const lora = opts.adapter ? await loadAdapterFlag(model, opts.adapter) : null;
      const { tokenizer } = await tokenizerFor(modelDir(source));
      checkVocabulary(opts.prompts.map((p) => tokenizer.encode(p)), model.config.vocab_size, label);
      io.stdout(`model ${label}${lora ? ` + adapter ${opts.adapter}` : ''} on ${backend.detail}`);
      // Tuned at one prompt's length: the encoder pass; decoding steps are a few rows each.
      const tc = await enableTensorCores(backend, { tensorCores: opts.tensorCores, int8, dModel: model.config.d_model, tokens: opts.maxSourceLength });
      if (tc) io.stdout(tc);
      const options = decodeOptions(opts);
      for (const prompt of opts.prompts) {
        io.stdout(`\n> ${prompt}`);
        if (opts.numBeams === 1) {
          let line = '';
          for await (const delta of streamText(model, tokenizer, prompt, options)) {
            io.write ? io.write(delta) : (line += delta);
          }
          io.write ? io.write('\n') : io.stdout(line);
        } else {
          const [text] = await generateText(model, tokenizer, prompt, options);
          io.stdout(text ?? '');
        }
      }
      lora?.dispose();
      return 0;
    } finally {
      model.dispose();
    }
  } finally {
    backend.dispose();
  }
}
