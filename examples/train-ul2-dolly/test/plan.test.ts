import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isSkippedModule, skipModules } from '@conifer/int8';
import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../src/args.js';
import { DEMO_CONFIG } from '../src/demo-config.js';
import { DOLLY_PROMPT_QUANTILES, dollyQuantiles, meanPaddedLength, meanTruncated } from '../src/dolly-lengths.js';
import type { PromptTemplateName } from '../src/options.js';
import {
  activationFloats,
  countParameters,
  encoderFlops,
  evalCount,
  formatPlan,
  forwardFlops,
  generationFlops,
  loraBytes,
  loraParameters,
  makePlan,
  resolveInt8,
  t5Linears,
  weightBytes,
  type PlanInput,
} from '../src/plan.js';
import { t5Shape, type T5ConfigJson } from '../src/t5-config.js';
import { trainPlan } from '../src/train.js';

const flanUl2 = JSON.parse(readFileSync(join(__dirname, 'fixtures/flan-ul2/config.json'), 'utf8')) as T5ConfigJson;

const ORIGINAL: Omit<PlanInput, 'config' | 'label'> = {
  int8: 'auto', r: 8, loraAlpha: 32, targetModules: ['q', 'v'], batchSize: 1, gradAccum: 8,
  maxSourceLength: 512, maxTargetLength: 512, epochs: 3, backend: 'webgpu', deviceMemoryBytes: 40e9,
};

