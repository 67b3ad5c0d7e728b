import { isSkippedModule } from '@conifer/int8';
import { roundUp } from '@conifer/dolly-data';
import { DOLLY_RECORDS, dollyQuantiles, meanPaddedLength, meanTruncated } from './dolly-lengths.js';
import type { BackendName, EvalOrder, Int8Mode, Optim, PromptTemplateName } from './options.js';
import { t5Shape, type T5ConfigJson, type T5Shape } from './t5-config.js';

/** One projection of the model, by its Hugging Face module path. */
export interface LinearInfo {
  path: string;
  /** Last path component: q, k, v, o, wi, wi_0, wi_1, wo, lm_head. */
  name: string;
  inFeatures: number;
  outFeatures: number;
  /** Which tokens it runs over: encoder (source) positions or decoder (target) positions. */
  tokens: 'source' | 'target';
}

/** Every linear of T5ForConditionalGeneration, in checkpoint order (lm_head only when untied). */
export function t5Linears(s: T5Shape): LinearInfo[] {
  const inner = s.numHeads * s.dKv;
  const out: LinearInfo[] = [];
  const attn = (prefix: string, tokens: LinearInfo['tokens'], kvTokens: LinearInfo['tokens']) => {
    out.push({ path: `${prefix}.q`, name: 'q', inFeatures: s.dModel, outFeatures: inner, tokens });
    out.push({ path: `${prefix}.k`, name: 'k', inFeatures: s.dModel, outFeatures: inner, tokens: kvTokens });
    out.push({ path: `${prefix}.v`, name: 'v', inFeatures: s.dModel, outFeatures: inner, tokens: kvTokens });
    out.push({ path: `${prefix}.o`, name: 'o', inFeatures: inner, outFeatures: s.dModel, tokens });
  };
  const ff = (prefix: string, tokens: LinearInfo['tokens']) => {
    for (const wi of s.gated ? ['wi_0', 'wi_1'] : ['wi']) {
      out.push({ path: `${prefix}.DenseReluDense.${wi}`, name: wi, inFeatures: s.dModel, outFeatures: s.dFf, tokens });
    }
    out.push({ path: `${prefix}.DenseReluDense.wo`, name: 'wo', inFeatures: s.dFf, outFeatures: s.dModel, tokens });
  };
  for (let i = 0; i < s.numLayers; i++) {
    attn(`encoder.block.${i}.layer.0.SelfAttention`, 'source', 'source');
    ff(`encoder.block.${i}.layer.1`, 'source');
  }
  for (let i = 0; i < s.numDecoderLayers; i++) {
    attn(`decoder.block.${i}.layer.0.SelfAttention`, 'target', 'target');
    // Cross-attention: k and v project the encoder output (source positions).
    attn(`decoder.block.${i}.layer.1.EncDecAttention`, 'target', 'source');
    ff(`decoder.block.${i}.layer.2`, 'target');
  }
  if (!s.tied) out.push({ path: 'lm_head', name: 'lm_head', inFeatures: s.dModel, outFeatures: s.vocabSize, tokens: 'target' });
  return out;
}

export interface ParameterCounts {
  total: number;
  /** Encoder + decoder projections (quantized by int8). */
  linear: number;
  /** shared.weight [vocab, d_model] (tied: also the head). */
  embedding: number;
  /** lm_head.weight when untied (kept float32, like bitsandbytes' skip of lm_head). */
  lmHead: number;
  /** RMS norm weights: 2 per encoder block, 3 per decoder block, 2 final. */
  norms: number;
  /** relative_attention_bias [buckets, heads] of block 0 of each stack. */
  relativeBias: number;
}

export function countParameters(s: T5Shape): ParameterCounts {
  const linears = t5Linears(s);
  const linear = linears.filter((l) => l.name !== 'lm_head').reduce((n, l) => n + l.inFeatures * l.outFeatures, 0);
  const embedding = s.vocabSize * s.dModel;
  const lmHead = s.tied ? 0 : s.vocabSize * s.dModel;
  const norms = (2 * s.numLayers + 3 * s.numDecoderLayers + 2) * s.dModel;
  const relativeBias = 2 * s.numBuckets * s.numHeads;
  return { total: linear + embedding + lmHead + norms + relativeBias, linear, embedding, lmHead, norms, relativeBias };
}

/** The linears LoRA adapts: those whose last path component is targeted (PEFT's match). */
function adaptedLinears(s: T5Shape, targetModules: readonly string[]): LinearInfo[] {
  return t5Linears(s).filter((l) => targetModules.includes(l.name));
}

/**
 * LoRA's trainable parameters: r·(in + out) for every linear whose last path component is targeted
 * (+ out, the magnitude vector, with DoRA); `rows` = Σ out over those linears.
 */
export function loraParameters(s: T5Shape, r: number, targetModules: readonly string[], useDora = false): { params: number; modules: number; rows: number; columns: number } {
  const hit = adaptedLinears(s, targetModules);
  const rows = hit.reduce((n, l) => n + l.outFeatures, 0);
  const columns = hit.reduce((n, l) => n + l.inFeatures, 0);
  return { params: hit.reduce((n, l) => n + r * (l.inFeatures + l.outFeatures), 0) + (useDora ? rows : 0), modules: hit.length, rows, columns };
}

