/** The parsed, validated options of each subcommand: what the wiring (model, LoRA, trainer, generation) consumes. */

import type { LrSchedulerKwargs, ScheduleKind } from '@conifer/trainer';
import type { RougeType } from './pipeline/rouge.js';

export const BACKENDS = ['cpu', 'wasm', 'webgpu', 'tensorflow'] as const;
/** cpu = pure JS; wasm = SIMD CPU; webgpu = Dawn (npm `webgpu`) in Node; tensorflow = @tensorflow/tfjs-node-gpu (user-installed). */
export type BackendName = (typeof BACKENDS)[number];

export const INT8_MODES = ['auto', 'weight-only', 'llm-int8', 'off'] as const;
/** auto = weight-only for models over 1 B parameters, off otherwise (resolved by `resolveInt8`). */
export type Int8Mode = (typeof INT8_MODES)[number];

/** T5 projection names LoRA may target (PEFT matches the last component of the module path). */
export const T5_LINEAR_NAMES = ['q', 'k', 'v', 'o', 'wi', 'wi_0', 'wi_1', 'wo'] as const;

/**
 * `--lr-scheduler-type`: transformers' `lr_scheduler_type` names (`get_scheduler`), every one
 * `@conifer/trainer` implements (not `reduce_lr_on_plateau`, which steps on eval metrics).
 */
export const LR_SCHEDULER_TYPES = [
  'linear',
  'cosine',
  'cosine_with_restarts',
  'polynomial',
  'constant',
  'constant_with_warmup',
  'inverse_sqrt',
  'cosine_with_min_lr',
  'cosine_warmup_with_min_lr',
  'warmup_stable_decay',
] as const satisfies readonly ScheduleKind[];
export type LrSchedulerType = (typeof LR_SCHEDULER_TYPES)[number];
/** Fails to compile if the trainer gains a schedule kind this list lacks. */
const everyScheduleKind: Record<Exclude<ScheduleKind, LrSchedulerType>, never> = {};
void everyScheduleKind;

/**
 * `--save-strategy`: transformers' `save_strategy` values, applied to the adapter folders (the
 * resumable checkpoints under `--out/checkpoints` are written at epoch ends, stops and every
 * `--save-every` steps whatever the strategy). `--out/adapter` is always the latest adapter saved
 * (with `best`: the best evaluation's).
 */
export const SAVE_STRATEGIES = ['no', 'steps', 'epoch', 'best'] as const;
/**
 * `no`: no `adapter-epoch-*` / `adapter-step-*` folders, only the final `--out/adapter`;
 * `steps`: `adapter-step-N` every `--save-every` N steps (required);
 * `epoch`: `adapter-epoch-E` at each epoch end (not with `--save-every`);
 * `best`: `--out/adapter` written only after an evaluation that reaches a new best (`@conifer/trainer`'s `saveStrategy: 'best'`; not with `--save-every`).
 * Left out: each epoch end and, with `--save-every`, every N steps (the app's behaviour before the flag).
 */
export type SaveStrategy = (typeof SAVE_STRATEGIES)[number];

/**
 * `--metric-for-best-model`: transformers' `metric_for_best_model` among the eval metrics the app
 * computes — `loss` (the eval loss, lower is better), `accuracy` (the teacher-forced argmax token
 * accuracy, `eval_accuracy`, higher is better; `pipeline/token-accuracy.ts`) or, with
 * `--predict-with-generate`, a ROUGE F-measure of the generated texts (`eval_rouge1`, …, higher is
 * better; `pipeline/generation-metrics.ts`).
 */
export const BEST_MODEL_METRICS = ['loss', 'accuracy'] as const;
/** The `--metric-for-best-model` values `--predict-with-generate` adds (pipeline/rouge.ts' ROUGE_TYPES). */
export const GENERATION_BEST_MODEL_METRICS = ['rouge1', 'rouge2', 'rougeL', 'rougeLsum'] as const satisfies readonly RougeType[];
export type BestModelMetric = (typeof BEST_MODEL_METRICS)[number] | (typeof GENERATION_BEST_MODEL_METRICS)[number];

/**
 * `--optim`: transformers' `optim` names for the optimizers `@conifer/trainer` has — `adamw_torch`
 * (`torch.optim.AdamW`, the trainer's `'adamw'`) and `adafactor` (transformers' `Adafactor` as its Trainer
 * builds it: no relative step, no parameter scaling, the schedule's learning rate).
 */
