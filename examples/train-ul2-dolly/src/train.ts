import { freemem } from 'node:os';
import { setupBackend } from './backends.js';
import { DEMO_CONFIG } from './demo-config.js';
import { CliError } from './errors.js';
import type { Io } from './io.js';
import type { ModelSource, TrainOptions } from './options.js';
import { formatPlan, makePlan, type Plan, type PlanInput } from './plan.js';
import { readT5Config, type T5ConfigJson } from './t5-config.js';

/** The config the plan is made from, and what to call it. Hub ids need a download (not wired yet). */
export function planConfig(model: ModelSource): { config: T5ConfigJson; label: string } {
  switch (model.kind) {
    case 'demo':
      return { config: DEMO_CONFIG, label: 'embedded demo T5 (random weights, real T5 vocabulary)' };
    case 'dir':
      return { config: readT5Config(model.dir, true), label: model.dir };
    case 'config':
      return { config: readT5Config(model.file, false), label: model.file };
    case 'hub':
      throw new CliError(`--model ${model.id}: downloading from the hub is not wired yet; pass the snapshot folder (or its config.json for --dry-run)`);
  }
}

/** The plan for a train command (device memory: --device-memory, else free RAM on cpu/wasm, else unknown). */
export function trainPlan(opts: TrainOptions): Plan {
  const { config, label } = planConfig(opts.model);
  const cpuLike = opts.backend === 'cpu' || opts.backend === 'wasm';
  const input: PlanInput = {
    config,
    label,
    int8: opts.int8,
    r: opts.r,
    loraAlpha: opts.loraAlpha,
    targetModules: opts.targetModules,
    batchSize: opts.batchSize,
    gradAccum: opts.gradAccum,
    batchTokens: opts.batchTokens,
    maxSourceLength: opts.maxSourceLength,
    maxTargetLength: opts.maxTargetLength,
    epochs: opts.epochs,
    limit: opts.limit,
    maxSteps: opts.maxSteps,
    backend: opts.backend,
    deviceTflops: opts.deviceTflops,
    ...(opts.deviceMemoryGB !== undefined
      ? { deviceMemoryBytes: opts.deviceMemoryGB * 1e9, deviceMemorySource: '--device-memory' }
      : cpuLike
        ? { deviceMemoryBytes: freemem(), deviceMemorySource: 'free RAM' }
        : {}),
  };
  return makePlan(input);
}

/** `train`: the plan, then (once wired) load → int8 → LoRA → train → save. */
export async function runTrain(opts: TrainOptions, io: Io): Promise<number> {
  const plan = trainPlan(opts);
  io.stdout(formatPlan(plan));
  if (opts.dryRun) return 0;
  const backend = await setupBackend(opts.backend);
  try {
    io.stdout(`  backend      ${backend.detail}`);
    io.stdout(
      `  run          lr ${opts.lr}, ${opts.epochs} epoch(s), warmup ${opts.warmupSteps}, seed ${opts.seed}, out ${opts.out}${opts.resume ? ', resuming' : ''}`,
    );
    io.stdout('The training pipeline (t5-model + int8 + LoRA + trainer) is being wired into this CLI: nothing was trained or written.');
    return 0;
  } finally {
    backend.dispose();
  }
}