/**
 * Bytes of the adapters while training (float32): weights + gradients + the optimizer's state —
 * AdamW's m and v (2 floats per parameter), or Adafactor's factored second moment (without beta1:
 * rows + columns per matrix, A [r, in] → r + in, B [out, r] → out + r; the DoRA magnitude [out] → out) —
 * and, with DoRA, the cached ‖W‖² per output row (@conifer/lora's factored weight norm).
 */
export function loraBytes(l: { params: number; modules: number; rows: number; columns: number }, r: number, optim: Optim, useDora: boolean): number {
  const state = optim === 'adafactor' ? l.rows + l.columns + 2 * r * l.modules + (useDora ? l.rows : 0) : 2 * l.params;
  return 4 * (2 * l.params + state + (useDora ? l.rows : 0));
}

/**
 * What DoRA's second base pass adds (zero without DoRA or without dropout): forward FLOPs per example of
 * `src` + `tgt` positions (2·in·out per token of each adapted projection) and the floats of its output
 * kept for the backward of a micro-batch (the magnitude's gradient needs base(dropout(x))).
 */
export function doraSecondPass(s: T5Shape, input: Pick<PlanInput, 'useDora' | 'loraDropout' | 'targetModules'>): { flops: (src: number, tgt: number) => number; floats: (b: number, src: number, tgt: number) => number } {
  const on = input.useDora === true && (input.loraDropout ?? 0) > 0;
  const hit = on ? adaptedLinears(s, input.targetModules) : [];
  const per = (src: number, tgt: number, f: (l: LinearInfo, tokens: number) => number) => hit.reduce((n, l) => n + f(l, l.tokens === 'source' ? src : tgt), 0);
  return {
    flops: (src, tgt) => per(src, tgt, (l, t) => 2 * l.inFeatures * l.outFeatures * t),
    floats: (b, src, tgt) => b * per(src, tgt, (l, t) => l.outFeatures * t),
  };
}

/** `auto` → weight-only above 1 B parameters, off below. */
export function resolveInt8(mode: Int8Mode, totalParams: number): Exclude<Int8Mode, 'auto'> {
  if (mode !== 'auto') return mode;
  return totalParams > 1e9 ? 'weight-only' : 'off';
}

/** Bytes of the frozen weights: float32, or int8 linears (1 byte per weight + a 4-byte float32 scale per output row). */
export function weightBytes(s: T5Shape, int8: boolean, skipModules: readonly string[] = []): number {
  const c = countParameters(s);
  const nonLinear = 4 * (c.embedding + c.lmHead + c.norms + c.relativeBias);
  if (!int8) return 4 * c.total;
  const linears = t5Linears(s).filter((l) => l.name !== 'lm_head');
  // int8: 1 byte per weight + a float32 scale per output row; a skipped projection (@conifer/int8's skipModules rule): float32.
  return nonLinear + linears.reduce((n, l) => n + (isSkippedModule(l.path, skipModules) ? 4 * l.inFeatures * l.outFeatures : l.inFeatures * l.outFeatures + 4 * l.outFeatures), 0);
}

/**
 * Activation floats kept for the backward of one micro-batch of `b` rows, `src` source and `tgt`
 * target positions (float32; tfjs keeps each op's inputs/outputs its gradient needs, no fusion):
 *   encoder block: b·src·(4·d + 4·a + F·f) + 3·b·h·src²             (two norms in/out; q, k, v, context;
 *                                                                  FF hidden(s), activation, product; scores, softmax, dropout)
 *   decoder block: b·tgt·(6·d + 6·a + F·f) + 2·b·src·a + 3·b·h·(tgt² + tgt·src)   (three norms; self q, k, v, context, cross q, context;
 *                                                                  cross k, v over the source; self and cross scores)
 *   head:          3·b·tgt·V                                      (logits, log-softmax, their gradient)
 *   embeddings:    b·(src + tgt)·d
 * with d = d_model, a = heads·d_kv, f = d_ff, F = 4 gated / 2 not, V = vocab.
 * Per-block gradient checkpointing keeps only each block's input (b·src·d per encoder block, b·tgt·d per
 * decoder block) plus one block's full set while it is recomputed, and the head.
 */
export function activationFloats(s: T5Shape, b: number, src: number, tgt: number): { full: number; checkpointed: number } {
  const d = s.dModel;
  const a = s.numHeads * s.dKv;
  const F = s.gated ? 4 : 2;
  const enc = b * src * (4 * d + 4 * a + F * s.dFf) + 3 * b * s.numHeads * src * src;
  const dec = b * tgt * (6 * d + 6 * a + F * s.dFf) + 2 * b * src * a + 3 * b * s.numHeads * (tgt * tgt + tgt * src);
  const head = 3 * b * tgt * s.vocabSize;
  const emb = b * (src + tgt) * d;
  const full = s.numLayers * enc + s.numDecoderLayers * dec + head + emb;
  const checkpointed = s.numLayers * b * src * d + s.numDecoderLayers * b * tgt * d + Math.max(enc, dec) + head + emb;
  return { full, checkpointed };
}

/** Forward FLOPs of one example with `src` source and `tgt` target positions: 2·params·tokens per linear (+ the tied head) + attention matmuls. */
export function forwardFlops(s: T5Shape, src: number, tgt: number): number {
  let f = 0;
  for (const l of t5Linears(s)) f += 2 * l.inFeatures * l.outFeatures * (l.tokens === 'source' ? src : tgt);
  if (s.tied) f += 2 * s.dModel * s.vocabSize * tgt;
  const a = s.numHeads * s.dKv;
  f += s.numLayers * 4 * src * src * a + s.numDecoderLayers * 4 * a * (tgt * tgt + tgt * src);
  return f;
}

