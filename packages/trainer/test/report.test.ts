import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LineLogger, ProgressBarLogger, lossCurveSvg, type MetricRecord, type StepInfo } from '../src';

const step = (n: number, loss: number | null): StepInfo => ({
  type: 'train', step: n, epoch: 0, loss, lr: 1e-3, tokens: 100, gradNorm: 1, skipped: loss === null,
  totalSteps: 10, tokensPerSecond: 1234.5, elapsedSeconds: n, stepsThisRun: n, skippedSteps: 0,
});

describe('reporting', () => {
  it('LineLogger prints step, epoch, loss, lr, tokens/s and ETA', () => {
    const lines: string[] = [];
    const l = new LineLogger((s) => lines.push(s));
    l.onStep(step(2, 1.5));
    l.onStep(step(3, null));
    l.onEval({ type: 'eval', step: 3, epoch: 0, loss: 1.25, sumOfBatchMeans: 2.6, meanOfBatchMeans: 1.3, tokens: 50, batches: 2 });
    expect(lines[0]).toBe('step 2/10 epoch 0 loss 1.5000 lr 1.000e-3 tok/s 1235 eta 0m08s');
    expect(lines[1]).toMatch(/loss nan .*SKIPPED/);
    expect(lines[2]).toContain('loss/token 1.2500 sum of batch means 2.6000');
  });

  it('ProgressBarLogger renders to a stream without throwing', () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    const p = new ProgressBarLogger(out as unknown as NodeJS.WriteStream);
    p.onStart({ startStep: 0, totalSteps: 10 });
    p.onStep(step(1, 2));
    p.log('hello');
    p.onEnd();
    expect(text).toContain('hello');
  });

  it('lossCurveSvg draws train and eval polylines with axes and labels', () => {
    const recs: MetricRecord[] = [
      { type: 'train', step: 1, epoch: 0, loss: 3, lr: 1, tokens: 1, gradNorm: 1, skipped: false },
      { type: 'train', step: 2, epoch: 0, loss: null, lr: 1, tokens: 1, gradNorm: null, skipped: true },
      { type: 'train', step: 3, epoch: 0, loss: 2, lr: 1, tokens: 1, gradNorm: 1, skipped: false },
      { type: 'eval', step: 3, epoch: 0, loss: 2.5, sumOfBatchMeans: 5, meanOfBatchMeans: 2.5, tokens: 4, batches: 2 },
    ];
    const svg = lossCurveSvg(recs);
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(svg).toContain('optimizer step');
    expect(svg).toContain('>train<');
    expect(svg).toContain('>eval<');
    expect(lossCurveSvg([])).toContain('</svg>');
  });
});
