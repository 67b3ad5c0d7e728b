/**
 * `--resume` against the flags of the run that wrote the checkpoint, before the model loads: the
 * optimizer (@conifer/trainer's `checkpointOptimizer`, from the optimizer file's header), DoRA (`lora_magnitude_vector` variables in `trainable.safetensors`),
 * and the flags no tensor shows, which the run records in `checkpoints/run-flags.json` ({@link writeRunRecord}):
 *
 * - refused when they differ ({@link checkResumeFlags} throws one CliError naming the values to resume with): `--use-rslora`,
 *   `--init-lora-weights` (another scaling or init under the trained values), `--prompt-template` (other texts), and what the
 *   saved data cursor means ({@link RESUME_DATA_FLAGS}): the trainer resumes at (epoch, position) = that many batches into the
 *   epoch's seeded plan, and at that optimizer step count of a schedule built for the run's total steps, so a flag that changes
 *   the records, the split, the plan or the steps per epoch would silently skip or repeat examples, train on other texts,
 *   measure the best on another test split, or move the learning-rate schedule — none of which any error would show;
 * - warned about on stderr ({@link RESUME_WARNED_FLAGS}): the cadence flags transformers' `Trainer.compare_trainer_and_checkpoint_args`
 *   (src/transformers/trainer.py) warns about — `logging_steps`, `eval_steps`, `save_steps` — which only change when the resumed
 *   run logs, evaluates and saves. transformers also warns about `per_device_train_batch_size`, but goes on with the checkpoint's
 *   (`train()`: `self._train_batch_size = state.train_batch_size`), which keeps its batch skip right; here the batch size is the
 *   flag's, so another one is refused; and, with fixed batches, `--max-source-length` / `--max-target-length` (the same
 *   records under the cursor, kept to other lengths: e.g. shorter after running out of memory).
 *
 * Fields a record lacks (records written before them) are not checked, as a checkpoint without a record at all.
 * The schedule flags (--epochs, --max-steps, --lr, --lr-scheduler-*, --warmup-*) are the trainer's to compare: it logs a
 * schedule that differs from the checkpoint's and goes on with this run's, as transformers rebuilds its scheduler from the
 * arguments.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { bundledDollyPath } from '@conifer/dolly-data';
import { SafetensorsFile, writeFileAtomic } from '@conifer/safetensors';
import { TRAINABLE_FILE, checkpointOptimizer, latestCheckpoint } from '@conifer/trainer';
import { CliError } from '../errors.js';
import { INIT_LORA_WEIGHTS, PROMPT_TEMPLATES, type InitLoraWeightsFlag, type Optim, type PromptTemplateName } from '../options.js';

/** The file under `--out/checkpoints` that records the flags the checkpoints' tensors do not show. */
export const RUN_FLAGS_FILE = 'run-flags.json';

/**
 * What {@link RUN_FLAGS_FILE} holds: PEFT's / transformers' field names (`max_source_length`, `max_target_length`: the
 * summarization example's data arguments), the app's flag names where they have none. The fields after the first four are
 * optional when read (records written before them lack them: not checked); `null` = the flag not given.
 */
export interface RunFlagsRecord {
  use_rslora: boolean;
  init_lora_weights: InitLoraWeightsFlag;
  prompt_template: PromptTemplateName;
  pad_to_multiple_of: number;
  /** --data: the jsonl's absolute path, `hub` or the `hf://` address as given; null = the copy @conifer/dolly-data ships (the default). */
  data?: string | null;
  limit?: number | null;
  seed?: number;
  max_source_length?: number;
  max_target_length?: number;
  /** --batch-size (checked with fixed batches; under --batch-tokens it sizes only the eval batches). */
  per_device_train_batch_size?: number;
  batch_tokens?: number | null;
  gradient_accumulation_steps?: number;
  /** --logging-steps, --eval-every, --save-every: warned about, and rewritten by a resumed run ({@link writeRunRecord}). */
  logging_steps?: number;
  eval_steps?: number | null;
  save_steps?: number | null;
}

/** The flags a resumed run is compared on (TrainOptions' names). */
export interface ResumeFlags {
  optim: Optim;
  useDora: boolean;
  useRslora: boolean;
  initLoraWeights: InitLoraWeightsFlag;
  promptTemplate: PromptTemplateName;
  padToMultipleOf: number;
  data?: string | undefined;
  limit?: number | undefined;
  seed: number;
  maxSourceLength: number;
  maxTargetLength: number;
  batchSize: number;
  batchTokens?: number | undefined;
  gradAccum: number;
  loggingSteps: number;
  evalEvery?: number | undefined;
  saveEvery?: number | undefined;
}

