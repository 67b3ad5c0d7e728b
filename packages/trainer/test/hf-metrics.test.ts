// Evaluation metrics as transformers' Trainer has them, each expected value derived from the quoted
// lines of huggingface/transformers (stored copy of src/transformers/trainer.py at 000945a9:
// `_inner_training_loop`, `_maybe_log_save_evaluate`, `_evaluate`, `_determine_best_metric`,
// `evaluation_loop`; training_args.py `__post_init__`; trainer_callback.py `DefaultFlowCallback`,
// `EarlyStoppingCallback`), not from a previous run of this code.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import {
  defaultGreaterIsBetter, LineLogger, metricKey, readCheckpoint, train, writeCheckpoint,
  type EvalRecord, type MetricsContext, type SaveInfo, type StepInfo, type TrainerState, type TrainLogger, type TrainOptions, type TrainRecord,
} from '../src';
import { scriptedEval, ToyModel, toBatch, toyData, toyExamples, valuesOf, type ToyBatch } from './toy';
import { tempDirs } from './temp-dirs';

const tmp = tempDirs('conifer-trainer-metrics-');
// one batch: scriptedEval's script advances per eval batch
const evalData = [toBatch(toyExamples(4, 3, 9))];

function recorder(): TrainLogger & { steps: StepInfo[]; evals: EvalRecord[]; messages: string[] } {
  const r = {
    steps: [] as StepInfo[],
    evals: [] as EvalRecord[],
    messages: [] as string[],
    onStep: (s: StepInfo) => void r.steps.push(s),
    onEval: (e: EvalRecord) => void r.evals.push(e),
    onEpoch: () => {},
    log: (m: string) => void r.messages.push(m),
  };
  return r;
}

/** A computeMetrics whose "accuracy" at step s is `script[s]` (a function of the step, so a resumed run sees the same values). */
const accuracyAt = (script: Record<number, number>) => (c: MetricsContext<ToyBatch>) => ({ accuracy: script[c.step]! });

const base = { data: toyData(40), lr: 0.05, evalData, evalEvery: 1, evalAtEpochEnd: false, handleSigint: false } as const;

/** Runs `train`, disposes the optimizer and the model, returns the result and what onSave saw. */
async function run(model: ToyModel, o: Partial<TrainOptions<ToyBatch>>) {
  const saves: string[] = [];
  const r = await train({ ...base, model, logger: false, ...o, onSave: o.onSave ?? ((i: SaveInfo) => void saves.push(`${i.reason}@${i.step}`)) });
  r.optimizer.dispose();
  return { r, saves };
}

