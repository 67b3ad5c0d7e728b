import { accessSync, constants, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEMO_TRAIN_DEFAULTS } from './demo-config.js';
import { UsageError } from './errors.js';
import { checkSchedule, parseLrSchedulerKwargs } from './training-args.js';
import { roundUp } from '@conifer/dolly-data';
import { GenerationOptionsError, resolveOptions } from '@conifer/generate';
import { isAdapterHubId, LoraConfigError, resolveLoraConfig } from '@conifer/lora';
import {
  ASSISTANT_SCHEDULES,
  BACKENDS,
  BEST_MODEL_METRICS,
  GENERATION_BEST_MODEL_METRICS,
  INIT_LORA_WEIGHTS,
  PROMPT_TEMPLATES,
  DORA_WEIGHT_NORMS,
  EVAL_ORDERS,
  INT8_MODES,
  LR_SCHEDULER_TYPES,
  MERGE_DTYPES,
  OPTIMS,
  SAVE_STRATEGIES,
  SPLITS,
  T5_LINEAR_NAMES,
  type AssistantSchedule,
  type BackendName,
  type BestModelMetric,
  type CommandOptions,
  type DoraWeightNormFlag,
  type EvalOptions,
  type EvalOrder,
  type GenerateOptions,
  type InitLoraWeightsFlag,
  type PromptTemplateName,
  type Int8Mode,
  type LrSchedulerType,
  type MergeDtype,
  type MergeOptions,
  type ModelOptions,
  type ModelSource,
  type Optim,
  type ParsedCommandLine,
  type SaveStrategy,
  type SplitName,
  type TrainOptions,
} from './options.js';
import { loraConfig, type LoraFlags } from './pipeline/lora-config.js';

export const PROGRAM = 'conifer-train-ul2-dolly';
export const COMMANDS = ['train', 'generate', 'eval', 'merge'] as const;
export type CommandName = (typeof COMMANDS)[number];

/** The original project's prompt (its README's usage example). */
export const DEFAULT_PROMPT = 'Write a story about an lamb named Dolly that went to the zoo.';

interface Flag {
  name: string;
  /** Placeholder of the value in the help; absent = a boolean switch. */
  value?: string;
  multiple?: boolean;
  /** The default as the help shows it. */
  def?: string;
  help: string;
}

const COMMON: Flag[] = [
  { name: 'model', value: 'DIR|FILE|ID', def: 'the embedded demo model (random weights)', help: 'Hugging Face snapshot folder, a bare config.json (--dry-run), or a hub id such as google/flan-ul2' },
  { name: 'int8', value: INT8_MODES.join('|'), def: `auto (weight-only above 1 B parameters; demo ${DEMO_TRAIN_DEFAULTS.int8})`, help: 'frozen weights as int8: weight-only dequantizes, llm-int8 multiplies in int8' },
  { name: 'int8-skip-modules', value: 'LIST', def: 'none (lm_head stays float32 always)', help: "comma-separated modules kept float32 under --int8 (bitsandbytes' llm_int8_skip_modules, matched as transformers does): projection names (wo = how transformers loads a T5 in 8 bit) or module paths with all they contain (encoder, decoder.block.0)" },
  { name: 'backend', value: BACKENDS.join('|'), def: 'wasm', help: 'tfjs backend; tensorflow = @tensorflow/tfjs-node-gpu, installed by you on a CUDA machine' },
  { name: 'seed', value: 'N', def: '42', help: 'seed of the demo weights, LoRA init, dropout, shuffling and sampling' },
  { name: 'max-source-length', value: 'N', def: `512 (demo ${DEMO_TRAIN_DEFAULTS.maxSourceLength})`, help: 'prompt tokens kept' },
  { name: 'no-tensor-cores', help: 'webgpu: keep the tiled int8 kernels even where the GPU offers subgroup matrices (tensor cores; not yet run on a GPU)' },
  { name: 'dora-weight-norm', value: 'factored|direct', def: 'factored', help: "DoRA adapters (--use-dora, or a use_dora adapter loaded): factored = ‖W‖² cached, cheap, loses precision where s·B·A nearly cancels a row of W and quantizes A on llm-int8 bases; direct = PEFT's norm (and, in training with --lora-dropout, PEFT's base term) from the dequantized weight at every training forward; generate and eval (a frozen adapter) compute the norm once and keep it, in both modes (see @conifer/lora's README)" },
  { name: 'gpu-pool-mib', value: 'N', def: '2048', help: 'webgpu: MiB of released GPU buffers kept for reuse (tfjs keeps all of them otherwise, and varied batch shapes grow that pool without bound)' },
];

const HELP: Flag = { name: 'help', help: 'print this help' };

/** transformers' Seq2SeqTrainingArguments generation flags (train and eval). */
const GENERATION_FLAGS = (what: string): Flag[] => [
  { name: 'predict-with-generate', help: `transformers' predict_with_generate: ${what}` },
  { name: 'generation-max-length', value: 'N', def: "the model's generation config (else 20 new tokens)", help: "transformers' generation_max_length: most decoder tokens of those generations, the start token included; needs --predict-with-generate" },
  { name: 'generation-num-beams', value: 'N', def: "the model's generation config (else 1, greedy)", help: "transformers' generation_num_beams: beam search width of those generations; needs --predict-with-generate" },
];

/** --prompt-template and --pad-to-multiple-of (train and eval). */
const PROMPT_TEMPLATE_FLAG = (help: string): Flag => ({ name: 'prompt-template', value: PROMPT_TEMPLATES.join('|'), def: 'original', help });
const PAD_TO_MULTIPLE_FLAG: Flag = { name: 'pad-to-multiple-of', value: 'N', def: '1 (pad to the longest row only)', help: "DataCollatorForSeq2Seq's pad_to_multiple_of: each batch's source and target lengths rounded up to a multiple of N (e.g. 8 for tensor cores); the loss ignores the padding" };