type Field = keyof RunFlagsRecord;
type FlagValue = string | number | null;

/**
 * The data flags a resume refuses to change, with what each does to the saved cursor (see the file comment):
 * --data, --limit and --seed pick the records and the 80/20 split (and --seed the epoch's shuffle and the demo's
 * weights); --max-*-length size --batch-tokens' buckets (with fixed batches they are only warned about: {@link LENGTH_FIELDS}); --batch-size (fixed batches) and
 * --batch-tokens form the plan the cursor's position counts in; --grad-accum sets the steps per epoch, so the step
 * count and the schedule's total no longer match the data seen. (--pad-to-multiple-of is checked with the LoRA flags.)
 */
export const RESUME_DATA_FLAGS: ReadonlyArray<{ field: Field; flag: string; value: (f: ResumeFlags) => FlagValue }> = [
  { field: 'data', flag: '--data', value: (f) => dataId(f.data) },
  { field: 'limit', flag: '--limit', value: (f) => f.limit ?? null },
  { field: 'seed', flag: '--seed', value: (f) => f.seed },
  { field: 'max_source_length', flag: '--max-source-length', value: (f) => f.maxSourceLength },
  { field: 'max_target_length', flag: '--max-target-length', value: (f) => f.maxTargetLength },
  { field: 'batch_tokens', flag: '--batch-tokens', value: (f) => f.batchTokens ?? null },
  { field: 'per_device_train_batch_size', flag: '--batch-size', value: (f) => f.batchSize },
  { field: 'gradient_accumulation_steps', flag: '--grad-accum', value: (f) => f.gradAccum },
];

/** The cadence flags a resume only warns about (transformers' `compare_trainer_and_checkpoint_args`). */
export const RESUME_WARNED_FLAGS: ReadonlyArray<{ field: Field; flag: string; value: (f: ResumeFlags) => FlagValue }> = [
  { field: 'logging_steps', flag: '--logging-steps', value: (f) => f.loggingSteps },
  { field: 'eval_steps', flag: '--eval-every', value: (f) => f.evalEvery ?? null },
  { field: 'save_steps', flag: '--save-every', value: (f) => f.saveEvery ?? null },
];

/**
 * --max-source-length / --max-target-length: with fixed batches (no --batch-tokens in the run nor the checkpoint's) they only
 * change how far each record's text is kept — the same records in the same batches under the cursor — so a resume with
 * shorter lengths after running out of memory goes on, with a warning; under --batch-tokens they size the buckets of the
 * plan the cursor counts in, and are refused.
 */
const LENGTH_FIELDS: ReadonlySet<Field> = new Set<Field>(['max_source_length', 'max_target_length']);

/** --data as recorded: null for the shipped copy (also when given by its path), `hub` / `hf://…` as given, a file by its absolute path. */
function dataId(data: string | undefined): string | null {
  if (data === undefined) return null;
  if (data === 'hub' || data.startsWith('hf://')) return data;
  return resolve(data) === resolve(bundledDollyPath()) ? null : resolve(data);
}

function runRecord(flags: Omit<ResumeFlags, 'optim' | 'useDora'>): RunFlagsRecord {
  const record: RunFlagsRecord = {
    use_rslora: flags.useRslora,
    init_lora_weights: flags.initLoraWeights,
    prompt_template: flags.promptTemplate,
    pad_to_multiple_of: flags.padToMultipleOf,
  };
  const all = flags as ResumeFlags;
  for (const f of [...RESUME_DATA_FLAGS, ...RESUME_WARNED_FLAGS]) (record as unknown as Record<string, FlagValue>)[f.field] = f.value(all);
  return record;
}

/**
 * Writes `dir/run-flags.json` (atomically) at the start of a run, beside the checkpoints it will write. A resumed run
 * keeps the record of the run that wrote its checkpoints (it was checked to match), with the warned-about cadence
 * ({@link RESUME_WARNED_FLAGS}) set to this run's, which its checkpoints go on with; the record is written anew when
 * there is no complete checkpoint yet (a run that died before its first one leaves a record that describes nothing)
 * or none (checkpoints older than the file).
 */
