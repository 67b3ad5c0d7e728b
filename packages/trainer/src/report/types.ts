/** One line of `metrics.jsonl` for an optimizer step (deterministic: no wall-clock values). */
export interface TrainRecord {
  type: 'train';
  /** Optimizer steps done, this one included (1-based). */
  step: number;
  epoch: number;
  /** Mean loss per target token over the accumulation window (null when skipped). */
  loss: number | null;
  lr: number;
  tokens: number;
  /** Global gradient norm before clipping (null when skipped). */
  gradNorm: number | null;
  skipped: boolean;
}

/** One line of `metrics.jsonl` for an evaluation. */
export interface EvalRecord {
  type: 'eval';
  step: number;
  epoch: number;
  /** Mean loss per target token over the eval set (Σ loss sums / Σ tokens). */
  loss: number;
  /** The original project's figure: the per-batch mean losses added up. */
  sumOfBatchMeans: number;
  /** `sumOfBatchMeans / batches`. */
  meanOfBatchMeans: number;
  tokens: number;
  batches: number;
  /**
   * With `computeMetrics`: every metric of this evaluation under transformers' names — `eval_loss`
   * (= `loss`) and each computed one `eval_` prefixed (`eval_accuracy`, …). Absent without it.
   */
  metrics?: Record<string, number>;
}

export type MetricRecord = TrainRecord | EvalRecord;

/** What the logger gets after each optimizer step (the record plus timing). */
export interface StepInfo extends TrainRecord {
  /** Planned optimizer steps of the run, when known. */
  totalSteps: number | undefined;
  /** Target tokens per second over this step. */
  tokensPerSecond: number;
  /** Seconds since this process started training (or resumed). */
  elapsedSeconds: number;
  /** Steps done by this process (for the ETA after a resume). */
  stepsThisRun: number;
  skippedSteps: number;
}

/** An injectable reporter; every method is called synchronously from the loop. */
export interface TrainLogger {
  /** Once, before the first step. */
  onStart?(info: { startStep: number; totalSteps: number | undefined; epochs: number; resumedFrom: string | null }): void;
  onStep(info: StepInfo): void;
  onEval(info: EvalRecord): void;
  onEpoch(info: { epoch: number; step: number }): void;
  /** Free-form messages (checkpoint written, step skipped, …). */
  log(message: string): void;
  /** Once, at the end (also after an error). */
  onEnd?(): void;
}
