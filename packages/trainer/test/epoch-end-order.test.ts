// The order of what happens at an epoch's end, whichever way the data source tells the end: the
// epoch's last step, its evaluation, onSave('epoch'), then the checkpoint that records the epoch as
// finished. Before the fix, a source whose last cursor stays inside the epoch (its iterator's end is
// what ends the epoch) had the epoch's last checkpoint written right after the step, before the
// evaluation and onSave; a crash between them lost that epoch's onSave for good (the resumed run
// took it as done). Crashes are injected in-process (an exception thrown from the callback that
// reports an event, the way test/coverage-gaps.test.ts cuts runs short), after every event in turn,
// and each run is resumed as test/resume.test.ts does (a fresh model, `resume: true` on the same
// folder): it must end in the uninterrupted run's state, onSave's files included.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { train, type DataSource, type MetricRecord, type TrainLogger } from '../src';
import { ToyData, ToyDataEndsByDone, ToyModel, toBatch, toyData, toyExamples, type ToyBatch } from './toy';
import { tempDirs } from './temp-dirs';

const tmp = tempDirs('conifer-trainer-order-');

class Crash extends Error {}

/** What onSave wrote, as files on a disk would keep it across a crash: `reason@step` → the variables' values. */
type Disk = Map<string, number[][]>;

interface Run {
  events: string[];
  metrics: MetricRecord[];
  w: number[];
  b: number[];
}

const list = toyData(40).batchesList.slice(0, 2); // 2 batches an epoch, accumulation 2: one step, whose window fills exactly
const sources: Record<string, () => DataSource<ToyBatch>> = {
  'a cursor into the next epoch on the last batch (as dolly-data BatchSampler)': () => new ToyData(list),
  'a last cursor that stays in the epoch (the iterator ends it)': () => new ToyDataEndsByDone(list),
};
const evalData = [toBatch(toyExamples(5, 3, 9))];

/** One run (fresh variables each time, as a new process would have), crashing right after event number `crashAfter`. */
async function run(data: DataSource<ToyBatch>, dir: string, disk: Disk, resume: boolean, crashAfter = Number.POSITIVE_INFINITY, extra: { epochs?: number; evalEvery?: number; saveEvery?: number } = {}): Promise<Run> {
  const model = new ToyModel(3, 'order');
  const events: string[] = [];
  const event = (e: string) => {
    events.push(e);
    if (events.length === crashAfter) throw new Crash(`crash after "${e}"`);
  };
  const logger: TrainLogger = {
    onStep: (s) => event(`step ${s.step}`),
    onEval: (e) => event(`eval ${e.step}`),
    onEpoch: () => {},
    log: (m) => {
      const ck = /^checkpoint written: .*checkpoint-(\d+)$/.exec(m);
      if (ck) event(`checkpoint ${ck[1]}`);
    },
  };
  try {
    const r = await train({
      model, data, epochs: 2, gradientAccumulationSteps: 2, lr: 0.05, evalData, checkpointDir: dir, checkpointEvery: 1, keepLast: Number.POSITIVE_INFINITY,
      resume, seed: 3, handleSigint: false, debug: true, logger, ...extra,
      onSave: async (i) => {
        disk.set(`${i.reason}@${i.step}`, await Promise.all(i.variables.map(async (v) => Array.from(await v.data()))));
        event(`save ${i.reason}@${i.step}`);
      },
    });
    r.optimizer.dispose();
    return { events, metrics: r.metrics, w: Array.from(model.w.dataSync()), b: Array.from(model.b.dataSync()) };
  } finally {
    model.dispose();
  }
}

// Both sources: two epochs of one step each, a checkpoint every step (so on each epoch's last step:
// where the old order went wrong); the eval and onSave of each epoch's end come before its checkpoint.
const ORDER = [
  'step 1', 'eval 1', 'save epoch@1', 'checkpoint 1',
  'step 2', 'eval 2', 'save epoch@2', 'checkpoint 2',
];

describe('epoch end: eval, onSave, then the checkpoint, for either kind of data source', () => {
  for (const [name, source] of Object.entries(sources)) {
    it(`${name}: the exact order, and a crash after any event resumes to the uninterrupted run's state`, async () => {
      const before = tf.memory().numTensors;
      const straightDisk: Disk = new Map();
      const straight = await run(source(), tmp(), straightDisk, false);
      expect(straight.events).toEqual(ORDER);
      expect([...straightDisk.keys()]).toEqual(['epoch@1', 'epoch@2']);

      for (let crashAfter = 1; crashAfter <= ORDER.length; crashAfter++) {
        const dir = tmp();
        const disk: Disk = new Map();
        await expect(run(source(), dir, disk, false, crashAfter)).rejects.toThrow(Crash);
        const resumed = await run(source(), dir, disk, true);
        // the resumed run continues from the last checkpoint written before the crash, and does
        // exactly what the uninterrupted run did after it
        const lastCheckpoint = ORDER.slice(0, crashAfter).map((e) => e.startsWith('checkpoint')).lastIndexOf(true);
        expect({ crashAfter: ORDER[crashAfter - 1], events: resumed.events }).toEqual({ crashAfter: ORDER[crashAfter - 1], events: ORDER.slice(lastCheckpoint + 1) });
        expect(resumed.w).toEqual(straight.w);
        expect(resumed.b).toEqual(straight.b);
        expect(resumed.metrics).toEqual(straight.metrics);
        expect(disk).toEqual(straightDisk); // every epoch's onSave happened, with the same values
      }
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('inside an epoch too: a step, its evaluation and its onSave come before its checkpoint (evalEvery, saveEvery)', async () => {
    const four = toyData(40).batchesList.slice(0, 4); // two steps of 2 micro-batches
    for (const data of [new ToyData(four), new ToyDataEndsByDone(four)]) {
      const r = await run(data, tmp(), new Map(), false, Number.POSITIVE_INFINITY, { epochs: 1, evalEvery: 1, saveEvery: 1 });
      // on the epoch's last step the reason is 'steps' (saveEvery comes first), and one eval serves both
      expect(r.events).toEqual(['step 1', 'eval 1', 'save steps@1', 'checkpoint 1', 'step 2', 'eval 2', 'save steps@2', 'checkpoint 2']);
    }
  });
});
