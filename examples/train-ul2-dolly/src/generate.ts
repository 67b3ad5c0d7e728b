import { streamText, generateText, generationOptionsWarnings, type GenerateOptions as DecodeOptions } from '@conifer/generate';
import { setupBackend } from './backends.js';
import { enableTensorCores } from './pipeline/tensor-cores.js';
import type { Io } from './io.js';
import type { GenerateOptions } from './options.js';
import { loadAdapterFlag } from './pipeline/adapter.js';
import { countDecoderPasses, loadAssistant, resolveAssistant } from './pipeline/assistant.js';
import { loadModel, modelDir, resolveHubModel, type LoadedModel } from './pipeline/model.js';
import { checkVocabulary, tokenizerFor } from './pipeline/data.js';
import { promptText } from './pipeline/prompts.js';

type DecodeFlags = Pick<
  GenerateOptions,
  | 'maxLength' | 'minLength' | 'numBeams' | 'doSample' | 'temperature' | 'topK' | 'topP' | 'seed'
  | 'numAssistantTokens' | 'numAssistantTokensSchedule' | 'assistantConfidenceThreshold' | 'promptLookupNumTokens' | 'maxMatchingNgramSize'
> &
  Partial<Pick<GenerateOptions, 'maxNewTokens' | 'repetitionPenalty' | 'noRepeatNgramSize' | 'lengthPenalty' | 'numReturnSequences'>>;

/**
 * The decoding options of the CLI flags (the original project passed min 10 / max 250). The token ids
 * (decoder start, EOS, pad) come from the model: its generation_config.json, else its config.json.
 * The assisted-decoding flags pass through under `@conifer/generate`'s names (left out when not given,
 * so the assistant's own generation_config.json supplies them, as transformers reads them from it);
 * `assistantModel` is the loaded assistant.
 */
export function decodeOptions(opts: DecodeFlags, assistantModel?: DecodeOptions['assistantModel']): DecodeOptions {
  const assisted = {
    numAssistantTokens: opts.numAssistantTokens,
    numAssistantTokensSchedule: opts.numAssistantTokensSchedule,
    assistantConfidenceThreshold: opts.assistantConfidenceThreshold,
    promptLookupNumTokens: opts.promptLookupNumTokens,
    maxMatchingNgramSize: opts.maxMatchingNgramSize,
  };
  // transformers' GenerationConfig names under @conifer/generate's; left out when not given (its defaults are transformers')
  const more = {
    maxNewTokens: opts.maxNewTokens,
    repetitionPenalty: opts.repetitionPenalty,
    noRepeatNgramSize: opts.noRepeatNgramSize,
    lengthPenalty: opts.lengthPenalty,
    numReturnSequences: opts.numReturnSequences,
  };
  return {
    maxLength: opts.maxLength,
    minLength: opts.minLength,
    numBeams: opts.numBeams,
    doSample: opts.doSample,
    temperature: opts.temperature,
    topK: opts.topK,
    topP: opts.topP,
    seed: opts.seed,
    ...Object.fromEntries(Object.entries(more).filter(([, v]) => v !== undefined)),
    ...Object.fromEntries(Object.entries(assisted).filter(([, v]) => v !== undefined)),
    ...(assistantModel ? { assistantModel } : {}),
  };
}

/**
 * `generate`: base model (+ adapter) + prompts → text, streamed to the terminal when decoding one sequence.
 * With `--assistant-model` / `--prompt-lookup-num-tokens` (assisted decoding, one prompt per call as
 * transformers requires: one call per `--prompt`, as always here) a last line counts the model's decoder
 * passes against the tokens generated.
 */
