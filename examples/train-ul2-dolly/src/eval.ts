import { generateText } from '@conifer/generate';
import { loadAdapterFlag } from './pipeline/adapter.js';
import { setupBackend } from './backends.js';
import { enableTensorCores } from './pipeline/tensor-cores.js';
import { decodeOptions } from './generate.js';
import type { Io } from './io.js';
import type { EvalOptions } from './options.js';
import { checkVocabulary, evalBatches, prepareData, tokenizerFor } from './pipeline/data.js';
import { evaluate } from './pipeline/evaluate.js';
import { loadModel, modelDir, resolveHubModel } from './pipeline/model.js';
import { samplePrompt, sourceText } from './pipeline/prompts.js';
import { describeGeneration, generateForBatches, generationOptions, transformersDecoding } from './pipeline/generation-metrics.js';
import { rouge, ROUGE_TYPES } from './pipeline/rouge.js';

/** `eval`: loss per token and the original's summed loss on a split, and generations base vs adapter. */
export async function runEval(opts: EvalOptions, io: Io): Promise<number> {
  const backend = await setupBackend(opts.backend, { maxFreePoolBytes: opts.gpuPoolMiB * 2 ** 20 });
  try {
    const { source, hubId } = await resolveHubModel(opts.model, io.stdout);
    const { tokenizer } = await tokenizerFor(modelDir(source));
    const data = await prepareData({ ...opts, tokenizer });
    const split = opts.split === 'train' ? data.train : data.test;
    const batches = evalBatches(split.examples, opts.batchSize, opts.evalOrder, opts.padToMultipleOf);
    const { model, label, int8 } = await loadModel(source, { int8: opts.int8, int8SkipModules: opts.int8SkipModules, seed: opts.seed, hubId });
    try {
      checkVocabulary(split.examples.flatMap((e) => [e.sourceIds, e.targetIds]), model.config.vocab_size, label);
      const lora = opts.adapter ? await loadAdapterFlag(model, opts.adapter, opts.doraWeightNorm, (line) => io.stderr(line)) : null;
      io.stdout(`model ${label}${lora ? ` + adapter ${opts.adapter}` : ''} on ${backend.detail}`);
      const tokens = opts.batchSize * (opts.maxSourceLength + opts.maxTargetLength);
      const tc = await enableTensorCores(backend, { tensorCores: opts.tensorCores, int8, dModel: model.config.d_model, tokens });
      if (tc) io.stdout(tc);
      io.stdout(`${opts.split} split: ${split.examples.length} examples in ${batches.length} batches`);
      const r = await evaluate(model, batches);
      io.stdout(`eval loss ${r.lossPerToken.toFixed(4)} per target token (${r.tokens} tokens); original's sum of batch means ${r.sumOfBatchMeans.toFixed(2)}`);
      if (opts.predictWithGenerate) {
        // --predict-with-generate: every example of the split generated (the adapter's model when one is given), scored with ROUGE
        const { predictions, references } = await generateForBatches(model, transformersDecoding(data.tokenizer), batches, generationOptions(opts));
        const scores = rouge(predictions, references);
        io.stdout(`rouge of ${predictions.length} generations (${describeGeneration(opts)}): ${ROUGE_TYPES.map((k) => `${k} ${scores[k].toFixed(4)}`).join(' ')}`);
      }
      const samples = split.records.slice(0, opts.samples);
      // decoded as transformers' decode: the tokenizer config's clean_up_tokenization_spaces
      const decode = { ...decodeOptions({ ...opts, minLength: 1, numBeams: 1, doSample: false, temperature: 1, topK: 0, topP: 1 }), cleanUpTokenizationSpaces: data.tokenizer.configCleanUpTokenizationSpaces };
      for (const record of samples) {
        const prompt = sourceText(record, opts.promptTemplate);
        io.stdout(`\n> ${samplePrompt(record, 200)}`);
        io.stdout(`  reference: ${record.response.replace(/\n/g, ' ').slice(0, 200)}`);
        if (lora) {
          lora.disableAdapterLayers();
          io.stdout(`  base:      ${(await generateText(model, data.tokenizer, prompt, decode))[0]}`);
          lora.enableAdapterLayers();
        }
        io.stdout(`  ${lora ? 'adapter:  ' : 'base:     '} ${(await generateText(model, data.tokenizer, prompt, decode))[0]}`);
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