export async function writeRunRecord(dir: string, flags: Omit<ResumeFlags, 'optim' | 'useDora'> & { resume: boolean }): Promise<void> {
  const file = join(dir, RUN_FLAGS_FILE);
  const record = runRecord(flags);
  if (flags.resume && existsSync(file) && (await latestCheckpoint(dir)) !== null) {
    const kept = parseRunRecord(file, await readFile(file, 'utf8'));
    // the cadence and the lengths were warned about (under --batch-tokens a changed length was refused): this run's from here on
    const cadence = Object.fromEntries(RESUME_WARNED_FLAGS.map((f) => [f.field, record[f.field]]));
    for (const f of LENGTH_FIELDS) if (kept[f] !== undefined) cadence[f] = record[f];
    // fields an older record lacks take this run's values: the checkpoints written from here on follow them
    const next = { ...record, ...kept, ...cadence };
    if (JSON.stringify(next) !== JSON.stringify(kept)) await writeFileAtomic(file, `${JSON.stringify(next)}\n`);
    return;
  }
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(file, `${JSON.stringify(record)}\n`);
}

const positiveInt = (v: unknown) => Number.isInteger(v) && (v as number) >= 1;
/** What each field may hold (a missing optional field is fine). */
const VALID: Record<Field, (v: unknown) => boolean> = {
  use_rslora: (v) => typeof v === 'boolean',
  init_lora_weights: (v) => INIT_LORA_WEIGHTS.map((w) => (w === 'true' ? true : w === 'false' ? false : w) as unknown).includes(v),
  prompt_template: (v) => (PROMPT_TEMPLATES as readonly unknown[]).includes(v),
  pad_to_multiple_of: positiveInt,
  data: (v) => v === undefined || v === null || (typeof v === 'string' && v !== ''),
  limit: (v) => v === undefined || v === null || positiveInt(v),
  seed: (v) => v === undefined || (Number.isInteger(v) && (v as number) >= 0),
  max_source_length: (v) => v === undefined || positiveInt(v),
  max_target_length: (v) => v === undefined || positiveInt(v),
  per_device_train_batch_size: (v) => v === undefined || positiveInt(v),
  batch_tokens: (v) => v === undefined || v === null || positiveInt(v),
  gradient_accumulation_steps: (v) => v === undefined || positiveInt(v),
  logging_steps: (v) => v === undefined || positiveInt(v),
  eval_steps: (v) => v === undefined || v === null || positiveInt(v),
  save_steps: (v) => v === undefined || v === null || positiveInt(v),
};

/** `text` as a {@link RunFlagsRecord}, or one CliError naming the file and the fields that are wrong. */
function parseRunRecord(file: string, text: string): RunFlagsRecord {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new CliError(`--resume: ${file}: ${(e as Error).message} (delete the file to resume without checking --use-rslora, --init-lora-weights, --prompt-template, --pad-to-multiple-of and the data flags)`);
  }
  const r = (typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {}) as Record<string, unknown>;
  const bad = (Object.keys(VALID) as Field[]).filter((k) => !VALID[k](r[k]));
  if (bad.length > 0) throw new CliError(`--resume: ${file} is not a run record (${bad.join(', ')}): ${text.trim().slice(0, 200)}`);
  return r as unknown as RunFlagsRecord;
}

/** What the newest complete checkpoint under `dir` was trained with, or null when there is none. */
export async function checkpointFlags(dir: string): Promise<{ checkpoint: string; optim: Optim; useDora: boolean; run: RunFlagsRecord | null } | null> {
  const checkpoint = await latestCheckpoint(dir);
  if (checkpoint === null) return null;
  const trainable = await SafetensorsFile.open(join(checkpoint, TRAINABLE_FILE));
  let names: string[];
  try {
    names = trainable.names();
  } finally {
    await trainable.close();
  }
  const file = join(dir, RUN_FLAGS_FILE);
  const run = existsSync(file) ? parseRunRecord(file, await readFile(file, 'utf8')) : null;
  return {
    checkpoint,
    optim: (await checkpointOptimizer(checkpoint)) === 'adafactor' ? 'adafactor' : 'adamw_torch',
    useDora: names.some((n) => n.endsWith('.lora_magnitude_vector')),
    run,
  };
}