describe('metric names and defaults', () => {
  it("metricForBestModel gets the eval_ prefix unless it has it (_determine_best_metric); greater_is_better defaults to `not metric_for_best_model.endswith(\"loss\")`", () => {
    // trainer.py _determine_best_metric: `if not metric_to_check.startswith("eval_"): metric_to_check = f"eval_{metric_to_check}"`
    expect(['loss', 'eval_loss', 'accuracy', 'eval_accuracy', 'rouge1'].map(metricKey)).toEqual(['eval_loss', 'eval_loss', 'eval_accuracy', 'eval_accuracy', 'eval_rouge1']);
    // training_args.py __post_init__: `self.greater_is_better = not self.metric_for_best_model.endswith("loss")`
    // (on the name as given: "perplexity" is greater-is-better there too, a trap the README points out)
    expect(['loss', 'eval_loss', 'val_loss', 'accuracy', 'eval_bleu', 'perplexity'].map(defaultGreaterIsBetter)).toEqual([false, false, false, true, true, true]);
  });

  it('computeMetrics results appear as eval_ metrics beside eval_loss in the records, metrics.jsonl and the log lines', async () => {
    // evaluation_loop: `metrics[f"{metric_key_prefix}_loss"] = ...`, then every key not starting with
    // "eval_" is renamed `f"{metric_key_prefix}_{key}"`.
    const before = tf.memory().numTensors;
    const model = scriptedEval('cm', [2, 2, 1.5, 1.5]); // two eval batches an evaluation
    const twoBatches = [evalData[0]!, toBatch(toyExamples(3, 3, 10))];
    const tokens = twoBatches.reduce((a, b) => a + b.counts.reduce((x, c) => x + c, 0), 0);
    const seen: Array<{ step: number; epoch: number; batches: number; loss: number }> = [];
    const lines: string[] = [];
    const dir = tmp();
    const { r } = await run(model, {
      maxSteps: 2, evalData: twoBatches, checkpointDir: dir, logger: new LineLogger((l) => void (l.startsWith('eval') && lines.push(l))),
      computeMetrics: (c) => {
        seen.push({ step: c.step, epoch: c.epoch, batches: [...c.batches].length, loss: c.eval.loss });
        return { accuracy: c.step / 4, eval_bleu: 10 * c.step };
      },
    });
    expect(seen).toEqual([{ step: 1, epoch: 0, batches: 2, loss: 2 }, { step: 2, epoch: 0, batches: 2, loss: 1.5 }]);
    const evals = r.metrics.filter((m): m is EvalRecord => m.type === 'eval');
    expect(evals.map((e) => e.metrics)).toEqual([
      { eval_loss: 2, eval_accuracy: 0.25, eval_bleu: 10 },
      { eval_loss: 1.5, eval_accuracy: 0.5, eval_bleu: 20 },
    ]);
    expect(lines).toEqual([
      `eval step 1 epoch 0 loss/token 2.0000 sum of batch means 4.0000 (2 batches, ${tokens} tokens) eval_accuracy 0.2500 eval_bleu 10.0000`,
      `eval step 2 epoch 0 loss/token 1.5000 sum of batch means 3.0000 (2 batches, ${tokens} tokens) eval_accuracy 0.5000 eval_bleu 20.0000`,
    ]);
    expect(r.best).toBeNull(); // nothing asked for the best
    // an overflowed metric reads inf (as Python prints it), not nan; NaN (null once through JSON) reads nan
    const rec: EvalRecord = { ...evals[0]!, metrics: { eval_loss: 2, eval_perplexity: Number.POSITIVE_INFINITY, eval_low: Number.NEGATIVE_INFINITY, eval_rouge: Number.NaN, eval_old: null as unknown as number } };
    const one: string[] = [];
    new LineLogger((l) => void one.push(l)).onEval(rec);
    expect(one[0]!.split(' tokens)')[1]).toBe(' eval_perplexity inf eval_low -inf eval_rouge nan eval_old nan');
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('bad options are one clear error each, before anything is allocated or trained', async () => {
    const model = new ToyModel(3, 'cmbad');
    const w0 = await valuesOf(model.trainableVariables());
    const before = tf.memory().numTensors;
    const acc = () => ({ accuracy: 1 });
    const onSave = () => {};
    function* oneShot() {
      yield evalData[0]!;
    }
    const cases: Array<[Partial<TrainOptions<ToyBatch>>, string]> = [
      [{ greaterIsBetter: true }, 'train: greaterIsBetter needs metricForBestModel (the default metric, the eval loss, is lower-is-better)'],
      [{ metricForBestModel: 'accuracy' }, 'train: metricForBestModel "accuracy" needs computeMetrics (without it the only metric is eval_loss)'],
      [{ metricForBestModel: '' }, "train: metricForBestModel must be a metric name such as 'loss' or 'eval_accuracy', got \"\""],
      [{ computeMetrics: acc, evalData: undefined }, 'train: computeMetrics needs evalData'],
      [{ computeMetrics: acc, evalData: oneShot() }, 'train: computeMetrics needs evalData that can be iterated again'],
      [{ saveStrategy: 'steps' as 'best', onSave }, 'train: saveStrategy must be \'best\' or left out, got "steps"'],
      [{ saveStrategy: 'best', onSave, saveEvery: 2 }, "train: saveStrategy 'best' saves at new bests only: do not give saveEvery with it"],
      [{ saveStrategy: 'best' }, "train: saveStrategy 'best' needs onSave"],
      [{ saveStrategy: 'best', onSave, evalData: undefined }, "train: saveStrategy 'best' needs evalData"],
      [{ saveStrategy: 'best', onSave, evalEvery: 0 }, "train: saveStrategy 'best' needs evaluations, but evalEvery is 0 and evalAtEpochEnd is false"],
      [{ evalOnStart: true, evalData: undefined }, 'train: evalOnStart needs evalData'],
      [{ evalDelay: -1 }, 'train: evalDelay must be a finite number >= 0, got -1'],
      [{ evalDelay: Number.NaN }, 'train: evalDelay must be a finite number >= 0, got NaN'],
    ];
    for (const [o, message] of cases) await expect(train({ ...base, model, logger: false, ...o })).rejects.toThrow(message);
    expect(tf.memory().numTensors).toBe(before);
    expect(await valuesOf(model.trainableVariables())).toEqual(w0);
    model.dispose();
  });

  it('a metricForBestModel no evaluation reports is an error at the first evaluation, naming the option and the metrics there are (KeyError in _determine_best_metric)', async () => {
    const model = new ToyModel(3, 'cmkey');
    const w0 = await valuesOf(model.trainableVariables());
    const o = { metricForBestModel: 'eval_acc', computeMetrics: () => ({ accuracy: 1 }) };
    const message = 'train: metricForBestModel "eval_acc" is not among the evaluation metrics (eval_loss, eval_accuracy)';
    await expect(train({ ...base, model, logger: false, ...o, maxSteps: 3 })).rejects.toThrow(message);
    const w1 = await valuesOf(model.trainableVariables());
    expect(w1).not.toEqual(w0); // found at step 1's evaluation, after that step
    // with evalOnStart the start evaluation finds it before a single step
    await expect(train({ ...base, model, logger: false, ...o, evalOnStart: true })).rejects.toThrow(message);
    expect(await valuesOf(model.trainableVariables())).toEqual(w1);
    // what computeMetrics returns is checked too
    const bad: Array<[unknown, string]> = [
      [{ loss: 1 }, 'train: computeMetrics returned "loss": the eval loss is the trainer\'s own (eval_loss); give your metric another name'],
      [{ acc: '1' }, 'train: computeMetrics returned a string for "acc" (metrics are numbers)'],
      // both names meet at eval_acc once prefixed: the message names each as returned
      [{ acc: 1, eval_acc: 2 }, 'train: computeMetrics returned both "acc" and "eval_acc", which are the same metric once prefixed (eval_acc)'],
      [{ eval_acc: 2, acc: 1 }, 'train: computeMetrics returned both "eval_acc" and "acc", which are the same metric once prefixed (eval_acc)'],
      // a forgotten `return` (or a Map) is not "no metrics": HF's evaluation_loop fails on a None too
      [undefined, 'train: computeMetrics must return an object of numbers by name, got undefined'],
      [new Map([['acc', 1]]), 'train: computeMetrics must return an object of numbers by name, got a Map'],
    ];
    for (const [m, msg] of bad) await expect(train({ ...base, model, logger: false, evalOnStart: true, computeMetrics: () => m as Record<string, number> })).rejects.toThrow(msg);
    // the same for an async computeMetrics that forgets to return
    await expect(train({ ...base, model, logger: false, evalOnStart: true, computeMetrics: (async () => {}) as unknown as () => Record<string, number> })).rejects.toThrow('got undefined');
    expect(await valuesOf(model.trainableVariables())).toEqual(w1); // refused at the start evaluation: no step taken
    model.dispose();
  });
});

describe('metricForBestModel / greaterIsBetter with loadBestModelAtEnd, saveStrategy best and early stopping', () => {
  // eval losses: the lowest at step 1; accuracies: the highest at step 4
  const losses = [1, 2, 3, 4, 5];
  const accuracy = { 1: 0.2, 2: 0.6, 3: 0.5, 4: 0.7, 5: 0.65 };

  it('loadBestModelAtEnd picks the best accuracy (greater is better by default), with or without the eval_ prefix', async () => {
    // _determine_best_metric: `operator = np.greater if self.args.greater_is_better else np.less`, best
    // from −inf: 0.2 (step 1) → 0.6 (2) → 0.5 no → 0.7 (4) → 0.65 no: step 4.
    for (const name of ['accuracy', 'eval_accuracy']) {
      const model = scriptedEval(`lb${name}`, losses);
      const atStep = new Map<number, number[][]>();
      const { r, saves } = await run(model, {
        maxSteps: 5, saveEvery: 1, loadBestModelAtEnd: true, metricForBestModel: name, computeMetrics: accuracyAt(accuracy),
        onSave: async (i) => void atStep.set(i.reason === 'best' ? -i.step : i.step, await valuesOf(i.variables)),
      });
      expect(saves).toEqual([]);
      expect(r.best).toEqual({ step: 4, epoch: 0, loss: 4, metric: 'eval_accuracy', value: 0.7 });
      expect([...atStep.keys()]).toEqual([1, 2, 3, 4, 5, -4]);
      expect(await valuesOf(model.trainableVariables())).toEqual(atStep.get(4));
      expect(atStep.get(-4)).toEqual(atStep.get(4));
      model.dispose();
    }
    // greaterIsBetter: false turns it around: the lowest accuracy, step 1
    const model = scriptedEval('lbless', losses);
    const { r } = await run(model, { maxSteps: 5, loadBestModelAtEnd: true, metricForBestModel: 'accuracy', greaterIsBetter: false, computeMetrics: accuracyAt(accuracy) });
    expect(r.best).toEqual({ step: 1, epoch: 0, loss: 1, metric: 'eval_accuracy', value: 0.2 });
    model.dispose();
    // metricForBestModel 'loss' given: the lowest loss, reported with its metric name
    const m2 = scriptedEval('lbloss', losses);
    const { r: r2 } = await run(m2, { maxSteps: 5, loadBestModelAtEnd: true, metricForBestModel: 'loss' });
    expect(r2.best).toEqual({ step: 1, epoch: 0, loss: 1, metric: 'eval_loss', value: 1 });
    m2.dispose();
  });

  it("saveStrategy 'best' calls onSave only at a new best (`self.control.should_save = is_new_best_metric`), never at the end or on a stop", async () => {
    const before = tf.memory().numTensors;
    const model = scriptedEval('sb', losses);
    const dir = tmp();
    const { r, saves } = await run(model, { maxSteps: 5, saveStrategy: 'best', metricForBestModel: 'accuracy', computeMetrics: accuracyAt(accuracy), checkpointDir: dir, checkpointEvery: 2, keepLast: Number.POSITIVE_INFINITY });
    // new bests at steps 1 (0.2 > −inf), 2 (0.6), 4 (0.7); maxSteps stops at 5: no 'final' (DefaultFlowCallback saves at
    // max_steps only `if args.save_strategy not in [SaveStrategy.NO, SaveStrategy.BEST]`)
    expect(saves).toEqual(['best@1', 'best@2', 'best@4']);
    expect(r.stopReason).toBe('maxSteps');
    expect(r.best).toEqual({ step: 4, epoch: 0, loss: 4, metric: 'eval_accuracy', value: 0.7 });
    // the checkpoints (resumable state) keep their own cadence: every 2 steps and the stop
    expect(readdirSync(dir).filter((n) => n.startsWith('checkpoint-')).sort()).toEqual(['checkpoint-2', 'checkpoint-4', 'checkpoint-5']);
    // with loadBestModelAtEnd the best is not saved a second time at the end (it was saved when reached)
    const m2 = scriptedEval('sb2', losses);
    const { saves: s2 } = await run(m2, { maxSteps: 5, saveStrategy: 'best', loadBestModelAtEnd: true, metricForBestModel: 'accuracy', computeMetrics: accuracyAt(accuracy) });
    expect(s2).toEqual(['best@1', 'best@2', 'best@4']);
    // on the eval loss (the default metric): new bests at 1 only (losses rise)
    const m3 = scriptedEval('sb3', [3, 2, 2, 4, 1]);
    const { saves: s3 } = await run(m3, { maxSteps: 5, saveStrategy: 'best' });
    expect(s3).toEqual(['best@1', 'best@2', 'best@5']); // 2 is not below 2 (strict np.less)
    r.optimizer.dispose();
    model.dispose();
    m2.dispose();
    m3.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("saveStrategy 'best' saves a new best found by a step evaluation on an epoch's last step (the epoch end's evaluation is that one)", async () => {
    // 6 batches an epoch (toyData(20)), 2 epochs: evalEvery 3 evaluates at 3, 6, 9, 12; the epoch ends at 6 and 12
    // ask for the same step's evaluation, which runs once. Falling losses: every evaluation is a new best.
    const before = tf.memory().numTensors;
    const model = scriptedEval('sbe', [4, 3, 2, 1]);
    const log = recorder();
    const { saves } = await run(model, { data: toyData(20), epochs: 2, evalEvery: 3, evalAtEpochEnd: true, saveStrategy: 'best', logger: log });
    expect(log.evals.map((e) => e.step)).toEqual([3, 6, 9, 12]);
    expect(saves).toEqual(['best@3', 'best@6', 'best@9', 'best@12']);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('early stopping on a greater-is-better metric: threshold (transformers) and minDelta (Keras) each stop where their rule says', async () => {
    const acc = { 1: 0.5, 2: 0.55, 3: 0.62, 4: 0.66, 5: 0.7, 6: 0.74, 7: 0.78, 8: 0.82 };
    const stopAt = async (earlyStopping: { patience: number; threshold?: number; minDelta?: number }) => {
      const model = scriptedEval('esg', [1]);
      const log = recorder();
      const { r } = await run(model, { maxSteps: 8, earlyStopping, metricForBestModel: 'accuracy', computeMetrics: accuracyAt(acc), logger: log });
      model.dispose();
      return { at: [r.stopReason, r.step], messages: log.messages.filter((m) => m.startsWith('early')) };
    };
    // check_metric_value with np.greater: 0.5 best None → 0; 0.55 > 0.5 but |0.05| ≤ 0.1 → 1 (best 0.55);
    // 0.62: |0.07| ≤ 0.1 → 2 = patience: stop at step 3.
    expect(await stopAt({ patience: 2, threshold: 0.1 })).toEqual({ at: ['earlyStopping', 3], messages: ['early stopping: eval_accuracy has not improved for 2 evaluations (best 0.62)'] });
    // Keras: 0.5 ref; 0.55 ≤ 0.6 → 1; 0.62 > 0.6 → 0 (ref 0.62); 0.66 ≤ 0.72 → 1; 0.7 → 2: stop at step 5.
    expect((await stopAt({ patience: 2, minDelta: 0.1 })).at).toEqual(['earlyStopping', 5]);
    // every value improves without a margin: no stop
    expect((await stopAt({ patience: 1 })).at).toEqual(['maxSteps', 8]);
  });

  it('early stopping that fires on the maxSteps step is the stop reason, and one evaluation is singular', async () => {
    const acc = { 1: 0.5, 2: 0.55, 3: 0.62, 4: 0.66, 5: 0.7, 6: 0.74, 7: 0.78, 8: 0.1 };
    const model = scriptedEval('esm', [1]);
    const log = recorder();
    const { r } = await run(model, { maxSteps: 8, earlyStopping: { patience: 1 }, metricForBestModel: 'accuracy', computeMetrics: accuracyAt(acc), logger: log });
    model.dispose();
    expect([r.stopReason, r.step]).toEqual(['earlyStopping', 8]);
    expect(log.messages.filter((m) => m.startsWith('early'))).toEqual(['early stopping: eval_accuracy has not improved for 1 evaluation (best 0.78)']);
  });
});

describe('eval_on_start, eval_delay, logging_first_step', () => {
  it('evalOnStart evaluates at step 0; that evaluation is never the best nor counted by early stopping (`self._evaluate(...)` only)', async () => {
    // losses 1 (start), 5, 4, 3: counted, the start's 1 would make step 1's 5 a miss and stop there (patience 1)
    const before = tf.memory().numTensors;
    const model = scriptedEval('eos', [1, 5, 4, 3]);
    const log = recorder();
    const { r } = await run(model, { maxSteps: 3, evalOnStart: true, earlyStopping: { patience: 1 }, loadBestModelAtEnd: true, logger: log });
    expect(log.evals.map((e) => [e.step, e.epoch, e.loss])).toEqual([[0, 0, 1], [1, 0, 5], [2, 0, 4], [3, 0, 3]]);
    expect(r.stopReason).toBe('maxSteps');
    expect(r.best).toEqual({ step: 3, epoch: 0, loss: 3 }); // not step 0's lower loss
    expect(r.metrics.map((m) => `${m.type}@${m.step}`)).toEqual(['eval@0', 'train@1', 'eval@1', 'train@2', 'eval@2', 'train@3', 'eval@3']);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('evalOnStart is not repeated by a resumed run (its records stay those of an uninterrupted run)', async () => {
    const dir = tmp();
    // evalOnStart alone: the only evaluation is the start's (the resumed step was never evaluated)
    const o = { maxSteps: 4, evalOnStart: true, evalEvery: 0, checkpointDir: dir, checkpointEvery: 1 };
    const m0 = scriptedEval('eosr', [1]);
    const straight = await run(m0, { ...o, checkpointDir: tmp() });
    m0.dispose();
    const ac = new AbortController();
    const m1 = scriptedEval('eosr', [1]);
    await run(m1, { ...o, signal: ac.signal, logger: { ...recorder(), onStep: (s) => (s.step === 2 ? ac.abort() : undefined) } });
    m1.dispose();
    const m2 = scriptedEval('eosr', [1]);
    const { r } = await run(m2, { ...o, resume: true });
    expect(r.resumedFrom).toMatch(/checkpoint-2$/);
    expect(straight.r.metrics.map((m) => `${m.type}@${m.step}`)).toEqual(['eval@0', 'train@1', 'train@2', 'train@3', 'train@4']);
    expect(r.metrics).toEqual(straight.r.metrics);
    expect(r.metrics.filter((m) => m.type === 'eval' && m.step === 0)).toHaveLength(1);
    m2.dispose();
  });

  it('evalDelay: steps with evalEvery (`eval_delay <= state.global_step`), epochs without (`eval_delay <= state.epoch`)', async () => {
    const evalSteps = async (o: Partial<TrainOptions<ToyBatch>>) => {
      const model = new ToyModel(3, 'delay');
      const log = recorder();
      await run(model, { data: toyData(20), logger: log, ...o }); // 6 batches an epoch: 6 steps
      model.dispose();
      return log.evals.map((e) => e.step);
    };
    expect(await evalSteps({ evalEvery: 1, evalDelay: 3, maxSteps: 5 })).toEqual([3, 4, 5]);
    // steps mode with epoch-end evaluations too: every 4 steps from step 5 on (8, 12), epoch ends at 6 and 12
    expect(await evalSteps({ evalEvery: 4, evalAtEpochEnd: true, evalDelay: 5, epochs: 2 })).toEqual([6, 8, 12]);
    // epochs mode: the end of the 1st epoch (state.epoch 1) < 2 is skipped; the 2nd and 3rd are evaluated
    expect(await evalSteps({ evalEvery: 0, evalAtEpochEnd: true, evalDelay: 2, epochs: 3 })).toEqual([12, 18]);
    expect(await evalSteps({ evalEvery: 0, evalAtEpochEnd: true, epochs: 3 })).toEqual([6, 12, 18]); // default 0
    // evalOnStart ignores it (_inner_training_loop evaluates before DefaultFlowCallback is asked)
    expect(await evalSteps({ evalEvery: 1, evalDelay: 3, maxSteps: 3, evalOnStart: true })).toEqual([0, 3]);
  });

  it('loggingFirstStep reports step 1 with its own loss; the next report averages the steps after it (`_globalstep_last_logged`)', async () => {
    const steps = async (loggingFirstStep: boolean, loggingSteps: number) => {
      const model = new ToyModel(3, 'lfs');
      const log = recorder();
      const { r } = await run(model, { evalData: undefined, evalEvery: 0, maxSteps: 7, loggingSteps, loggingFirstStep, logger: log });
      model.dispose();
      const loss = (s: number) => (r.metrics.find((m): m is TrainRecord => m.type === 'train' && m.step === s)!.loss!);
      return { logged: log.steps.map((s) => [s.step, s.loss]), loss };
    };
    const a = await steps(true, 3);
    // on_step_end: `if state.global_step == 1 and args.logging_first_step: control.should_log = True`; then
    // logs["loss"] = tr_loss / (global_step − _globalstep_last_logged): step 3 averages steps 2 and 3
    expect(a.logged.map(([s]) => s)).toEqual([1, 3, 6]);
    expect(a.logged[0]![1]).toBe(a.loss(1));
    expect(a.logged[1]![1]).toBeCloseTo((a.loss(2) + a.loss(3)) / 2, 12);
    expect(a.logged[2]![1]).toBeCloseTo((a.loss(4) + a.loss(5) + a.loss(6)) / 3, 12);
    const b = await steps(false, 3);
    expect(b.logged.map(([s]) => s)).toEqual([3, 6]);
    expect(b.logged[0]![1]).toBeCloseTo((b.loss(1) + b.loss(2) + b.loss(3)) / 3, 12);
    // with loggingSteps 1 it changes nothing
    expect((await steps(true, 1)).logged.map(([s]) => s)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });
});

describe('resume with the best metric', () => {
  const accuracy = { 1: 0.3, 2: 0.6, 3: 0.5, 4: 0.55, 5: 0.58, 6: 0.9, 7: 0.4, 8: 0.45 };
  const opts = (dir: string): Partial<TrainOptions<ToyBatch>> => ({
    maxSteps: 8, checkpointDir: dir, checkpointEvery: 1, keepLast: 2, saveStrategy: 'best', loadBestModelAtEnd: true,
    metricForBestModel: 'accuracy', computeMetrics: accuracyAt(accuracy), earlyStopping: { patience: 3 },
  });

  it('a run interrupted after step 4 and resumed picks the same bests, saves and early stop as an uninterrupted one', async () => {
    // bests: 1 (0.3), 2 (0.6); then 0.5, 0.55, 0.58 are three misses (patience 3): stop at step 5, before
    // step 6's 0.9, with the best at step 2.
    const straightModel = scriptedEval('rb', [1]);
    const straight = await run(straightModel, opts(tmp()));
    expect(straight.saves).toEqual(['best@1', 'best@2']);
    expect([straight.r.stopReason, straight.r.step]).toEqual(['earlyStopping', 5]);
    expect(straight.r.best).toEqual({ step: 2, epoch: 0, loss: 1, metric: 'eval_accuracy', value: 0.6 });
    const straightWeights = await valuesOf(straightModel.trainableVariables());
    straightModel.dispose();

    const dir = tmp();
    const ac = new AbortController();
    const m1 = scriptedEval('rb', [1]);
    const first = await run(m1, { ...opts(dir), signal: ac.signal, logger: { ...recorder(), onStep: (s) => (s.step === 4 ? ac.abort() : undefined) } });
    expect([first.r.stopReason, first.r.step]).toEqual(['interrupted', 4]);
    m1.dispose();
    const state = (await readCheckpoint<TrainerState>(join(dir, 'checkpoint-4'))).state;
    // the checkpoint records the best, the metric and early stopping's count (two misses: steps 3, 4)
    expect([state.best, state.bestMetric, state.bestEvalLoss, state.evalsWithoutImprovement]).toEqual([
      { step: 2, epoch: 0, loss: 1, metric: 'eval_accuracy', value: 0.6 }, { name: 'eval_accuracy', greaterIsBetter: true }, 0.6, 2,
    ]);
    const m2 = scriptedEval('rb', [1]);
    const second = await run(m2, { ...opts(dir), resume: true });
    expect([...first.saves, ...second.saves]).toEqual(straight.saves);
    expect([second.r.stopReason, second.r.step, second.r.best]).toEqual([straight.r.stopReason, straight.r.step, straight.r.best]);
    expect(second.r.metrics).toEqual(straight.r.metrics);
    expect(await valuesOf(m2.trainableVariables())).toEqual(straightWeights);
    m2.dispose();
  });

  it('a checkpoint from before metricForBestModel (no bestMetric, a best without value) resumes with its best and early-stopping count; another metric starts afresh', async () => {
    const dir = tmp();
    const m1 = scriptedEval('old', [5, 3, 4]);
    // evals 5, 3, 4: best step 2 (3), one miss; patience 2 not reached
    const { r: r1 } = await run(m1, { maxSteps: 3, checkpointDir: dir, checkpointEvery: 1, loadBestModelAtEnd: true, earlyStopping: { patience: 2 } });
    expect(r1.stopReason).toBe('maxSteps');
    m1.dispose();
    // checkpoint-3 as the previous version wrote it: no bestMetric, best { step, epoch, loss }
    const ck = await readCheckpoint<TrainerState>(join(dir, 'checkpoint-3'));
    const { bestMetric, ...old } = ck.state;
    expect(bestMetric).toEqual({ name: 'eval_loss', greaterIsBetter: false });
    expect([old.best, old.bestEvalLoss, old.evalsWithoutImprovement]).toEqual([{ step: 2, epoch: 0, loss: 3 }, 3, 1]);
    const oldDir = async () => {
      const d = tmp();
      await writeCheckpoint(d, 3, { variables: ck.variables, optimizer: ck.optimizer, state: old, best: ck.best! });
      return d;
    };
    // resumed on the loss (named or not): step 4's 3.5 is the second miss → early stop; the best stays step 2
    for (const named of [{}, { metricForBestModel: 'loss' }]) {
      const m = scriptedEval('old', [3.5]);
      const log = recorder();
      const { r } = await run(m, { maxSteps: 6, checkpointDir: await oldDir(), resume: true, loadBestModelAtEnd: true, earlyStopping: { patience: 2 }, logger: log, ...named });
      expect([r.stopReason, r.step]).toEqual(['earlyStopping', 4]);
      expect(r.best).toEqual({ step: 2, epoch: 0, loss: 3, ...('metricForBestModel' in named ? { metric: 'eval_loss', value: 3 } : {}) });
      expect(await valuesOf(m.trainableVariables())).toEqual(['old.w', 'old.b'].map((n) => Array.from(ck.best![n]!.values)));
      expect(log.messages.filter((x) => x.includes('afresh') || x.includes('tracked from here on'))).toEqual([]);
      m.dispose();
    }
    // with another metric, the loss values mean nothing: the best and early stopping start afresh (and say so)
    const m = scriptedEval('old', [3.5]);
    const log = recorder();
    const { r } = await run(m, {
      maxSteps: 4, checkpointDir: await oldDir(), resume: true, loadBestModelAtEnd: true, earlyStopping: { patience: 2 },
      metricForBestModel: 'accuracy', computeMetrics: () => ({ accuracy: 0.1 }), logger: log,
    });
    expect(log.messages).toContain('the checkpoint compared eval_loss (lower is better): the best and early stopping start afresh with eval_accuracy (greater is better)');
    expect([r.stopReason, r.best]).toEqual(['maxSteps', { step: 4, epoch: 0, loss: 3.5, metric: 'eval_accuracy', value: 0.1 }]);
    m.dispose();
    // early stopping's count and reference start afresh too: kept, the old miss would stop a patience-1 run at
    // once (1 >= 1), and 0.1 compared with the loss 3 (greater is better) would be a miss at step 4
    const m3 = scriptedEval('old', [3.5]);
    const d3 = await oldDir();
    const { r: r3 } = await run(m3, { maxSteps: 4, checkpointDir: d3, resume: true, earlyStopping: { patience: 1 }, metricForBestModel: 'accuracy', computeMetrics: () => ({ accuracy: 0.1 }) });
    expect([r3.stopReason, r3.step]).toEqual(['maxSteps', 4]);
    const s4 = (await readCheckpoint<TrainerState>(join(d3, 'checkpoint-4'))).state;
    expect([s4.bestEvalLoss, s4.evalsWithoutImprovement]).toEqual([0.1, 0]);
    m3.dispose();
    // and the best without loadBestModelAtEnd (saveStrategy 'best'): 0.1 is a new best, not compared with the loss 3
    const m4 = scriptedEval('old', [3.5]);
    const { saves } = await run(m4, { maxSteps: 4, checkpointDir: await oldDir(), resume: true, saveStrategy: 'best', metricForBestModel: 'accuracy', computeMetrics: () => ({ accuracy: 0.1 }) });
    expect(saves).toEqual(['best@4']);
    m4.dispose();
  });
});

describe('computeMetrics in practice', () => {
  it('a real metric from the model and the batches (mean absolute error of the toy regression), no tensors left behind', async () => {
    const before = tf.memory().numTensors;
    const model = new ToyModel(3, 'mae');
    const mae = async ({ batches }: MetricsContext<ToyBatch>) => {
      let sum = 0;
      let n = 0;
      for (const b of batches) {
        const err = tf.tidy(() => tf.abs(tf.sub(tf.add(tf.reshape(tf.matMul(tf.tensor2d(b.x), model.w), [-1]), model.b), tf.tensor1d(b.y))));
        sum += Array.from(await err.data()).reduce((a, v) => a + v, 0);
        n += err.size;
        err.dispose();
      }
      return { mae: sum / n };
    };
    const { r } = await run(model, { data: toyData(40), lr: 0.1, maxSteps: 6, evalEvery: 2, computeMetrics: mae, metricForBestModel: 'mae', greaterIsBetter: false, debug: true });
    const maes = r.metrics.filter((m): m is EvalRecord => m.type === 'eval').map((e) => e.metrics!.eval_mae!);
    expect(maes).toHaveLength(3);
    expect(maes[2]).toBeLessThan(maes[0]!); // training fits the regression
    expect(r.best?.value).toBe(Math.min(...maes));
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a computeMetrics that throws ends the run with its error, nothing left allocated; a resume redoes that step from the checkpoint before', async () => {
    const before = tf.memory().numTensors;
    const sigint = process.listenerCount('SIGINT');
    const dir = tmp();
    const o = { maxSteps: 4, checkpointDir: dir, checkpointEvery: 1, metricForBestModel: 'step', loadBestModelAtEnd: true, handleSigint: true };
    const m1 = scriptedEval('cmthrow', [1]);
    const failing = (c: MetricsContext<ToyBatch>) => {
      if (c.step === 3) throw new Error('metric failed at step 3');
      return { step: c.step };
    };
    await expect(train({ ...base, model: m1, logger: false, ...o, computeMetrics: failing })).rejects.toThrow('metric failed at step 3');
    m1.dispose();
    expect(tf.memory().numTensors).toBe(before); // the optimizer's moments freed
    expect(process.listenerCount('SIGINT')).toBe(sigint);
    // step 3's evaluation came before its checkpoint: checkpoint-2 is the newest, and step 3 is trained and evaluated again
    const m2 = scriptedEval('cmthrow', [1]);
    const { r } = await run(m2, { ...o, resume: true, computeMetrics: async (c) => ({ step: c.step }) });
    expect(r.resumedFrom).toMatch(/checkpoint-2$/);
    expect(r.metrics.map((m) => `${m.type}@${m.step}`)).toEqual(['train@1', 'eval@1', 'train@2', 'eval@2', 'train@3', 'eval@3', 'train@4', 'eval@4']);
    expect(r.best).toEqual({ step: 4, epoch: 0, loss: 1, metric: 'eval_step', value: 4 }); // greater is better ("step")
    m2.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('debug mode names a computeMetrics that leaks tensors', async () => {
    const before = tf.memory().numTensors;
    const model = new ToyModel(3, 'leak');
    const leaked: tf.Tensor[] = [];
    await expect(run(model, { maxSteps: 2, debug: true, computeMetrics: () => (leaked.push(tf.scalar(1)), { x: 1 }) })).rejects.toThrow(/^tensor leak in computeMetrics at step 1: \d+ tensors before, \d+ after$/);
    expect(leaked).toHaveLength(1); // caught at the first evaluation
    tf.dispose(leaked);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