const TRAIN: Flag[] = [
  ...COMMON,
  { name: 'out', value: 'DIR', def: 'conifer-out', help: 'where adapters, checkpoints, metrics.jsonl and the loss curve are written' },
  { name: 'data', value: 'FILE|hub|hf://…', def: 'the Dolly 15K copy shipped in the repo', help: 'Dolly-format jsonl (instruction, context, response, category); hub = databricks/databricks-dolly-15k from the Hugging Face Hub, or hf://datasets/<owner>/<name>[/<file>.jsonl]' },
  { name: 'limit', value: 'N', def: `all (demo ${DEMO_TRAIN_DEFAULTS.limit})`, help: 'records used before the 80/20 split' },
  { name: 'r', value: 'N', def: '8', help: 'LoRA rank' },
  { name: 'lora-alpha', value: 'N', def: '32', help: 'LoRA alpha (scaling = alpha / r)' },
  { name: 'lora-dropout', value: 'P', def: '0.1', help: 'dropout on the LoRA input' },
  { name: 'target-modules', value: 'LIST', def: 'q,v', help: `comma-separated projections to adapt (${T5_LINEAR_NAMES.join(', ')})` },
  { name: 'use-dora', help: "DoRA, weight-decomposed LoRA (PEFT's use_dora): each adapted projection also trains a magnitude per output row; the adapter is saved as PEFT saves it" },
  { name: 'use-rslora', help: "rank-stabilized LoRA (PEFT's use_rslora): scaling = lora_alpha / √r instead of lora_alpha / r; saved in adapter_config.json, so generate, eval and merge (and PEFT) apply it" },
  { name: 'init-lora-weights', value: INIT_LORA_WEIGHTS.join('|'), def: 'true', help: "PEFT's init_lora_weights: true = A Kaiming-uniform, B zeros (the adapter starts as a no-op); false = B random too; gaussian = A ~ N(0, 1/r²), B zeros; orthogonal = A and B with orthogonal row spaces, B·A = 0 (even --r); saved in adapter_config.json" },
  PROMPT_TEMPLATE_FLAG("how a Dolly record becomes the model's text: original = instruction + newline + context, target the response (the original project's); dolly = Databricks Dolly's training format (### Instruction / Input / ### Response, target ending in ### End); alpaca = Stanford Alpaca's. eval and generate take the same flag: give them the template the adapter was trained with"),
  PAD_TO_MULTIPLE_FLAG,
  { name: 'lr', value: 'X', def: `1e-4 (demo ${DEMO_TRAIN_DEFAULTS.lr})`, help: "peak learning rate (transformers' learning_rate), scaled by --lr-scheduler-type" },
  { name: 'lr-scheduler-type', value: 'TYPE', def: 'linear', help: `transformers' lr_scheduler_type: ${LR_SCHEDULER_TYPES.join(', ')} (constant with a warmup warms up, as constant_with_warmup)` },
  { name: 'lr-scheduler-kwargs', value: 'JSON', def: 'none', help: `transformers' lr_scheduler_kwargs, e.g. '{"num_cycles": 2}' (cosine_with_restarts), '{"min_lr_rate": 0.1}' (cosine_with_min_lr and cosine_warmup_with_min_lr, required), '{"num_decay_steps": 100}' (warmup_stable_decay, required)` },
  { name: 'optim', value: OPTIMS.join('|'), def: 'adamw_torch', help: "transformers' optim: AdamW, or Adafactor as transformers' Trainer builds it (scale_parameter and relative_step off, the learning rate from --lr and its schedule; factored second moments, no first moment)" },
  { name: 'weight-decay', value: 'X', def: "0 (transformers' Trainer, what the original trained with)", help: "the optimizer's decoupled weight decay" },
  { name: 'adam-beta1', value: 'X', def: '0.9', help: 'AdamW beta1, in [0, 1)' },
  { name: 'adam-beta2', value: 'X', def: '0.999', help: 'AdamW beta2, in [0, 1)' },
  { name: 'adam-epsilon', value: 'X', def: '1e-8', help: 'AdamW epsilon' },
  { name: 'label-smoothing-factor', value: 'X', def: '0', help: "transformers' label_smoothing_factor, in [0, 1): each target token's loss is (1 − X)·(−log p[label]) + X·(mean −log p over the vocabulary), in training and in evaluation (as there)" },
  { name: 'neftune-noise-alpha', value: 'X', def: 'off', help: "transformers' neftune_noise_alpha (NEFTune): while training, uniform noise of ±X/√(length·d_model) on the input embeddings of the encoder and the decoder" },
  { name: 'max-grad-norm', value: 'X', def: "1 (transformers' Trainer, what the original trained with)", help: 'clip the global gradient norm to X after accumulation; 0 = no clipping' },
  { name: 'epochs', value: 'N', def: `3 (demo ${DEMO_TRAIN_DEFAULTS.epochs})`, help: 'passes over the training split' },
  { name: 'batch-size', value: 'N', def: `1 (demo ${DEMO_TRAIN_DEFAULTS.batchSize})`, help: 'examples per micro-batch' },
  { name: 'grad-accum', value: 'N', def: `8 (demo ${DEMO_TRAIN_DEFAULTS.gradAccum})`, help: 'micro-batches per optimizer step (token-normalised)' },
  { name: 'batch-tokens', value: 'N', def: 'off', help: 'bucketed micro-batches of at most N padded tokens; replaces --batch-size' },
  { name: 'max-target-length', value: 'N', def: `512 (demo ${DEMO_TRAIN_DEFAULTS.maxTargetLength})`, help: 'response tokens kept' },
  { name: 'warmup-steps', value: 'N', def: '0', help: 'linear warmup steps' },
  { name: 'warmup-ratio', value: 'R', def: 'none', help: 'warmup over ceil(total steps × R) steps, R in [0, 1] (transformers\' warmup_ratio); not with --warmup-steps' },
  { name: 'eval-every', value: 'N', def: 'each epoch', help: 'evaluate every N optimizer steps' },
  { name: 'eval-order', value: EVAL_ORDERS.join('|'), def: 'length', help: "eval batches of similar lengths (about half the padded tokens of file order on Dolly; the loss per token does not depend on it) or in file order (what the original's sum of batch means was taken over)" },
  { name: 'eval-on-start', help: "evaluate once before the first step, in the trainer (recorded in metrics.jsonl; replaces the \"eval loss before training\" line; not repeated on --resume) (transformers' eval_on_start)" },
  { name: 'eval-delay', value: 'N', def: '0', help: "no evaluation before N optimizer steps with --eval-every, else before the end of epoch N (transformers' eval_delay)" },
  { name: 'save-every', value: 'N', def: 'each epoch', help: 'save the adapter every N optimizer steps (--out/adapter-step-N) and a resumable checkpoint' },
  { name: 'save-strategy', value: SAVE_STRATEGIES.join('|'), def: 'each epoch end, and every --save-every steps when given', help: "transformers' save_strategy for the adapter folders: no = only the final --out/adapter; steps = --out/adapter-step-N every --save-every N steps; epoch = --out/adapter-epoch-E at each epoch end; best = --out/adapter only after an evaluation with a new best eval loss (or --metric-for-best-model). Checkpoints follow epoch ends and --save-every either way" },
  { name: 'max-steps', value: 'N', def: 'no limit', help: 'stop after N optimizer steps' },
  { name: 'save-total-limit', value: 'N', def: '2', help: "resumable checkpoints kept under --out/checkpoints, the newest (transformers' save_total_limit; 0 = all); adapter folders are all kept" },
  { name: 'logging-steps', value: 'N', def: '1', help: "a progress line every N optimizer steps, with their mean loss (transformers' logging_steps); metrics.jsonl keeps every step" },
  { name: 'logging-first-step', help: "also a progress line for step 1, with its own loss (transformers' logging_first_step)" },
  { name: 'early-stopping-patience', value: 'N', def: 'off', help: "stop after N evaluations in a row without a lower eval loss, or a better --metric-for-best-model (transformers' EarlyStoppingCallback)" },
  { name: 'early-stopping-threshold', value: 'X', def: '0', help: 'an evaluation improves when its loss is below the best by more than X (transformers\' early_stopping_threshold); needs --early-stopping-patience' },
  { name: 'metric-for-best-model', value: BEST_MODEL_METRICS.join('|'), def: 'loss', help: `transformers' metric_for_best_model: what --load-best-model-at-end, --early-stopping-patience and --save-strategy best compare — the eval loss (lower is better), accuracy, the share of target tokens the teacher-forced argmax predicts (eval_accuracy, higher is better; taken from the eval loss pass, no extra forward), or with --predict-with-generate a ROUGE F-measure of the generated texts, ${GENERATION_BEST_MODEL_METRICS.join('|')} (eval_rougeL etc., higher is better)` },
  ...GENERATION_FLAGS('each evaluation also generates for every eval example (batched as the eval loss) and reports eval_rouge1, eval_rouge2, eval_rougeL, eval_rougeLsum (ROUGE F-measures against the decoded targets, mean over the examples; in the log and metrics.jsonl). Slow: a decoder pass per new token per batch, usually far more than the eval loss pass'),
  { name: 'load-best-model-at-end', help: "put the adapter of the best evaluation (lowest eval loss, or --metric-for-best-model) back at the end and save it as the final adapter (transformers' load_best_model_at_end)" },
  { name: 'gradient-checkpointing', help: "recompute each block in the backward pass: activation memory of one block's input per block, one more forward of compute (transformers' gradient_checkpointing)" },
  { name: 'resume', help: "continue from the latest checkpoint under --out (none there: a fresh run, said so); refused before the model loads when --optim, --use-dora, --use-rslora, --init-lora-weights, --prompt-template, --pad-to-multiple-of or a data flag (--data, --limit, --seed, --batch-size, --batch-tokens, --grad-accum; --max-source-length and --max-target-length under --batch-tokens) differ from that run's; other --max-*-length with fixed batches (e.g. shorter after running out of memory), --logging-steps, --eval-every or --save-every are a warning" },
  { name: 'dry-run', help: 'print the memory/time plan and exit; loads nothing' },
  { name: 'device-memory', value: 'GB', def: 'cpu: free RAM; wasm: free RAM, at most its 4 GiB heap; GPU: unknown', help: 'memory the plan checks against' },
  { name: 'device-tflops', value: 'T', def: 'a per-backend guess', help: 'sustained TFLOP/s for the time estimate' },
  HELP,
];