export const OPTIMS = ['adamw_torch', 'adafactor'] as const;
export type Optim = (typeof OPTIMS)[number];

/**
 * `--num-assistant-tokens-schedule`: transformers' `num_assistant_tokens_schedule` (`@conifer/generate`'s
 * `numAssistantTokensSchedule`): `constant`, `heuristic` (+2 after a round whose candidates were all accepted,
 * −1 otherwise; kept across the prompts of one run, as transformers writes it to the assistant's generation
 * config) or `heuristic_transient` (the same, reset for each prompt).
 */
export const ASSISTANT_SCHEDULES = ['constant', 'heuristic', 'heuristic_transient'] as const;
export type AssistantSchedule = (typeof ASSISTANT_SCHEDULES)[number];

/**
 * `--init-lora-weights`: PEFT's `init_lora_weights` values `@conifer/lora` initialises (`true`: A Kaiming-uniform,
 * B zeros; `false`: B random too; `gaussian`: A ~ N(0, 1/r²) (std 1/r), B zeros; `orthogonal`: A and B with orthogonal row
 * spaces, B·A = 0, even r). The data-driven and residual inits (`eva`, `pissa`, `olora`, `corda`, `loftq`, …) are
 * refused at parse time with `@conifer/lora`'s reason.
 */
export const INIT_LORA_WEIGHTS = ['true', 'false', 'gaussian', 'orthogonal'] as const;
/** The `init_lora_weights` value of `--init-lora-weights` (as `@conifer/lora`'s config field and adapter_config.json hold it). */
export type InitLoraWeightsFlag = boolean | 'gaussian' | 'orthogonal';

/**
 * `--prompt-template`: how a Dolly record becomes the encoder's text (`@conifer/dolly-data`'s formats):
 * `original` = the original project's `instruction + "\n" + context` (the default, as before the flag);
 * `dolly` = Databricks Dolly's training format (`DOLLY_TEMPLATE`: target `response + "\n\n### End"`);
 * `alpaca` = Stanford Alpaca's (`ALPACA_TEMPLATE`).
 */
export const PROMPT_TEMPLATES = ['original', 'dolly', 'alpaca'] as const;
export type PromptTemplateName = (typeof PROMPT_TEMPLATES)[number];

export const SPLITS = ['train', 'test'] as const;
/** The 80/20 split of Dolly: `train` (80 %) or `test` (the held-out 20 %). */
export type SplitName = (typeof SPLITS)[number];

export const EVAL_ORDERS = ['length', 'file'] as const;
/**
 * How evaluation batches are formed: `length` groups examples of similar lengths (bucketed, fixed
 * order; on Dolly's test split in batches of 8: 1.11× the real tokens instead of 2.21× in file order),
 * `file` cuts the split in file order, as the original's sum of per-batch mean losses assumed.
 * The loss per token is the same either way; only the sum of batch means depends on the batches.
 */
export type EvalOrder = (typeof EVAL_ORDERS)[number];

/** Where the model comes from. */
export type ModelSource =
  /** No --model: the embedded small T5 (`DEMO_CONFIG`) with seeded random weights. */
  | { kind: 'demo' }
  /** A Hugging Face snapshot folder (config.json + safetensors). */
  | { kind: 'dir'; dir: string }
  /** A bare config.json: enough for --dry-run only. */
  | { kind: 'config'; file: string }
  /** A hub id such as google/flan-ul2, downloaded through @huggingface/hub into a cache. */
  | { kind: 'hub'; id: string };

/** What every subcommand shares. */
/** `--dora-weight-norm`: @conifer/lora's `doraWeightNorm` for DoRA adapters (trained or loaded). */
export const DORA_WEIGHT_NORMS = ['factored', 'direct'] as const;
export type DoraWeightNormFlag = (typeof DORA_WEIGHT_NORMS)[number];

export interface ModelOptions {
  /** --model DIR|FILE|hub-id (default: the embedded demo model). */
  model: ModelSource;
  /** --dora-weight-norm (default factored): how DoRA adapters compute ‖W + s·B·A‖ (@conifer/lora's doraWeightNorm). */
  doraWeightNorm: DoraWeightNormFlag;
  /** --int8 (default auto). */
  int8: Int8Mode;
  /** --int8-skip-modules (default none): projections kept float32 under int8 (bitsandbytes' llm_int8_skip_modules). */
  int8SkipModules: string[];
  /** --backend (default wasm: the fastest CPU backend). */
  backend: BackendName;
  /** --seed (default 42): weights of the demo model, LoRA init, dropout, shuffling, sampling. */
  seed: number;
  /** --max-source-length (default 512; demo 96): prompts are truncated to this many tokens (train, eval; generate: the tensor-core tuning shape). */
  maxSourceLength: number;
  /** false with --no-tensor-cores: on webgpu keep the tiled int8 kernels where the GPU offers subgroup matrices. */
  tensorCores: boolean;
  /** --gpu-pool-mib: on webgpu, MiB of released GPU buffers kept for reuse (webgpu-pool.ts). */
  gpuPoolMiB: number;
  /** Long flag names the user set on the command line (the rest are defaults). */
  explicit: ReadonlySet<string>;
}