/** The encoder's share of {@link forwardFlops} for `src` source positions: its linears and self-attention (no decoder cross k, v). */
export function encoderFlops(s: T5Shape, src: number): number {
  let f = 0;
  for (const l of t5Linears(s)) if (l.path.startsWith('encoder.')) f += 2 * l.inFeatures * l.outFeatures * src;
  return f + s.numLayers * 4 * src * src * s.numHeads * s.dKv;
}

/** `generate`'s total length when --generation-max-length is not given: T5's generation config has none, so 20 new tokens + the start token. */
export const DEFAULT_GENERATION_MAX_LENGTH = 21;

/**
 * Upper bound on the FLOPs of `generate` for one example with `src` source positions, as --predict-with-generate
 * runs it (src/pipeline/generation-metrics.ts): one encoder pass ({@link encoderFlops}), then for each of
 * `beams` rows (the encoder state repeated per beam) the cross-attention k, v over the source once and
 * `maxLength` − 1 decoder steps with a KV cache — step t (1 … maxLength − 1) runs one token through
 * {@link forwardFlops}' per-target-token terms (the decoder's linears and the head) with self-attention over
 * the t cached positions and cross-attention over the source. Every row runs to `maxLength` (real rows stop at EOS).
 */
export function generationFlops(s: T5Shape, src: number, maxLength: number, beams: number): number {
  const a = s.numHeads * s.dKv;
  let perToken = s.tied ? 2 * s.dModel * s.vocabSize : 0;
  let crossKv = 0;
  for (const l of t5Linears(s)) {
    if (l.path.startsWith('encoder.')) continue;
    if (l.tokens === 'target') perToken += 2 * l.inFeatures * l.outFeatures;
    else crossKv += 2 * l.inFeatures * l.outFeatures * src;
  }
  const steps = maxLength - 1;
  // Σ_{t=1}^{steps} 4·a·(t + src) per decoder layer: q·Kᵀ and weights·V over t cached and src encoder positions.
  const attention = s.numDecoderLayers * 4 * a * ((steps * (steps + 1)) / 2 + steps * src);
  return encoderFlops(s, src) + beams * (crossKv + steps * perToken + attention);
}

/** Sustained TFLOP/s guessed per backend when --device-tflops is not given (rough; measure and pass your own). */
export const ASSUMED_TFLOPS: Record<BackendName, number> = {
  // Measured here (2 cores): tfjs cpu matMul ≈ 0.6 GFLOP/s; wasm (SIMD, one thread) 13–25 GFLOP/s
  // for untransposed matMuls (≈ 1.5 with a transposed operand), 7.9 for a whole head forward + backward.
  cpu: 0.0005,
  wasm: 0.006,
  // tfjs-backend-webgpu's stock f32 matMul on an H100: 2–16 TFLOP/s (../shared/device/README.md).
  webgpu: 5,
  // tfjs-node-gpu (CUDA 11, fp32 cuBLAS, no TF32 for tfjs): a guess.
  tensorflow: 20,
};

export interface PlanInput {
  config: T5ConfigJson;
  /** What the plan calls the model (a path, a hub id, "embedded demo"). */
  label: string;
  int8: Int8Mode;
  /** --int8-skip-modules: projections kept float32 under int8. */
  int8SkipModules?: readonly string[];
  r: number;
  loraAlpha: number;
  targetModules: readonly string[];
  /** --use-dora: a magnitude per output row on top of LoRA's parameters. */
  useDora?: boolean;
  /** --lora-dropout (default 0 here): with DoRA above 0, each adapted projection runs its base a second time in training. */
  loraDropout?: number;
  /** --optim (default adamw_torch): what the optimizer state costs. */
  optim?: Optim;
  batchSize: number;
  gradAccum: number;
  batchTokens?: number;
  /** --pad-to-multiple-of (default 1): batch lengths rounded up to a multiple of it (train and eval batches). */
  padToMultipleOf?: number;
  /** --prompt-template (default original): whose token lengths the time and eval estimates count ({@link dollyQuantiles}). */
  promptTemplate?: PromptTemplateName;
  maxSourceLength: number;
  maxTargetLength: number;
  epochs: number;
  /** Records used before the 80/20 split (default all of Dolly). */
  limit?: number;
  /** Records in the --data file when it is a local file (else Dolly 15K's count is assumed). */
  records?: number;
  maxSteps?: number;
  /** --eval-every N steps (default: each epoch end only). */
  evalEvery?: number;
  /** --eval-delay (default 0). */
  evalDelay?: number;
  /** --eval-on-start: the evaluation before training is the trainer's (it generates with --predict-with-generate). */
  evalOnStart?: boolean;
  /** --eval-order (default length). */
  evalOrder?: EvalOrder;
  /**
   * --load-best-model-at-end: when the best evaluation is not the last step's, the app evaluates the adapter it puts back
   * after training (src/training-args.ts `reusableFinalEval`) — which one is best is not known before the run.
   */
  loadBestModelAtEnd?: boolean;
  /**
   * The run resumes a checkpoint (--resume, and one under --out/checkpoints): no evaluation before training, neither the
   * app's nor, with --eval-on-start, the trainer's (it does not repeat it on a resume). --resume on an --out without a
   * checkpoint is a fresh run: false. With {@link PlanInput.resumeFrom} the plan also counts only what is left after it.
   */
  resume?: boolean;
  /**
   * Where a resumed run continues (the checkpoint's state, src/pipeline/resume-point.ts reads it): the plan's time and
   * evaluations count only what is left, as the trainer continues — from that epoch and batch, at the global step after it.
   * Implies `resume`.
   */
  resumeFrom?: ResumePoint;
  /** --gradient-checkpointing: activations of the checkpointed run, one more forward of compute. */
  gradientCheckpointing?: boolean;
  backend: BackendName;
  /** Bytes the device offers (undefined = unknown). */
  deviceMemoryBytes?: number;
  /** Where deviceMemoryBytes came from, for the printout ("free RAM", "--device-memory"). */
  deviceMemorySource?: string;
  deviceTflops?: number;
  /** --predict-with-generate: each evaluation also generates for every test example ({@link generationFlops}). */
  predictWithGenerate?: boolean;
  /** --generation-max-length (default {@link DEFAULT_GENERATION_MAX_LENGTH}): decoder tokens with the start token. */
  generationMaxLength?: number;
  /** --generation-num-beams (default 1: T5's generation config is greedy). */
  generationNumBeams?: number;
}