/** generate and eval run the model: a snapshot folder or a hub id (a bare config.json is for train --dry-run only). */
const RUN_COMMON: Flag[] = COMMON.map((f) =>
  f.name === 'model' ? { ...f, value: 'DIR|ID', help: 'Hugging Face snapshot folder (config.json + safetensors weights), or a hub id such as google/flan-ul2' } : f,
);

const GENERATE: Flag[] = [
  // generate encodes each prompt whole (as the original's tokenizer.encode(prompt)): the flag only sizes the tensor-core tuning
  ...RUN_COMMON.map((f) => (f.name === 'max-source-length' ? { ...f, help: 'webgpu: the prompt length the tensor-core kernels are tuned for (prompts are not cut: each is encoded whole, as the original project did)' } : f)),
  { name: 'adapter', value: 'DIR|ID', def: 'none (base model)', help: 'PEFT adapter folder (adapter_config.json + adapter_model.safetensors), or a hub id such as coniferlabs/flan-ul2-dolly-lora' },
  { name: 'prompt', value: 'TEXT', multiple: true, def: 'the original "Dolly the lamb" prompt', help: 'prompt; repeat for several' },
  { name: 'max-length', value: 'N', def: '250', help: "most decoder tokens, the start token included (transformers' max_length: 250 → 249 new tokens)" },
  { name: 'min-length', value: 'N', def: '10', help: "fewest decoder tokens, the start token included (transformers' min_length; EOS is blocked before)" },
  { name: 'num-beams', value: 'N', def: '1', help: 'beam search width; 1 = greedy (or sampling)' },
  { name: 'do-sample', help: 'sample instead of greedy/beam' },
  { name: 'temperature', value: 'X', def: '1', help: 'sampling temperature' },
  { name: 'top-k', value: 'N', def: '50', help: 'sample from the k most likely tokens; 0 = off' },
  { name: 'top-p', value: 'P', def: '1', help: 'nucleus sampling mass; 1 = off' },
  { name: 'max-new-tokens', value: 'N', def: 'none (--max-length applies)', help: "most new tokens, the start token not counted (transformers' max_new_tokens); wins over --max-length, as in transformers (where it warns) and @conifer/generate" },
  { name: 'repetition-penalty', value: 'X', def: '1 (off)', help: "transformers' repetition_penalty: scores of tokens already in the output divided by X where positive, multiplied where negative; X > 0, above 1 discourages repeats" },
  { name: 'no-repeat-ngram-size', value: 'N', def: '0 (off)', help: "transformers' no_repeat_ngram_size: no n-gram of N tokens occurs twice in the output" },
  { name: 'length-penalty', value: 'X', def: '1', help: "transformers' length_penalty: beam scores are the summed log-probabilities over length^X (beam search only; > 0 favours longer outputs, < 0 shorter)" },
  { name: 'num-return-sequences', value: 'N', def: '1', help: "transformers' num_return_sequences: texts per prompt, printed numbered (not streamed); needs --do-sample or --num-beams ≥ N; not with --assistant-model or --prompt-lookup-num-tokens" },
  PROMPT_TEMPLATE_FLAG("each --prompt is put in this template as a Dolly instruction without context (original = the text as it is): give the template the adapter was trained with (train's --prompt-template); with dolly, a trained model ends its text with ### End"),
  { name: 'assistant-model', value: 'DIR|ID', def: 'none', help: "transformers' assistant_model: a T5-family checkpoint with the model's vocabulary (google/flan-t5-small for google/flan-ul2) proposes tokens that the model checks in one decoder pass — the same text (greedy) in fewer passes of the model; loaded as --model (same backend and --int8 mode, auto by its own size; not --int8-skip-modules); one generate call per --prompt; not with --num-beams > 1" },
  { name: 'num-assistant-tokens', value: 'N', def: "the assistant's generation_config.json, else 20", help: "most tokens the assistant proposes per round (transformers' num_assistant_tokens); needs --assistant-model" },
  { name: 'num-assistant-tokens-schedule', value: 'KIND', def: "the assistant's, else constant", help: `${ASSISTANT_SCHEDULES.join(', ')}: ` + "heuristic: +2 after a round whose tokens were all accepted, −1 otherwise, kept across prompts; heuristic_transient: reset per prompt (transformers' num_assistant_tokens_schedule); needs --assistant-model" },
  { name: 'assistant-confidence-threshold', value: 'X', def: "the assistant's, else 0.4", help: "the assistant stops proposing once it gives its own token a probability below X, in [0, 1]; 0 = off (transformers' assistant_confidence_threshold); needs --assistant-model" },
  { name: 'prompt-lookup-num-tokens', value: 'N', def: 'off', help: "prompt-lookup decoding: up to N candidate tokens copied from where the sequence's last n-gram occurred before, checked in one pass (transformers' prompt_lookup_num_tokens); not with --assistant-model or --num-beams > 1" },
  { name: 'max-matching-ngram-size', value: 'N', def: '2', help: "longest n-gram prompt lookup matches, then shorter ones (transformers' max_matching_ngram_size); needs --prompt-lookup-num-tokens" },
  HELP,
];

