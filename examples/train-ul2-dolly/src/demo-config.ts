import type { T5ConfigJson } from './t5-config.js';

/**
 * The embedded demo model: a small T5 v1.1 / UL2-style config (gated-silu, no biases, relative
 * attention) with the real 32,128-token T5 vocabulary, built with seeded random weights.
 *
 * Sizing (see `pnpm exec conifer-train-ul2-dolly train --dry-run`): 8.2 M of its 14.5 M
 * parameters are the tied embedding/head (32,128 × 256). The body is kept small (4 + 4 layers,
 * 8 heads × 32, d_ff 512) because every target token also pays the 256 × 32,128 head in the
 * forward and the backward, which dominates the step time at this width; the embedding stays
 * tied (UL2's default) so the head costs no extra memory. LoRA r 8 on q,v adds 98,304 parameters.
 */
export const DEMO_CONFIG: T5ConfigJson = {
  architectures: ['T5ForConditionalGeneration'],
  model_type: 't5',
  d_model: 256,
  d_kv: 32,
  d_ff: 512,
  num_layers: 4,
  num_decoder_layers: 4,
  num_heads: 8,
  vocab_size: 32128,
  relative_attention_num_buckets: 32,
  relative_attention_max_distance: 128,
  feed_forward_proj: 'gated-silu',
  dense_act_fn: 'silu',
  is_gated_act: true,
  tie_word_embeddings: true,
  layer_norm_epsilon: 1e-6,
  dropout_rate: 0.1,
  decoder_start_token_id: 0,
  pad_token_id: 0,
  eos_token_id: 1,
};

/**
 * Training defaults that replace the original project's when the demo model is used and the flag
 * is not given: a few hundred examples, one epoch, short sequences, a higher learning rate (the
 * frozen body is random, so LoRA needs bigger steps to show a falling loss) and micro-batches of 4
 * (fewer, larger kernels are faster on wasm) with the same effective batch of 8.
 *
 * Budget (measured on 2 cores, wasm, one thread): the tied head's forward + backward for one
 * micro-batch (4 × 47 target tokens × 256 × 32,128, with log-softmax) takes 0.79 s (7.9 GFLOP/s);
 * the plan estimates 0.78 TFLOP for this epoch, ≈ 2.2 min at 6 GFLOP/s, plus the two evaluations.
 */
export const DEMO_TRAIN_DEFAULTS = {
  /** The frozen linears in 8 bit, as for Flan-UL2 (`auto` would keep a model this small in float32). */
  int8: 'weight-only',
  limit: 300,
  epochs: 1,
  lr: 1e-3,
  batchSize: 4,
  gradAccum: 2,
  maxSourceLength: 96,
  maxTargetLength: 48,
} as const;
