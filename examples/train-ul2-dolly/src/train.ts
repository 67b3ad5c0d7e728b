import { generateText } from '@conifer/generate';
import { injectLora } from '@conifer/lora';
import { totalOptimizerSteps, train } from '@conifer/trainer';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { freemem } from 'node:os';
import { join, resolve } from 'node:path';
import { setupBackend } from './backends.js';
import { enableTensorCores } from './pipeline/tensor-cores.js';
import { DEMO_CONFIG } from './demo-config.js';
import { CliError } from './errors.js';
import type { Io } from './io.js';
import type { ModelSource, TrainOptions } from './options.js';
import { decodeOptions } from './generate.js';
import { checkVocabulary, evalBatches, makeSampler, prepareData, tokenizerFor } from './pipeline/data.js';
import { evaluate } from './pipeline/evaluate.js';
import { downloadModel } from './pipeline/hub.js';
import { checkSkipModules, checkTargetModules, downloadWithProgress, loadModel, modelDir } from './pipeline/model.js';
import { samplePrompt, sourceText } from './pipeline/prompts.js';
import { RUN_FLAGS_FILE, checkResumeFlags, writeRunRecord } from './pipeline/resume-check.js';
import { checkResumeCheckpoint } from './pipeline/checkpoint-integrity.js';
import { readResumePoint } from './pipeline/resume-point.js';
import { loraConfig } from './pipeline/lora-config.js';
import { loraTrainable } from './pipeline/trainable.js';
import { withTokenAccuracy } from './pipeline/token-accuracy.js';
import { describeGeneration, generationMetrics, generationOptions, transformersDecoding } from './pipeline/generation-metrics.js';
import { DOLLY_RECORDS } from './dolly-lengths.js';
import { adapterFolder, checkSchedule, reusableFinalEval, trainerHyperparameters } from './training-args.js';
import { countParameters, evalBatchSize, formatPlan, makePlan, resolveInt8, type Plan, type PlanInput, type ResumePoint } from './plan.js';
import { readT5Config, t5Shape, type T5ConfigJson } from './t5-config.js';

/** The config the plan is made from, and what to call it (a hub id is resolved to its downloaded config.json first). */
export function planConfig(model: ModelSource): { config: T5ConfigJson; label: string } {
  switch (model.kind) {
    case 'demo':
      return { config: DEMO_CONFIG, label: 'embedded demo T5 (random weights, real T5 vocabulary)' };
    case 'dir':
      return { config: readT5Config(model.dir, true), label: model.dir };
    case 'config':
      return { config: readT5Config(model.file, false), label: model.file };
    case 'hub':
      throw new CliError(`--model ${model.id}: fetch its config.json first (resolveHubConfig)`);
  }
}

/**
 * The plan for a train command (device memory: --device-memory, else free RAM on cpu/wasm, else unknown).
 * `resumeFrom`: where the run continues ({@link readResumePoint} of the checkpoint {@link checkResumeCheckpoint} found):
 * the plan counts the steps, time and evaluations left; null for a fresh run — `--resume` on an `--out` without a
 * checkpoint included, which evaluates before training as any fresh run does.
 */