const EVAL: Flag[] = [
  ...RUN_COMMON,
  { name: 'adapter', value: 'DIR|ID', def: 'none (base model)', help: 'PEFT adapter folder, or a hub id' },
  { name: 'split', value: SPLITS.join('|'), def: 'test', help: 'which side of the 80/20 split' },
  { name: 'data', value: 'FILE|hub|hf://…', def: 'the Dolly 15K copy shipped in the repo', help: 'Dolly-format jsonl, or from the hub as for train' },
  { name: 'limit', value: 'N', def: `all (demo ${DEMO_TRAIN_DEFAULTS.limit})`, help: 'records used before the 80/20 split' },
  { name: 'batch-size', value: 'N', def: '8', help: 'examples per batch' },
  { name: 'eval-order', value: EVAL_ORDERS.join('|'), def: 'length', help: "eval batches of similar lengths (about half the padded tokens of file order on Dolly; the loss per token does not depend on it) or in file order (what the original's sum of batch means was taken over)" },
  { name: 'max-target-length', value: 'N', def: `512 (demo ${DEMO_TRAIN_DEFAULTS.maxTargetLength})`, help: 'response tokens kept' },
  { name: 'samples', value: 'N', def: '3', help: 'held-out prompts generated side by side (base vs adapter)' },
  { name: 'max-length', value: 'N', def: '250', help: 'most decoder tokens of those generations, the start token included' },
  PROMPT_TEMPLATE_FLAG("how the split's records become the model's text (as train's --prompt-template): give the template the adapter was trained with"),
  PAD_TO_MULTIPLE_FLAG,
  ...GENERATION_FLAGS('also generate for every example of the split (batched by --batch-size) and print the ROUGE F-measures (rouge1, rouge2, rougeL, rougeLsum) against the decoded targets, mean over the examples'),
  HELP,
];

const MERGE: Flag[] = [
  { name: 'model', value: 'DIR|ID', def: 'none (required)', help: 'the base model: a Hugging Face snapshot folder (safetensors) or a hub id such as google/flan-ul2' },
  { name: 'adapter', value: 'DIR|ID', def: 'none (required)', help: 'PEFT adapter folder, or a hub id' },
  { name: 'out', value: 'DIR', def: 'conifer-out/merged', help: 'the merged snapshot folder (weights, config, tokenizer files)' },
  { name: 'dtype', value: MERGE_DTYPES.join('|'), def: 'same (as the base checkpoint; Flan-UL2: bf16)', help: 'stored dtype of the float tensors' },
  { name: 'overwrite', help: 'write into a non-empty --out: earlier weight files there are deleted, same-named files replaced' },
  HELP,
];

const FLAGS: Record<CommandName, Flag[]> = { train: TRAIN, generate: GENERATE, eval: EVAL, merge: MERGE };

const SUMMARY: Record<CommandName, string> = {
  train: 'LoRA fine-tune (int8 frozen weights) on Dolly 15K; with no flags, the embedded demo model.',
  generate: 'Base model + adapter + prompt(s) → text, streamed to the terminal.',
  eval: 'Eval loss (per token and summed) on a split, and side-by-side generations.',
  merge: 'Adapter merged into the base checkpoint files (W + scaling·B·A): a plain model folder, no PEFT needed.',
};

function flagLine(f: Flag): string {
  const left = `  --${f.name}${f.value ? ` ${f.value}` : ''}`;
  const def = f.def ? ` (default: ${f.def})` : '';
  return `${left.padEnd(44)} ${f.help}${def}`;
}

/** The help of one subcommand: every flag with its default. */
export function commandHelp(command: CommandName): string {
  return [`Usage: ${PROGRAM} ${command} [flags]`, '', SUMMARY[command], '', 'Flags:', ...FLAGS[command].map(flagLine), ''].join('\n');
}

export function mainHelp(): string {
  return [
    `Usage: ${PROGRAM} <command> [flags]`,
    '',
    'Fine-tune Flan-UL2 (or the embedded small T5) with LoRA on Dolly 15K, on TensorFlow.js.',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.padEnd(10)} ${SUMMARY[c]}`),
    '',
    `Run '${PROGRAM} <command> --help' for its flags. The first thing to try: '${PROGRAM} train' (offline demo).`,
    '',
  ].join('\n');
}

/** Turns node:util parseArgs' errors into one short line. */
function parseArgsMessage(e: unknown): string {
  const err = e as { code?: string; message?: string };
  const msg = err.message ?? String(e);
  const flag = /'(-{1,2}[^' ]+)/.exec(msg)?.[1];
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown flag ${flag ?? msg}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/does not take an argument/.test(msg)) return `${flag} takes no value`;
      return `${flag ?? 'a flag'} needs a value${/ambiguous/.test(msg) ? ' (write --flag=VALUE for values starting with "-")' : ''}`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${/'([^']*)'/.exec(msg)?.[1] ?? msg}`;
    default:
      return msg;
  }
}

type Values = Record<string, string | boolean | string[] | undefined>;

/** Typed readers of flag values; each bad value is a UsageError naming the flag. */
class Reader {
  constructor(readonly values: Values) {}
  has(name: string): boolean {
    return this.values[name] !== undefined;
  }
  str(name: string): string | undefined {
    const v = this.values[name];
    return typeof v === 'string' ? v : undefined;
  }
  bool(name: string): boolean {
    return this.values[name] === true;
  }
  list(name: string): string[] {
    const v = this.values[name];
    return Array.isArray(v) ? v : [];
  }
  num(name: string, check: (x: number) => boolean, what: string): number | undefined {
    const s = this.str(name);
    if (s === undefined) return undefined;
    const x = s.trim() === '' ? NaN : Number(s);
    if (!Number.isFinite(x) || !check(x)) throw new UsageError(`--${name} must be ${what} (got "${s}")`);
    return x;
  }
  int(name: string, min: number): number | undefined {
    return this.num(name, (x) => Number.isInteger(x) && x >= min, min === 0 ? 'a non-negative integer' : min === 1 ? 'a positive integer' : `an integer ≥ ${min}`);
  }
  positive(name: string): number | undefined {
    return this.num(name, (x) => x > 0, 'a positive number');
  }
  choice<T extends string>(name: string, choices: readonly T[]): T | undefined {
    const s = this.str(name);
    if (s === undefined) return undefined;
    if (!(choices as readonly string[]).includes(s)) throw new UsageError(`--${name} must be one of ${choices.join(', ')} (got "${s}")`);
    return s as T;
  }
}

const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

/**
 * Why an `owner/name`-shaped value that is no local folder is still meant as a local path, or null:
 * a `.json` file name, or a first segment that is a folder here (`conifer-out/adapter` after a run
 * that wrote no adapter). Such values are usage errors, not hub downloads that fail later.
 */
function localPathReason(value: string): string | null {
  if (value.endsWith('.json')) return 'a .json file name is a local path';
  const first = value.split('/')[0]!;
  try {
    if (statSync(first).isDirectory()) return `${first}/ is a folder here, so this is read as a local path`;
  } catch {
    // no such folder: may be a hub owner
  }
  return null;
}

/**
 * --model: an existing folder, an existing .json file, or a hub id; anything else is a clear error.
 * `flag`: the flag the value came from (`model`, or `assistant-model`, read the same way), named in errors.
 */
