import { setupBackend } from './backends.js';
import type { Io } from './io.js';
import type { GenerateOptions } from './options.js';

/** `generate`: base model + adapter + prompts → streamed text (being wired). */
export async function runGenerate(opts: GenerateOptions, io: Io): Promise<number> {
  const backend = await setupBackend(opts.backend);
  try {
    io.stdout(`backend ${backend.detail}`);
    const mode = opts.doSample ? `sampling (temperature ${opts.temperature}, top-k ${opts.topK}, top-p ${opts.topP})` : opts.numBeams > 1 ? `beam search (${opts.numBeams} beams)` : 'greedy';
    io.stdout(`${opts.prompts.length} prompt(s), ${mode}, length ${opts.minLength}–${opts.maxLength}, adapter ${opts.adapter ?? 'none'}`);
    io.stdout('Generation (t5-model + LoRA + generate) is being wired into this CLI.');
    return 0;
  } finally {
    backend.dispose();
  }
}
