// A transformers user's mistakes with train()'s options: several bad values at once, TrainingArguments
// names (learning_rate, warmup_steps, …) that are not options here, a schedule length that is not a step
// count, values of the wrong type, and torch.optim.AdamW arguments AdamW does not implement. Each is ONE
// error naming every problem, before anything is allocated, trained or written.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { AdamW, lrMultiplier, train, type TrainOptions } from '../src';
import { ToyModel, toyData, type ToyBatch } from './toy';
import { tempDirs } from './temp-dirs';

const tmp = tempDirs('conifer-trainer-options-');

/** Runs train() with `extra` and returns its error message; checks that nothing was allocated, trained, saved or written. */
async function refusal(extra: Record<string, unknown>): Promise<string> {
  const model = new ToyModel(3, 'opt');
  const w0 = Array.from(model.w.dataSync());
  const dir = join(tmp(), 'run');
  let saves = 0;
  const before = tf.memory().numTensors;
  const options = { model, data: toyData(20), logger: false, handleSigint: false, checkpointDir: dir, onSave: () => void saves++, ...extra };
  try {
    const err = await train(options as TrainOptions<ToyBatch>).then((r) => (r.optimizer.dispose(), null), (e: unknown) => e as Error);
    expect(err).toBeInstanceOf(RangeError);
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(model.w.dataSync())).toEqual(w0);
    expect([saves, existsSync(dir)]).toEqual([0, false]);
    return err!.message;
  } finally {
    model.dispose();
  }
}

