import * as tf from '@tensorflow/tfjs-core';
import { dropout } from '@conifer/dropout';
import seedrandom from 'seedrandom';
import { type InitLoraWeights, loraScaling } from './config.js';
import { FloatLinear } from './float-linear.js';
import { gaussian, kaimingUniformA5, orthogonalLora } from './init.js';
import { loraDeltaWebGPU } from './lora-webgpu.js';
import type { Linear } from './types.js';

/** Options of one {@link LoraLinear}; names follow PEFT's `LoraConfig` in camelCase. */
export interface LoraLinearOptions {
  /** Hugging Face module path of the wrapped linear, e.g. `"encoder.block.0.layer.0.SelfAttention.q"`; names the variables. */
  path: string;
  /** Rank r. */
  r: number;
  /** scaling = loraAlpha / r (or / √r with `useRslora`). */
  loraAlpha: number;
  /** Dropout on the adapter's input, training mode only (default 0). */
  loraDropout?: number;
  /** Rank-stabilized scaling loraAlpha / √r (default false). */
  useRslora?: boolean;
  /** `true` (default): A Kaiming-uniform(a=√5), B zeros; `false`: B Kaiming-uniform too; `"gaussian"`: A ~ N(0, 1/r²), B zeros;
   *  `"orthogonal"`: A and B random with B·A = 0 (even r). `"eva"` is refused: it needs data (PEFT's `initialize_lora_eva_weights`). */
  initLoraWeights?: InitLoraWeights;
  /** Seed of the initialisation and of the dropout masks (default 0). Each layer derives its own streams from it and its path. */
  seed?: number | string;
  /** Whether A and B are trainable variables (default true). */
  trainable?: boolean;
}

/** PEFT's saved key of a LoRA matrix: `base_model.model.<path>.lora_A.weight`. */
export function peftKey(path: string, which: 'A' | 'B'): string {
  return `base_model.model.${path}.lora_${which}.weight`;
}

/** A variable name not yet registered with the engine: the PEFT key, or the key + `#2`, `#3`… if two adapters live at once. */
function freeVariableName(name: string): string {
  const registered = tf.engine().registeredVariables;
  if (!(name in registered)) return name;
  for (let i = 2; ; i++) if (!(`${name}#${i}` in registered)) return `${name}#${i}`;
}

/**
 * A linear with a LoRA adapter: y = base(x) + (dropout(x) · Aᵀ · Bᵀ) · scaling, A [r, in],
 * B [out, r] (PEFT's shapes, stored as is; see {@link adapterPath} for how the products run).
 * The base stays frozen; only A and B are trainable.
 */
export class LoraLinear implements Linear {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly path: string;
  readonly r: number;
  readonly loraAlpha: number;
  readonly loraDropout: number;
  readonly scaling: number;
  /** lora_A [r, inFeatures], variable named {@link peftKey}(path, 'A'). */
  readonly loraA: tf.Variable<tf.Rank.R2>;
  /** lora_B [outFeatures, r], variable named {@link peftKey}(path, 'B'). */
  readonly loraB: tf.Variable<tf.Rank.R2>;
  /** Dropout is applied only while true (see {@link LoraModel.train}). */
  training = false;
  /** While false the layer is its base (the adapter is kept). */
  adapterEnabled = true;
  private merged: FloatLinear | null = null;
  private dropoutRng: seedrandom.StatefulPRNG<seedrandom.State.Arc4>;