export async function runGenerate(opts: GenerateOptions, io: Io): Promise<number> {
  const backend = await setupBackend(opts.backend, { maxFreePoolBytes: opts.gpuPoolMiB * 2 ** 20 });
  let assistant: LoadedModel | null = null;
  try {
    const { source, hubId } = await resolveHubModel(opts.model, io.stdout);
    // the assistant's vocabulary is checked against the model's config before either loads
    const mainLabel = hubId ?? modelDir(source) ?? 'the embedded demo T5';
    const assistantSource = opts.assistantModel ? await resolveAssistant(opts.assistantModel, { source, label: mainLabel }, io.stdout) : null;
    const { model, label, int8 } = await loadModel(source, { int8: opts.int8, int8SkipModules: opts.int8SkipModules, seed: opts.seed, hubId });
    try {
      if (assistantSource) assistant = await loadAssistant(assistantSource, { int8: opts.int8, seed: opts.seed });
      const lora = opts.adapter ? await loadAdapterFlag(model, opts.adapter, opts.doraWeightNorm, (line) => io.stderr(line)) : null;
      const { tokenizer } = await tokenizerFor(modelDir(source));
      // --prompt-template: each prompt as a Dolly instruction in the template training used (original: as it is)
      const texts = opts.prompts.map((p) => promptText(p, opts.promptTemplate));
      checkVocabulary(texts.map((p) => tokenizer.encode(p)), model.config.vocab_size, label);
      io.stdout(`model ${label}${lora ? ` + adapter ${opts.adapter}` : ''} on ${backend.detail}`);
      if (assistant) io.stdout(`assistant ${assistant.label}, linears ${assistant.int8 === 'off' ? 'float32' : `int8 (${assistant.int8})`}`);
      // Tuned at one prompt's length: the encoder pass; decoding steps are a few rows each.
      const tc = await enableTensorCores(backend, { tensorCores: opts.tensorCores, int8, dModel: model.config.d_model, tokens: opts.maxSourceLength });
      if (tc) io.stdout(tc);
      const generateOptions = decodeOptions(opts, assistant?.model);
      if (opts.maxNewTokens !== undefined && opts.explicit.has('max-length')) {
        io.stderr(`warning: both --max-new-tokens ${opts.maxNewTokens} and --max-length ${opts.maxLength} given: --max-new-tokens wins (as transformers' max_new_tokens over max_length)`);
      }
      // transformers' GenerationConfig.validate() minor issues of the flags over the model's generation config, once
      for (const w of generationOptionsWarnings(generateOptions, model)) io.stderr(`warning: ${w}`);
      // texts as transformers' tokenizer.batch_decode(outputs, skip_special_tokens=True): with the tokenizer_config.json's
      // clean_up_tokenization_spaces (T5's: true), streamed or not
      const options = { ...generateOptions, cleanUpTokenizationSpaces: tokenizer.configCleanUpTokenizationSpaces };
      const assisted = assistant !== null || opts.promptLookupNumTokens !== undefined;
      const counter = assisted ? countDecoderPasses(model) : null;
      let tokens = 0;
      try {
        for (const [i, prompt] of texts.entries()) {
          io.stdout(`\n> ${opts.prompts[i]}`);
          if ((opts.numReturnSequences ?? 1) > 1) {
            // several texts per prompt (sampled rows, or the best beams): numbered, not streamed
            const all = await generateText(model, tokenizer, prompt, options);
            for (const [k, text] of all.entries()) io.stdout(`[${k + 1}] ${text}`);
          } else if (opts.numBeams === 1) {
            let line = '';
            const stream = streamText(model, tokenizer, prompt, options);
            let next = await stream.next();
            for (; !next.done; next = await stream.next()) io.write ? io.write(next.value) : (line += next.value);
            io.write ? io.write('\n') : io.stdout(line);
            tokens += next.value.sequences[0]!.length - 1; // the row starts with the decoder start token
          } else {
            const [text] = await generateText(model, tokenizer, prompt, options);
            io.stdout(text ?? '');
          }
        }
      } finally {
        counter?.stop();
      }
      if (counter) {
        const how = assistant ? `assistant ${assistant.label}` : `prompt lookup (${opts.promptLookupNumTokens} tokens)`;
        io.stdout(`\n${how}: ${tokens} tokens in ${counter.passes} decoder passes of the model (${(tokens / Math.max(counter.passes, 1)).toFixed(2)} tokens per pass; 1 without assisted decoding)`);
      }
      lora?.dispose();
      return 0;
    } finally {
      model.dispose();
      assistant?.model.dispose();
    }
  } finally {
    backend.dispose();
  }
}
