/**
 * `--resume` refuses a damaged checkpoint instead of skipping it, before the model loads.
 *
 * The check is `@conifer/trainer`'s `checkpointToResume` (what `train({ resume: true })` runs too):
 * newest first, a checkpoint folder without its `COMPLETE` manifest (a write that was killed) is
 * passed over; the first one with a manifest must match it (files, sizes, parseable safetensors
 * headers and `state.json`), else a `DamagedCheckpointError` names the folder, the damage and what
 * to resume from once it is deleted. transformers' `Trainer` does not skip one either:
 * `get_last_checkpoint` (src/transformers/trainer_utils.py) takes the highest `checkpoint-N` folder
 * and `_load_from_checkpoint` fails on it. Here it is run before the (big) model is loaded, and its
 * error becomes one CLI line.
 */
import { checkpointToResume, DamagedCheckpointError } from '@conifer/trainer';
import { CliError } from '../errors.js';

/**
 * The checkpoint `--resume` continues from (`dir`: the run's `--out/checkpoints`), or null when there is
 * none (or no folder): then the run starts afresh, and is a fresh run in every respect (the eval before
 * training, the plan's count of evaluations). One CliError when that checkpoint is damaged.
 */
export async function checkResumeCheckpoint(dir: string): Promise<string | null> {
  try {
    return await checkpointToResume(dir);
  } catch (e) {
    if (e instanceof DamagedCheckpointError) throw new CliError(`--resume: ${e.message}`);
    throw e;
  }
}