export function resolveModelSource(value: string | undefined, flag = 'model'): ModelSource {
  if (value === undefined) return { kind: 'demo' };
  if (value === '') throw new UsageError(`--${flag} needs a folder, a config.json or a hub id`);
  try {
    const st = statSync(value);
    if (st.isDirectory()) return { kind: 'dir', dir: value };
    if (st.isFile() && value.endsWith('.json')) return { kind: 'config', file: value };
    throw new UsageError(`--${flag} ${value}: expected a Hugging Face snapshot folder or a config.json`);
  } catch (e) {
    if (e instanceof UsageError) throw e;
  }
  const local = localPathReason(value);
  if (local) throw new UsageError(`--${flag} ${value}: no such ${value.endsWith('.json') ? 'file' : 'folder'} (${local})`);
  if (HUB_ID.test(value) && !value.startsWith('.')) return { kind: 'hub', id: value };
  throw new UsageError(`--${flag} ${value}: no such folder (and not a hub id like ${flag === 'model' ? 'google/flan-ul2' : 'google/flan-t5-small'})`);
}

/** --out must be a folder (or not exist yet): a file there would fail only after the model loaded. */
function notAFile(out: string): void {
  let file = false;
  try {
    file = !statSync(out).isDirectory();
  } catch {
    // does not exist yet: created when needed
  }
  if (file) throw new UsageError(`--out ${out}: is a file, not a folder`);
}

function readableFile(flag: string, path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  try {
    if (!statSync(path).isFile()) throw new Error('not a file');
    accessSync(path, constants.R_OK);
  } catch {
    throw new UsageError(`--${flag} ${path}: not a readable file`);
  }
  return path;
}

/** --data: a readable jsonl, `hub` (Dolly 15K from the Hugging Face Hub) or `hf://datasets/<owner>/<name>[/<file>.jsonl]`. */
function dataSource(value: string | undefined): string | undefined {
  if (value === 'hub') return value;
  if (value?.startsWith('hf://')) {
    if (!HF_DATASET.test(value)) throw new UsageError(`--data ${value}: expected hf://datasets/<owner>/<name>[/<file>.jsonl]`);
    return value;
  }
  return readableFile('data', value);
}

const HF_DATASET = /^hf:\/\/datasets\/[\w.-]+\/[\w.-]+(\/[\w./-]+\.jsonl)?$/;

/** An adapter folder, or a hub id (`owner/name`, downloaded by `@conifer/lora`'s loadAdapter as PEFT does). */
function adapterDirOrId(flag: string, path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  let ok = false;
  try {
    ok = statSync(path).isDirectory();
  } catch {
    const local = localPathReason(path);
    if (local) throw new UsageError(`--${flag} ${path}: no such folder (${local})`);
    ok = isAdapterHubId(path) && path.includes('/');
  }
  if (!ok) throw new UsageError(`--${flag} ${path}: no such folder (nor a hub id owner/name)`);
  return path;
}

/** A comma-separated list of T5 projection names (q, k, v, o, wi, wi_0, wi_1, wo), each checked. */
function linearNames(flag: string, value: string): string[] {
  const names = value.split(',').map((s) => s.trim());
  for (const t of names) {
    if (!(T5_LINEAR_NAMES as readonly string[]).includes(t)) {
      throw new UsageError(`--${flag}: unknown projection "${t}" (T5 has ${T5_LINEAR_NAMES.join(', ')})`);
    }
  }
  return names;
}

/**
 * --int8-skip-modules: comma-separated module names as `@conifer/int8`'s `skipModules` takes them —
 * a projection name (`wo`), a path's tail or a module path whose subtree is kept (`encoder`,
 * `decoder.block.0`, `decoder.block.1.layer.2.DenseReluDense.wo`). Whether each matches a projection
 * of the model is checked against config.json (`checkSkipModules`), here only the form.
 */
function moduleNames(flag: string, value: string): string[] {
  const names = value.split(',').map((s) => s.trim());
  for (const n of names) {
    if (!/^\w+(\.\w+)*$/.test(n)) throw new UsageError(`--${flag}: "${n}" is not a module name or path (such as wo, encoder or decoder.block.0)`);
  }
  return [...new Set(names)];
}

function modelOptions(r: Reader, explicit: Set<string>): ModelOptions {
  const model = resolveModelSource(r.str('model'));
  const demo = model.kind === 'demo';
  const int8SkipModules = r.has('int8-skip-modules') ? moduleNames('int8-skip-modules', r.str('int8-skip-modules') ?? '') : [];
  return {
    model,
    int8: r.choice<Int8Mode>('int8', INT8_MODES) ?? (demo ? DEMO_TRAIN_DEFAULTS.int8 : 'auto'),
    int8SkipModules,
    backend: r.choice<BackendName>('backend', BACKENDS) ?? 'wasm',
    seed: r.int('seed', 0) ?? 42,
    maxSourceLength: r.int('max-source-length', 1) ?? (demo ? DEMO_TRAIN_DEFAULTS.maxSourceLength : 512),
    tensorCores: !r.bool('no-tensor-cores'),
    doraWeightNorm: r.choice<DoraWeightNormFlag>('dora-weight-norm', DORA_WEIGHT_NORMS) ?? 'factored',
    gpuPoolMiB: r.int('gpu-pool-mib', 0) ?? 2048,
    explicit,
  };
}

/**
 * --save-strategy against --save-every, as transformers reads save_strategy / save_steps: `steps`
 * needs the interval, the others have no use for one (the trainer refuses saveEvery with 'best').
 */
function checkSaveStrategy(strategy: SaveStrategy | undefined, saveEvery: boolean): void {
  if (strategy === 'steps' && !saveEvery) throw new UsageError('--save-strategy steps saves every --save-every N steps: give --save-every');
  if (strategy !== undefined && strategy !== 'steps' && saveEvery) {
    throw new UsageError(`--save-every gives the interval of --save-strategy steps; --save-strategy ${strategy} ${strategy === 'best' ? 'saves after each new best evaluation' : strategy === 'epoch' ? 'saves at epoch ends' : 'saves no adapter folders'}: give one of them`);
  }
}

/** --predict-with-generate and its --generation-* flags (which need it, as --temperature needs --do-sample). */
function generationFlags(r: Reader): Pick<TrainOptions, 'predictWithGenerate' | 'generationMaxLength' | 'generationNumBeams'> {
  const predictWithGenerate = r.bool('predict-with-generate');
  const maxLength = r.int('generation-max-length', 2); // max_length counts the decoder start token: ≥ 2
  const numBeams = r.int('generation-num-beams', 1);
  for (const f of ['generation-max-length', 'generation-num-beams']) {
    if (r.has(f) && !predictWithGenerate) throw new UsageError(`--${f} only applies with --predict-with-generate`);
  }
  return { predictWithGenerate, ...(maxLength !== undefined ? { generationMaxLength: maxLength } : {}), ...(numBeams !== undefined ? { generationNumBeams: numBeams } : {}) };
}

/**
 * --init-lora-weights: PEFT's names; the inits `@conifer/lora` does not run (the residual ones, pissa, olora, corda,
 * loftq, lora-ga, and the data-driven eva) refused with its reason.
 */