describe('Flan-UL2 (golden config)', () => {
  const s = t5Shape(flanUl2);
  const c = countParameters(s);

  it('19.46 B parameters (±0.1 %), counted by hand', () => {
    expect(Math.abs(c.total / 19.46e9 - 1)).toBeLessThan(1e-3);
    // d = a = 4096, f = 16384: encoder block 4·d·a + 3·d·f = 268,435,456; decoder block 8·d·a + 3·d·f = 335,544,320.
    expect(c.linear).toBe(32 * 268_435_456 + 32 * 335_544_320);
    expect(c.embedding).toBe(32128 * 4096); // tied: no lm_head (tie_word_embeddings absent → true)
    expect(c.lmHead).toBe(0);
    expect(c.norms).toBe((2 * 32 + 3 * 32 + 2) * 4096);
    expect(c.relativeBias).toBe(2 * 32 * 16);
    expect(c.total).toBe(19_459_613_696);
  });

  it('exactly 12,582,912 LoRA parameters with r 8 on q,v', () => {
    // q and v of 32 encoder self-attentions and 32 + 32 decoder self/cross attentions: 192 × 8·(4096 + 4096).
    expect(loraParameters(s, 8, ['q', 'v'])).toEqual({ params: 12_582_912, modules: 192, rows: 192 * 4096, columns: 192 * 4096 });
  });

  it('DoRA adds a magnitude per output row: 12,582,912 + 192 × 4096 = 13,369,344', () => {
    expect(loraParameters(s, 8, ['q', 'v'], true).params).toBe(13_369_344);
    // wi_0 [4096 → 16384] and wo [16384 → 4096] of 64 blocks: rows 64·(16384 + 4096)
    const ff = loraParameters(s, 8, ['wi_0', 'wo'], true);
    expect(ff).toEqual({ params: 64 * 8 * 2 * (4096 + 16384) + 64 * (16384 + 4096), modules: 128, rows: 64 * (16384 + 4096), columns: 64 * (4096 + 16384) });
  });

  it('adapter bytes: weights + gradients + AdamW m, v (16 B/parameter) or Adafactor rows + columns; DoRA keeps ‖W‖² rows', () => {
    const l = loraParameters(s, 8, ['q', 'v']);
    expect(loraBytes(l, 8, 'adamw_torch', false)).toBe(16 * 12_582_912);
    // Adafactor (no beta1): A [8, 4096] → 8 + 4096, B [4096, 8] → 4096 + 8, per module
    expect(loraBytes(l, 8, 'adafactor', false)).toBe(8 * 12_582_912 + 4 * 192 * (2 * 8 + 2 * 4096));
    const d = loraParameters(s, 8, ['q', 'v'], true);
    // + the magnitude's full second moment [4096] and the cached ‖W‖² [4096] per module
    expect(loraBytes(d, 8, 'adafactor', true)).toBe(8 * 13_369_344 + 4 * 192 * (2 * 8 + 2 * 4096 + 4096) + 4 * 192 * 4096);
    expect(loraBytes(d, 8, 'adamw_torch', true)).toBe(16 * 13_369_344 + 4 * 192 * 4096);
  });

  it('int8 bytes: linears 1 byte/weight + 4 per output row; the rest float32', () => {
    const rows = 32 * (4 * 4096 + 2 * 16384 + 4096) + 32 * (8 * 4096 + 2 * 16384 + 4096);
    expect(weightBytes(s, true)).toBe(c.linear + 4 * rows + 4 * (c.embedding + c.norms + c.relativeBias));
    expect(weightBytes(s, false)).toBe(4 * c.total);
    expect(resolveInt8('auto', c.total)).toBe('weight-only');
  });

  it('the plan with the original settings', () => {
    const p = makePlan({ ...ORIGINAL, config: flanUl2, label: 'flan-ul2' });
    expect(p.int8).toBe('weight-only');
    expect(p.split).toEqual({ train: 12_008, test: 3_003 });
    expect(p.stepsPerEpoch).toBe(1_501);
    expect(p.totalSteps).toBe(4_503);
    expect(p.lora.bytes).toBe(16 * 12_582_912);
    expect(p.copiesBytes).toBe(4 * 32128 * 4096); // the head as [d_model, vocab]; int8 linears keep no float copy
    expect(p.totalBytes).toBe(p.frozenBytes + p.copiesBytes + p.lora.bytes + p.activationBytes);
    // 40 GB (half an A100, the original's card): only with per-block checkpointing.
    expect(p.fits).toBe(false);
    expect(p.fitsCheckpointed).toBe(true);
    expect(formatPlan(p)).toContain('does NOT fit without checkpointing; fits with --gradient-checkpointing (21.70 GB)');
    expect(formatPlan(p)).toContain('19,459,613,696 (19.46 B)');
    // With --gradient-checkpointing: the checkpointed total fits, one more forward of compute.
    const q = makePlan({ ...ORIGINAL, config: flanUl2, label: 'flan-ul2', gradientCheckpointing: true });
    expect(formatPlan(q)).toMatch(/memory {7}21\.70 GB = .* activations \(checkpointed\)\n.*: fits$/m);
    expect(q.epochFlops / p.epochFlops).toBeCloseTo(1.5, 10);
  });

  it('DoRA with dropout: a second pass of the adapted bases (q, v: 96 source + 96 target projections of 4096²), its activations kept', () => {
    const p = makePlan({ ...ORIGINAL, config: flanUl2, label: 'flan-ul2' });
    const d = makePlan({ ...ORIGINAL, config: flanUl2, label: 'flan-ul2', useDora: true, loraDropout: 0.1 });
    const src = p.tokens.paddedSource;
    const tgt = p.tokens.paddedTarget;
    // per example: 2 · 4096² per token of each of the 192 adapted projections, times the training passes (2)
    expect(d.epochFlops - p.epochFlops).toBeCloseTo(2 * 12_008 * 2 * 4096 * 4096 * (96 * src + 96 * tgt), -6);
    // the worst micro-batch 1 × (512 + 512): one [tokens, 4096] output per adapted projection
    expect(d.activationBytes - p.activationBytes).toBe(4 * 4096 * (96 * 512 + 96 * 512));
    expect(d.activationBytesCheckpointed).toBe(p.activationBytesCheckpointed);
    // without dropout the base result is reused (no second pass); without DoRA nothing changes
    const noDropout = makePlan({ ...ORIGINAL, config: flanUl2, label: 'flan-ul2', useDora: true, loraDropout: 0 });
    expect([noDropout.epochFlops, noDropout.activationBytes]).toEqual([p.epochFlops, p.activationBytes]);
    const lora = makePlan({ ...ORIGINAL, config: flanUl2, label: 'flan-ul2', useDora: false, loraDropout: 0.1 });
    expect([lora.epochFlops, lora.activationBytes]).toEqual([p.epochFlops, p.activationBytes]);
    expect(d.lora.params).toBe(13_369_344);
  });

  it("--int8-skip-modules wo: the 64 wo projections float32, as transformers loads a T5 in 8 bit", () => {
    const wo = 64 * 16384 * 4096;
    expect(weightBytes(s, true, ['wo']) - weightBytes(s, true)).toBe(4 * wo - (wo + 4 * 64 * 4096));
    const p = makePlan({ ...ORIGINAL, config: flanUl2, label: 'flan-ul2', int8SkipModules: ['wo'] });
    expect(formatPlan(p)).toContain('int8 32.76 GB (linears 1 byte/weight + a float32 scale per output row; wo (--int8-skip-modules), embedding, norms, biases float32)');
  });

  it('--int8-skip-modules module paths keep whole subtrees float32, as @conifer/int8 skipModules (transformers should_convert_module)', () => {
    // Hand count: int8 = 4·(embedding 131,596,288 + norms 663,552 + relative bias 1,024) + 19,327,352,832 weights
    // + 4 × 3,932,160 output rows (encoder block 4·4096 + 2·16384 + 4096 = 53,248 rows, decoder block 69,632, 32 of each).
    expect(weightBytes(s, true)).toBe(19_872_124_928);
    // encoder: its 32 blocks float32, 3 more bytes per weight less the row scales: 32 × (3·268,435,456 − 4·53,248)
    expect(weightBytes(s, true, ['encoder'])).toBe(19_872_124_928 + 25_762_988_032);
    // decoder.block.1: that block alone (3·335,544,320 − 4·69,632), not decoder.block.10 … 19
    expect(weightBytes(s, true, ['decoder.block.1'])).toBe(19_872_124_928 + 1_006_354_432);
    // one projection by its path: 3·16384·4096 − 4·4096
    expect(weightBytes(s, true, ['decoder.block.0.layer.2.DenseReluDense.wo'])).toBe(19_872_124_928 + 201_310_208);
    // a subtree and a leaf name inside it count once
    expect(weightBytes(s, true, ['encoder', 'wo'])).toBe(19_872_124_928 + 25_762_988_032 + 32 * 201_310_208);
    expect(weightBytes(s, false, ['encoder'])).toBe(4 * c.total); // float32 weights: nothing to skip
    const p = makePlan({ ...ORIGINAL, config: flanUl2, label: 'flan-ul2', int8SkipModules: ['encoder'] });
    expect(p.int8Bytes).toBe(45_635_112_960);
    expect(formatPlan(p)).toContain('int8 45.64 GB (linears 1 byte/weight + a float32 scale per output row; encoder (--int8-skip-modules), embedding, norms, biases float32)');
  });

  it('weightBytes keeps float32 what @conifer/int8 skipModules keeps, for leaf names, paths and subtrees', () => {
    const u = t5Shape({ ...flanUl2, num_layers: 12, num_decoder_layers: 12, tie_word_embeddings: false }); // blocks 10, 11 next to 1; an lm_head
    const names = [['encoder'], ['decoder.block.1'], ['wo'], ['decoder.block.0.layer.1.EncDecAttention'], ['DenseReluDense'], ['block.0'], ['encoder.block.11.layer.0.SelfAttention.q'], ['q', 'decoder']];
    let skipped = 0;
    for (const n of names) {
      const quantize = skipModules(n);
      let extra = 0; // float32 bytes a skipped projection holds over its int8 form
      for (const l of t5Linears(u).filter((x) => x.name !== 'lm_head')) {
        const spec = { path: l.path, inFeatures: l.inFeatures, outFeatures: l.outFeatures, weight: {} as never };
        expect(isSkippedModule(l.path, n), `${n.join(',')} on ${l.path}`).toBe(!quantize(spec));
        if (!quantize(spec)) {
          skipped++;
          extra += 3 * l.inFeatures * l.outFeatures - 4 * l.outFeatures;
        }
      }
      expect(weightBytes(u, true, n) - weightBytes(u, true), n.join(',')).toBe(extra);
    }
    // encoder 12 × 7 + decoder.block.1's 11 + 24 wo + one cross-attention's 4 + DenseReluDense 0 (a middle segment, as 5.x)
    // + block.0 0 (not a path prefix) + 1 + (encoder's 12 q + the decoder's 12 × 11)
    expect(skipped).toBe(84 + 11 + 24 + 4 + 0 + 0 + 1 + (12 + 132));
  });

  it('an untied config adds lm_head (kept float32)', () => {
    const u = t5Shape({ ...flanUl2, tie_word_embeddings: false });
    expect(countParameters(u).total - c.total).toBe(32128 * 4096);
    expect(weightBytes(u, true) - weightBytes(s, true)).toBe(4 * 32128 * 4096);
    expect(t5Linears(u).at(-1)).toMatchObject({ path: 'lm_head', tokens: 'target' });
  });
});