/**
 * What a run resumes from: @conifer/trainer's state in the checkpoint (`state.json`: `step`, `cursor`, `lastEvalStep`).
 * The trainer goes on at `step` + 1 with the batch at `position` (micro-batches into epoch `epoch`'s plan, from 0).
 */
export interface ResumePoint {
  /** Optimizer steps done (the folder is `checkpoint-<step>`). */
  step: number;
  /** The data cursor: the epoch (from 0) and the micro-batches of it done (the next epoch's 0 after an epoch's last step). */
  epoch: number;
  position: number;
  /** Whether the trainer evaluated at `step` (`lastEvalStep === step`): with no step left, train reuses that evaluation. */
  evaluated: boolean;
  /**
   * The run had stopped early (its state's evaluations without improvement reached this run's --early-stopping-patience,
   * on the same metric): the trainer takes no step, whatever the epochs left.
   */
  stoppedEarly?: boolean;
  /** The step of the checkpoint's best evaluation (`state.json`'s `best`, kept when the run tracked one). */
  bestStep?: number;
}

/** One optimizer step a run takes: its global number, its epoch (from 0) and whether it is that epoch's last. */
export interface PlannedStep {
  step: number;
  epoch: number;
  epochEnd: boolean;
}

export interface Plan {
  input: PlanInput;
  shape: T5Shape;
  params: ParameterCounts;
  int8: Exclude<Int8Mode, 'auto'>;
  float32Bytes: number;
  int8Bytes: number;
  /** The frozen weights as they will be held (int8Bytes unless int8 is off). */
  frozenBytes: number;
  /**
   * Extra copies @conifer/t5-model keeps so every matMul is untransposed (wasm's transposed matMul is ~10× slower):
   * the head as [d_model, vocab] beside the embedding, and (float32 linears only) W[out, in] beside W^T for the backward.
   */
  copiesBytes: number;
  lora: { params: number; modules: number; percent: number; /** weight + grad + optimizer state in float32 (+ DoRA's ‖W‖² rows): {@link loraBytes} */ bytes: number };
  split: { train: number; test: number };
  /** Worst-case micro-batch: rows × source × target (padded to the maxima). */
  microBatch: { rows: number; source: number; target: number };
  microBatchesPerEpoch: number;
  stepsPerEpoch: number;
  /** The run's optimizer steps; resumed: the checkpoint's + {@link Plan.stepsLeft}. */
  totalSteps: number;
  /** The steps this run takes: `totalSteps` when fresh, those after the checkpoint when resumed. */
  stepsLeft: number;
  activationBytes: number;
  activationBytesCheckpointed: number;
  totalBytes: number;
  totalBytesCheckpointed: number;
  fits?: boolean;
  fitsCheckpointed?: boolean;
  /** Mean real and padded tokens per example (Dolly's length distribution under the prompt template, truncated). */
  tokens: { source: number; target: number; paddedSource: number; paddedTarget: number };
  epochFlops: number;
  tflops: number;
  tflopsAssumed: boolean;
  epochSeconds: number;
  /** Training time of the {@link Plan.stepsLeft} steps. */
  totalSeconds: number;
  /** Evaluations on the test split this run makes: before training, at epoch ends / every --eval-every steps, after. */
  evals: {
    count: number;
    /** Examples per eval batch ({@link evalBatchSize}). */
    batchSize: number;
    paddedSource: number;
    paddedTarget: number;
    /** Forward FLOPs of one pass over the test split. */
    flopsEach: number;
    /**
     * With --predict-with-generate: the FLOPs of generating for the test split once (an upper bound: every row
     * runs to `maxLength`; {@link generationFlops}), on top of `flopsEach`. Absent without it.
     */
    generation?: { maxLength: number; beams: number; flopsEach: number; /** How many of the `count` evaluations generate (the trainer's). */ count: number };
    /** All evaluations: forward passes and, with --predict-with-generate, generation. */
    seconds: number;
    /**
     * With --load-best-model-at-end, when no evaluation after training is counted: one more (a forward pass, not in
     * `count` / `seconds`) if the best evaluation is not the last one — possible when the run can have an earlier one.
     */
    bestReload?: boolean;
  };
}