function initLoraWeights(r: Reader): InitLoraWeightsFlag {
  const s = r.str('init-lora-weights');
  if (s === undefined) return true;
  if ((INIT_LORA_WEIGHTS as readonly string[]).includes(s)) return s === 'true' ? true : s === 'false' ? false : (s as 'gaussian' | 'orthogonal');
  let reason = `init_lora_weights "${s}" is not supported`;
  if (/^eva$/i.test(s)) {
    // lora's config accepts "eva" (a saved EVA adapter loads) but its layers refuse to initialise one
    reason = `init_lora_weights "eva" initialises A from the model's activations on data (PEFT's initialize_lora_eva_weights), which @conifer/lora does not do`;
  } else {
    try {
      resolveLoraConfig({ init_lora_weights: s as never });
    } catch (e) {
      // lora's reason, its first sentence (the rest is about loading such adapters)
      if (e instanceof LoraConfigError) reason = e.message.replace(/^LoRA config: /, '').split(/\. (?=[A-Z])/)[0]!.replace(/ \(true, false.*\)$/, '');
    }
  }
  throw new UsageError(`--init-lora-weights ${s}: ${reason}; this flag takes ${INIT_LORA_WEIGHTS.join(', ')}`);
}

/** The LoRA flags as `@conifer/lora` checks its config (e.g. --init-lora-weights orthogonal needs an even --r), in its words. */
function checkLoraConfig(o: LoraFlags): void {
  try {
    resolveLoraConfig(loraConfig(o));
  } catch (e) {
    if (e instanceof LoraConfigError) throw new UsageError(`${o.initLoraWeights === 'orthogonal' && o.r % 2 !== 0 ? `--init-lora-weights orthogonal with --r ${o.r}: ` : ''}${e.message}`);
    throw e;
  }
}

function trainOptions(r: Reader, base: ModelOptions): TrainOptions {
  const demo = base.model.kind === 'demo';
  const targetModules = linearNames('target-modules', r.str('target-modules') ?? 'q,v');
  if (r.has('batch-tokens') && r.has('batch-size')) throw new UsageError('--batch-tokens replaces --batch-size: give one of them');
  const loraDropout = r.num('lora-dropout', (x) => x >= 0 && x < 1, 'in [0, 1)') ?? 0.1;
  const out = r.str('out') ?? 'conifer-out';
  notAFile(out);
  if (out === '') throw new UsageError('--out needs a folder');
  if (r.has('warmup-ratio') && r.has('warmup-steps')) throw new UsageError('--warmup-ratio and --warmup-steps both set the warmup: give one of them');
  const patience = r.int('early-stopping-patience', 1);
  if (r.has('early-stopping-threshold') && patience === undefined) throw new UsageError('--early-stopping-threshold needs --early-stopping-patience (early stopping is off without it)');
  const warmupRatio = r.num('warmup-ratio', (x) => x >= 0 && x <= 1, 'in [0, 1]');
  const saveTotalLimit = r.int('save-total-limit', 0) ?? 2;
  const saveStrategy = r.choice<SaveStrategy>('save-strategy', SAVE_STRATEGIES);
  checkSaveStrategy(saveStrategy, r.has('save-every'));
  const optim = r.choice<Optim>('optim', OPTIMS) ?? 'adamw_torch';
  const adamFlags = ['adam-beta1', 'adam-beta2', 'adam-epsilon'].filter((f) => r.has(f));
  if (optim !== 'adamw_torch' && adamFlags.length > 0) {
    throw new UsageError(`${adamFlags.map((f) => `--${f}`).join(', ')} ${adamFlags.length === 1 ? 'applies' : 'apply'} to --optim adamw_torch, not --optim ${optim}`);
  }
  const generation = generationFlags(r);
  // the ROUGE metrics exist only with --predict-with-generate: without it, the choices are loss and accuracy
  const metric = r.str('metric-for-best-model');
  if (metric !== undefined && !generation.predictWithGenerate && (GENERATION_BEST_MODEL_METRICS as readonly string[]).includes(metric)) {
    throw new UsageError(`--metric-for-best-model ${metric} is a score of generated texts: add --predict-with-generate`);
  }
  const metricForBestModel = r.choice<BestModelMetric>('metric-for-best-model', generation.predictWithGenerate ? [...BEST_MODEL_METRICS, ...GENERATION_BEST_MODEL_METRICS] : BEST_MODEL_METRICS);
  const opts: TrainOptions = {
    ...base,
    command: 'train',
    out,
    data: dataSource(r.str('data')),
    limit: r.int('limit', 2) ?? (demo ? DEMO_TRAIN_DEFAULTS.limit : undefined),
    r: r.int('r', 1) ?? 8,
    loraAlpha: r.positive('lora-alpha') ?? 32,
    loraDropout,
    targetModules: [...new Set(targetModules)],
    useDora: r.bool('use-dora'),
    useRslora: r.bool('use-rslora'),
    initLoraWeights: initLoraWeights(r),
    promptTemplate: r.choice<PromptTemplateName>('prompt-template', PROMPT_TEMPLATES) ?? 'original',
    padToMultipleOf: r.int('pad-to-multiple-of', 1) ?? 1,
    optim,
    labelSmoothingFactor: r.num('label-smoothing-factor', (x) => x >= 0 && x < 1, 'in [0, 1)') ?? 0,
    neftuneNoiseAlpha: r.num('neftune-noise-alpha', (x) => x >= 0, 'a number ≥ 0 (0 = off)') ?? 0,
    lr: r.positive('lr') ?? (demo ? DEMO_TRAIN_DEFAULTS.lr : 1e-4),
    lrSchedulerType: r.choice<LrSchedulerType>('lr-scheduler-type', LR_SCHEDULER_TYPES) ?? 'linear',
    ...(r.has('lr-scheduler-kwargs') ? { lrSchedulerKwargs: parseLrSchedulerKwargs(r.str('lr-scheduler-kwargs') ?? '') } : {}),
    // Defaults: transformers' TrainingArguments (weight_decay 0, max_grad_norm 1.0, AdamW betas/eps), as the original's Trainer run.
    weightDecay: r.num('weight-decay', (x) => x >= 0, 'a number ≥ 0') ?? 0,
    adamBeta1: r.num('adam-beta1', (x) => x >= 0 && x < 1, 'in [0, 1)') ?? 0.9,
    adamBeta2: r.num('adam-beta2', (x) => x >= 0 && x < 1, 'in [0, 1)') ?? 0.999,
    adamEpsilon: r.num('adam-epsilon', (x) => x >= 0, 'a number ≥ 0') ?? 1e-8,
    maxGradNorm: r.num('max-grad-norm', (x) => x >= 0, 'a number ≥ 0 (0 = no clipping)') ?? 1,
    epochs: r.int('epochs', 1) ?? (demo ? DEMO_TRAIN_DEFAULTS.epochs : 3),
    batchSize: r.int('batch-size', 1) ?? (demo ? DEMO_TRAIN_DEFAULTS.batchSize : 1),
    gradAccum: r.int('grad-accum', 1) ?? (demo ? DEMO_TRAIN_DEFAULTS.gradAccum : 8),
    batchTokens: r.int('batch-tokens', 2),
    maxTargetLength: r.int('max-target-length', 1) ?? (demo ? DEMO_TRAIN_DEFAULTS.maxTargetLength : 512),
    warmupSteps: r.int('warmup-steps', 0) ?? 0,
    ...(warmupRatio !== undefined ? { warmupRatio } : {}),
    evalEvery: r.int('eval-every', 1),
    evalOrder: r.choice<EvalOrder>('eval-order', EVAL_ORDERS) ?? 'length',
    saveEvery: r.int('save-every', 1),
    ...(saveStrategy !== undefined ? { saveStrategy } : {}),
    evalOnStart: r.bool('eval-on-start'),
    evalDelay: r.num('eval-delay', (x) => x >= 0, 'a number ≥ 0') ?? 0,
    loggingFirstStep: r.bool('logging-first-step'),
    ...(metricForBestModel !== undefined ? { metricForBestModel } : {}),
    ...generation,
    maxSteps: r.int('max-steps', 1),
    saveTotalLimit: saveTotalLimit === 0 ? Number.POSITIVE_INFINITY : saveTotalLimit,
    loggingSteps: r.int('logging-steps', 1) ?? 1,
    ...(patience !== undefined ? { earlyStopping: { patience, threshold: r.num('early-stopping-threshold', (x) => x >= 0, 'a number ≥ 0') ?? 0 } } : {}),
    loadBestModelAtEnd: r.bool('load-best-model-at-end'),
    gradientCheckpointing: r.bool('gradient-checkpointing'),
    resume: r.bool('resume'),
    dryRun: r.bool('dry-run'),
    deviceMemoryGB: r.positive('device-memory'),
    deviceTflops: r.positive('device-tflops'),
  };
  checkLoraConfig(opts);
  const longest = roundUp(opts.maxSourceLength, opts.padToMultipleOf) + roundUp(opts.maxTargetLength, opts.padToMultipleOf);
  if (opts.batchTokens !== undefined && opts.batchTokens < longest) {
    throw new UsageError(
      `--batch-tokens ${opts.batchTokens} is smaller than one longest example (--max-source-length + --max-target-length${opts.padToMultipleOf > 1 ? `, each rounded up to --pad-to-multiple-of ${opts.padToMultipleOf}` : ''} = ${longest})`,
    );
  }
  checkSchedule(opts); // what does not depend on the run's length; runTrain checks the rest once the data is read
  if (opts.model.kind === 'config' && !opts.dryRun) {
    throw new UsageError(`--model ${opts.model.file} is a bare config: training needs the snapshot folder with the weights (or add --dry-run)`);
  }
  return opts;
}