describe('the embedded demo config', () => {
  const s = t5Shape(DEMO_CONFIG);
  it('counts', () => {
    const c = countParameters(s);
    // d = a = 256, f = 512: encoder block 4·65,536 + 3·131,072 = 655,360; decoder block 917,504.
    expect(c.linear).toBe(4 * 655_360 + 4 * 917_504);
    expect(c.embedding).toBe(8_224_768);
    expect(c.total).toBe(14_522_368);
    expect(loraParameters(s, 8, ['q', 'v'])).toMatchObject({ params: 98_304, modules: 24 });
    expect(resolveInt8('auto', c.total)).toBe('off');
  });
});

describe('pieces', () => {
  it('relu config: one wi; defaults num_decoder_layers = num_layers', () => {
    const s = t5Shape({ d_model: 8, d_kv: 2, d_ff: 16, num_layers: 2, num_heads: 4, vocab_size: 10 });
    expect(s).toMatchObject({ numDecoderLayers: 2, numBuckets: 32, gated: false, tied: true });
    expect(t5Linears(s).map((l) => l.path).slice(0, 6)).toEqual([
      'encoder.block.0.layer.0.SelfAttention.q', 'encoder.block.0.layer.0.SelfAttention.k', 'encoder.block.0.layer.0.SelfAttention.v',
      'encoder.block.0.layer.0.SelfAttention.o', 'encoder.block.0.layer.1.DenseReluDense.wi', 'encoder.block.0.layer.1.DenseReluDense.wo',
    ]);
  });

  it('activation formula on a hand case', () => {
    // d = 8, a = 8, f = 16 (plain, F = 2), h = 4, V = 10, one layer each side, b = 1, src = 2, tgt = 3:
    // enc 2·(32 + 32 + 32) + 3·4·4 = 240; dec 3·(48 + 48 + 32) + 2·2·8 + 3·4·(9 + 6) = 596; head 3·3·10 = 90; emb 5·8 = 40.
    const s = t5Shape({ d_model: 8, d_kv: 2, d_ff: 16, num_layers: 1, num_heads: 4, vocab_size: 10 });
    const a = activationFloats(s, 1, 2, 3);
    expect(a.full).toBe(240 + 596 + 90 + 40);
    // checkpointed: block inputs 2·8 + 3·8 = 40, one block 596, head 90, emb 40.
    expect(a.checkpointed).toBe(40 + 596 + 90 + 40);
  });

  it('a bad config names the key', () => {
    expect(() => t5Shape({ ...flanUl2, d_model: '4096' })).toThrow(/"d_model" must be a positive integer/);
  });

  it('Dolly lengths', () => {
    expect(meanTruncated([1, 10, 100], 50)).toBeCloseTo(61 / 3);
    // max of 2 draws from {1, 3}: 1 w.p. 1/4, 3 w.p. 3/4.
    expect(meanPaddedLength([1, 3], 100, 2)).toBeCloseTo(2.5);
  });
});

