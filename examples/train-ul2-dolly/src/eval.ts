import { setupBackend } from './backends.js';
import type { Io } from './io.js';
import type { EvalOptions } from './options.js';

/** `eval`: loss per token and summed on a split, plus side-by-side generations (being wired). */
export async function runEval(opts: EvalOptions, io: Io): Promise<number> {
  const backend = await setupBackend(opts.backend);
  try {
    io.stdout(`backend ${backend.detail}`);
    io.stdout(`split ${opts.split}, adapter ${opts.adapter ?? 'none'}, ${opts.samples} side-by-side sample(s)`);
    io.stdout('Evaluation (t5-model + LoRA + dolly-data) is being wired into this CLI.');
    return 0;
  } finally {
    backend.dispose();
  }
}
