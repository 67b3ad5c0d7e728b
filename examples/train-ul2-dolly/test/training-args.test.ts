// The train command's transformers-style optimisation flags (Seq2SeqTrainingArguments' names in
// kebab-case): each one parsed and handed to @conifer/trainer's train() (the options object runTrain
// spreads into it), the defaults unchanged, and every bad value one usage error (exit 2, nothing written).
// Argument-level only: no training (the e2e test checks the default schedule in a real run).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdamW, lrMultiplier, totalOptimizerSteps } from '@conifer/trainer';
import { afterAll, describe, expect, it } from 'vitest';
import { commandHelp, parseCommandLine } from '../src/args.js';
import { main } from '../src/main.js';
import { LR_SCHEDULER_TYPES, type TrainOptions } from '../src/options.js';
import { adapterFolder, checkSchedule, reusableFinalEval, trainerHyperparameters } from '../src/training-args.js';
import { capture } from './capture.js';

const tmp = mkdtempSync(join(tmpdir(), 'conifer-training-args-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const FLAN_UL2_CONFIG = join(__dirname, 'fixtures/flan-ul2/config.json');

function train(...argv: string[]): TrainOptions {
  const p = parseCommandLine(['train', ...argv]);
  if (p.kind !== 'run' || p.options.command !== 'train') throw new Error('expected train options');
  return p.options;
}
const hp = (...argv: string[]) => trainerHyperparameters(train(...argv));

/** What the app gives train() by default (demo model). */
const DEMO_DEFAULTS = {
  epochs: 1, gradientAccumulationSteps: 2, lr: 1e-3, schedule: 'linear', warmupSteps: 0, resume: false, seed: 42,
  // Now explicit: transformers' TrainingArguments defaults (weight_decay 0.0, max_grad_norm 1.0, adam betas/eps), 2 checkpoints, every step logged.
  betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, maxGradNorm: 1, keepLast: 2, loggingSteps: 1, loadBestModelAtEnd: false,
  // transformers' eval_on_start False, eval_delay 0, logging_first_step False
  evalOnStart: false, evalDelay: 0, loggingFirstStep: false,
};

describe("defaults: the original's (lr, epochs, batches) and transformers' TrainingArguments", () => {
  it('the demo and a real model get them', () => {
    expect(hp()).toEqual(DEMO_DEFAULTS);
    expect(hp('--model', FLAN_UL2_CONFIG, '--dry-run')).toEqual({ ...DEMO_DEFAULTS, epochs: 3, gradientAccumulationSteps: 8, lr: 1e-4 });
    // Betas and eps are also the trainer's own (torch.optim.AdamW's); its weight decay (0.01) is not transformers' (0).
    const adam = new AdamW();
    expect([adam.beta1, adam.beta2, adam.eps]).toEqual([0.9, 0.999, 1e-8]);
    adam.dispose();
    // maxGradNorm 0 = no clipping, as an absent one (trainer: `maxGradNorm > 0` gates clip_grad_norm_, as transformers'
    // `if args.max_grad_norm is not None and args.max_grad_norm > 0`; tested in packages/trainer/test/hf-trainer-parity.test.ts).
  });
});

describe('each flag reaches the trainer options', () => {
  const cases: Array<[string[], Record<string, unknown>]> = [
    [['--lr-scheduler-type', 'cosine'], { schedule: 'cosine' }],
    [['--lr-scheduler-type', 'cosine_with_restarts', '--lr-scheduler-kwargs', '{"num_cycles": 2}'], { schedule: 'cosine_with_restarts', lrSchedulerKwargs: { num_cycles: 2 } }],
    [['--lr-scheduler-type', 'warmup_stable_decay', '--lr-scheduler-kwargs', '{"num_decay_steps": 10, "decay_type": "1-sqrt", "min_lr_ratio": 0.1}'],
      { schedule: 'warmup_stable_decay', lrSchedulerKwargs: { num_decay_steps: 10, decay_type: '1-sqrt', min_lr_ratio: 0.1 } }],
    [['--warmup-steps', '7'], { warmupSteps: 7 }],
    [['--weight-decay', '0'], { weightDecay: 0 }],
    [['--adam-beta1', '0.8'], { betas: [0.8, 0.999] }],
    [['--adam-beta2', '0.95'], { betas: [0.9, 0.95] }],
    [['--adam-epsilon', '1e-6'], { eps: 1e-6 }],
    [['--max-grad-norm', '1'], { maxGradNorm: 1 }],
    [['--max-grad-norm', '0.5'], { maxGradNorm: 0.5 }],
    [['--save-total-limit', '5'], { keepLast: 5 }],
    // transformers' Trainer._rotate_checkpoints: `if save_total_limit is None or save_total_limit <= 0: return` (keeps all)
    [['--save-total-limit', '0'], { keepLast: Number.POSITIVE_INFINITY }],
    [['--logging-steps', '10'], { loggingSteps: 10 }],
    // EarlyStoppingCallback(early_stopping_patience, early_stopping_threshold=0.0)
    [['--early-stopping-patience', '3'], { earlyStopping: { patience: 3, threshold: 0 } }],
    [['--early-stopping-patience', '3', '--early-stopping-threshold', '0.01'], { earlyStopping: { patience: 3, threshold: 0.01 } }],
    [['--load-best-model-at-end'], { loadBestModelAtEnd: true }],
    // eval_on_start, eval_delay (steps with --eval-every, else epochs: the trainer decides), logging_first_step
    [['--eval-on-start'], { evalOnStart: true }],
    [['--eval-delay', '2'], { evalDelay: 2 }],
    [['--eval-every', '5', '--eval-delay', '12.5'], { evalEvery: 5, evalDelay: 12.5 }],
    [['--logging-first-step', '--logging-steps', '10'], { loggingFirstStep: true, loggingSteps: 10 }],
    // save_strategy: "best" is the trainer's saveStrategy; the others only choose the adapter folders (adapterFolder)
    [['--save-strategy', 'best'], { saveStrategy: 'best' }],
    // metric_for_best_model; greater_is_better left to the trainer's default (not name.endswith("loss"))
    [['--metric-for-best-model', 'accuracy', '--load-best-model-at-end'], { metricForBestModel: 'accuracy', loadBestModelAtEnd: true }],
    [['--metric-for-best-model', 'loss'], { metricForBestModel: 'loss' }],
    [['--save-strategy', 'best', '--load-best-model-at-end'], { saveStrategy: 'best', loadBestModelAtEnd: true }],
    [['--save-strategy', 'epoch'], {}],
    [['--save-strategy', 'no'], {}],
    [['--save-strategy', 'steps', '--save-every', '10'], { saveEvery: 10 }],
    // the flags that existed before, now through the same object
    [['--lr', '2e-4', '--epochs', '2', '--grad-accum', '4', '--seed', '7', '--resume'], { lr: 2e-4, epochs: 2, gradientAccumulationSteps: 4, seed: 7, resume: true }],
    [['--eval-every', '5', '--save-every', '10', '--max-steps', '20'], { evalEvery: 5, saveEvery: 10, maxSteps: 20 }],
  ];
  it.each(cases)('%j', (argv, expected) => {
    expect(hp(...argv)).toEqual({ ...DEMO_DEFAULTS, ...expected });
  });

  it("--optim adafactor: the trainer's Adafactor (transformers' Trainer settings), without AdamW's betas/eps", () => {
    const { betas: _b, eps: _e, ...rest } = DEMO_DEFAULTS;
    void _b;
    void _e;
    expect(hp('--optim', 'adafactor')).toEqual({ ...rest, optim: 'adafactor' });
    expect(hp('--optim', 'adafactor', '--weight-decay', '0.01', '--lr', '1e-3')).toEqual({ ...rest, optim: 'adafactor', weightDecay: 0.01, lr: 1e-3 });
    // adamw_torch is the default and gives the trainer's 'adamw' (no optim key: its default)
    expect(hp('--optim', 'adamw_torch')).toEqual(DEMO_DEFAULTS);
  });

  it('--use-dora, --label-smoothing-factor, --neftune-noise-alpha: model and adapter options (the trainer sees none of them)', () => {
    const o = train('--use-dora', '--label-smoothing-factor', '0.1', '--neftune-noise-alpha', '5');
    expect([o.useDora, o.labelSmoothingFactor, o.neftuneNoiseAlpha]).toEqual([true, 0.1, 5]);
    const d = train();
    expect([d.useDora, d.optim, d.labelSmoothingFactor, d.neftuneNoiseAlpha, d.doraWeightNorm]).toEqual([false, 'adamw_torch', 0, 0, 'factored']);
    expect(train('--use-dora', '--dora-weight-norm', 'direct').doraWeightNorm).toBe('direct');
    expect(hp('--use-dora', '--label-smoothing-factor', '0.1', '--neftune-noise-alpha', '5')).toEqual(DEMO_DEFAULTS);
  });

  it('--warmup-ratio replaces warmupSteps (the trainer takes one of them)', () => {
    const { warmupSteps: _, ...rest } = DEMO_DEFAULTS;
    void _;
    expect(hp('--warmup-ratio', '0.1')).toEqual({ ...rest, warmupRatio: 0.1 });
  });

  it('every --lr-scheduler-type is a schedule the trainer runs', () => {
    const required: Record<string, string> = { cosine_with_min_lr: '{"min_lr_rate": 0.1}', cosine_warmup_with_min_lr: '{"min_lr_rate": 0.1}', warmup_stable_decay: '{"num_decay_steps": 2}' };
    for (const kind of LR_SCHEDULER_TYPES) {
      const o = hp('--lr-scheduler-type', kind, ...(required[kind] ? ['--lr-scheduler-kwargs', required[kind]] : []));
      expect(o.schedule).toBe(kind);
      expect(lrMultiplier(3, { kind: o.schedule, totalSteps: 10, lr: o.lr, lrSchedulerKwargs: o.lrSchedulerKwargs ?? {} })).toBeGreaterThanOrEqual(0);
    }
    expect(LR_SCHEDULER_TYPES[0]).toBe('linear');
  });

  it('--help lists each flag with its default', () => {
    const h = commandHelp('train');
    expect(h).toMatch(/--lr-scheduler-type TYPE .*linear, cosine, cosine_with_restarts, polynomial, constant, constant_with_warmup, inverse_sqrt, cosine_with_min_lr, cosine_warmup_with_min_lr, warmup_stable_decay.*\(default: linear\)/);
    expect(h).toMatch(/--lr-scheduler-kwargs JSON .*\(default: none\)/);
    expect(h).toMatch(/--warmup-ratio R .*\(default: none\)/);
    expect(h).toMatch(/--weight-decay X .*\(default: 0 \(transformers/);
    expect(h).toMatch(/--adam-beta1 X .*\(default: 0\.9\)/);
    expect(h).toMatch(/--adam-beta2 X .*\(default: 0\.999\)/);
    expect(h).toMatch(/--adam-epsilon X .*\(default: 1e-8\)/);
    expect(h).toMatch(/--max-grad-norm X .*\(default: 1 \(transformers/);
    expect(h).toMatch(/--save-total-limit N .*0 = all.*\(default: 2\)/);
    expect(h).toMatch(/--logging-steps N .*\(default: 1\)/);
    expect(h).toMatch(/--early-stopping-patience N .*\(default: off\)/);
    expect(h).toMatch(/--early-stopping-threshold X .*\(default: 0\)/);
    expect(h).toMatch(/--load-best-model-at-end +put the adapter of the best evaluation/);
    expect(h).toMatch(/--eval-on-start +evaluate once before the first step.*transformers' eval_on_start/);
    expect(h).toMatch(/--eval-delay N .*transformers' eval_delay.*\(default: 0\)/);
    expect(h).toMatch(/--logging-first-step +also a progress line for step 1.*transformers' logging_first_step/);
    expect(h).toMatch(/--metric-for-best-model loss\|accuracy .*transformers' metric_for_best_model.*eval_accuracy, higher is better.*\(default: loss\)/);
    expect(h).toMatch(/--save-strategy no\|steps\|epoch\|best .*transformers' save_strategy.*\(default: each epoch end, and every --save-every steps when given\)/);
  });
});

describe('--save-strategy: which adapter folder each onSave writes besides --out/adapter', () => {
  // (reason, step, epoch) of the trainer's onSave calls → the named folder, per strategy; null = --out/adapter only
  const calls = [
    { reason: 'steps', step: 10, epoch: 0 },
    { reason: 'epoch', step: 15, epoch: 0 },
    { reason: 'final', step: 17, epoch: 1 },
    { reason: 'best', step: 10, epoch: 0 },
  ] as const;
  it.each([
    [undefined, ['adapter-step-10', 'adapter-epoch-1', null, null]], // the app's behaviour without the flag: both
    ['steps', ['adapter-step-10', null, null, null]], // save_strategy "steps": every save_steps
    ['epoch', [null, 'adapter-epoch-1', null, null]], // "epoch": at epoch ends
    ['no', [null, null, null, null]],
    ['best', [null, null, null, null]], // "best": --out/adapter is the best one (the trainer calls onSave only then)
  ] as const)('%s', (strategy, folders) => {
    expect(calls.map((c) => adapterFolder(c, strategy, 20))).toEqual(folders);
  });

  // DefaultFlowCallback.on_step_end: `if state.global_step >= state.max_steps: ... if args.save_strategy ==
  // SaveStrategy.STEPS: control.should_save = True` — the run's last step is saved under "steps" even off the interval
  it('steps: the last step of the run (its max_steps: --max-steps, else every epoch) gets adapter-step-N too', () => {
    expect(adapterFolder({ reason: 'final', step: 17, epoch: 1 }, 'steps', 17)).toBe('adapter-step-17'); // --max-steps 17
    expect(adapterFolder({ reason: 'epoch', step: 30, epoch: 1 }, 'steps', 30)).toBe('adapter-step-30'); // the last epoch's end
    expect(adapterFolder({ reason: 'epoch', step: 30, epoch: 1 }, undefined, 30)).toBe('adapter-epoch-2'); // without the flag: as before
    expect(adapterFolder({ reason: 'final', step: 12, epoch: 0 }, 'steps', 30)).toBe(null); // early stopping / SIGINT before the end: no save
    expect(adapterFolder({ reason: 'epoch', step: 30, epoch: 1 }, 'epoch', 30)).toBe('adapter-epoch-2');
    expect(adapterFolder({ reason: 'final', step: 30, epoch: 1 }, 'no', 30)).toBe(null);
  });
});

describe('the eval after training reuses the trainer’s last evaluation when it measured the weights the model holds', () => {
  const ev = (step: number) => ({ type: 'eval' as const, step, epoch: 0, loss: 1 + step, sumOfBatchMeans: 0, meanOfBatchMeans: 0, tokens: 10, batches: 1 });
  const best = (step: number) => ({ step, epoch: 0, loss: 1 + step });
  it.each([
    ['last step evaluated, no best tracked', { lastEval: ev(4), step: 4, best: null }, false, 4],
    ['stopped between evaluations', { lastEval: ev(2), step: 3, best: null }, false, null],
    ['--save-strategy best alone: the best (step 2) is saved, the weights stay the last step’s', { lastEval: ev(4), step: 4, best: best(2) }, false, 4],
    ['--load-best-model-at-end put step 2 back', { lastEval: ev(4), step: 4, best: best(2) }, true, null],
    ['--load-best-model-at-end, the best is the last step', { lastEval: ev(4), step: 4, best: best(4) }, true, 4],
  ] as const)('%s', (_, result, loadBest, step) => {
    expect(reusableFinalEval(result, loadBest)?.step ?? null).toBe(step);
  });
});

describe('the schedule against the run’s length', () => {
  it("totalOptimizerSteps (the trainer's own count, which the app checks the schedule against): Σ ⌈batches per epoch / accumulation⌉, capped by maxSteps", () => {
    const perEpoch = (e: number) => [19, 20, 21][e]!;
    expect(totalOptimizerSteps(perEpoch, 3, 2, undefined)).toBe(10 + 10 + 11);
    expect(totalOptimizerSteps(perEpoch, 3, 2, 25)).toBe(25);
    expect(totalOptimizerSteps(perEpoch, 1, 4, 50)).toBe(5);
  });

  it('at parse time only what does not depend on the length is judged', () => {
    // num_decay_steps longer than an unknown run, polynomial's warmup: accepted until the data is read
    expect(() => train('--lr-scheduler-type', 'warmup_stable_decay', '--lr-scheduler-kwargs', '{"num_decay_steps": 100}', '--warmup-steps', '50')).not.toThrow();
    expect(() => train('--lr-scheduler-type', 'polynomial', '--warmup-steps', '10')).not.toThrow();
    expect(() => train('--lr-scheduler-type', 'polynomial', '--warmup-ratio', '1')).not.toThrow();
  });

  it('with the length: warmup_ratio gives ceil(total × ratio) warmup steps, and what does not fit is one usage error', () => {
    const o = { lrSchedulerType: 'warmup_stable_decay', lrSchedulerKwargs: { num_decay_steps: 2 }, warmupSteps: 0, lr: 1e-3 } as const;
    expect(() => checkSchedule(o, 2)).not.toThrow();
    expect(() => checkSchedule(o, 1)).toThrow(/^--lr-scheduler-type warmup_stable_decay: the 'warmup_stable_decay' schedule has warmup steps \(0\) \+ num_decay_steps \(2\) > total steps \(1\) \(this run has 1 optimizer step\)$/);
    // transformers' TrainingArguments.get_warmup_steps: `math.ceil(num_training_steps * self.warmup_ratio)`
    expect(() => checkSchedule({ ...o, warmupRatio: 0.6 }, 5)).not.toThrow(); // 3 + 2 ≤ 5
    expect(() => checkSchedule({ ...o, warmupRatio: 0.7 }, 5)).toThrow(/warmup steps \(4\) \+ num_decay_steps \(2\) > total steps \(5\) \(this run has 5 optimizer steps, 4 of warmup\)/); // ceil(3.5) = 4
    const poly = { lrSchedulerType: 'polynomial', warmupSteps: 0, warmupRatio: 0.9, lr: 1e-3 } as const;
    expect(() => checkSchedule(poly, 4)).toThrow(/polynomial' schedule needs total steps \(4\) other than warmup steps/); // ceil(3.6) = 4
    expect(() => checkSchedule(poly, 20)).not.toThrow(); // 18 of 20
  });

  it('train checks it once the data is read, before the model loads: exit 2, one line, nothing written', async () => {
    const out = join(tmp, 'wsd');
    const c = capture();
    // --limit 20: 16 train examples in micro-batches of 4, accumulation 2 → 2 optimizer steps
    const argv = ['train', '--backend', 'cpu', '--limit', '20', '--out', out, '--lr-scheduler-type', 'warmup_stable_decay', '--lr-scheduler-kwargs', '{"num_decay_steps": 5}'];
    expect(await main(argv, c.io)).toBe(2);
    expect(c.err).toEqual(["conifer-train-ul2-dolly: --lr-scheduler-type warmup_stable_decay: the 'warmup_stable_decay' schedule has warmup steps (0) + num_decay_steps (5) > total steps (2) (this run has 2 optimizer steps)"]);
    expect(c.out.join('\n')).toMatch(/2 steps in all/);
    expect(c.out.join('\n')).not.toMatch(/^ +model +embedded demo T5 \(random weights\), linears/m); // not loaded
    expect(existsSync(out)).toBe(false);
  });
});

describe('bad values: one line on stderr, exit code 2, nothing written', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--lr-scheduler-type', 'reduce_lr_on_plateau'], /--lr-scheduler-type must be one of linear, cosine, cosine_with_restarts, polynomial, constant, constant_with_warmup, inverse_sqrt, cosine_with_min_lr, cosine_warmup_with_min_lr, warmup_stable_decay \(got "reduce_lr_on_plateau"\)$/],
    [['--lr-scheduler-kwargs', '{num_cycles: 2}'], /--lr-scheduler-kwargs must be a JSON object such as '\{"num_cycles": 2\}' \(got "\{num_cycles: 2\}": .+\)$/],
    [['--lr-scheduler-kwargs', '[2]'], /--lr-scheduler-kwargs must be a JSON object such as .* \(got "\[2\]"\)$/],
    [['--lr-scheduler-kwargs', 'null'], /--lr-scheduler-kwargs must be a JSON object such as .* \(got "null"\)$/],
    [['--lr-scheduler-kwargs', '{"num_cycles": 2}'], /--lr-scheduler-kwargs: num_cycles does not apply to the 'linear' schedule \(it takes none\)$/],
    [['--lr-scheduler-type', 'cosine', '--lr-scheduler-kwargs', '{"num_cycle": 2}'], /--lr-scheduler-kwargs: num_cycle does not apply to the 'cosine' schedule \(it takes num_cycles\)$/],
    [['--lr-scheduler-type', 'cosine', '--lr-scheduler-kwargs', '{"num_cycles": "2"}'], /--lr-scheduler-kwargs: num_cycles must be a finite number, got 2$/],
    [['--lr-scheduler-type', 'cosine_with_min_lr'], /--lr-scheduler-kwargs: One of min_lr or min_lr_rate should be set$/],
    [['--lr-scheduler-type', 'warmup_stable_decay'], /--lr-scheduler-kwargs: the 'warmup_stable_decay' schedule needs num_decay_steps$/],
    [['--lr-scheduler-type', 'polynomial', '--lr-scheduler-kwargs', '{"lr_end": 0.01}'], /--lr-scheduler-kwargs: lr_end \(0\.01\) must be smaller than initial lr \(0\.001\)$/],
    [['--warmup-steps', '10', '--warmup-ratio', '0.1'], /--warmup-ratio and --warmup-steps both set the warmup: give one of them$/],
    [['--warmup-ratio', '1.5'], /--warmup-ratio must be in \[0, 1\] \(got "1\.5"\)$/],
    [['--weight-decay=-0.1'], /--weight-decay must be a number ≥ 0 \(got "-0\.1"\)$/],
    [['--adam-beta1', '1'], /--adam-beta1 must be in \[0, 1\) \(got "1"\)$/],
    [['--adam-beta2', '1'], /--adam-beta2 must be in \[0, 1\) \(got "1"\)$/],
    [['--adam-epsilon=-1e-8'], /--adam-epsilon must be a number ≥ 0 \(got "-1e-8"\)$/],
    [['--max-grad-norm=-1'], /--max-grad-norm must be a number ≥ 0 \(0 = no clipping\) \(got "-1"\)$/],
    [['--max-grad-norm', 'Infinity'], /--max-grad-norm must be a number ≥ 0/],
    [['--save-total-limit=-1'], /--save-total-limit must be a non-negative integer \(got "-1"\)$/],
    [['--save-total-limit', '1.5'], /--save-total-limit must be a non-negative integer/],
    [['--logging-steps', '0'], /--logging-steps must be a positive integer \(got "0"\)$/],
    [['--early-stopping-patience', '0'], /--early-stopping-patience must be a positive integer \(got "0"\)$/],
    [['--early-stopping-threshold', '0.1'], /--early-stopping-threshold needs --early-stopping-patience/],
    [['--early-stopping-patience', '2', '--early-stopping-threshold=-1'], /--early-stopping-threshold must be a number ≥ 0 \(got "-1"\)$/],
    [['--load-best-model-at-end=yes'], /--load-best-model-at-end takes no value$/],
    [['--eval-on-start=yes'], /--eval-on-start takes no value$/],
    [['--logging-first-step=1'], /--logging-first-step takes no value$/],
    [['--eval-delay=-1'], /--eval-delay must be a number ≥ 0 \(got "-1"\)$/],
    [['--eval-delay', 'soon'], /--eval-delay must be a number ≥ 0 \(got "soon"\)$/],
    [['--metric-for-best-model', 'bleu'], /--metric-for-best-model must be one of loss, accuracy \(got "bleu"\)$/],
    [['--save-strategy', 'always'], /--save-strategy must be one of no, steps, epoch, best \(got "always"\)$/],
    [['--save-strategy', 'steps'], /--save-strategy steps saves every --save-every N steps: give --save-every$/],
    [['--save-strategy', 'best', '--save-every', '5'], /--save-every gives the interval of --save-strategy steps; --save-strategy best saves after each new best evaluation: give one of them$/],
    [['--save-strategy', 'epoch', '--save-every', '5'], /--save-strategy epoch saves at epoch ends: give one of them$/],
    [['--save-strategy', 'no', '--save-every', '5'], /--save-strategy no saves no adapter folders: give one of them$/],
    [['--optim', 'sgd'], /--optim must be one of adamw_torch, adafactor \(got "sgd"\)$/],
    [['--optim', 'adafactor', '--adam-beta1', '0.8'], /--adam-beta1 applies to --optim adamw_torch, not --optim adafactor$/],
    [['--optim', 'adafactor', '--adam-beta2', '0.9', '--adam-epsilon', '1e-6'], /--adam-beta2, --adam-epsilon apply to --optim adamw_torch, not --optim adafactor$/],
    [['--label-smoothing-factor', '1'], /--label-smoothing-factor must be in \[0, 1\) \(got "1"\)$/],
    [['--label-smoothing-factor=-0.1'], /--label-smoothing-factor must be in \[0, 1\) \(got "-0\.1"\)$/],
    [['--neftune-noise-alpha=-5'], /--neftune-noise-alpha must be a number ≥ 0 \(0 = off\) \(got "-5"\)$/],
    [['--neftune-noise-alpha', 'NaN'], /--neftune-noise-alpha must be a number ≥ 0/],
    [['--use-dora=yes'], /--use-dora takes no value$/],
    [['--use-dora', '--dora-weight-norm', 'exact'], /--dora-weight-norm must be one of factored, direct \(got "exact"\)$/],
  ];
  it.each(cases)('%j', async (argv, message) => {
    const out = join(tmp, 'never');
    const c = capture();
    // --dry-run: were a check missing, the plan would print and exit 0 (instead of a demo run starting)
    expect(await main(['train', ...argv, '--out', out, '--dry-run'], c.io)).toBe(2);
    expect(c.out).toEqual([]);
    expect(c.err).toHaveLength(1);
    expect(c.err[0]).toMatch(/^conifer-train-ul2-dolly: train: --/);
    expect(c.err[0]).toMatch(message);
    expect(existsSync(out)).toBe(false);
  });
});
