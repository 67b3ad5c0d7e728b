import { mergeAdapterIntoCheckpoint } from '@conifer/lora';
import { CliError } from './errors.js';
import type { Io } from './io.js';
import type { MergeOptions } from './options.js';
import { resolveHubModel } from './pipeline/model.js';

const DTYPES = { same: 'same', f32: 'F32', bf16: 'BF16', f16: 'F16' } as const;

/**
 * `merge`: the adapter folded into the base checkpoint's files (`@conifer/lora`'s
 * mergeAdapterIntoCheckpoint: PEFT's merge_and_unload + save_pretrained, one tensor in memory at a
 * time, no backend), written as a plain snapshot folder that `--model` (or transformers) loads.
 */
export async function runMerge(opts: MergeOptions, io: Io): Promise<number> {
  const { source } = await resolveHubModel(opts.model, io.stdout);
  const dir = source.kind === 'dir' ? source.dir : '';
  const started = Date.now();
  let result;
  try {
    result = await mergeAdapterIntoCheckpoint(dir, opts.adapter, opts.out, {
      dtype: DTYPES[opts.dtype],
      overwrite: opts.overwrite,
      onFile: (file, i, n) => io.stdout(`  write        ${file} (${i + 1}/${n})`),
      // PEFT's warning about adapter_config.json fields its LoraConfig lacks, as generate / eval --adapter print it
      onWarning: (m) => io.stderr(`warning: --adapter ${opts.adapter}: ${m}`),
    });
  } catch (e) {
    throw new CliError(`merge: ${(e as Error).message.replace(/^mergeAdapterIntoCheckpoint: /, '').replace(/pass overwrite$/, 'pass --overwrite')}`);
  }
  io.stdout(`merged ${result.merged.length} weights of ${opts.adapter} into ${opts.model.kind === 'hub' ? opts.model.id : dir} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  io.stdout(`wrote ${opts.out}: ${result.files.join(', ')}`);
  if (result.skipped.length) io.stdout(`not copied: ${result.skipped.join(', ')}`);
  io.stdout(`use it: conifer-train-ul2-dolly generate --model ${opts.out}`);
  return 0;
}