export function trainPlan(opts: TrainOptions, resumeFrom: ResumePoint | null = null, label?: string): Plan {
  const planned = planConfig(opts.model);
  const config = planned.config;
  label ??= planned.label;
  // Flags checked against config.json here, so --dry-run refuses what the real run would.
  const shape = t5Shape(config as Record<string, unknown>);
  checkTargetModules(shape, opts.targetModules);
  if (resolveInt8(opts.int8, countParameters(shape).total) !== 'off') checkSkipModules(shape, opts.int8SkipModules);
  const cpuLike = opts.backend === 'cpu' || opts.backend === 'wasm';
  const records = dataRecords(opts.data); // read once: a local file's lines are counted
  // tfjs-backend-wasm's heap stops at 4 GiB, whatever the host has.
  const hostBytes = opts.backend === 'wasm' ? Math.min(freemem(), WASM_HEAP_MAX) : freemem();
  const input: PlanInput = {
    config,
    label,
    int8: opts.int8,
    int8SkipModules: opts.int8SkipModules,
    r: opts.r,
    loraAlpha: opts.loraAlpha,
    targetModules: opts.targetModules,
    useDora: opts.useDora,
    loraDropout: opts.loraDropout,
    optim: opts.optim,
    batchSize: opts.batchSize,
    gradAccum: opts.gradAccum,
    batchTokens: opts.batchTokens,
    padToMultipleOf: opts.padToMultipleOf,
    promptTemplate: opts.promptTemplate,
    maxSourceLength: opts.maxSourceLength,
    maxTargetLength: opts.maxTargetLength,
    epochs: opts.epochs,
    limit: opts.limit,
    ...(records !== undefined ? { records } : {}),
    maxSteps: opts.maxSteps,
    evalEvery: opts.evalEvery,
    evalDelay: opts.evalDelay,
    evalOnStart: opts.evalOnStart,
    evalOrder: opts.evalOrder,
    loadBestModelAtEnd: opts.loadBestModelAtEnd,
    resume: resumeFrom !== null,
    ...(resumeFrom !== null ? { resumeFrom } : {}),
    gradientCheckpointing: opts.gradientCheckpointing,
    backend: opts.backend,
    deviceTflops: opts.deviceTflops,
    predictWithGenerate: opts.predictWithGenerate,
    generationMaxLength: opts.generationMaxLength,
    generationNumBeams: opts.generationNumBeams,
    ...(opts.deviceMemoryGB !== undefined
      ? { deviceMemoryBytes: opts.deviceMemoryGB * 1e9, deviceMemorySource: '--device-memory' }
      : cpuLike
        ? { deviceMemoryBytes: hostBytes, deviceMemorySource: opts.backend === 'wasm' && hostBytes === WASM_HEAP_MAX ? 'the wasm heap limit' : 'free RAM' }
        : {}),
  };
  return makePlan(input);
}

/**
 * Records in the data the run will read, for the plan: the shipped Dolly copy's count or a local file's
 * non-blank lines (cheap, no parsing); undefined for hub data not yet downloaded (Dolly 15K assumed).
 */
function dataRecords(data: string | undefined): number | undefined {
  if (data === undefined) return DOLLY_RECORDS;
  if (data === 'hub' || data.startsWith('hf://')) return undefined;
  let n = 0;
  for (const line of readFileSync(data, 'utf8').split('\n')) if (line.trim() !== '') n++;
  return n;
}

/** tfjs-backend-wasm's largest heap (its `getHeapMax()`: 65,535 pages of 64 KiB). */
const WASM_HEAP_MAX = 4294901760;

/** Where a run writes: adapters, checkpoints, metrics.jsonl and loss-curve.svg. */
export function outPaths(out: string) {
  const root = resolve(out);
  return {
    root,
    adapter: join(root, 'adapter'),
    checkpoints: join(root, 'checkpoints'),
  };
}