export interface TrainOptions extends ModelOptions {
  /** --out DIR (default conifer-out): where adapters, checkpoints, metrics.jsonl and the loss curve go. */
  out: string;
  command: 'train';
  /** --data FILE: a Dolly jsonl (default: the copy shipped in the repo). */
  data?: string;
  /** --limit N: use the first N records of the (shuffled) data before the 80/20 split (default: all; demo 300). */
  limit?: number;
  /** --r (default 8). */
  r: number;
  /** --lora-alpha (default 32); scaling = lora_alpha / r. */
  loraAlpha: number;
  /** --lora-dropout (default 0.1). */
  loraDropout: number;
  /** --target-modules (default q,v). */
  targetModules: string[];
  /** --use-dora (default off): PEFT's `use_dora`, weight-decomposed LoRA (a trainable magnitude per output row). */
  useDora: boolean;
  /** --use-rslora (default off): PEFT's `use_rslora`, scaling = lora_alpha / √r instead of lora_alpha / r. */
  useRslora: boolean;
  /** --init-lora-weights (default true): PEFT's `init_lora_weights`. */
  initLoraWeights: InitLoraWeightsFlag;
  /** --prompt-template (default original): how records become source/target text (train and eval, and the sample). */
  promptTemplate: PromptTemplateName;
  /** --pad-to-multiple-of N (default 1 = off): DataCollatorForSeq2Seq's `pad_to_multiple_of`, train and eval batches. */
  padToMultipleOf: number;
  /** --lr (default 1e-4; demo 1e-3): peak learning rate of the schedule (transformers' learning_rate). */
  lr: number;
  /** --lr-scheduler-type (default linear): transformers' lr_scheduler_type. */
  lrSchedulerType: LrSchedulerType;
  /** --lr-scheduler-kwargs JSON (default none): transformers' lr_scheduler_kwargs, keys as there (`num_cycles`, `min_lr_rate`, …). */
  lrSchedulerKwargs?: LrSchedulerKwargs;
  /** --optim (default adamw_torch): transformers' `optim`. */
  optim: Optim;
  /** --label-smoothing-factor ε (default 0): transformers' `label_smoothing_factor`, on the train and eval losses. */
  labelSmoothingFactor: number;
  /** --neftune-noise-alpha α (default 0 = off): transformers' `neftune_noise_alpha`, uniform noise on the input embeddings while training. */
  neftuneNoiseAlpha: number;
  /** --weight-decay (default 0, transformers' TrainingArguments): the optimizer's decoupled weight decay. */
  weightDecay: number;
  /** --adam-beta1 (default 0.9); the --adam-* flags apply to --optim adamw_torch only. */
  adamBeta1: number;
  /** --adam-beta2 (default 0.999). */
  adamBeta2: number;
  /** --adam-epsilon (default 1e-8). */
  adamEpsilon: number;
  /** --max-grad-norm (default 1, transformers' max_grad_norm; 0 = no clipping): global-norm gradient clipping. */
  maxGradNorm: number;
  /** --epochs (default 3; demo 1). */
  epochs: number;
  /** --batch-size (default 1; demo 4). Ignored when batchTokens is set. */
  batchSize: number;
  /** --grad-accum (default 8; demo 2): micro-batches per optimizer step (losses token-normalised over the window). */
  gradAccum: number;
  /** --batch-tokens N: bucketed batches of at most N padded (source + target) tokens; replaces --batch-size. */
  batchTokens?: number;
  /** --max-target-length (default 512; demo 48). */
  maxTargetLength: number;
  /** --warmup-steps (default 0). */
  warmupSteps: number;
  /** --warmup-ratio (default none): warmup over ceil(total steps × ratio) (transformers' warmup_ratio); not with --warmup-steps. */
  warmupRatio?: number;
  /** --eval-every N optimizer steps (default: at the end of each epoch). */
  evalEvery?: number;
  /** --eval-order (default length). */
  evalOrder: EvalOrder;
  /** --save-every N optimizer steps (default: at the end of each epoch). */
  saveEvery?: number;
  /** --save-strategy (default: none, = each epoch end and every --save-every steps): transformers' save_strategy for the adapter folders. */
  saveStrategy?: SaveStrategy;
  /** --eval-on-start (default off): transformers' eval_on_start; the trainer's step-0 evaluation replaces the app's "eval loss before training". */
  evalOnStart: boolean;
  /** --eval-delay N (default 0): transformers' eval_delay, no evaluation before N optimizer steps (with --eval-every) or N epochs (without). */
  evalDelay: number;
  /** --logging-first-step (default off): transformers' logging_first_step, a progress line for step 1 too. */
  loggingFirstStep: boolean;
  /** --metric-for-best-model (default: the eval loss): what --load-best-model-at-end, early stopping and --save-strategy best compare; `accuracy` also computes eval_accuracy at each evaluation; the ROUGE ones need --predict-with-generate. */
  metricForBestModel?: BestModelMetric;
  /** --predict-with-generate (default off): transformers' `predict_with_generate`; each evaluation also generates for the eval examples and reports eval_rouge1/rouge2/rougeL/rougeLsum. */
  predictWithGenerate: boolean;
  /** --generation-max-length N (default: the model's generation config): transformers' `generation_max_length`, decoder tokens with the start token; needs --predict-with-generate. */
  generationMaxLength?: number;
  /** --generation-num-beams N (default: the model's generation config, greedy): transformers' `generation_num_beams`; needs --predict-with-generate. */
  generationNumBeams?: number;
  /** --max-steps N: stop after N optimizer steps (default: no limit). */
  maxSteps?: number;
  /** --save-total-limit N (default 2): resumable checkpoints kept (transformers' save_total_limit); 0 on the command line = Infinity = all. */
  saveTotalLimit: number;
  /** --logging-steps N (default 1): a progress line every N steps with their mean loss (transformers' logging_steps). */
  loggingSteps: number;
  /** --early-stopping-patience / --early-stopping-threshold (default off): transformers' EarlyStoppingCallback on the eval loss. */
  earlyStopping?: { patience: number; threshold: number };
  /** --load-best-model-at-end (default off): the adapter of the best evaluation is put back and saved at the end. */
  loadBestModelAtEnd: boolean;
  /** --gradient-checkpointing: recompute each block in the backward pass (default off). */
  gradientCheckpointing: boolean;
  /** --resume: continue from the latest checkpoint under `out`. */
  resume: boolean;
  /** --dry-run: print the memory/time plan and exit without loading anything. */
  dryRun: boolean;
  /** --device-memory GB (default: cpu/wasm = free RAM; GPU: unknown unless given). */
  deviceMemoryGB?: number;
  /** --device-tflops T: sustained TFLOP/s assumed by the time estimate (default per backend). */
  deviceTflops?: number;
}