/** The eval batch size `train` uses: the training batch size, at least 8. */
export function evalBatchSize(batchSize: number): number {
  return Math.max(batchSize, 8);
}

/**
 * Mean padded tokens per example over real ones, for eval batches of `b` grouped by length
 * (the example's `evalBatches`): measured on Dolly's test split at 512 + 512 tokens, 1.11 at b = 8
 * and 1.19 at b = 16 (file order: 2.21 and 2.70); a line through the origin's 1 and both.
 */
export function lengthGroupedPadding(b: number): number {
  return 1 + 0.0125 * b;
}

/**
 * How many evaluations a run makes: steps with an eval (deduplicated, as the trainer does), the one before, the one after.
 * `evalDelay` (--eval-delay, transformers' eval_delay) drops the evaluations the trainer skips: in steps with
 * `evalEvery` (`eval_delay <= global_step`), else in epochs (`eval_delay <= epochs done`, at epoch ends).
 */
export function evalCount(totalSteps: number, stepsPerEpoch: number, evalEvery: number | undefined, resume: boolean, evalDelay = 0): number {
  const c = evalCounts(totalSteps, stepsPerEpoch, evalEvery, resume, evalDelay);
  return c.before + c.during + c.after;
}

/**
 * {@link evalCount}'s parts: the app's eval before training (not when resuming a checkpoint), the trainer's during training, the app's
 * after it (when the last step had none). Only the trainer's run `computeMetrics` — with --predict-with-generate, the
 * generation (and with --eval-on-start the one before is the trainer's step-0 evaluation: src/train.ts).
 */
export function evalCounts(totalSteps: number, stepsPerEpoch: number, evalEvery: number | undefined, resume: boolean, evalDelay = 0): { before: number; during: number; after: number } {
  const steps: PlannedStep[] = [];
  for (let s = 1; s <= totalSteps; s++) steps.push({ step: s, epoch: Math.ceil(s / stepsPerEpoch) - 1, epochEnd: s % stepsPerEpoch === 0 });
  return { before: resume ? 0 : 1, ...trainerEvals(steps, evalEvery, evalDelay, false) };
}

/**
 * The trainer's evaluations over `steps` (by global step: each --eval-every multiple and epoch end once, from --eval-delay
 * on: `eval_delay <= global_step` with `evalEvery`, else `eval_delay <= epochs done`), and the app's after training: none
 * when the last step evaluated — `evaluatedBefore` says whether the step before the first (a resumed checkpoint's) did,
 * for a run with no step left — else one.
 */
export function trainerEvals(steps: readonly PlannedStep[], evalEvery: number | undefined, evalDelay: number, evaluatedBefore: boolean): { during: number; after: number } {
  let n = 0;
  let lastCovered = evaluatedBefore;
  for (const { step, epoch, epochEnd } of steps) {
    lastCovered = false;
    if (!epochEnd && !(evalEvery && step % evalEvery === 0)) continue;
    if (evalEvery ? step < evalDelay : epoch + 1 < evalDelay) continue;
    n++;
    lastCovered = true;
  }
  // The last step's eval is reused after training; a run stopped between evals (or before the delay) makes one more.
  return { during: n, after: lastCovered ? 0 : 1 };
}

/**
 * The optimizer steps a run takes from `from` (a fresh run: step 0, epoch 0, position 0), as @conifer/trainer continues:
 * the rest of `from`'s epoch in windows of `gradAccum` micro-batches (a partial last window is a step), then whole epochs
 * up to `epochs`, each step numbered on from `from.step`, none once `maxSteps` is reached.
 */
export function stepsAfter(from: Omit<ResumePoint, 'evaluated'>, microBatchesPerEpoch: number, gradAccum: number, epochs: number, maxSteps = Infinity): PlannedStep[] {
  const out: PlannedStep[] = [];
  if (from.stoppedEarly === true) return out;
  let step = from.step;
  for (let epoch = from.epoch; epoch < epochs; epoch++) {
    const done = epoch === from.epoch ? from.position : 0;
    // a cursor inside an epoch has at least one batch left (the trainer moves it to the next epoch after the last),
    // also where the plan's micro-batches per epoch (an estimate under --batch-tokens or for hub data) are fewer
    const n = done > 0 ? Math.max(1, Math.ceil((microBatchesPerEpoch - done) / gradAccum)) : Math.ceil(microBatchesPerEpoch / gradAccum);
    for (let i = 1; i <= n; i++) {
      if (step >= maxSteps) return out;
      out.push({ step: ++step, epoch, epochEnd: i === n });
    }
  }
  return out;
}

