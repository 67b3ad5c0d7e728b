export { registerCoreGradients, coreGradientsRegistered } from './register-gradients.js';
export type { Trainable, Cursor, CursorBatch, DataSource, EvalData } from './types.js';
export { AdamW, type AdamWOptions, type AdamWState } from './adamw.js';
export { Adafactor, adafactorSlots, adafactorSlotShape, ADAFACTOR_SLOTS, type AdafactorOptions, type AdafactorSlot, type AdafactorState } from './adafactor.js';
export type { ResolvedAdafactorOptions } from './adafactor-options.js';
export { adamwInPlaceDispatchCount } from './adamw-webgpu.js';
export { lrMultiplier, type ScheduleKind, type ScheduleOptions, type LrSchedulerKwargs, type WsdShape } from './schedule.js';
export type { EarlyStoppingOptions } from './early-stopping.js';
export { metricKey, defaultGreaterIsBetter, EVAL_LOSS, type ComputeMetrics, type MetricsContext } from './metrics.js';
export { clipByGlobalNorm, globalNorm } from './clip.js';
export { accumulateGradients, allFinite, type AccumulatedGradients } from './accumulate.js';
export { optimizerStep, NonFiniteLossError, type OptimizerStepOptions, type StepResult } from './step.js';
export { evaluate, type EvalResult } from './evaluate.js';
export {
  writeCheckpoint,
  readCheckpoint,
  latestCheckpoint,
  checkpointToResume,
  checkpointDamage,
  DamagedCheckpointError,
  checkpointOptimizer,
  listCheckpoints,
  isCompleteCheckpoint,
  isAdafactorState,
  pruneCheckpoints,
  snapshotVariables,
  restoreVariables,
  checkpointName,
  MANIFEST_FILE,
  TRAINABLE_FILE,
  OPTIMIZER_FILE,
  STATE_FILE,
  BEST_FILE,
  type CheckpointContent,
} from './checkpoint.js';
export { totalOptimizerSteps } from './train-options.js';
export { train, METRICS_FILE, LOSS_CURVE_FILE, type TrainOptions, type TrainResult, type TrainerState, type SaveInfo, type BestEval } from './trainer.js';
export { LineLogger, ProgressBarLogger, defaultLogger, silentLogger } from './report/logger.js';
export { lossCurveSvg } from './report/svg.js';
export type { TrainLogger, StepInfo, TrainRecord, EvalRecord, MetricRecord } from './report/types.js';

export const packageName = '@conifer/trainer';