describe('evaluations in the plan', () => {
  it('counts the evals the trainer and train make: before, epoch ends and --eval-every steps without repeats, and one after a run that stopped between evals', () => {
    // 3 epochs of 10 steps: before + 3 epoch ends (the last one reused after training)
    expect(evalCount(30, 10, undefined, false)).toBe(4);
    expect(evalCount(30, 10, undefined, true)).toBe(3); // --resume: no eval before
    // --eval-every 4: steps 4, 8, …, 28 (7) + epoch ends 10, 20, 30 (3), step 20 counted once, + before
    expect(evalCount(30, 10, 4, false)).toBe(1 + 7 + 3 - 1);
    // --max-steps 25 inside epoch 3: epoch ends 10, 20 + the after-training eval at step 25 + before
    expect(evalCount(25, 10, undefined, false)).toBe(4);
    expect(evalCount(25, 10, 5, false)).toBe(1 + 5 + 2 - 2); // 5, 10, 15, 20, 25 cover the epoch ends and the last step
  });

  it('--eval-delay drops the evaluations the trainer skips: steps with --eval-every, else epochs', () => {
    // transformers' eval_delay, "steps": evaluate at step s when eval_delay <= s. --eval-every 4, delay 12: 12, 16, 20 (epoch end), 24, 28, 30 (epoch end) + before
    expect(evalCount(30, 10, 4, false, 12)).toBe(1 + 6);
    expect(evalCount(30, 10, 4, false, 11.5)).toBe(1 + 6); // a float delay, as HF's eval_delay
    expect(evalCount(30, 10, 4, false, 0)).toBe(evalCount(30, 10, 4, false));
    // "epoch": the end of epoch k (from 1) evaluates when eval_delay <= k. Delay 2: epoch ends 2, 3 + before
    expect(evalCount(30, 10, undefined, false, 2)).toBe(1 + 2);
    // delay past the run: no eval inside train(), so the one after training is made: before + after
    expect(evalCount(30, 10, undefined, false, 4)).toBe(2);
    expect(evalCount(30, 10, 4, true, 31)).toBe(1); // --resume: no eval before
  });

  it('Flan-UL2, original settings: length-grouped eval batches cost a third of file-order ones, and the time line adds them', () => {
    const length = makePlan({ ...ORIGINAL, config: flanUl2, label: 'flan-ul2', deviceTflops: 100 });
    const file = makePlan({ ...ORIGINAL, config: flanUl2, label: 'flan-ul2', deviceTflops: 100, evalOrder: 'file' });
    expect(length.evals.count).toBe(4);
    expect(length.evals.batchSize).toBe(8); // train evaluates in batches of max(batch size, 8)
    // file order pads to the longest of 8 random examples; grouped by length ≈ 1.1 × the real tokens
    expect(file.evals.paddedSource).toBeCloseTo(meanPaddedLength(DOLLY_PROMPT_QUANTILES, 512, 8), 10);
    expect(length.evals.paddedSource).toBeCloseTo(1.1 * length.tokens.source, 10);
    expect(length.evals.flopsEach / file.evals.flopsEach).toBeGreaterThan(0.25);
    expect(length.evals.flopsEach / file.evals.flopsEach).toBeLessThan(0.4);
    expect(length.evals.seconds).toBeCloseTo((4 * length.evals.flopsEach) / 100e12, 6);
    const text = formatPlan(length);
    expect(text).toMatch(/\n {2}evals {8}4 × \d+\.\d\d PFLOP \(3,003 test examples in batches of 8, length order, \d+ \+ \d+ padded tokens\/example\): [\d.]+ min; with training [\d.]+ min$/);
    const [, train, withEvals] = /([\d.]+) min in all[\s\S]*with training ([\d.]+) min/.exec(text)!.map(Number) as [number, number, number];
    expect(withEvals - train).toBeCloseTo(length.evals.seconds / 60, 0);
  });

  it('--load-best-model-at-end: says the one more evaluation after training when the best can be an earlier step (not counted: unknown before the run)', () => {
    const tail = "; one more after training when --load-best-model-at-end puts back an earlier step's adapter";
    const plain = makePlan({ ...ORIGINAL, config: flanUl2, label: 'flan-ul2' });
    // 3 epoch-end evaluations, the last one reused after training: the best can be epoch 1's or 2's
    const best = makePlan({ ...ORIGINAL, config: flanUl2, label: 'flan-ul2', loadBestModelAtEnd: true });
    expect(best.evals).toStrictEqual({ ...plain.evals, bestReload: true });
    expect(formatPlan(best).split('\n').at(-1)).toBe(formatPlan(plain).split('\n').at(-1) + tail);
    // the run stops between evaluations (after two epoch ends): the evaluation after training is counted already
    const stopped = makePlan({ ...ORIGINAL, config: flanUl2, label: 'flan-ul2', loadBestModelAtEnd: true, maxSteps: 2 * plain.stepsPerEpoch + 1 });
    expect([stopped.evals.count, stopped.evals.bestReload]).toEqual([1 + 2 + 1, undefined]);
    // one evaluation during training (--eval-on-start's is not compared): it is the best and the last
    const one = makePlan({ ...ORIGINAL, config: flanUl2, label: 'flan-ul2', loadBestModelAtEnd: true, epochs: 1, evalOnStart: true });
    expect(one.evals.bestReload).toBeUndefined();
    expect(formatPlan(one)).not.toContain(tail);
    // resumed for its last epoch: the checkpoint may hold an earlier best
    const resumed = makePlan({ ...ORIGINAL, config: flanUl2, label: 'flan-ul2', loadBestModelAtEnd: true, epochs: 1, resume: true });
    expect(resumed.evals.bestReload).toBe(true);
  });

  it('--predict-with-generate off: the plan and its evals line as before, whatever the generation flags', () => {
    const base = makePlan({ ...ORIGINAL, config: flanUl2, label: 'flan-ul2' });
    // The plan before generation was counted (golden, from the code without it).
    expect(base.evals).toStrictEqual({ count: 4, batchSize: 8, paddedSource: 95.89800000000001, paddedTarget: 88.55000000000001, flopsEach: 10_815_550_691_118_142, seconds: 8652.440552894514 });
    expect(formatPlan(base).split('\n').at(-1)).toBe('  evals        4 × 10.82 PFLOP (3,003 test examples in batches of 8, length order, 96 + 89 padded tokens/example): 2.4 h; with training 15.5 h');
    for (const off of [{ predictWithGenerate: false }, { predictWithGenerate: false, generationMaxLength: 128, generationNumBeams: 4 }]) {
      const p = makePlan({ ...ORIGINAL, config: flanUl2, label: 'flan-ul2', ...off });
      expect({ ...p, input: base.input }).toStrictEqual(base);
      expect(formatPlan(p)).toBe(formatPlan(base));
    }
  });

  it('generationFlops: one encoder pass, then per beam the cross k, v over the source and G − 1 cached decoder steps (forwardFlops by parts)', () => {
    const s = t5Shape(flanUl2);
    const src = 96;
    const a = 16 * 256;
    // The per-target-token part of forwardFlops (decoder linears, tied head, self-attention over 1 position, cross over src)
    const token = forwardFlops(s, src, 1) - forwardFlops(s, src, 0);
    // forwardFlops(s, src, 0) = the encoder + the 32 cross k, v projections over the source (2·4096² each per position)
    const crossKv = 32 * 2 * 2 * 4096 * 4096 * src;
    expect(forwardFlops(s, src, 0)).toBe(encoderFlops(s, src) + crossKv);
    // greedy, G = 21: 20 steps; step t attends to t cached positions, t − 1 more than `token` counts
    const selfMore = 32 * 4 * a * (0 + 1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9 + 10 + 11 + 12 + 13 + 14 + 15 + 16 + 17 + 18 + 19);
    expect(generationFlops(s, src, 21, 1)).toBe(forwardFlops(s, src, 0) + 20 * token + selfMore);
    // beams repeat all but the encoder pass
    const perBeam = generationFlops(s, src, 21, 1) - encoderFlops(s, src);
    expect(generationFlops(s, src, 21, 4)).toBe(encoderFlops(s, src) + 4 * perBeam);
    // one more step: one more token per beam, attending to 21 cached positions
    expect(generationFlops(s, src, 22, 4) - generationFlops(s, src, 21, 4)).toBe(4 * (token + 32 * 4 * a * 20));
  });

  it('--predict-with-generate on: each evaluation adds the test split × generationFlops at the eval source length, in the seconds and the evals line', () => {
    const base = makePlan({ ...ORIGINAL, config: flanUl2, label: 'flan-ul2', deviceTflops: 100 });
    const on = makePlan({ ...ORIGINAL, config: flanUl2, label: 'flan-ul2', deviceTflops: 100, predictWithGenerate: true });
    const s = t5Shape(flanUl2);
    const src = base.evals.paddedSource;
    // defaults: greedy, 21 tokens with the start token (20 new)
    // 4 evaluations: the app's loss before training, the trainer's 3 (epoch ends; the last step's reused after): 3 generate
    expect(on.evals.generation).toEqual({ maxLength: 21, beams: 1, flopsEach: 3_003 * generationFlops(s, src, 21, 1), count: 3 });
    const { generation, ...rest } = on.evals;
    expect({ ...rest, seconds: base.evals.seconds }).toStrictEqual(base.evals); // the forward pass is unchanged
    expect(on.evals.seconds).toBeCloseTo((4 * base.evals.flopsEach + 3 * generation!.flopsEach) / 100e12, 6);
    // --eval-on-start: the evaluation before training is the trainer's, and generates; --resume: none before
    expect(makePlan({ ...ORIGINAL, config: flanUl2, label: 'flan-ul2', deviceTflops: 100, predictWithGenerate: true, evalOnStart: true }).evals.generation!.count).toBe(4);
    expect(makePlan({ ...ORIGINAL, config: flanUl2, label: 'flan-ul2', deviceTflops: 100, predictWithGenerate: true, evalOnStart: true, resume: true }).evals.generation!.count).toBe(3);
    // a run that stops between evaluations: the app's loss after it does not generate either
    const stopped = makePlan({ ...ORIGINAL, config: flanUl2, label: 'flan-ul2', deviceTflops: 100, predictWithGenerate: true, maxSteps: 100 });
    expect([stopped.evals.count, stopped.evals.generation!.count]).toEqual([2, 0]);
    expect(formatPlan(stopped)).toContain('generation ≤ ');
    expect(formatPlan(stopped)).toContain(', in 0 of them: up to 20 tokens');
    expect([on.epochFlops, on.totalSeconds]).toEqual([base.epochFlops, base.totalSeconds]);
    // beams and G scale it as generationFlops does
    const beams = makePlan({ ...ORIGINAL, config: flanUl2, label: 'flan-ul2', deviceTflops: 100, predictWithGenerate: true, generationNumBeams: 4, generationMaxLength: 65 });
    expect(beams.evals.generation).toEqual({ maxLength: 65, beams: 4, flopsEach: 3_003 * generationFlops(s, src, 65, 4), count: 3 });
    expect(beams.evals.seconds).toBeGreaterThan(on.evals.seconds);
    const text = formatPlan(on);
    expect(text).toMatch(/\n {2}evals {8}4 × \(10\.82 PFLOP \+ generation ≤ \d+\.\d\d [PT]FLOP, in 3 of them: up to 20 tokens × 1 beam, rows stop at EOS\) \(3,003 test examples in batches of 8, length order, 96 \+ 89 padded tokens\/example\): [\d.]+ min; with training [\d.]+ min$/);
    expect(formatPlan(beams)).toContain('up to 64 tokens × 4 beams, rows stop at EOS');
    const [, train, withEvals] = /([\d.]+) min in all[\s\S]*with training ([\d.]+) min/.exec(text)!.map(Number) as [number, number, number];
    expect(withEvals - train).toBeCloseTo(on.evals.seconds / 60, 0);
  });

  it("train's plan takes --predict-with-generate, --generation-max-length and --generation-num-beams from the command line", () => {
    const plan = (...argv: string[]) => {
      const p = parseCommandLine(['train', '--dry-run', '--model', join(__dirname, 'fixtures/flan-ul2/config.json'), ...argv]);
      if (p.kind !== 'run' || p.options.command !== 'train') throw new Error('expected train options');
      return trainPlan(p.options);
    };
    const off = plan();
    expect(off.evals.generation).toBeUndefined();
    const on = plan('--predict-with-generate', '--generation-max-length', '30', '--generation-num-beams', '2');
    expect(on.evals.generation).toEqual({ maxLength: 30, beams: 2, flopsEach: off.split.test * generationFlops(off.shape, off.evals.paddedSource, 30, 2), count: on.evals.count - 1 });
    expect(plan('--predict-with-generate', '--eval-on-start').evals.generation!.count).toBe(on.evals.count); // train passes --eval-on-start
    expect(plan('--predict-with-generate').evals.generation).toMatchObject({ maxLength: 21, beams: 1 });
  });
});