export interface GenerateOptions extends ModelOptions {
  command: 'generate';
  /** --adapter DIR: a PEFT adapter folder (default: none, the base model alone). */
  adapter?: string;
  /** --prompt TEXT, repeatable (default: the original project's Dolly-the-lamb prompt). */
  prompts: string[];
  /** --max-length (default 250, as the original). */
  maxLength: number;
  /** --min-length (default 10, as the original). */
  minLength: number;
  /** --num-beams (default 1 = greedy or sampling). */
  numBeams: number;
  /** --do-sample (default false). */
  doSample: boolean;
  /** --temperature (default 1). */
  temperature: number;
  /** --top-k (default 50; 0 = off). */
  topK: number;
  /** --top-p (default 1 = off). */
  topP: number;
  /** --max-new-tokens N (default: none, --max-length applies): transformers' `max_new_tokens`; wins over --max-length, as in `@conifer/generate`. */
  maxNewTokens?: number;
  /** --repetition-penalty X (left out: the model's generation config, else 1 = off): transformers' `repetition_penalty`. */
  repetitionPenalty?: number;
  /** --no-repeat-ngram-size N (left out: the model's generation config, else 0 = off): transformers' `no_repeat_ngram_size`. */
  noRepeatNgramSize?: number;
  /** --length-penalty X (left out: the model's generation config, else 1): transformers' `length_penalty` (beam search). */
  lengthPenalty?: number;
  /** --num-return-sequences N (left out: 1): transformers' `num_return_sequences` (needs --do-sample or --num-beams ≥ N). */
  numReturnSequences?: number;
  /** --prompt-template (default original): each --prompt is formatted as a Dolly record's instruction (no context) in this template. */
  promptTemplate: PromptTemplateName;
  /**
   * --assistant-model DIR|ID (default none): transformers' `assistant_model`, a T5-family checkpoint with the
   * model's vocabulary (google/flan-t5-small for google/flan-ul2) that proposes the tokens the model checks in
   * one decoder pass (assisted decoding; greedy output unchanged). Loaded as --model is: same backend, --int8
   * mode (`auto` resolved by the assistant's own size), without --int8-skip-modules (those name the model's modules).
   */
  assistantModel?: Extract<ModelSource, { kind: 'dir' } | { kind: 'hub' }>;
  /** --num-assistant-tokens N (default: the assistant's generation_config.json, else 20): most candidates per round (`num_assistant_tokens`). */
  numAssistantTokens?: number;
  /** --num-assistant-tokens-schedule (default: the assistant's, else constant): transformers' `num_assistant_tokens_schedule`. */
  numAssistantTokensSchedule?: AssistantSchedule;
  /** --assistant-confidence-threshold X in [0, 1] (default: the assistant's, else 0.4; 0 = off): the assistant stops proposing below it (`assistant_confidence_threshold`). */
  assistantConfidenceThreshold?: number;
  /** --prompt-lookup-num-tokens N (default off): prompt-lookup decoding, at most N candidates copied from the sequence per round (`prompt_lookup_num_tokens`). */
  promptLookupNumTokens?: number;
  /** --max-matching-ngram-size N (default 2): longest n-gram prompt lookup matches (`max_matching_ngram_size`). */
  maxMatchingNgramSize?: number;
}

