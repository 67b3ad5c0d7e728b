/**
 * `--resume` against the flags of the run that wrote the checkpoint, before the model loads: the
 * optimizer (@conifer/trainer's `checkpointOptimizer`, from the optimizer file's header), DoRA (`lora_magnitude_vector` variables in `trainable.safetensors`),
 * and the flags no tensor shows — `--use-rslora`, `--init-lora-weights`, `--prompt-template`, `--pad-to-multiple-of` —
 * which the run records in `checkpoints/run-flags.json` ({@link writeRunRecord}). A mismatch would otherwise surface as
 * the trainer's error about its own option names after a model load that takes minutes on Flan-UL2 — or not at all:
 * the resumed run would train with another scaling, other texts, or (with `--batch-tokens`) another batch plan under
 * the saved cursor.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SafetensorsFile, writeFileAtomic } from '@conifer/safetensors';
import { TRAINABLE_FILE, checkpointOptimizer, latestCheckpoint } from '@conifer/trainer';
import { CliError } from '../errors.js';
import { INIT_LORA_WEIGHTS, PROMPT_TEMPLATES, type InitLoraWeightsFlag, type Optim, type PromptTemplateName } from '../options.js';

/** The file under `--out/checkpoints` that records the flags the checkpoints' tensors do not show. */
export const RUN_FLAGS_FILE = 'run-flags.json';

/** What {@link RUN_FLAGS_FILE} holds: PEFT's / transformers' field names. */
export interface RunFlagsRecord {
  use_rslora: boolean;
  init_lora_weights: InitLoraWeightsFlag;
  prompt_template: PromptTemplateName;
  pad_to_multiple_of: number;
}

export interface ResumeFlags {
  optim: Optim;
  useDora: boolean;
  useRslora: boolean;
  initLoraWeights: InitLoraWeightsFlag;
  promptTemplate: PromptTemplateName;
  padToMultipleOf: number;
}

/**
 * Writes `dir/run-flags.json` (atomically) at the start of a run, beside the checkpoints it will write. A resumed run
 * keeps the record of the run that wrote its checkpoints (it was checked to match); the record is written anew when
 * there is no complete checkpoint yet (a run that died before its first one leaves a record that describes nothing)
 * or none (checkpoints older than the file).
 */
export async function writeRunRecord(dir: string, flags: Omit<ResumeFlags, 'optim' | 'useDora'> & { resume: boolean }): Promise<void> {
  const file = join(dir, RUN_FLAGS_FILE);
  if (flags.resume && existsSync(file) && (await latestCheckpoint(dir)) !== null) return;
  await mkdir(dir, { recursive: true });
  const record: RunFlagsRecord = {
    use_rslora: flags.useRslora,
    init_lora_weights: flags.initLoraWeights,
    prompt_template: flags.promptTemplate,
    pad_to_multiple_of: flags.padToMultipleOf,
  };
  await writeFileAtomic(file, `${JSON.stringify(record)}\n`);
}

/** `value` as a {@link RunFlagsRecord}, or one CliError naming the file and what is wrong. */
function parseRunRecord(file: string, text: string): RunFlagsRecord {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new CliError(`--resume: ${file}: ${(e as Error).message} (delete the file to resume without checking --use-rslora, --init-lora-weights, --prompt-template, --pad-to-multiple-of)`);
  }
  const r = v as Partial<RunFlagsRecord> | null;
  const ok =
    typeof r === 'object' && r !== null && typeof r.use_rslora === 'boolean' && INIT_LORA_WEIGHTS.map((v) => (v === 'true' ? true : v === 'false' ? false : v) as unknown).includes(r.init_lora_weights) &&
    (PROMPT_TEMPLATES as readonly unknown[]).includes(r.prompt_template) && Number.isInteger(r.pad_to_multiple_of) && (r.pad_to_multiple_of as number) >= 1;
  if (!ok) throw new CliError(`--resume: ${file} is not a run record (use_rslora, init_lora_weights, prompt_template, pad_to_multiple_of): ${text.trim().slice(0, 200)}`);
  return r as RunFlagsRecord;
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

/**
 * A CliError naming the flags to resume with when the checkpoint's optimizer, DoRA, rsLoRA, LoRA init, prompt
 * template or padding multiple differ from these (the last four only where the run recorded them: checkpoints of
 * runs before {@link RUN_FLAGS_FILE} existed are not checked for them).
 */
export async function checkResumeFlags(dir: string, flags: ResumeFlags): Promise<void> {
  const saved = await checkpointFlags(dir);
  if (saved === null) return;
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
  if (wrong.length > 0) {
    throw new CliError(`--resume: ${saved.checkpoint} was written with ${wrong.join(' and ')}: resume with the same flags, or give another --out`);
  }
}
