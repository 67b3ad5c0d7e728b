/**
 * `--resume` against the flags of the run that wrote the checkpoint, before the model loads: the
 * optimizer (@conifer/trainer's `checkpointOptimizer`, from the optimizer file's header) and DoRA (`lora_magnitude_vector` variables in `trainable.safetensors`). A mismatch would
 * otherwise surface as the trainer's error about its own option names, after a model load that takes
 * minutes on Flan-UL2.
 */
import { join } from 'node:path';
import { SafetensorsFile } from '@conifer/safetensors';
import { TRAINABLE_FILE, checkpointOptimizer, latestCheckpoint } from '@conifer/trainer';
import { CliError } from '../errors.js';
import type { Optim } from '../options.js';

/** What the newest complete checkpoint under `dir` was trained with, or null when there is none. */
export async function checkpointFlags(dir: string): Promise<{ checkpoint: string; optim: Optim; useDora: boolean } | null> {
  const checkpoint = await latestCheckpoint(dir);
  if (checkpoint === null) return null;
  const trainable = await SafetensorsFile.open(join(checkpoint, TRAINABLE_FILE));
  let names: string[];
  try {
    names = trainable.names();
  } finally {
    await trainable.close();
  }
  return {
    checkpoint,
    optim: (await checkpointOptimizer(checkpoint)) === 'adafactor' ? 'adafactor' : 'adamw_torch',
    useDora: names.some((n) => n.endsWith('.lora_magnitude_vector')),
  };
}

/** A CliError naming the flags to resume with when the checkpoint's optimizer or DoRA differ from these. */
export async function checkResumeFlags(dir: string, flags: { optim: Optim; useDora: boolean }): Promise<void> {
  const saved = await checkpointFlags(dir);
  if (saved === null) return;
  const wrong: string[] = [];
  if (saved.optim !== flags.optim) wrong.push(`--optim ${saved.optim} (this run: ${flags.optim})`);
  if (saved.useDora !== flags.useDora) wrong.push(saved.useDora ? '--use-dora (this run: without)' : 'no --use-dora (this run: with it)');
  if (wrong.length > 0) {
    throw new CliError(`--resume: ${saved.checkpoint} was written with ${wrong.join(' and ')}: resume with the same flags, or give another --out`);
  }
}