/** `train`: plan → backend → data → model (int8) → LoRA → train (eval, adapters, checkpoints) → sample. */
export async function runTrain(opts: TrainOptions, io: Io): Promise<number> {
  const hubId = opts.model.kind === 'hub' ? opts.model.id : null;
  if (hubId) {
    // The plan needs only config.json: fetch that, plan, and download the weights only for a real run.
    const dir = await downloadModel(hubId, { configOnly: true });
    opts = { ...opts, model: { kind: 'config', file: join(dir, 'config.json') } };
  }
  const paths = outPaths(opts.out);
  // --resume continues the newest checkpoint under --out; with none there the run (and its plan) is a fresh one.
  // A damaged checkpoint: one error, not a silent fresh start (the dry run refuses it too).
  const resumeFrom = opts.resume ? await checkResumeCheckpoint(paths.checkpoints) : null;
  if (resumeFrom !== null) {
    // refused (before the model loads; the dry run too, so it never plans a run that would be refused) or, for the
    // logging/eval/save cadence only, one warning
    const warning = await checkResumeFlags(paths.checkpoints, opts);
    if (warning) io.stderr(warning);
  }
  // the plan counts what is left after it: its step, data cursor, last evaluation, early stop (state.json, no tensor read)
  const plan = trainPlan(opts, resumeFrom !== null ? await readResumePoint(resumeFrom, opts) : null, hubId ?? undefined);
  io.stdout(formatPlan(plan));
  if (opts.resume && resumeFrom === null) io.stdout(`--resume: no checkpoint under ${paths.checkpoints}: a fresh run`);
  if (opts.dryRun) return 0;
  // a run record alone (a run that died before writing anything else) is not a checkpoint
  if (!opts.resume && existsSync(paths.checkpoints) && (await readdir(paths.checkpoints)).some((f) => f !== RUN_FLAGS_FILE)) {
    throw new CliError(`--out ${opts.out} already holds checkpoints: pass --resume to continue that run, or another --out`);
  }
  if (hubId) opts = { ...opts, model: { kind: 'dir', dir: await downloadWithProgress(hubId, io.stdout) } };
  const backend = await setupBackend(opts.backend, { maxFreePoolBytes: opts.gpuPoolMiB * 2 ** 20 });
  try {
    io.stdout(`  backend      ${backend.detail}`);
    const { tokenizer, source: tokenizerSource } = await tokenizerFor(modelDir(opts.model));
    const data = await prepareData({ ...opts, tokenizer });
    const n = (x: number) => x.toLocaleString('en-US');
    io.stdout(`  data         ${n(data.records.length)} records from ${data.path}: ${n(data.train.examples.length)} train / ${n(data.test.examples.length)} test; tokenizer: ${tokenizerSource}`);
    const sampler = makeSampler(data.train.examples, { batchSize: opts.batchSize, batchTokens: opts.batchTokens, seed: opts.seed, padToMultipleOf: opts.padToMultipleOf });
    // The schedule against the run's real length (e.g. num_decay_steps longer than the run), before the model loads.
    const totalSteps = totalOptimizerSteps((e) => sampler.batchesPerEpoch(e), opts.epochs, opts.gradAccum, opts.maxSteps);
    checkSchedule(opts, totalSteps);
    const testBatches = evalBatches(data.test.examples, evalBatchSize(opts.batchSize), opts.evalOrder, opts.padToMultipleOf);
    // label: the adapter's base_model_name_or_path (the hub id when downloaded)
    const { model, int8, label } = await loadModel(opts.model, { int8: opts.int8, int8SkipModules: opts.int8SkipModules, seed: opts.seed, hubId, gradientCheckpointing: opts.gradientCheckpointing });
    try {
      checkVocabulary([...data.train.examples, ...data.test.examples].flatMap((e) => [e.sourceIds, e.targetIds]), model.config.vocab_size, label);
      const lora = injectLora(model, loraConfig(opts), { seed: opts.seed, doraWeightNorm: opts.doraWeightNorm });
      // transformers' label_smoothing_factor (train and eval losses) and neftune_noise_alpha (training forwards only)
      model.labelSmoothingFactor = opts.labelSmoothingFactor;
      model.neftuneNoiseAlpha = opts.neftuneNoiseAlpha;
      const skipped = int8 !== 'off' && opts.int8SkipModules.length ? `, ${opts.int8SkipModules.join(',')} float32` : '';
      io.stdout(`  model        ${label}, linears ${int8 === 'off' ? 'float32' : `int8 (${int8})`}${skipped}${opts.gradientCheckpointing ? ', gradient checkpointing' : ''}`);
      const tokens = opts.batchTokens ?? opts.batchSize * (opts.maxSourceLength + opts.maxTargetLength);
      const tc = await enableTensorCores(backend, { tensorCores: opts.tensorCores, int8, dModel: model.config.d_model, tokens });
      if (tc) io.stdout(tc);
      io.stdout(`  LoRA         ${lora.printTrainableParameters(null)}`);
      if (opts.predictWithGenerate) io.stdout(`  generate     at each evaluation, for the ${n(data.test.examples.length)} eval examples: ${describeGeneration(opts)} (eval_rouge1, eval_rouge2, eval_rougeL, eval_rougeLsum)`);
      // Resuming a checkpoint, the adapter's trained values come from it inside train(): an eval here would
      // measure the fresh adapter, so it is skipped (the metrics hold the run's own evaluations). --resume
      // without a checkpoint is a fresh run: evaluated. With --eval-on-start the trainer makes this evaluation
      // itself (step 0, in metrics.jsonl; not again when it resumes).
      const before = resumeFrom !== null || opts.evalOnStart ? null : await evaluate(model, testBatches);
      if (before) io.stdout(`eval loss before training: ${before.lossPerToken.toFixed(4)} per target token (${before.tokens} tokens)`);
      await mkdir(paths.root, { recursive: true });
      let beforeLoss = before?.lossPerToken;
      let adapterWritten = false;
      const trainable = loraTrainable(model, lora);
      // --metric-for-best-model accuracy: eval_accuracy from the eval loss pass's own logits
      const accuracy = opts.metricForBestModel === 'accuracy' ? withTokenAccuracy(model, trainable, () => lora.eval()) : null;
      // --predict-with-generate: eval_rouge* from generated texts at each evaluation (with eval_accuracy when asked for)
      const generated = opts.predictWithGenerate ? generationMetrics(model, transformersDecoding(data.tokenizer), generationOptions(opts), () => lora.eval(), accuracy?.computeMetrics) : null;
      const computeMetrics = generated ?? accuracy?.computeMetrics;
      // the flags the checkpoint's tensors do not show (rsLoRA, init, prompt template, padding multiple, data flags, cadence): what a later --resume compares
      await writeRunRecord(paths.checkpoints, opts);
      const result = await train({
        ...trainerHyperparameters(opts),
        model: accuracy?.trainable ?? trainable,
        ...(computeMetrics ? { computeMetrics } : {}),
        data: sampler,
        evalData: testBatches,
        onSave: async (info) => {
          const folder = adapterFolder(info, opts.saveStrategy, totalSteps);
          if (folder) await lora.saveAdapter(join(paths.root, folder), { baseModelNameOrPath: label });
          await lora.saveAdapter(paths.adapter, { baseModelNameOrPath: label });
          adapterWritten = true;
        },
        checkpointDir: paths.checkpoints,
      });
      result.optimizer.dispose();
      const start = opts.evalOnStart ? result.metrics.find((m) => m.type === 'eval' && m.step === 0) : undefined;
      if (start?.type === 'eval') beforeLoss = start.loss;
      if (opts.saveStrategy === 'best') {
        io.stdout(result.best && adapterWritten
          ? `best evaluation: step ${result.best.step}, ${result.best.metric && result.best.metric !== 'eval_loss' ? `${result.best.metric} ${result.best.value!.toFixed(4)}` : `eval loss ${result.best.loss.toFixed(4)}`}: its adapter is ${paths.adapter}${opts.loadBestModelAtEnd || result.best.step === result.step ? '' : ` (the eval and sample below use step ${result.step}'s)`}`
          : `--save-strategy best: no evaluation reached a best, so no adapter was written`);
      }
      lora.eval(); // the last training step left LoRA's dropout on: off for the eval and the sample
      // The trainer's own eval at the last step, when it made one (same weights, same batches), else a new one.
      const last = reusableFinalEval(result, opts.loadBestModelAtEnd);
      const after = last ? { lossPerToken: last.loss, sumOfBatchMeans: last.sumOfBatchMeans } : await evaluate(model, testBatches);
      io.stdout(`eval loss after training:  ${after.lossPerToken.toFixed(4)} per target token${beforeLoss !== undefined ? ` (was ${beforeLoss.toFixed(4)})` : ''}; original's sum of batch means ${after.sumOfBatchMeans.toFixed(2)}`);
      io.stdout(`stopped: ${result.stopReason} after ${result.step} optimizer steps${result.skippedSteps ? ` (${result.skippedSteps} skipped)` : ''}`);
      io.stdout('wrote:');
      for (const f of await listOut(paths.root)) io.stdout(`  ${f}`);
      const record = data.test.records[0];
      if (record) {
        const prompt = sourceText(record, opts.promptTemplate);
        const decode = decodeOptions({ ...opts, maxLength: 32, minLength: 1, numBeams: 1, doSample: false, temperature: 1, topK: 0, topP: 1 });
        // decoded as transformers' decode: the tokenizer config's clean_up_tokenization_spaces
        const [text] = await generateText(model, data.tokenizer, prompt, { ...decode, cleanUpTokenizationSpaces: data.tokenizer.configCleanUpTokenizationSpaces });
        io.stdout(`sample (held-out prompt, greedy, 32 tokens):\n> ${samplePrompt(record, 160)}\n${text}`);
      }
      lora.dispose();
      return 0;
    } finally {
      model.dispose();
    }
  } finally {
    backend.dispose();
  }
}

async function listOut(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(root)).sort()) {
    const p = join(root, name);
    if (name === 'checkpoints') {
      const inside = await readdir(p);
      const count = inside.filter((n) => n.startsWith('checkpoint-')).length;
      out.push(`${p}/ (${count} resumable checkpoint${count === 1 ? '' : 's'})`);
      for (const f of inside.filter((n) => !n.startsWith('checkpoint-')).sort()) out.push(`${join(p, f)}`);
    } else if (existsSync(join(p, 'adapter_model.safetensors'))) {
      out.push(`${p}/ (adapter_config.json, adapter_model.safetensors)`);
    } else out.push(p);
  }
  return out;
}
