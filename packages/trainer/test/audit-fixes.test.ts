// Fixes from an audit of the trainer: no leaks when a run throws, early stopping that survives a
// resume and ends its epoch, one-shot eval iterators refused, the schedule in use recorded.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { accumulateGradients, NonFiniteLossError, train, type SaveInfo } from '../src';
import { ToyModel, toBatch, toyData, toyExamples } from './toy';
import { tempDirs } from './temp-dirs';

const tmp = tempDirs('conifer-trainer-audit-');

describe('trainer audit fixes', () => {
  it('a run that throws frees its optimizer state; accumulateGradients frees the partial sum when a micro-batch throws', async () => {
    const model = new ToyModel(3, 'leak');
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      model.poison = 1000;
      await expect(train({ model, data: toyData(40), lr: 0.1, maxBadStepsInARow: 2, logger: false })).rejects.toThrow(NonFiniteLossError);
    }
    expect(tf.memory().numTensors).toBe(before); // m and v of each failed run freed
    let calls = 0;
    const failing = { ...model, lossSum: (b: Parameters<ToyModel['lossSum']>[0], t: boolean) => {
      if (++calls === 2) throw new Error('micro-batch 2 failed');
      return model.lossSum(b, t);
    }, trainableVariables: () => model.trainableVariables() };
    const batches = toyData(10).batchesList.slice(0, 3);
    await expect(accumulateGradients(failing, batches)).rejects.toThrow('micro-batch 2 failed');
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('an early-stopped run resumed with the same options returns at once; an early stop on the last step of an epoch still ends that epoch', async () => {
    const evalData = [toBatch(toyExamples(5, 3, 9))];
    const dir = tmp();
    const opts = { data: toyData(400), lr: 0.5, evalData, evalEvery: 1, earlyStopping: { patience: 2, minDelta: 10 }, checkpointDir: dir, checkpointEvery: 1, logger: false as const };
    const m1 = new ToyModel(3, 'es1');
    const r1 = await train({ model: m1, ...opts });
    expect([r1.stopReason, r1.step]).toEqual(['earlyStopping', 3]);
    const kept = readdirSync(dir).filter((f) => f.startsWith('checkpoint-')).sort();
    r1.optimizer.dispose();
    const saves: SaveInfo['reason'][] = [];
    const r2 = await train({ model: m1, ...opts, resume: true, onSave: (i) => void saves.push(i.reason) });
    expect([r2.stopReason, r2.step, r2.resumedFrom]).toEqual(['earlyStopping', 3, join(dir, 'checkpoint-3')]);
    expect(saves).toEqual([]); // nothing trained, nothing saved again
    expect(readdirSync(dir).filter((f) => f.startsWith('checkpoint-')).sort()).toEqual(kept);
    r2.optimizer.dispose();
    m1.dispose();

    // 3 batches per epoch (sizes 3+5+2 = 10 examples), evalEvery 1: the stop lands on step 3, the epoch's last.
    const m2 = new ToyModel(3, 'es2');
    const log: Array<[SaveInfo['reason'], number, number]> = [];
    const epochs: number[] = [];
    const r3 = await train({
      model: m2, data: toyData(10, [3, 5, 2]), epochs: 3, lr: 0.5, evalData, evalEvery: 1, earlyStopping: { patience: 2, minDelta: 10 },
      onSave: (i) => void log.push([i.reason, i.step, i.epoch]), logger: { log: () => {}, onStep: () => {}, onEval: () => {}, onEpoch: (e) => void epochs.push(e.epoch) },
    });
    expect([r3.stopReason, r3.step]).toEqual(['earlyStopping', 3]);
    expect(epochs).toEqual([0]); // the epoch ended
    expect(log).toEqual([['epoch', 3, 0]]); // saved as epoch 0's end, not a 'final' in epoch 1
    r3.optimizer.dispose();
    m2.dispose();
  });

  it('a one-shot eval iterator is refused at its second evaluation instead of giving NaN; the schedule in use is recorded on resume', async () => {
    const m = new ToyModel(3, 'once');
    const once = (function* () { yield toBatch(toyExamples(4, 3, 9)); })();
    await expect(train({ model: m, data: toyData(40), lr: 0.1, evalData: once, evalEvery: 1, logger: false })).rejects.toThrow(/evalData gave no batches \(a one-shot iterator/);
    const dir = tmp();
    const base = { model: m, data: toyData(40), lr: 0.1, schedule: 'linear' as const, checkpointDir: dir, logger: false as const };
    (await train({ ...base, maxSteps: 2 })).optimizer.dispose();
    const messages: string[] = [];
    const r = await train({ ...base, resume: true, maxSteps: 4, logger: { log: (s) => void messages.push(s), onStep: () => {}, onEval: () => {}, onEpoch: () => {} } });
    expect(messages.filter((s) => s.startsWith('learning-rate'))).toEqual([
      "learning-rate schedule differs from the checkpoint's: totalSteps 2 → 4 (this run's is used, as transformers rebuilds its scheduler from the current arguments)",
    ]);
    const state = JSON.parse(readFileSync(join(dir, 'checkpoint-4', 'state.json'), 'utf8')) as { schedule: { totalSteps: number } };
    expect(state.schedule.totalSteps).toBe(4);
    r.optimizer.dispose();
    m.dispose();
  });
});
