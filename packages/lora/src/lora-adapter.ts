import * as tf from '@tensorflow/tfjs-core';
import { type InitLoraWeights, loraScaling } from './config.js';
import { type DoraWeightNorm, checkDoraWeightNorm } from './dora.js';
import { DoraNormCache } from './dora-norm-cache.js';
import { gaussian, kaimingUniformA5, orthogonalLora } from './init.js';
import { ADAPTER_OPTIONS_REQUIRED, checkOptionArgument, LORA_ADAPTER_OPTIONS } from './option-arguments.js';

/** PEFT's name of the adapter `get_peft_model` / `PeftModel.from_pretrained` create when none is given. */
export const DEFAULT_ADAPTER_NAME = 'default';

/** PEFT's saved key of a LoRA matrix: `base_model.model.<path>.lora_A.weight`. */
export function peftKey(path: string, which: 'A' | 'B'): string {
  return `base_model.model.${path}.lora_${which}.weight`;
}

/** PEFT's saved key of a DoRA magnitude: `base_model.model.<path>.lora_magnitude_vector` (PEFT's
 *  `get_peft_model_state_dict` strips `.weight` from `lora_magnitude_vector.<adapter>.weight`, then the adapter name). */
export function peftMagnitudeKey(path: string): string {
  return `base_model.model.${path}.lora_magnitude_vector`;
}

/** The magnitude variable's name: the saved key for `"default"`, PEFT's parameter name `….lora_magnitude_vector.<adapter>.weight` otherwise. */
export function magnitudeVariableName(path: string, adapterName: string): string {
  return adapterName === DEFAULT_ADAPTER_NAME ? peftMagnitudeKey(path) : `${peftMagnitudeKey(path)}.${adapterName}.weight`;
}

/**
 * The name of an adapter's variable: the saved key ({@link peftKey}) for the `"default"` adapter, and
 * PEFT's in-model parameter name `base_model.model.<path>.lora_A.<adapter>.weight` for any other.
 */
export function adapterVariableName(path: string, which: 'A' | 'B', adapterName: string): string {
  return adapterName === DEFAULT_ADAPTER_NAME ? peftKey(path, which) : `base_model.model.${path}.lora_${which}.${adapterName}.weight`;
}

/**
 * Refuses names that cannot be a folder of `saveAdapter` or a part of a variable name (PyTorch's
 * `ModuleDict`, which holds PEFT's adapters, refuses a `"."` in a key too).
 */
export function checkAdapterName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || /[./\\]/.test(name) || name.trim() !== name) {
    throw new Error(`LoRA: adapter name ${JSON.stringify(name)} is not allowed: a non-empty name without ".", "/", "\\" or surrounding spaces`);
  }
  return name;
}

/** A variable name not yet registered with the engine: `name`, or `name#2`, `name#3`… if two models live at once. */
function freeVariableName(name: string): string {
  const registered = tf.engine().registeredVariables;
  if (!(name in registered)) return name;
  for (let i = 2; ; i++) if (!(`${name}#${i}` in registered)) return `${name}#${i}`;
}

/** A variable holding `init`, which is then released (the variable keeps the data): disposing the variable frees it all. */
function newVariable<R extends tf.Rank>(init: tf.Tensor<R>, trainable: boolean, name: string): tf.Variable<R> {
  const v = tf.variable(init, trainable, name);
  init.dispose();
  return v;
}

/** What one adapter of one layer needs (PEFT's `update_layer` arguments, camelCase). */
export interface LoraAdapterOptions {
  /** Adapter name (default `"default"`); names the variables ({@link adapterVariableName}). */
  adapterName?: string;
  r: number;
  loraAlpha: number;
  loraDropout?: number;
  useRslora?: boolean;
  initLoraWeights?: InitLoraWeights;
  /** Seed of the initialisation (default 0), with the path (and the name of a non-default adapter). */
  seed?: number | string;
  /** Whether A and B are trainable variables (default true). */
  trainable?: boolean;
  /** DoRA (PEFT's `use_dora`): {@link LoraLinear} gives the adapter a magnitude; needs the base's `dequantize()`. */
  useDora?: boolean;
  /** DoRA only: how the forward computes ‖W + s·B·A‖ (`dora.ts`'s {@link DoraWeightNorm}; default `'factored'`). Ignored without `useDora`. */
  doraWeightNorm?: DoraWeightNorm;
}

/**
 * One LoRA adapter of one layer: A [r, in], B [out, r], its scaling and dropout rate (one entry of
 * PEFT's `lora_A` / `lora_B` / `scaling` / `lora_dropout` dicts). {@link LoraLinear} holds them by name.
 */
export class LoraAdapter {
  readonly name: string;
  readonly r: number;
  readonly loraAlpha: number;
  readonly loraDropout: number;
  readonly scaling: number;
  readonly loraA: tf.Variable<tf.Rank.R2>;
  readonly loraB: tf.Variable<tf.Rank.R2>;
  /** DoRA's magnitude m [out] (PEFT's `lora_magnitude_vector[name].weight`); null for a plain LoRA adapter. */
  magnitude: tf.Variable<tf.Rank.R1> | null = null;
  /** DoRA: how the forward computes the weight norm (`'factored'` unless the options said `'direct'`); may be changed between forwards. */
  doraWeightNorm: DoraWeightNorm;
  /** @internal DoRA: the weight norm kept while A and B are frozen (`dora-norm-cache.ts`). */
  readonly normCache = new DoraNormCache();