describe('train: bad options are one error naming every problem', () => {
  it('NaN lr, negative maxSteps and fractional accumulation together: all three named in one error', async () => {
    expect(await refusal({ lr: Number.NaN, maxSteps: -3, gradientAccumulationSteps: 1.5 })).toBe(
      'train: 3 problems with the options: gradientAccumulationSteps must be an integer >= 1, got 1.5; ' +
        'maxSteps must be an integer >= 0, got -3; lr must be a finite number >= 0, got NaN',
    );
    // AdamW's own hyper-parameters are named with the rest (they used to come one at a time from its constructor)
    expect(await refusal({ betas: [0.9, 1], eps: -1, weightDecay: Number.POSITIVE_INFINITY, epochs: 0 })).toBe(
      'train: 4 problems with the options: epochs must be an integer >= 1, got 0; eps must be a finite number >= 0, got -1; ' +
        'weightDecay must be a finite number >= 0, got Infinity; betas must be two numbers in [0, 1) ([beta1, beta2]), got [0.9,1]',
    );
    // one problem reads as before: the problem alone
    expect(await refusal({ lr: '0.1' })).toBe('train: lr must be a finite number >= 0, got "0.1"');
  });

  it("TrainingArguments names and typos are refused, naming this package's option (TrainingArguments raises on an unknown keyword)", async () => {
    expect(await refusal({ learning_rate: 0.1 })).toBe('train: unknown option `learning_rate` (did you mean `lr`?)');
    // unknown keys are one problem, worded as every conifer package words them; typos within 2 edits are named too
    expect(await refusal({ warmup_steps: 2, num_train_epochs: 3, learningRate: 0.1, save_total_limit: 1, lrSchedule: 'linear', epoch: 2, gradientAccumulation: 4 })).toBe(
      'train: unknown options `warmup_steps` (did you mean `warmupSteps`?), `num_train_epochs` (did you mean `epochs`?), `learningRate` (did you mean `lr`?), '
        + '`save_total_limit` (did you mean `keepLast`?), `lrSchedule`, `epoch` (did you mean `epochs`?), `gradientAccumulation`',
    );
    expect(await refusal({ eval_strategy: 'steps', lr: -1 })).toBe(
      'train: 2 problems with the options: unknown option `eval_strategy` (did you mean `evalEvery` / `evalAtEpochEnd`?); lr must be a finite number >= 0, got -1',
    );
    // a key set to undefined is as if left out (a spread of optional settings)
    const model = new ToyModel(3, 'undef');
    const r = await train({ model, data: toyData(20), logger: false, handleSigint: false, maxSteps: 1, ...({ learning_rate: undefined } as object) });
    expect(r.step).toBe(1);
    r.optimizer.dispose();
    model.dispose();
  });

  it('totalSteps (the span of the schedule) must be a whole number of steps: negative, fractional, NaN and 0 used to train silently or blame a missing value', async () => {
    for (const bad of [-3, 2.5, Number.NaN, 0]) {
      expect(await refusal({ schedule: 'linear', totalSteps: bad })).toBe(`train: totalSteps must be an integer >= 1, got ${bad}`);
    }
    // lrMultiplier, public: num_training_steps is a count (0 is a schedule that is over at once, as transformers computes it)
    expect(() => lrMultiplier(1, { kind: 'linear', totalSteps: -3 })).toThrow(/^the 'linear' schedule needs totalSteps as an integer >= 0, got -3$/);
    expect(() => lrMultiplier(1, { kind: 'cosine', totalSteps: 2.5 })).toThrow(/^the 'cosine' schedule needs totalSteps as an integer >= 0, got 2\.5$/);
    expect(() => lrMultiplier(1, { kind: 'linear', totalSteps: Number.NaN })).toThrow(/^the 'linear' schedule needs totalSteps as an integer >= 0, got NaN$/);
    expect(lrMultiplier(0, { kind: 'linear', totalSteps: 0 })).toBe(0); // max(0, (0 - 0) / max(1, 0 - 0))
  });

  it('values of the wrong type are named: model, data, seed, logger, onSave, checkpointDir, booleans, signal', async () => {
    const msg = await refusal({
      model: {}, data: undefined, seed: {}, logger: { onStep() {} }, onSave: 'save', checkpointDir: '', resume: 'yes', signal: {},
    });
    expect(msg).toBe(
      'train: 8 problems with the options: model must be a Trainable ({ lossSum(batch, training), trainableVariables() }), got an object without them; ' +
        'data must be a DataSource ({ batches(from) }), got undefined; resume must be a boolean, got "yes"; seed must be a finite number or a string, got {}; ' +
        'onSave must be a function, got "save"; checkpointDir must be a folder path (a non-empty string), got ""; ' +
        'logger must be false or a TrainLogger (onStep, onEval, onEpoch, log), got an object without onEval, onEpoch, log; signal must be an AbortSignal, got {}',
    );
    expect(await refusal({ logger: 5 })).toBe('train: logger must be false or a TrainLogger (onStep, onEval, onEpoch, log), got 5');
  });

  it('evalEvery without evalData is refused (it evaluated nothing, silently), as Trainer.__init__ refuses eval_strategy="steps" without an eval_dataset', async () => {
    expect(await refusal({ evalEvery: 2 })).toBe('train: evalEvery (2) needs evalData: there is nothing to evaluate');
    // evalEvery 0 (the default) and the epoch-end default stay valid without evalData: nothing asked for an evaluation
    const model = new ToyModel(3, 'noeval');
    const r = await train({ model, data: toyData(20), logger: false, handleSigint: false, maxSteps: 2, evalEvery: 0 });
    expect([r.step, r.metrics.filter((m) => m.type === 'eval').length]).toEqual([2, 0]);
    r.optimizer.dispose();
    model.dispose();
  });
});