export interface EvalOptions extends ModelOptions {
  command: 'eval';
  /** --adapter DIR (default: none, the base model alone). */
  adapter?: string;
  /** --split (default test). */
  split: SplitName;
  /** --data FILE (default: the copy shipped in the repo). */
  data?: string;
  /** --limit N records before the split (default: all; demo 300, so eval sees the demo's held-out part). */
  limit?: number;
  /** --batch-size (default 8). */
  batchSize: number;
  /** --eval-order (default length). */
  evalOrder: EvalOrder;
  /** --max-target-length (default 512; demo 48). */
  maxTargetLength: number;
  /** --samples N held-out prompts generated side by side, base vs adapter (default 3). */
  samples: number;
  /** --max-length of those generations (default 250). */
  maxLength: number;
  /** --prompt-template (default original): must be the one the adapter was trained with. */
  promptTemplate: PromptTemplateName;
  /** --pad-to-multiple-of N (default 1 = off): DataCollatorForSeq2Seq's `pad_to_multiple_of` for the eval batches. */
  padToMultipleOf: number;
  /** --predict-with-generate (default off): also generate for every example of the split and print its ROUGE scores. */
  predictWithGenerate: boolean;
  /** --generation-max-length N (default: the model's generation config); needs --predict-with-generate. */
  generationMaxLength?: number;
  /** --generation-num-beams N (default: the model's generation config); needs --predict-with-generate. */
  generationNumBeams?: number;
}

export const MERGE_DTYPES = ['same', 'f32', 'bf16', 'f16'] as const;
/** Stored dtype of the merged checkpoint's float tensors: as in the base (`same`), or one for all. */
export type MergeDtype = (typeof MERGE_DTYPES)[number];

/** `merge`: works on checkpoint files only (no backend, no int8). */
export interface MergeOptions {
  command: 'merge';
  /** --model DIR|ID: the base snapshot folder or hub id (required: the demo model has no files). */
  model: Extract<ModelSource, { kind: 'dir' } | { kind: 'hub' }>;
  /** --adapter DIR|ID (required). */
  adapter: string;
  /** --out DIR (default conifer-out/merged): the merged snapshot folder. */
  out: string;
  /** --dtype (default same). */
  dtype: MergeDtype;
  /** --overwrite: write into a non-empty --out (earlier weight files there are deleted). */
  overwrite: boolean;
  /** Long flag names the user set on the command line. */
  explicit: ReadonlySet<string>;
}

export type CommandOptions = TrainOptions | GenerateOptions | EvalOptions | MergeOptions;

/** What `parseCommandLine` returns: a command to run, or help text to print (exit 0). */
export type ParsedCommandLine = { kind: 'run'; options: CommandOptions } | { kind: 'help'; text: string };