  constructor(readonly path: string, inFeatures: number, outFeatures: number, options: LoraAdapterOptions) {
    checkOptionArgument('LoraAdapter', options, { known: LORA_ADAPTER_OPTIONS, required: ADAPTER_OPTIONS_REQUIRED });
    const { r, loraAlpha } = options;
    this.name = checkAdapterName(options.adapterName ?? DEFAULT_ADAPTER_NAME);
    // checked before A and B are allocated: a bad value fails on the first target, before anything exists
    this.doraWeightNorm = checkDoraWeightNorm(options.doraWeightNorm) ?? 'factored';
    this.r = r;
    this.loraAlpha = loraAlpha;
    this.loraDropout = options.loraDropout ?? 0;
    this.scaling = loraScaling(r, loraAlpha, options.useRslora ?? false);
    const init = options.initLoraWeights ?? true;
    if (init === 'eva') {
      throw new Error(`LoRA layer ${path}: init_lora_weights "eva" initialises A from the model's activations on data (PEFT's initialize_lora_eva_weights), which this package does not do; an EVA adapter saved by PEFT loads with loadAdapter`);
    }
    // The default adapter keeps the streams it always had; another one mixes its name in, so that two
    // adapters added with the same seed do not start equal.
    const stream = `${String(options.seed ?? 0)}:${this.name === DEFAULT_ADAPTER_NAME ? '' : `${this.name}:`}${path}`;
    const { a, b } =
      init === 'orthogonal'
        ? orthogonalLora(r, inFeatures, outFeatures, `${stream}:orthogonal`)
        : {
            a: init === 'gaussian' ? gaussian(r * inFeatures, 1 / r, `${stream}:lora_A`) : kaimingUniformA5(r, inFeatures, `${stream}:lora_A`),
            // init_lora_weights=False leaves nn.Linear's own init on B: Kaiming-uniform(a=√5) with fan_in = r.
            b: init === false ? kaimingUniformA5(outFeatures, r, `${stream}:lora_B`) : new Float32Array(outFeatures * r),
          };
    const trainable = options.trainable ?? true;
    this.loraA = newVariable(tf.tensor2d(a, [r, inFeatures]), trainable, freeVariableName(adapterVariableName(path, 'A', this.name)));
    this.loraB = newVariable(tf.tensor2d(b, [outFeatures, r]), trainable, freeVariableName(adapterVariableName(path, 'B', this.name)));
  }

  /** Whether A and B are trainable (PEFT's `requires_grad` of this adapter's parameters). */
  get trainable(): boolean {
    return this.loraA.trainable && this.loraB.trainable;
  }

  set trainable(value: boolean) {
    for (const v of this.variables) v.trainable = value;
    this.normCache.clear(); // an in-place optimizer step may come next (see DoraNormCache)
  }

  /** Whether this is a DoRA adapter (it has a magnitude). */
  get useDora(): boolean {
    return this.magnitude !== null;
  }

  /** A, B and, for DoRA, the magnitude: the adapter's parameters. */
  get variables(): tf.Variable[] {
    return this.magnitude ? [this.loraA, this.loraB, this.magnitude] : [this.loraA, this.loraB];
  }

  /** r·in + out·r (+ out for DoRA's magnitude) */
  get numParameters(): number {
    return this.variables.reduce((n, v) => n + v.size, 0);
  }

  /** @internal Makes this a DoRA adapter with magnitude `init` [out] (taken over), trainable as A and B are. */
  attachMagnitude(init: tf.Tensor1D): void {
    if (this.magnitude) throw new Error(`${magnitudeVariableName(this.path, this.name)} already exists`);
    this.magnitude = newVariable(init, this.trainable, freeVariableName(magnitudeVariableName(this.path, this.name)));
  }

  /** Throws unless `m` can be this adapter's magnitude: a DoRA adapter, [out] values. */
  checkMagnitude(m: Float32Array): void {
    if (!this.magnitude) throw new Error(`LoRA layer ${this.path}: adapter "${this.name}" is not a DoRA adapter (no lora_magnitude_vector)`);
    const [out] = this.magnitude.shape;
    if (m.length !== out) throw new Error(`LoRA layer ${this.path}: lora_magnitude_vector of "${this.name}" needs ${out} values, got ${m.length}`);
  }

  /** Copies new values into DoRA's magnitude [out], keeping the variable. */
  setMagnitude(m: Float32Array): void {
    this.checkMagnitude(m);
    tf.tidy(() => this.magnitude!.assign(tf.tensor1d(m)));
  }

  /**
   * (d · Aᵀ · scaling) · Bᵀ for d (N, in), with a hand-written gradient so that every product,
   * forward and backward, is a plain matMul of untransposed operands; only the small A, B, h and
   * dh are transposed. Autodiff of `matMul(d, A, false, true)` would instead run transposed matMuls
   * over the (N, in) and (N, out) operands, which tfjs-backend-wasm does ~6× slower (bench/).
   * Scaling is applied to the (N, r) intermediate: cheaper than on (N, out), equal up to rounding.
   */
  readonly adapterPath = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
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

  /** Copies new values into A [r·in] and B [out·r] (row-major), keeping the variables (optimizer state stays attached). */
  setWeights(a: Float32Array, b: Float32Array): void {
    const [r, inF] = this.loraA.shape;
    const [out] = this.loraB.shape;
    if (a.length !== r * inF) throw new Error(`${adapterVariableName(this.path, 'A', this.name)}: expected [${r}, ${inF}], got ${a.length} values`);
    if (b.length !== out * r) throw new Error(`${adapterVariableName(this.path, 'B', this.name)}: expected [${out}, ${r}], got ${b.length} values`);
    tf.tidy(() => {
      this.loraA.assign(tf.tensor2d(a, [r, inF]));
      this.loraB.assign(tf.tensor2d(b, [out, r]));
    });
  }

  dispose(): void {
    for (const v of this.variables) v.dispose();
    this.normCache.clear();
  }
}