  constructor(
    /** The wrapped linear; kept untouched (merge does not modify it). */
    readonly base: Linear,
    options: LoraLinearOptions,
  ) {
    const { path, r, loraAlpha } = options;
    this.inFeatures = base.inFeatures;
    this.outFeatures = base.outFeatures;
    this.path = path;
    this.r = r;
    this.loraAlpha = loraAlpha;
    this.loraDropout = options.loraDropout ?? 0;
    this.scaling = loraScaling(r, loraAlpha, options.useRslora ?? false);
    const seed = String(options.seed ?? 0);
    const init = options.initLoraWeights ?? true;
    if (init === 'eva') {
      throw new Error(`LoRA layer ${path}: init_lora_weights "eva" initialises A from the model's activations on data (PEFT's initialize_lora_eva_weights), which this package does not do; an EVA adapter saved by PEFT loads with loadAdapter`);
    }
    const { a, b } =
      init === 'orthogonal'
        ? orthogonalLora(r, this.inFeatures, this.outFeatures, `${seed}:${path}:orthogonal`)
        : {
            a: init === 'gaussian' ? gaussian(r * this.inFeatures, 1 / r, `${seed}:${path}:lora_A`) : kaimingUniformA5(r, this.inFeatures, `${seed}:${path}:lora_A`),
            // init_lora_weights=False leaves nn.Linear's own init on B: Kaiming-uniform(a=√5) with fan_in = r.
            b: init === false ? kaimingUniformA5(this.outFeatures, r, `${seed}:${path}:lora_B`) : new Float32Array(this.outFeatures * r),
          };
    const trainable = options.trainable ?? true;
    this.loraA = tf.variable(tf.tensor2d(a, [r, this.inFeatures]), trainable, freeVariableName(peftKey(path, 'A')));
    this.loraB = tf.variable(tf.tensor2d(b, [this.outFeatures, r]), trainable, freeVariableName(peftKey(path, 'B')));
    this.dropoutRng = seedrandom(`${seed}:${path}:dropout`, { state: true });
  }

  /**
   * The dropout generator's state. A model that recomputes a block in the backward pass
   * (gradient checkpointing) saves it before the forward and restores it for the recomputation,
   * so both draw the same masks; trainers save it in checkpoints for an exact resume.
   */
  getRandomState(): seedrandom.State.Arc4 {
    return this.dropoutRng.state();
  }

  /** Restores a state returned by {@link getRandomState}. */
  setRandomState(state: unknown): void {
    this.dropoutRng = seedrandom('', { state: state as seedrandom.State.Arc4 });
  }

  /** Whether the adapter is currently merged into a float copy of the weight. */
  get isMerged(): boolean {
    return this.merged !== null;
  }

  apply(x: tf.Tensor): tf.Tensor {
    // Disabled: the base alone, merged or not (PEFT's forward with disabled adapters unmerges and runs the base).
    if (!this.adapterEnabled) return this.base.apply(x);
    if (this.merged) {
      if (this.training) throw new Error(`LoRA layer ${this.path} is merged: unmerge() before training`);
      return this.merged.apply(x);
    }
    const p = this.training ? this.loraDropout : 0;
    const seed = p > 0 ? this.dropoutRng.int32() : 0;
    return tf.tidy(() => {
      const y = this.base.apply(x); // (..., out)
      const x2 = tf.reshape(x, [-1, this.inFeatures]); // (N, in)
      if (tf.getBackend() === 'webgpu') {
        // 2 kernels forward, 4 backward, instead of ~7 and ~10 tensor ops (lora-webgpu.ts)
        const y2 = tf.reshape(y, [-1, this.outFeatures]) as tf.Tensor2D; // (N, out)
        return tf.reshape(loraDeltaWebGPU(y2, x2 as tf.Tensor2D, this.loraA, this.loraB, this.scaling, p, seed), y.shape);
      }
      const d = p > 0 ? dropout(x2, p, seed) : x2; // the mask is drawn on the device (@conifer/dropout)
      const delta = this.adapterPath(d, this.loraA, this.loraB); // (N, out)
      return tf.add(y, tf.reshape(delta, y.shape));
    });
  }