describe('train: checkpoint options without checkpointDir are refused (they wrote, pruned and resumed nothing, silently)', () => {
  const noDir = { checkpointDir: undefined };

  it('earlyStopping: its keys (transformers EarlyStoppingCallback names pointed to ours) and values in the one error, before any evaluation', async () => {
    const evalData = [{ x: 1 }];
    // early_stopping_threshold was dropped silently: early stopping ran with threshold 0
    expect(await refusal({ evalData, earlyStopping: { patience: 2, early_stopping_threshold: 0.1 } })).toBe(
      'train: unknown option `earlyStopping.early_stopping_threshold` (did you mean `earlyStopping.threshold`?)',
    );
    expect(await refusal({ evalData, lr: -1, earlyStopping: { patients: 2, min_delta: -1 } })).toBe(
      'train: 3 problems with the options: lr must be a finite number >= 0, got -1; unknown options `earlyStopping.patients` (did you mean `earlyStopping.patience`?), '
        + '`earlyStopping.min_delta` (did you mean `earlyStopping.minDelta`?); earlyStopping.patience must be an integer >= 1, got undefined',
    );
    // a bare number (transformers' early_stopping_patience) was read as { patience: undefined }
    expect(await refusal({ evalData, earlyStopping: 3 })).toBe('train: earlyStopping must be an object ({ patience, threshold? } or { patience, minDelta? }), got number 3');
  });

  it('checkpointEvery, keepLast and resume: true each named in the one error, with the other problems', async () => {
    // the user who wrote keepLast and checkpointEvery and forgot the folder
    expect(await refusal({ ...noDir, keepLast: 3, checkpointEvery: 100 })).toBe(
      'train: 2 problems with the options: checkpointEvery (100) needs checkpointDir (the folder checkpoints are written to); ' +
        'keepLast (3) needs checkpointDir (the folder whose newest checkpoints it keeps)',
    );
    // transformers: train(resume_from_checkpoint=True) with no checkpoint raises "No valid checkpoint found in output directory"
    expect(await refusal({ ...noDir, resume: true })).toBe('train: resume (true) needs checkpointDir (the folder whose newest checkpoint it continues from)');
    expect(await refusal({ ...noDir, lr: -1, resume: true, keepLast: 1 })).toBe(
      'train: 3 problems with the options: lr must be a finite number >= 0, got -1; keepLast (1) needs checkpointDir (the folder whose newest checkpoints it keeps); ' +
        'resume (true) needs checkpointDir (the folder whose newest checkpoint it continues from)',
    );
  });

  it('a value with a problem of its own, or a bad checkpointDir, is named once', async () => {
    expect(await refusal({ ...noDir, keepLast: 0 })).toBe('train: keepLast must be an integer >= 1, got 0');
    expect(await refusal({ ...noDir, checkpointEvery: 2.5, resume: 'yes' })).toBe(
      'train: 2 problems with the options: checkpointEvery must be an integer >= 0, got 2.5; resume must be a boolean, got "yes"',
    );
    expect(await refusal({ checkpointDir: '', resume: true, keepLast: 3 })).toBe('train: checkpointDir must be a folder path (a non-empty string), got ""');
  });

  it('values that ask for nothing pass: checkpointEvery 0, keepLast Infinity, resume false; saveEvery with onSave needs no folder', async () => {
    const model = new ToyModel(3, 'nodir');
    const before = tf.memory().numTensors;
    const r = await train({ model, data: toyData(20), logger: false, handleSigint: false, maxSteps: 2, checkpointEvery: 0, keepLast: Number.POSITIVE_INFINITY, resume: false });
    expect([r.step, r.checkpoint, r.resumedFrom]).toEqual([2, null, null]);
    r.optimizer.dispose();
    // checkpointEvery defaults to saveEvery: saveEvery is onSave's, and asks for no checkpoint
    const saves: string[] = [];
    const s = await train({ model, data: toyData(20), logger: false, handleSigint: false, maxSteps: 4, saveEvery: 2, onSave: (i) => void saves.push(`${i.reason}@${i.step}`) });
    expect([s.step, s.checkpoint, saves]).toEqual([4, null, ['steps@2', 'steps@4']]);
    s.optimizer.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});

describe('AdamW: torch.optim.AdamW arguments it does not implement are refused, not ignored', () => {
  it('amsgrad, maximize and snake_case names are one error naming the key', () => {
    expect(() => new AdamW({ amsgrad: true } as object)).toThrow(
      /^AdamW: amsgrad: unknown AdamW option \(torch\.optim\.AdamW's amsgrad is not implemented: only its default\) \(known: lr, betas, eps, weightDecay, fused\)$/,
    );
    expect(() => new AdamW({ maximize: true } as object)).toThrow(/^AdamW: maximize: unknown AdamW option \(torch\.optim\.AdamW's maximize/);
    expect(() => new AdamW({ weight_decay: 0 } as object)).toThrow(/^AdamW: weight_decay: unknown AdamW option \(did you mean weightDecay\?\)/);
    const ok = new AdamW({ lr: 0.1, ...({ amsgrad: undefined } as object) });
    expect(ok.lr).toBe(0.1);
    // torch's defaults spelled out (a port from PyTorch) are what this class does: accepted
    const torchDefaults = new AdamW({ lr: 0.2, ...({ amsgrad: false, maximize: false, foreach: null, capturable: false, differentiable: false } as object) });
    expect(torchDefaults.lr).toBe(0.2);
    expect(() => new AdamW({ foreach: true } as object)).toThrow(/^AdamW: foreach: unknown AdamW option/);
  });
});
