import cliProgress from 'cli-progress';
import type { EvalRecord, StepInfo, TrainLogger } from './types.js';

const fmt = (x: number | null, digits = 4) => (x === null || !Number.isFinite(x) ? 'nan' : x.toFixed(digits));
/** A metric value: 4 decimals, `inf` / `-inf` for an infinite one (a perplexity that overflowed), `nan` for NaN (or null, as JSON keeps NaN). */
const fmtMetric = (x: number | null) => (x === Number.POSITIVE_INFINITY ? 'inf' : x === Number.NEGATIVE_INFINITY ? '-inf' : fmt(x));
/** `computeMetrics`' values of an eval record (`eval_loss` is printed as the loss already): " eval_accuracy 0.7500 …". */
const extra = (e: EvalRecord) =>
  Object.entries(e.metrics ?? {})
    .filter(([k]) => k !== 'eval_loss')
    .map(([k, v]) => ` ${k} ${fmtMetric(v)}`)
    .join('');

function eta(info: StepInfo): string {
  if (info.totalSteps === undefined || info.stepsThisRun === 0) return '?';
  const s = ((info.totalSteps - info.step) * info.elapsedSeconds) / info.stepsThisRun;
  if (!Number.isFinite(s) || s < 0) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(sec).padStart(2, '0')}s`;
}

/** Plain lines, one per step / eval / epoch (for logs and non-TTY output). */
export class LineLogger implements TrainLogger {
  constructor(
    private readonly write: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
    /** Print every n-th step (default 1). */
    private readonly every = 1,
  ) {}
  onStep(i: StepInfo): void {
    if (i.step % this.every !== 0 && !i.skipped) return;
    const total = i.totalSteps !== undefined ? `/${i.totalSteps}` : '';
    this.write(
      `step ${i.step}${total} epoch ${i.epoch} loss ${fmt(i.loss)} lr ${i.lr.toExponential(3)} ` +
        `tok/s ${i.tokensPerSecond.toFixed(0)} eta ${eta(i)}${i.skipped ? ' SKIPPED (non-finite)' : ''}`,
    );
  }
  onEval(e: EvalRecord): void {
    this.write(`eval step ${e.step} epoch ${e.epoch} loss/token ${fmt(e.loss)} sum of batch means ${fmt(e.sumOfBatchMeans)} (${e.batches} batches, ${e.tokens} tokens)${extra(e)}`);
  }
  onEpoch(e: { epoch: number; step: number }): void {
    this.write(`epoch ${e.epoch} done at step ${e.step}`);
  }
  log(message: string): void {
    this.write(message);
  }
}

/** A cli-progress bar with step, epoch, loss, lr, tokens/s and ETA; messages go above it. */
export class ProgressBarLogger implements TrainLogger {
  private bar: cliProgress.SingleBar | null = null;
  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  onStart(info: { startStep: number; totalSteps: number | undefined }): void {
    this.bar = new cliProgress.SingleBar(
      {
        format: 'step {value}/{total} |{bar}| epoch {epoch} loss {loss} lr {lr} {tps} tok/s ETA {eta_t}',
        stream: this.stream,
        hideCursor: true,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(info.totalSteps ?? 0, info.startStep, { epoch: 0, loss: '-', lr: '-', tps: '-', eta_t: '?' });
  }
  onStep(i: StepInfo): void {
    if (!this.bar) this.onStart({ startStep: i.step - 1, totalSteps: i.totalSteps });
    if (i.totalSteps !== undefined) this.bar!.setTotal(i.totalSteps);
    this.bar!.update(i.step, { epoch: i.epoch, loss: fmt(i.loss), lr: i.lr.toExponential(2), tps: i.tokensPerSecond.toFixed(0), eta_t: eta(i) });
  }
  onEval(e: EvalRecord): void {
    this.log(`eval @ step ${e.step}: loss/token ${fmt(e.loss)}, sum of batch means ${fmt(e.sumOfBatchMeans)}${extra(e)}`);
  }
  onEpoch(e: { epoch: number; step: number }): void {
    this.log(`epoch ${e.epoch} done at step ${e.step}`);
  }
  log(message: string): void {
    if (this.bar) {
      this.stream.write('\r\x1b[K' + message + '\n');
      this.bar.render();
    } else {
      this.stream.write(message + '\n');
    }
  }
  onEnd(): void {
    this.bar?.stop();
    this.bar = null;
  }
}

/** The default: a progress bar on a TTY, plain lines otherwise. */
export function defaultLogger(): TrainLogger {
  return process.stderr.isTTY ? new ProgressBarLogger(process.stderr) : new LineLogger();
}

/** A logger that does nothing. */
export const silentLogger: TrainLogger = { onStep() {}, onEval() {}, onEpoch() {}, log() {} };
