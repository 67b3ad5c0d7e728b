/**
 * `--resume` against the flags of the run that wrote the checkpoint, before the model loads: the
 * optimizer (@conifer/trainer's `checkpointOptimizer`, from the optimizer file's header), DoRA (`lora_magnitude_vector` variables in `trainable.safetensors`),
 * and `--use-rslora` / `--init-lora-weights` (which no tensor shows: the run records them in
 * `checkpoints/lora-flags.json`, {@link writeLoraRecord}). A mismatch would otherwise surface as the trainer's
 * error about its own option names after a model load that takes minutes on Flan-UL2 — or, for rsLoRA, not at
 * all: the resumed run would train and save with another scaling.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SafetensorsFile } from '@conifer/safetensors';
import { TRAINABLE_FILE, checkpointOptimizer, latestCheckpoint } from '@conifer/trainer';
import { CliError } from '../errors.js';
import type { InitLoraWeightsFlag, Optim } from '../options.js';

/** The file under `--out/checkpoints` that records the LoRA flags the checkpoints' tensors do not show. */
export const LORA_FLAGS_FILE = 'lora-flags.json';

/** What {@link LORA_FLAGS_FILE} holds: PEFT's field names, as in adapter_config.json. */
export interface LoraFlagsRecord {
  use_rslora: boolean;
  init_lora_weights: InitLoraWeightsFlag;
}

export interface ResumeFlags {
  optim: Optim;
  useDora: boolean;
  useRslora: boolean;
  initLoraWeights: InitLoraWeightsFlag;
}

/**
 * Writes `dir/lora-flags.json` (use_rslora, init_lora_weights) at the start of a run, beside the checkpoints it
 * will write. A resumed run keeps the file of the run that started them (it was checked to match); one resumed
 * from checkpoints older than the file writes it.
 */
export async function writeLoraRecord(dir: string, flags: Pick<ResumeFlags, 'useRslora' | 'initLoraWeights'> & { resume: boolean }): Promise<void> {
  const file = join(dir, LORA_FLAGS_FILE);
  if (flags.resume && existsSync(file)) return;
  await mkdir(dir, { recursive: true });
  const record: LoraFlagsRecord = { use_rslora: flags.useRslora, init_lora_weights: flags.initLoraWeights };
  await writeFile(file, `${JSON.stringify(record)}\n`);
}

/** What the newest complete checkpoint under `dir` was trained with, or null when there is none. */
export async function checkpointFlags(dir: string): Promise<{ checkpoint: string; optim: Optim; useDora: boolean; lora: LoraFlagsRecord | null } | null> {
  const checkpoint = await latestCheckpoint(dir);
  if (checkpoint === null) return null;
  const trainable = await SafetensorsFile.open(join(checkpoint, TRAINABLE_FILE));
  let names: string[];
  try {
    names = trainable.names();
  } finally {
    await trainable.close();
  }
  const file = join(dir, LORA_FLAGS_FILE);
  let lora: LoraFlagsRecord | null = null;
  if (existsSync(file)) {
    try {
      lora = JSON.parse(await readFile(file, 'utf8')) as LoraFlagsRecord;
    } catch (e) {
      throw new CliError(`--resume: ${file}: ${(e as Error).message}`);
    }
  }
  return {
    checkpoint,
    optim: (await checkpointOptimizer(checkpoint)) === 'adafactor' ? 'adafactor' : 'adamw_torch',
    useDora: names.some((n) => n.endsWith('.lora_magnitude_vector')),
    lora,
  };
}

/**
 * A CliError naming the flags to resume with when the checkpoint's optimizer, DoRA, rsLoRA or LoRA init differ
 * from these (rsLoRA and the init only where the run recorded them: checkpoints of runs before
 * {@link LORA_FLAGS_FILE} existed are not checked for them).
 */
export async function checkResumeFlags(dir: string, flags: ResumeFlags): Promise<void> {
  const saved = await checkpointFlags(dir);
  if (saved === null) return;
  const wrong: string[] = [];
  if (saved.optim !== flags.optim) wrong.push(`--optim ${saved.optim} (this run: ${flags.optim})`);
  if (saved.useDora !== flags.useDora) wrong.push(saved.useDora ? '--use-dora (this run: without)' : 'no --use-dora (this run: with it)');
  if (saved.lora && saved.lora.use_rslora !== flags.useRslora) wrong.push(saved.lora.use_rslora ? '--use-rslora (this run: without)' : 'no --use-rslora (this run: with it)');
  if (saved.lora && saved.lora.init_lora_weights !== flags.initLoraWeights) {
    wrong.push(`--init-lora-weights ${String(saved.lora.init_lora_weights)} (this run: ${String(flags.initLoraWeights)})`);
  }
  if (wrong.length > 0) {
    throw new CliError(`--resume: ${saved.checkpoint} was written with ${wrong.join(' and ')}: resume with the same flags, or give another --out`);
  }
}
