/**
 * The GPU benchmark's pure parts (flags, kernel families, the time budget, the full-depth memory
 * projection), kept apart from bench.ts so that they are unit-tested (bench-lib.test.ts).
 */
import { join } from 'node:path';

import type { Int8Mode } from '@conifer/int8';

export const GiB = 2 ** 30;
export const fmt = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : String(x));
export interface Peaks { tfBytes: number; gpuUsed: number; gpuAllocated: number }

// ---------------------------------------------------------------- flags
export interface Flags {
  layers?: number; dModel?: number; dFf?: number; heads?: number; dKv?: number; vocab?: number;
  steps: number; maxTokens: number; maxBatch: number; maxSource: number; maxTarget: number;
  ckpt: boolean; int8Mode: Int8Mode; lr: number; seed: number; check: boolean;
  withPytorch: boolean; python: string; pytorchScript: string; out: string; passes: number; tensorCores: boolean; emulateTensorCores: boolean;
  nullDevice: boolean; profile: boolean; tiledCols: 4 | 8; poolMiB: number | null;
  /** Seconds this run may take; later passes, the profile step and the gradient check are skipped when they would not fit. */
  budgetS: number;
}
const HELP = `node bench.mjs [--layers N] [--d-model D] [--d-ff F] [--heads H] [--d-kv K] [--vocab V]
  [--steps 8] [--passes 2] [--max-tokens 4096] [--max-batch 64] [--max-source 512] [--max-target 512]
  [--no-ckpt] [--int8-mode weight-only|llm-int8] [--no-tensor-cores] [--emulate-tensor-cores] [--tiled-cols 4|8] [--pool-mib 2048|none] [--null-device] [--no-profile] [--lr 1e-4] [--seed 0] [--no-check] [--budget-s S]
  [--with-pytorch] [--python python3] [--pytorch-script benchmarks/pytorch_peft_reference.py] [--out DIR]`;
export function parseFlags(argv: string[]): Flags {
  const f: Flags = {
    steps: 8, maxTokens: 4096, maxBatch: 64, maxSource: 512, maxTarget: 512, ckpt: true, int8Mode: 'weight-only',
    lr: 1e-4, seed: 0, check: true, withPytorch: false, python: 'python3', pytorchScript: 'benchmarks/pytorch_peft_reference.py',
    out: process.env.OUT ? join(process.env.OUT, 'gpu-bench') : '/tmp/conifer-gpu-bench', passes: 2, tensorCores: true, emulateTensorCores: false,
    nullDevice: false, profile: true, tiledCols: 4, poolMiB: 2048, budgetS: Infinity,
  };
  const num = (k: string, v: string | undefined): number => {
    const x = Number(v);
    if (v === undefined || !Number.isFinite(x)) throw new Error(`${k} needs a number`);
    return x;
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = (): string | undefined => argv[++i];
    switch (k) {
      case '--layers': f.layers = num(k, v()); break;
      case '--d-model': f.dModel = num(k, v()); break;
      case '--d-ff': f.dFf = num(k, v()); break;
      case '--heads': f.heads = num(k, v()); break;
      case '--d-kv': f.dKv = num(k, v()); break;
      case '--vocab': f.vocab = num(k, v()); break;
      case '--steps': f.steps = num(k, v()); if (f.steps < 1) throw new Error('--steps must be ≥ 1'); break;
      case '--passes': f.passes = Math.max(1, num(k, v())); break;
      case '--max-tokens': f.maxTokens = num(k, v()); break;
      case '--max-batch': f.maxBatch = num(k, v()); break;
      case '--max-source': f.maxSource = num(k, v()); break;
      case '--max-target': f.maxTarget = num(k, v()); break;
      case '--ckpt': f.ckpt = true; break;
      case '--no-ckpt': f.ckpt = false; break;
      case '--int8-mode': f.int8Mode = v() as Int8Mode; break;
      case '--lr': f.lr = num(k, v()); break;
      case '--seed': f.seed = num(k, v()); break;
      case '--no-check': f.check = false; break;
      case '--no-tensor-cores': f.tensorCores = false; break;
      case '--emulate-tensor-cores': f.emulateTensorCores = true; break; // lavapipe: the tensor-core numerics (f16 inputs) without the feature
      // Dawn's null backend: validates and records every GPU command, runs none — the step time is the host's own cost (tfjs, our kernels' JS, Dawn)
      case '--null-device': f.nullDevice = true; f.check = false; break;
      case '--pool-mib': { const x = v(); f.poolMiB = x === 'none' ? null : num(k, x); break; } // cap on tfjs's free-buffer pool (webgpu-pool.ts)
      case '--tiled-cols': f.tiledCols = num(k, v()) === 8 ? 8 : 4; break; // the tiled int8 kernels' columns per invocation (tiles 128×128 with 8)
      case '--no-profile': f.profile = false; break;
      case '--with-pytorch': f.withPytorch = true; break;
      case '--budget-s': f.budgetS = num(k, v()); break;
      case '--python': f.python = v()!; break;
      case '--pytorch-script': f.pytorchScript = v()!; break;
      case '--out': f.out = v()!; break;
      case '-h': case '--help': console.log(HELP); process.exit(0);
      default: throw new Error(`unknown flag ${k}\n${HELP}`);
    }
  }
  return f;
}

// ---------------------------------------------------------------- kernel families
/**
 * A program's family from its shader key: `conifer_int8_tiled_forward`, `binary_17` (tfjs's
 * BinaryOpType index), `matMulPacked`, `transpose`, … (the tokens before the first shape/flag token).
 */