describe('--prompt-template in the plan: Dolly’s lengths as train encodes them under the template', () => {
  const plan = (promptTemplate?: PromptTemplateName, extra: Partial<PlanInput> = {}) => makePlan({ ...ORIGINAL, config: flanUl2, label: 'flan-ul2', ...extra, ...(promptTemplate ? { promptTemplate } : {}) });

  it('the mean truncated lengths per template (src/dolly-length-quantiles.ts), at 512 and at 128 source tokens', () => {
    // mean(min(q, 512)) over the 100 quantiles of each template (all records: 87.08 / 115.77 / 118.86 source, 80.33 / 83.29 / 80.33 target)
    expect(plan().tokens).toMatchObject({ source: 87.18, target: 80.5 });
    expect(plan('original').tokens).toStrictEqual(plan().tokens); // the default
    expect(plan('dolly').tokens).toMatchObject({ source: 115.76, target: 83.47 }); // + the intro and headers; target + "\n\n### End"
    expect(plan('alpaca').tokens).toMatchObject({ source: 118.87, target: 80.5 }); // Alpaca's target is the bare response
    // truncation still caps them: at 128 source tokens the template's fixed text is a larger share
    expect(plan('original', { maxSourceLength: 128 }).tokens.source).toBeCloseTo(48.71, 10);
    expect(plan('dolly', { maxSourceLength: 128 }).tokens.source).toBeCloseTo(70.42, 10);
  });

  it('padded lengths, eval batches and FLOPs follow the template’s lengths; memory and step counts do not change', () => {
    const [o, d] = [plan(), plan('dolly')];
    expect(d.tokens.paddedSource).toBeCloseTo(meanPaddedLength(dollyQuantiles('dolly').prompt, 512, 1), 10);
    expect(d.tokens.paddedSource - o.tokens.paddedSource).toBeCloseTo(115.76 - 87.18, 10); // batch 1: no padding
    expect(d.evals.paddedSource).toBeCloseTo(1.1 * 115.76, 10); // length-grouped eval batches of 8
    // file-order eval batches pad to the longest of 8 draws from the template's distribution
    expect(plan('dolly', { evalOrder: 'file' }).evals.paddedSource).toBeCloseTo(meanPaddedLength(dollyQuantiles('dolly').prompt, 512, 8), 10);
    expect(plan('dolly', { evalOrder: 'file' }).evals.paddedTarget).toBeCloseTo(meanPaddedLength(dollyQuantiles('dolly').response, 512, 8), 10);
    expect(d.epochFlops / o.epochFlops).toBeCloseTo(forwardFlops(d.shape, 115.76, 83.47) / forwardFlops(o.shape, 87.18, 80.5), 10);
    expect(d.epochFlops).toBeGreaterThan(1.15 * o.epochFlops);
    expect(d.evals.flopsEach).toBeGreaterThan(1.15 * o.evals.flopsEach);
    expect({ total: d.totalBytes, steps: d.totalSteps, batch: d.microBatch }).toStrictEqual({ total: o.totalBytes, steps: o.totalSteps, batch: o.microBatch });
    // random batches of 4 pad to the longest of 4 draws from the template's distribution
    expect(plan('alpaca', { batchSize: 4 }).tokens.paddedSource).toBeCloseTo(meanPaddedLength(dollyQuantiles('alpaca').prompt, 512, 4), 10);
  });

  it('the data line names a template other than original; the printout under original is as before', () => {
    expect(formatPlan(plan('dolly'))).toContain('  data         12,008 train / 3,003 test examples (80/20 of 15,011, Dolly 15K assumed); prompt template dolly; source ≤ 512, target ≤ 512 tokens');
    expect(formatPlan(plan())).toContain('  data         12,008 train / 3,003 test examples (80/20 of 15,011, Dolly 15K assumed); source ≤ 512, target ≤ 512 tokens');
    expect(formatPlan(plan('original'))).toBe(formatPlan(plan()));
    expect(formatPlan(plan('dolly'))).toContain('(mean 116 + 83 real tokens/example, 116 + 83 padded)');
  });

  it('train --dry-run passes --prompt-template to the plan', () => {
    const opts = (...flags: string[]) => {
      const p = parseCommandLine(['train', '--model', join(__dirname, 'fixtures/flan-ul2/config.json'), '--backend', 'webgpu', '--dry-run', ...flags]);
      if (p.kind !== 'run' || p.options.command !== 'train') throw new Error('expected train options');
      return p.options;
    };
    expect(trainPlan(opts('--prompt-template', 'dolly')).tokens).toStrictEqual(plan('dolly').tokens);
    expect(trainPlan(opts('--prompt-template', 'alpaca')).tokens).toStrictEqual(plan('alpaca').tokens);
    expect(trainPlan(opts()).tokens).toStrictEqual(plan().tokens);
  });
});