function generateOptions(r: Reader, base: ModelOptions): GenerateOptions {
  if (base.model.kind === 'config') throw new UsageError('--model: generation needs the snapshot folder with the weights, not a bare config.json');
  const prompts = r.list('prompt');
  if (prompts.some((p) => p.trim() === '')) throw new UsageError('--prompt must not be empty');
  const maxNewTokens = r.int('max-new-tokens', 1);
  const opts: GenerateOptions = {
    ...base,
    command: 'generate',
    adapter: adapterDirOrId('adapter', r.str('adapter')),
    prompts: prompts.length > 0 ? prompts : [DEFAULT_PROMPT],
    maxLength: r.int('max-length', 2) ?? 250, // transformers' max_length counts the start token: ≥ 2
    // the default 10 would be refused above a --max-new-tokens below 9: at most the new tokens + the start token then
    minLength: r.int('min-length', 0) ?? (maxNewTokens !== undefined ? Math.min(10, maxNewTokens + 1) : 10),
    numBeams: r.int('num-beams', 1) ?? 1,
    doSample: r.bool('do-sample'),
    temperature: r.positive('temperature') ?? 1,
    topK: r.int('top-k', 0) ?? 50,
    topP: r.num('top-p', (x) => x > 0 && x <= 1, 'in (0, 1]') ?? 1,
    // left out when not given: the model's generation_config.json (else transformers' defaults) supplies them
    ...defined({
      maxNewTokens,
      repetitionPenalty: r.num('repetition-penalty', (x) => x > 0, 'a number > 0'),
      noRepeatNgramSize: r.int('no-repeat-ngram-size', 0),
      lengthPenalty: r.num('length-penalty', () => true, 'a finite number'),
      numReturnSequences: r.int('num-return-sequences', 1),
    }),
    promptTemplate: r.choice<PromptTemplateName>('prompt-template', PROMPT_TEMPLATES) ?? 'original',
  };
  if (maxNewTokens === undefined && opts.minLength > opts.maxLength) throw new UsageError(`--min-length ${opts.minLength} is larger than --max-length ${opts.maxLength}`);
  for (const f of ['temperature', 'top-k', 'top-p']) {
    if (r.has(f) && !opts.doSample) throw new UsageError(`--${f} only applies with --do-sample`);
  }
  const assisted = assistedOptions(r, opts.numBeams);
  if (opts.numReturnSequences !== undefined && opts.numReturnSequences > 1 && (assisted.assistantModel || assisted.promptLookupNumTokens !== undefined)) {
    // @conifer/generate's (and transformers') assisted-decoding check
    throw new UsageError(`--num-return-sequences ${opts.numReturnSequences}: num_return_sequences has to be 1 when doing assisted generate (--${assisted.assistantModel ? 'assistant-model' : 'prompt-lookup-num-tokens'})`);
  }
  checkDecoding(opts);
  return { ...opts, ...assisted };
}

/** The entries whose value is not undefined (so an optional field is absent, not undefined). */
function defined<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/**
 * The decoding flags as `@conifer/generate` validates its options (`resolveOptions`: transformers' rules, e.g.
 * num_return_sequences against greedy decoding or a smaller beam), its problems as one usage error with the
 * option names turned into flags.
 */
function checkDecoding(o: GenerateOptions): void {
  try {
    resolveOptions({
      maxLength: o.maxLength, minLength: o.minLength, numBeams: o.numBeams, doSample: o.doSample, temperature: o.temperature, topK: o.topK, topP: o.topP,
      ...defined({ maxNewTokens: o.maxNewTokens, repetitionPenalty: o.repetitionPenalty, noRepeatNgramSize: o.noRepeatNgramSize, lengthPenalty: o.lengthPenalty, numReturnSequences: o.numReturnSequences }),
      decoderStartTokenId: 0, // the model's, at run time; any id here
    });
  } catch (e) {
    if (!(e instanceof GenerationOptionsError)) throw e;
    const flags = new Set(GENERATE.map((f) => f.name));
    const text = e.problems.map((p) => p.replace(/`(\w+)`/g, (all, name: string) => (flags.has(kebab(name)) ? `--${kebab(name)}` : all))).join('; ');
    const hint = (o.numReturnSequences ?? 1) > 1 && o.numBeams === 1 && !o.doSample ? ` (add --do-sample, or --num-beams ${o.numReturnSequences})` : '';
    throw new UsageError(`${text}${hint}`);
  }
}

type AssistedFlag = 'assistantModel' | 'numAssistantTokens' | 'numAssistantTokensSchedule' | 'assistantConfidenceThreshold' | 'promptLookupNumTokens' | 'maxMatchingNgramSize';