export function kernelFamily(shaderKey: string): string {
  const tokens = shaderKey.split('_');
  const out: string[] = [tokens[0] ?? shaderKey];
  for (let i = 1; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (/^[A-Za-z][A-Za-z0-9]*$/.test(t) && !['null', 'true', 'false'].includes(t)) out.push(t);
    else if (i === 1 && /^\d+$/.test(t) && !out[0]!.startsWith('conifer')) out.push(t);
    else break;
  }
  return out.join('_');
}

// ---------------------------------------------------------------- time budget
/**
 * What --budget-s still allows: `steps` more steps fit if, at the slowest step time seen so far
 * (+10 %), they end within the budget counted from `startMs`.
 */
export class TimeBudget {
  private slowest = 0;
  constructor(readonly budgetS: number, private readonly startMs: number) {}
  /** Records a step's time (s). */
  step(seconds: number): void {
    this.slowest = Math.max(this.slowest, seconds);
  }
  fits(steps: number, nowMs: number): boolean {
    return (nowMs - this.startMs) / 1000 + 1.1 * steps * this.slowest <= this.budgetS;
  }
}

/**
 * Seconds the PyTorch reference may take (it runs first, synchronously): ≈ 45 % of a finite --budget-s,
 * between 60 and 180 s (import torch + transformers + peft, build, 2 + N steps: ≈ 30–60 s expected), so a
 * hang (a driver wait, a network retry) leaves the WebGPU part its time; 600 s without a budget.
 */
export function pytorchTimeoutS(budgetS: number): number {
  return Number.isFinite(budgetS) ? Math.round(Math.min(180, Math.max(60, 0.45 * budgetS))) : 600;
}

// ---------------------------------------------------------------- memory projection
/** The config fields the projection reads (a T5Config has them). */
export interface BlockShape { num_layers: number; num_decoder_layers: number; d_model: number; num_heads: number; d_kv: number }
/** A timed batch's shape. */
export interface BatchShape { batchSize: number; sourceLength: number; targetLength: number }

/**
 * GPU memory of the full-depth model (flan-ul2's 32 + 32 blocks), projected from a shallower run:
 * each further block adds its int8 projections (packed words + row scales, as built), its layer norms,
 * its LoRA variables (q, v: A [r, d_model] and B [inner, r]) with AdamW's m and v and a gradient,
 * and — with checkpointing — the one tensor a checkpointed block keeps for its backward, its input
 * [B, len, d_model] (its bias, mask and the encoder output are shared by all blocks). `len` is the
 * largest timed batch's source (encoder) or target (decoder) size. Without checkpointing every block
 * keeps all its activations, which this does not model: call it only with checkpointing. `gpuUsed`
 * is the run's peak of GPU buffers in use; `poolMiB` the cap on tfjs's free-buffer pool (null: none).
 */
export function projectFullDepth(
  cfg: BlockShape, full: { encoder: number; decoder: number }, timed: readonly BatchShape[],
  linearBytes: (prefix: string) => number, gpuUsed: number, poolMiB: number | null,
): { line: string; json: Record<string, number | null> } | null {
  const fullEnc = full.encoder;
  const fullDec = full.decoder;
  const addEnc = fullEnc - cfg.num_layers;
  const addDec = fullDec - cfg.num_decoder_layers;
  if (addEnc < 0 || addDec < 0 || addEnc + addDec === 0 || timed.length === 0) return null;
  const d = cfg.d_model;
  const inner = cfg.num_heads * cfg.d_kv;
  const loraBytes = (adapters: number) => adapters * 8 * (d + inner) * 4 * 4; // r 8; variable, m, v, gradient
  const maxSource = Math.max(...timed.map((b) => b.batchSize * b.sourceLength));
  const maxTarget = Math.max(...timed.map((b) => b.batchSize * b.targetLength));
  const enc = linearBytes('encoder.block.0.') + 2 * d * 4 + loraBytes(2) + maxSource * d * 4;
  const dec = linearBytes('decoder.block.0.') + 3 * d * 4 + loraBytes(4) + maxTarget * d * 4;
  const added = addEnc * enc + addDec * dec;
  // tfjs's pool of free buffers comes on top; with a cap it holds at most the cap (webgpu-pool.ts).
  const poolCap = poolMiB === null ? null : poolMiB * 2 ** 20;
  const json = {
    encoderBlocks: fullEnc, decoderBlocks: fullDec, bytesPerEncoderBlock: enc, bytesPerDecoderBlock: dec,
    gpuUsedGiB: (gpuUsed + added) / GiB, gpuHeldAtMostGiB: poolCap === null ? null : (gpuUsed + added + poolCap) / GiB,
  };
  const line = `memory at full depth (${fullEnc}+${fullDec} blocks), projected from this ${cfg.num_layers}+${cfg.num_decoder_layers}: ` +
    `+${fmt(enc / GiB, 3)} GiB per encoder block, +${fmt(dec / GiB, 3)} GiB per decoder block (int8 weights, norms, LoRA + AdamW state, checkpointed input) → ` +
    `GPU buffers in use ${fmt(json.gpuUsedGiB)} GiB; ${json.gpuHeldAtMostGiB === null ? 'plus the free-buffer pool (uncapped: --pool-mib none)' : `with the free-buffer pool (≤ its cap) at most ${fmt(json.gpuHeldAtMostGiB)} GiB held`} (target ≤ 40 GB = 37.25 GiB)`;
  return { line, json };
}