export function makePlan(input: PlanInput): Plan {
  const shape = t5Shape(input.config);
  const params = countParameters(shape);
  const int8 = resolveInt8(input.int8, params.total);
  const float32Bytes = weightBytes(shape, false);
  const int8Bytes = weightBytes(shape, true, input.int8SkipModules);
  const frozenBytes = int8 === 'off' ? float32Bytes : int8Bytes;
  const copiesBytes = 4 * shape.vocabSize * shape.dModel + (int8 === 'off' ? 4 * params.linear : 0);
  const useDora = input.useDora === true;
  const l = loraParameters(shape, input.r, input.targetModules, useDora);
  // As PEFT's print_trainable_parameters: a share of all parameters, the adapters included.
  const lora = { params: l.params, modules: l.modules, percent: (100 * l.params) / (params.total + l.params), bytes: loraBytes(l, input.r, input.optim ?? 'adamw_torch', useDora) };

  const available = input.records ?? DOLLY_RECORDS;
  const records = Math.min(input.limit ?? available, available);
  // datasets' train_test_split(test_size=0.2): n_test = ceil(0.2·n).
  const test = Math.ceil(0.2 * records);
  const split = { train: records - test, test };

  // --pad-to-multiple-of: the longest batch pads to the rounded maxima; a batch's padded length gains (m − 1) / 2
  // tokens on average over rounding to its longest row (its length mod m taken as uniform), up to the rounded maximum.
  const m = input.padToMultipleOf ?? 1;
  const S = roundUp(input.maxSourceLength, m);
  const T = roundUp(input.maxTargetLength, m);
  const rounded = (x: number, max: number) => (m === 1 ? x : Math.min(x + (m - 1) / 2, max));
  const rows = input.batchTokens !== undefined ? Math.max(1, Math.floor(input.batchTokens / (S + T))) : input.batchSize;
  const act0 = activationFloats(shape, rows, S, T);
  const doraAct = doraSecondPass(shape, input).floats(rows, S, T);
  const act = { full: act0.full + doraAct, checkpointed: act0.checkpointed };

  // Dolly's lengths as train encodes them under --prompt-template (dolly / alpaca: ≈ 29 / 32 more source tokens at 512)
  const q = dollyQuantiles(input.promptTemplate);
  const source = meanTruncated(q.prompt, input.maxSourceLength);
  const target = meanTruncated(q.response, input.maxTargetLength);
  // Random batches pad to their longest example; token-budget buckets group similar lengths (≈ 5 % padding).
  const bucketed = input.batchTokens !== undefined;
  const paddedSource = rounded(bucketed ? 1.05 * source : meanPaddedLength(q.prompt, input.maxSourceLength, input.batchSize), S);
  const paddedTarget = rounded(bucketed ? 1.05 * target : meanPaddedLength(q.response, input.maxTargetLength, input.batchSize), T);
  const microBatchesPerEpoch = bucketed
    ? Math.ceil((split.train * (paddedSource + paddedTarget)) / input.batchTokens!)
    : Math.ceil(split.train / input.batchSize);
  const stepsPerEpoch = Math.ceil(microBatchesPerEpoch / input.gradAccum);
  // A resumed run goes on from the checkpoint's epoch and batch, at its step + 1 (its evaluations are by global step).
  const from = input.resumeFrom;
  const steps = stepsAfter(from ?? { step: 0, epoch: 0, position: 0 }, microBatchesPerEpoch, input.gradAccum, input.epochs, input.maxSteps);
  const stepsLeft = steps.length;
  const totalSteps = (from?.step ?? 0) + stepsLeft;

  // Training ≈ 2 × forward: the frozen weights need only input gradients (as costly as the forward);
  // LoRA's own matmuls are negligible. Per-block checkpointing adds one more forward. DoRA with dropout
  // runs each adapted base again on the dropped-out input (PEFT's DoRA does too): its forward and input
  // gradient, and one more [tokens, out] activation per adapted projection.
  const passes = input.gradientCheckpointing ? 3 : 2;
  const dora = doraSecondPass(shape, input);
  const epochFlops = passes * split.train * (forwardFlops(shape, paddedSource, paddedTarget) + dora.flops(paddedSource, paddedTarget));
  const tflops = input.deviceTflops ?? ASSUMED_TFLOPS[input.backend];
  const epochSeconds = epochFlops / (tflops * 1e12);
  const totalSeconds = epochSeconds * (stepsLeft / (stepsPerEpoch * input.epochs)) * input.epochs;

  const evalB = evalBatchSize(input.batchSize);
  const evalPad = lengthGroupedPadding(evalB);
  const grouped = (input.evalOrder ?? 'length') === 'length';
  // File order pads to the longest of evalB examples; grouped by length, to ≈ evalPad × the real length (never more).
  const evalPadded = (quantiles: readonly number[], real: number, max: number) => {
    const fileOrder = meanPaddedLength(quantiles, max, evalB);
    return grouped ? Math.min(evalPad * real, fileOrder) : fileOrder;
  };
  const evalSource = rounded(evalPadded(q.prompt, source, input.maxSourceLength), S);
  const evalTarget = rounded(evalPadded(q.response, target, input.maxTargetLength), T);
  const evalFlops = split.test * forwardFlops(shape, evalSource, evalTarget);
  // Fresh: the app's eval before training (the trainer's with --eval-on-start). Resumed: none — the trainer's eval-on-start
  // only at step 0, once (a checkpoint-0 written before it, by an interrupt, still makes it).
  const resumed = input.resume === true || from !== undefined;
  const before = !resumed ? 1 : input.evalOnStart === true && from?.step === 0 && !from.evaluated ? 1 : 0;
  const counts = stepsLeft > 0 || from !== undefined ? { before, ...trainerEvals(steps, input.evalEvery, input.evalDelay ?? 0, from?.evaluated ?? false) } : { before: 0, during: 0, after: 0 };
  const nEvals = counts.before + counts.during + counts.after;
  const evals: Plan['evals'] = { count: nEvals, batchSize: evalB, paddedSource: evalSource, paddedTarget: evalTarget, flopsEach: evalFlops, seconds: (nEvals * evalFlops) / (tflops * 1e12) };
  // the best is chosen among the trainer's evaluations during training (not --eval-on-start's): a fresh run needs two of
  // them for an earlier best; a resumed run's checkpoint may hold one (with no step left: whether it is the last step's)
  const earlierBest = !resumed
    ? counts.during >= 2
    : from === undefined
      ? counts.during >= 1
      : counts.during === 0
        ? from.bestStep !== undefined && from.bestStep !== from.step
        : from.bestStep !== undefined || counts.during >= 2;
  if (input.loadBestModelAtEnd === true && counts.after === 0 && earlierBest) evals.bestReload = true;
  if (input.predictWithGenerate === true) {
    // generate takes the same eval batches: their padded source, every row up to maxLength − 1 new tokens per beam.
    const maxLength = input.generationMaxLength ?? DEFAULT_GENERATION_MAX_LENGTH;
    const beams = input.generationNumBeams ?? 1;
    // only the trainer's evaluations generate: not the app's loss before training (unless --eval-on-start makes it the
    // trainer's) nor its loss after it
    const count = counts.during + (input.evalOnStart === true ? counts.before : 0);
    const generation = { maxLength, beams, flopsEach: split.test * generationFlops(shape, evalSource, maxLength, beams), count };
    evals.generation = generation;
    evals.seconds = (nEvals * evalFlops + count * generation.flopsEach) / (tflops * 1e12);
  }

  const activationBytes = 4 * act.full;
  const activationBytesCheckpointed = 4 * act.checkpointed;
  const totalBytes = frozenBytes + copiesBytes + lora.bytes + activationBytes;
  const totalBytesCheckpointed = frozenBytes + copiesBytes + lora.bytes + activationBytesCheckpointed;
  const mem = input.deviceMemoryBytes;
  return {
    input,
    shape,
    params,
    int8,
    float32Bytes,
    int8Bytes,
    frozenBytes,
    copiesBytes,
    lora,
    split,
    microBatch: { rows, source: S, target: T },
    microBatchesPerEpoch,
    stepsPerEpoch,
    totalSteps,
    stepsLeft,
    activationBytes,
    activationBytesCheckpointed,
    totalBytes,
    totalBytesCheckpointed,
    fits: mem === undefined ? undefined : totalBytes <= mem,
    fitsCheckpointed: mem === undefined ? undefined : totalBytesCheckpointed <= mem,
    tokens: { source, target, paddedSource, paddedTarget },
    epochFlops,
    tflops,
    tflopsAssumed: input.deviceTflops === undefined,
    epochSeconds,
    totalSeconds,
    evals,
  };
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const gb = (bytes: number) => `${(bytes / 1e9).toFixed(bytes < 1e9 ? 3 : 2)} GB`;
function billions(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} B` : `${(n / 1e6).toFixed(2)} M`;
}
function duration(s: number): string {
  if (s < 120) return `${s.toFixed(0)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
function flops(f: number): string {
  return f >= 1e15 ? `${(f / 1e15).toFixed(2)} PFLOP` : `${(f / 1e12).toFixed(2)} TFLOP`;
}

/** One evaluation's FLOPs as printed: the forward pass, and with --predict-with-generate its generation's upper bound. */
function evalEach(e: Plan['evals']): string {
  const g = e.generation;
  if (g === undefined) return flops(e.flopsEach);
  const tokens = g.maxLength - 1;
  const which = g.count === e.count ? '' : `, in ${g.count} of them`;
  return `(${flops(e.flopsEach)} + generation ≤ ${flops(g.flopsEach)}${which}: up to ${tokens} ${tokens === 1 ? 'token' : 'tokens'} × ${g.beams} ${g.beams === 1 ? 'beam' : 'beams'}, rows stop at EOS)`;
}

/** A resumed run's line: the checkpoint, where its data continues, and the steps left (the time and evals lines count those). */
function resumeLine(p: Plan): string[] {
  const r = p.input.resumeFrom;
  if (r === undefined) return [];
  const epochs = p.input.epochs;
  const at =
    r.stoppedEarly === true
      ? 'it had stopped early: no step is taken'
      : r.epoch >= epochs
      ? `${epochs === 1 ? 'the epoch' : `all ${epochs} epochs`} done`
      : r.position === 0
        ? `at the start of epoch ${r.epoch + 1} of ${epochs}`
        : `${int(r.position)} ${r.position === 1 ? 'micro-batch' : 'micro-batches'} into epoch ${r.epoch + 1} of ${epochs}`;
  return [`  resume       resuming checkpoint-${r.step} (${at}): ${int(p.stepsLeft)} of ${int(p.totalSteps)} ${p.totalSteps === 1 ? 'step' : 'steps'} left; the time and evals below count those`];
}

/** The plan as the CLI prints it (GB = 10⁹ bytes). */
export function formatPlan(p: Plan): string {
  const s = p.shape;
  const i = p.input;
  const c = p.params;
  const head = s.tied ? 'tied embedding/head' : 'untied lm_head';
  const batches =
    i.batchTokens !== undefined
      ? `token-budget micro-batches of ≤ ${int(i.batchTokens)} padded tokens (worst case ${p.microBatch.rows} × (${p.microBatch.source} + ${p.microBatch.target}))`
      : `${i.batchSize} × grad-accum ${i.gradAccum} (effective ${i.batchSize * i.gradAccum})`;
  const memLine = () => {
    const ckpt = i.gradientCheckpointing === true;
    const [total, activations] = ckpt ? [p.totalBytesCheckpointed, p.activationBytesCheckpointed] : [p.totalBytes, p.activationBytes];
    const parts = `${gb(p.frozenBytes)} weights (${p.int8 === 'off' ? 'float32' : `int8 ${p.int8}`}) + ${gb(p.copiesBytes)} transposed copies + ${gb(p.lora.bytes)} LoRA + ${gb(activations)} activations${ckpt ? ' (checkpointed)' : ''}`;
    if (i.deviceMemoryBytes === undefined) {
      return [`  memory       ${gb(total)} = ${parts}`, `               device memory unknown: pass --device-memory GB to check the fit`];
    }
    const verdict = (ckpt ? p.fitsCheckpointed : p.fits)
      ? 'fits'
      : !ckpt && p.fitsCheckpointed
        ? `does NOT fit without checkpointing; fits with --gradient-checkpointing (${gb(p.totalBytesCheckpointed)})`
        : 'does NOT fit (lower --max-*-length / --batch-size, or use int8)';
    return [`  memory       ${gb(total)} = ${parts}`, `               device ${gb(i.deviceMemoryBytes)} (${i.deviceMemorySource ?? '--device-memory'}): ${verdict}`];
  };
  return [
    `Plan: ${i.label}`,
    `  model        T5 ${s.gated ? 'gated' : 'plain'} FF, d_model ${s.dModel}, ${s.numHeads} heads × d_kv ${s.dKv}, d_ff ${s.dFf}, ${s.numLayers} + ${s.numDecoderLayers} layers, vocab ${s.vocabSize}, ${head}`,
    `  parameters   ${int(c.total)} (${billions(c.total)}): linears ${int(c.linear)}, embedding ${int(c.embedding)}${c.lmHead ? `, lm_head ${int(c.lmHead)}` : ''}, norms ${int(c.norms)}, relative bias ${int(c.relativeBias)}`,
    `  weights      float32 ${gb(p.float32Bytes)}; int8 ${gb(p.int8Bytes)} (linears 1 byte/weight + a float32 scale per output row; ${i.int8SkipModules?.length ? `${i.int8SkipModules.join(', ')} (--int8-skip-modules), ` : ''}embedding${c.lmHead ? ', lm_head' : ''}, norms, biases float32)`,
    `  int8         ${i.int8 === 'auto' ? `auto → ${p.int8}` : p.int8}`,
    `  LoRA         ${i.useDora ? 'DoRA, ' : ''}r ${i.r}, alpha ${i.loraAlpha}, on ${i.targetModules.join(',')} (${p.lora.modules} modules): ${int(p.lora.params)} trainable parameters (${p.lora.percent.toFixed(3)} %), ${gb(p.lora.bytes)} with gradients and ${i.optim === 'adafactor' ? 'Adafactor' : 'Adam'} state`,
    `  data         ${int(p.split.train)} train / ${int(p.split.test)} test examples (80/20 of ${int(p.split.train + p.split.test)}${i.records === undefined ? ', Dolly 15K assumed' : ''}); ${(i.promptTemplate ?? 'original') === 'original' ? '' : `prompt template ${i.promptTemplate}; `}source ≤ ${i.maxSourceLength}, target ≤ ${i.maxTargetLength} tokens`,
    `  batches      ${batches}${(i.padToMultipleOf ?? 1) > 1 ? `, lengths padded to multiples of ${i.padToMultipleOf}` : ''}: ${int(p.microBatchesPerEpoch)} micro-batches = ${int(p.stepsPerEpoch)} optimizer steps per epoch; ${int(p.totalSteps)} ${p.totalSteps === 1 ? 'step' : 'steps'} in all`,
    ...resumeLine(p),
    `  activations  ${gb(p.activationBytes)} for the worst micro-batch ${p.microBatch.rows} × (${p.microBatch.source} + ${p.microBatch.target}) (${gb(p.activationBytesCheckpointed)} with per-block checkpointing)`,
    ...memLine(),
    `  time         ${flops(p.epochFlops)} per epoch (mean ${p.tokens.source.toFixed(0)} + ${p.tokens.target.toFixed(0)} real tokens/example, ${p.tokens.paddedSource.toFixed(0)} + ${p.tokens.paddedTarget.toFixed(0)} padded): ${duration(p.epochSeconds)}/epoch, ${duration(p.totalSeconds)} ${p.input.resumeFrom ? 'left' : 'in all'} at ${p.tflopsAssumed ? 'an assumed ' : ''}${p.tflops} TFLOP/s (${i.backend})`,
    `  evals        ${p.evals.count} × ${evalEach(p.evals)} (${int(p.split.test)} test examples in batches of ${p.evals.batchSize}, ${i.evalOrder ?? 'length'} order, ${p.evals.paddedSource.toFixed(0)} + ${p.evals.paddedTarget.toFixed(0)} padded tokens/example): ${duration(p.evals.seconds)}; with training ${duration(p.totalSeconds + p.evals.seconds)}${p.evals.bestReload ? `; one more after training when --load-best-model-at-end puts back an earlier step's adapter` : ''}`,
  ].join('\n');
}