/** `--flag value (this run: other)`, or `no --flag` / `without` for a flag not given. */
function difference(flag: string, saved: FlagValue, current: FlagValue): string {
  return `${saved === null ? `no ${flag}` : `${flag} ${saved}`} (this run: ${current === null ? 'without' : current})`;
}

/** The recorded flags of `list` that differ from this run's (a field the record lacks: not compared). */
function differences(run: RunFlagsRecord, flags: ResumeFlags, list: typeof RESUME_DATA_FLAGS): string[] {
  const out: string[] = [];
  for (const f of list) {
    const saved = run[f.field] as FlagValue | undefined;
    if (saved === undefined) continue;
    // --batch-size forms the training batches only without --batch-tokens (in both runs; else --batch-tokens differs)
    if (f.field === 'per_device_train_batch_size' && (flags.batchTokens !== undefined || (run.batch_tokens ?? null) !== null)) continue;
    const current = f.value(flags);
    if (saved !== current) out.push(difference(f.flag, saved, current));
  }
  return out;
}

/**
 * Throws a CliError naming the flags to resume with when the checkpoint's optimizer, DoRA, rsLoRA, LoRA init, prompt
 * template, padding multiple or data flags ({@link RESUME_DATA_FLAGS}) differ from these (all but the first two only
 * where the run recorded them: checkpoints of runs before {@link RUN_FLAGS_FILE}, or before a field of it, are not checked
 * for them). Returns the warning to print when only the cadence flags ({@link RESUME_WARNED_FLAGS}) differ, else null.
 */
export async function checkResumeFlags(dir: string, flags: ResumeFlags): Promise<string | null> {
  const saved = await checkpointFlags(dir);
  if (saved === null) return null;
  const wrong: string[] = [];
  if (saved.optim !== flags.optim) wrong.push(`--optim ${saved.optim} (this run: ${flags.optim})`);
  if (saved.useDora !== flags.useDora) wrong.push(saved.useDora ? '--use-dora (this run: without)' : 'no --use-dora (this run: with it)');
  const run = saved.run;
  if (run && run.use_rslora !== flags.useRslora) wrong.push(run.use_rslora ? '--use-rslora (this run: without)' : 'no --use-rslora (this run: with it)');
  if (run && run.init_lora_weights !== flags.initLoraWeights) {
    wrong.push(`--init-lora-weights ${String(run.init_lora_weights)} (this run: ${String(flags.initLoraWeights)})`);
  }
  if (run && run.prompt_template !== flags.promptTemplate) wrong.push(`--prompt-template ${run.prompt_template} (this run: ${flags.promptTemplate})`);
  if (run && run.pad_to_multiple_of !== flags.padToMultipleOf) wrong.push(`--pad-to-multiple-of ${run.pad_to_multiple_of} (this run: ${flags.padToMultipleOf})`);
  const fixedBatches = flags.batchTokens === undefined && (run?.batch_tokens ?? null) === null;
  const lengthWarned = (f: { field: Field }) => fixedBatches && LENGTH_FIELDS.has(f.field);
  if (run) wrong.push(...differences(run, flags, RESUME_DATA_FLAGS.filter((f) => !lengthWarned(f))));
  if (wrong.length > 0) {
    // the file is recorded by its absolute path: the same data moved (another machine, a copy) needs the record edited
    const moved = wrong.some((w) => w.includes('--data ') || w.startsWith('no --data ')) ? ` (the same data at another path: set "data" in ${join(dir, RUN_FLAGS_FILE)})` : '';
    throw new CliError(`--resume: ${saved.checkpoint} was written with ${wrong.join(' and ')}: resume with the same flags${moved}, or give another --out`);
  }
  const warnings: string[] = [];
  const lengths = run ? differences(run, flags, RESUME_DATA_FLAGS.filter(lengthWarned)) : [];
  if (lengths.length > 0) warnings.push(`${lengths.join(' and ')}: this run keeps its own lengths of the same records from here on (evaluations then measure another truncation than the best so far)`);
  const cadence = run ? differences(run, flags, RESUME_WARNED_FLAGS) : [];
  if (cadence.length > 0) warnings.push(`${cadence.join(' and ')}: this run logs, evaluates and saves with its own`);
  return warnings.length > 0 ? `warning: --resume: ${saved.checkpoint} was written with ${warnings.join('; and with ')}` : null;
}