  /**
   * (d · Aᵀ · scaling) · Bᵀ for d (N, in), with a hand-written gradient so that every product,
   * forward and backward, is a plain matMul of untransposed operands; only the small A, B, h and
   * dh are transposed. Autodiff of `matMul(d, A, false, true)` would instead run transposed matMuls
   * over the (N, in) and (N, out) operands, which tfjs-backend-wasm does ~6× slower (bench/).
   * Scaling is applied to the (N, r) intermediate: cheaper than on (N, out), equal up to rounding.
   */
  private readonly adapterPath = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [d, a, b, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const h = tf.mul(tf.matMul(d, tf.transpose(a)), this.scaling); // (N, r)
    save([d, a, b, h]);
    return {
      value: tf.matMul(h, tf.transpose(b)), // (N, out)
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sd, sa, sb, sh] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        const dh = tf.mul(tf.matMul(dy, sb), this.scaling); // (N, out)·(out, r) → (N, r)
        return [
          tf.matMul(dh, sa), // d(d): (N, r)·(r, in) → (N, in)
          tf.matMul(tf.transpose(dh), sd), // dA: (r, N)·(N, in) → (r, in)
          tf.transpose(tf.matMul(tf.transpose(sh), dy)), // dB: ((r, N)·(N, out))ᵀ → (out, r)
        ];
      },
    };
  }) as unknown as (d: tf.Tensor, a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

  /** scaling · B·A, [out, in] (PEFT's `get_delta_weight`). */
  deltaWeight(): tf.Tensor2D {
    return tf.tidy(() => tf.mul(tf.matMul(this.loraB, this.loraA), this.scaling) as tf.Tensor2D);
  }

  /**
   * The effective float32 weight [out, in]: base + scaling·B·A (or the base alone while the adapter is
   * disabled). Needs `base.dequantize()`. Merges use {@link mergedWeight}: the adapter is merged even
   * while disabled, as PEFT does.
   */
  dequantize(): tf.Tensor2D {
    if (!this.adapterEnabled) return this.baseWeight();
    return this.mergedWeight();
  }

  /** base + scaling·B·A [out, in], whether or not the adapter is enabled (PEFT merges the active adapter either way). */
  mergedWeight(): tf.Tensor2D {
    return tf.tidy(() => tf.add(this.baseWeight(), this.deltaWeight()) as tf.Tensor2D);
  }

  private baseWeight(): tf.Tensor2D {
    const deq = this.base.dequantize?.bind(this.base);
    if (!deq) throw new Error(`LoRA layer ${this.path}: its base linear has no dequantize(), so it cannot be merged`);
    return deq();
  }

  /**
   * A new float linear holding W + scaling·B·A and the base's bias: none when the base declares
   * `bias: null`, else read as base(0) (zeros for a bias-free base that does not say so). For an
   * int8 base the result is float32 (W dequantized, not re-quantized). Leaves this layer unchanged.
   * Reads nothing back from the device, so it works on webgpu in Node (no synchronous reads there).
   */
  toLinear(): FloatLinear {
    const w = this.mergedWeight();
    if ((this.base as { bias?: unknown }).bias === null) return new FloatLinear(w, null);
    const b = tf.tidy(() => tf.reshape(this.base.apply(tf.zeros([1, this.inFeatures])), [this.outFeatures]) as tf.Tensor1D);
    return new FloatLinear(w, b);
  }

  /**
   * Merges the adapter: the forward becomes one float matMul with W + scaling·B·A. The base is kept
   * untouched, so {@link unmerge} restores it exactly (bit-for-bit, float or int8). Costs a float32
   * copy of the weight while merged.
   */
  merge(): void {
    if (this.merged) return;
    this.merged = this.toLinear();
  }

  /** Undoes {@link merge}: back to base(x) + adapter, the base exactly as it was. */
  unmerge(): void {
    this.merged?.dispose();
    this.merged = null;
  }

  /** Copies new values into A [r·in] and B [out·r] (row-major), keeping the variables (optimizer state stays attached). */
  setWeights(a: Float32Array, b: Float32Array): void {
    if (a.length !== this.r * this.inFeatures) throw new Error(`${peftKey(this.path, 'A')}: expected [${this.r}, ${this.inFeatures}], got ${a.length} values`);
    if (b.length !== this.outFeatures * this.r) throw new Error(`${peftKey(this.path, 'B')}: expected [${this.outFeatures}, ${this.r}], got ${b.length} values`);
    tf.tidy(() => {
      this.loraA.assign(tf.tensor2d(a, [this.r, this.inFeatures]));
      this.loraB.assign(tf.tensor2d(b, [this.outFeatures, this.r]));
    });
    if (this.merged) {
      this.unmerge();
      this.merge();
    }
  }

  /** Frees A, B and the merged copy; the base is left to its owner (see {@link dispose}). */
  disposeAdapter(): void {
    this.unmerge();
    this.loraA.dispose();
    this.loraB.dispose();
  }

  /** Frees the adapter and the base. */
  dispose(): void {
    this.disposeAdapter();
    this.base.dispose?.();
  }
}