/**
 * The assisted-decoding flags (`@conifer/generate`'s options of the same names, transformers' `assistant_model`,
 * `num_assistant_tokens`, … `max_matching_ngram_size`), with the restrictions transformers' `_assisted_decoding`
 * has that the CLI can see: greedy or sampling, not beams (the one prompt per call: runGenerate makes a call per
 * --prompt); an assistant or prompt lookup, not both (transformers silently takes prompt lookup).
 */
function assistedOptions(r: Reader, numBeams: number): Pick<GenerateOptions, AssistedFlag> {
  const assistant = r.has('assistant-model') ? resolveModelSource(r.str('assistant-model'), 'assistant-model') : undefined;
  if (assistant?.kind === 'config') throw new UsageError(`--assistant-model ${assistant.file}: needs the snapshot folder with the weights, not a bare config.json`);
  for (const f of ['num-assistant-tokens', 'num-assistant-tokens-schedule', 'assistant-confidence-threshold']) {
    if (r.has(f) && !assistant) throw new UsageError(`--${f} only applies with --assistant-model`);
  }
  const lookup = r.int('prompt-lookup-num-tokens', 1);
  if (r.has('max-matching-ngram-size') && lookup === undefined) throw new UsageError('--max-matching-ngram-size only applies with --prompt-lookup-num-tokens');
  if (assistant && lookup !== undefined) throw new UsageError('--assistant-model and --prompt-lookup-num-tokens are two ways of proposing tokens: give one of them');
  const what = assistant ? '--assistant-model' : '--prompt-lookup-num-tokens';
  if ((assistant || lookup !== undefined) && numBeams > 1) throw new UsageError(`${what} decodes greedily or by sampling, one sequence: not with --num-beams ${numBeams} (transformers' assisted decoding has no beam search)`);
  const nat = r.int('num-assistant-tokens', 0);
  const schedule = r.choice<AssistantSchedule>('num-assistant-tokens-schedule', ASSISTANT_SCHEDULES);
  const threshold = r.num('assistant-confidence-threshold', (x) => x >= 0 && x <= 1, 'in [0, 1]');
  const ngram = r.int('max-matching-ngram-size', 1);
  return {
    ...(assistant ? { assistantModel: assistant as Extract<ModelSource, { kind: 'dir' } | { kind: 'hub' }> } : {}),
    ...(nat !== undefined ? { numAssistantTokens: nat } : {}),
    ...(schedule !== undefined ? { numAssistantTokensSchedule: schedule } : {}),
    ...(threshold !== undefined ? { assistantConfidenceThreshold: threshold } : {}),
    ...(lookup !== undefined ? { promptLookupNumTokens: lookup } : {}),
    ...(ngram !== undefined ? { maxMatchingNgramSize: ngram } : {}),
  };
}

function evalOptions(r: Reader, base: ModelOptions): EvalOptions {
  if (base.model.kind === 'config') throw new UsageError('--model: eval needs the snapshot folder with the weights, not a bare config.json');
  const demo = base.model.kind === 'demo';
  return {
    ...base,
    command: 'eval',
    adapter: adapterDirOrId('adapter', r.str('adapter')),
    split: r.choice<SplitName>('split', SPLITS) ?? 'test',
    data: dataSource(r.str('data')),
    limit: r.int('limit', 2) ?? (demo ? DEMO_TRAIN_DEFAULTS.limit : undefined),
    batchSize: r.int('batch-size', 1) ?? 8,
    evalOrder: r.choice<EvalOrder>('eval-order', EVAL_ORDERS) ?? 'length',
    maxTargetLength: r.int('max-target-length', 1) ?? (demo ? DEMO_TRAIN_DEFAULTS.maxTargetLength : 512),
    samples: r.int('samples', 0) ?? 3,
    maxLength: r.int('max-length', 2) ?? 250, // transformers' max_length counts the start token: ≥ 2
    promptTemplate: r.choice<PromptTemplateName>('prompt-template', PROMPT_TEMPLATES) ?? 'original',
    padToMultipleOf: r.int('pad-to-multiple-of', 1) ?? 1,
    ...generationFlags(r),
  };
}

function mergeOptions(r: Reader, explicit: Set<string>): MergeOptions {
  if (!r.has('model')) throw new UsageError('--model is required: the base model folder or hub id the adapter was trained on');
  const model = resolveModelSource(r.str('model'));
  if (model.kind !== 'dir' && model.kind !== 'hub') throw new UsageError(`--model ${r.str('model')}: merge needs the snapshot folder with the weights, not a bare config.json`);
  const adapter = adapterDirOrId('adapter', r.str('adapter'));
  if (adapter === undefined) throw new UsageError('--adapter is required: the PEFT adapter folder or hub id to merge');
  const out = r.str('out') ?? 'conifer-out/merged';
  notAFile(out);
  if (out === '') throw new UsageError('--out needs a folder');
  return { command: 'merge', model, adapter, out, dtype: r.choice<MergeDtype>('dtype', MERGE_DTYPES) ?? 'same', overwrite: r.bool('overwrite'), explicit };
}

/**
 * Parses argv (without node and the script): `<command> [flags]`, or `--help`.
 * Throws UsageError (exit code 2) for anything it cannot accept; touches no file but to check that given paths exist.
 */
export function parseCommandLine(argv: readonly string[]): ParsedCommandLine {
  const [first, ...rest] = argv;
  if (first === undefined) throw new UsageError(`missing command: one of ${COMMANDS.join(', ')} (try '${PROGRAM} train')`);
  if (first === '--help' || first === '-h' || first === 'help') {
    const topic = rest[0];
    if (topic !== undefined && (COMMANDS as readonly string[]).includes(topic)) return { kind: 'help', text: commandHelp(topic as CommandName) };
    return { kind: 'help', text: mainHelp() };
  }
  if (!(COMMANDS as readonly string[]).includes(first)) {
    throw new UsageError(`unknown command "${first}": one of ${COMMANDS.join(', ')}`);
  }
  const command = first as CommandName;
  const flags = FLAGS[command];
  const spec: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {};
  for (const f of flags) spec[f.name] = { type: f.value ? 'string' : 'boolean', ...(f.multiple ? { multiple: true } : {}) };
  spec.help = { type: 'boolean', short: 'h' };
  let values: Values;
  try {
    values = parseArgs({ args: [...rest], options: spec, strict: true, allowPositionals: false }).values as Values;
  } catch (e) {
    throw new UsageError(`${command}: ${parseArgsMessage(e)}`);
  }
  if (values.help === true) return { kind: 'help', text: commandHelp(command) };
  const r = new Reader(values);
  const explicit = new Set(Object.keys(values).filter((k) => values[k] !== undefined));
  let options: CommandOptions;
  try {
    if (command === 'merge') {
      options = mergeOptions(r, explicit);
    } else {
      const base = modelOptions(r, explicit);
      options = command === 'train' ? trainOptions(r, base) : command === 'generate' ? generateOptions(r, base) : evalOptions(r, base);
    }
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError(`${command}: ${e.message}`);
    throw e;
  }
  return { kind: 'run', options };
}
