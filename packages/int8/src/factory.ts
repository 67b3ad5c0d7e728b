import type * as tf from '@tensorflow/tfjs-core';
import { fromBitsAndBytes } from './bitsandbytes';
import { bitsAndBytesOf, type WeightData } from './decode';
import { Float32Linear } from './float32-linear';
import { Int8Linear } from './int8-linear';
import { BITSANDBYTES_NAMES, modeThresholdProblems } from './int8-matmul';
import type { Int8Mode } from './kernel-names';
import { optionsMessage, type KnownOptions } from './unknown-options';

/** Structural copy of docs/interfaces.md's `Linear`. */
export interface Linear {
  readonly inFeatures: number;
  readonly outFeatures: number;
  apply(x: tf.Tensor): tf.Tensor;
  dequantize?(): tf.Tensor2D;
  /** Optional: bitsandbytes' 8-bit form of the weight (`CB` as `weight`, `SCB`), for an 8-bit save. */
  int8Weight?(): Promise<{ weight: Int8Array; SCB: Float32Array }>;
  dispose?(): void;
}

/** Structural copy of docs/interfaces.md's `LinearSpec`. */
export interface LinearSpec {
  /** Hugging Face module path, e.g. "encoder.block.0.layer.0.SelfAttention.q". */
  path: string;
  inFeatures: number;
  outFeatures: number;
  /** The weight [outFeatures, inFeatures]. */
  weight: WeightData;
}

export type LinearFactory = (spec: LinearSpec) => Linear;

/** Options of {@link int8LinearFactory}. */
export interface Int8LinearFactoryOptions {
  /** Compute mode of every quantized layer. Default `'weight-only'`. */
  mode?: Int8Mode;
  /** LLM.int8 outlier threshold (bitsandbytes' `llm_int8_threshold`). Default 6.0; 0 = no outlier columns. */
  threshold?: number;
  /**
   * Which projections to quantize. Default: all but `lm_head` (bitsandbytes keeps the output
   * head in floating point too).
   */
  shouldQuantize?: (spec: LinearSpec) => boolean;
  /** Builds the layers not quantized. Default: a float32 linear from this package. */
  fallback?: LinearFactory;
}

const FACTORY_OPTIONS: KnownOptions<Int8LinearFactoryOptions> = { mode: true, threshold: true, shouldQuantize: true, fallback: true };
const FACTORY_ALIASES = { ...BITSANDBYTES_NAMES, llm_int8_skip_modules: 'shouldQuantize: skipModules([...])' };

/**
 * One Error naming every problem of `int8LinearFactory`'s options, at creation (before any weight is read): unknown
 * keys; a mode or threshold the layers would refuse only when the first one is quantized (an empty mode was
 * taken as the default); `shouldQuantize` or `fallback` that is not a function.
 */
function checkFactoryOptions(options: Int8LinearFactoryOptions): void {
  const where = 'int8LinearFactory';
  const message = optionsMessage(where, options, {
    known: FACTORY_OPTIONS,
    aliases: FACTORY_ALIASES,
    more: (o, p) => {
      const { shouldQuantize, fallback } = o;
      p.values.push(...modeThresholdProblems(o));
      if (shouldQuantize !== undefined && typeof shouldQuantize !== 'function') p.values.push('shouldQuantize must be a function (spec) => boolean, e.g. skipModules([...])');
      if (fallback !== undefined && typeof fallback !== 'function') p.values.push('fallback must be a function (spec) => Linear');
    },
  });
  if (message !== undefined) throw new Error(message);
}

/** The default `shouldQuantize`: everything except the output head. */
export const quantizeAllButLmHead = (spec: LinearSpec): boolean => spec.path !== 'lm_head' && !spec.path.endsWith('.lm_head');

/**
 * Whether one of `names` (bitsandbytes' `llm_int8_skip_modules`) keeps the module at `path` unquantized:
 * `path` equals a name, ends with `.` + name, or starts with name + `.` — on whole path segments, so
 * `decoder.block.1` does not reach `decoder.block.10`. The rule {@link skipModules} applies (see there for
 * the transformers source it follows); exported so a planner can count what a load will keep float32.
 * Names are not checked here (`skipModules` refuses what is not a module name or path).
 */
export function isSkippedModule(path: string, names: readonly string[]): boolean {
  return names.some((n) => path === n || path.endsWith(`.${n}`) || path.startsWith(`${n}.`));
}

/**
 * A `shouldQuantize` that also keeps the named modules in float32 (bitsandbytes'
 * `llm_int8_skip_modules`): a path is skipped when it equals a name, ends with `.` + name
 * (`['wo']` keeps every `…DenseReluDense.wo`) or starts with name + `.` (`['encoder']` or
 * `['decoder.block.0']` keeps every linear under that module), as transformers matches them
 * (5.x `quantizers_utils.should_convert_module`: `re.match(f"{key}\\.", full_name)` or
 * `full_name.endswith(key)`; 4.x `_replace_with_bnb_linear`: the leaf name, or `key + "."` in the
 * path, anywhere) — on whole path segments here, so `decoder.block.1` does not reach `decoder.block.10`,
 * and, as in 5.x, a name in the middle of a path (`DenseReluDense`) is not matched.
 * transformers adds T5's `_keep_in_fp32_modules` (`["wo"]`) to these when it loads a T5 in 8 bit,
 * so `skipModules(['wo'])` reproduces its split; the output head stays float32 either way.
 */
export function skipModules(names: readonly string[]): (spec: LinearSpec) => boolean {
  for (const n of names) if (!/^[\w.]+$/.test(n)) throw new Error(`skipModules: ${JSON.stringify(n)} is not a module name or path`);
  return (spec) => quantizeAllButLmHead(spec) && !isSkippedModule(spec.path, names);
}

/**
 * A `LinearFactory` for `@conifer/t5-model`'s loader: quantizes each weight per output row,
 * straight from its checkpoint bytes (F32/F16/BF16), one row at a time. A weight that is already
 * 8-bit (`I8` with bitsandbytes' `SCB`, from a checkpoint saved in 8 bit) is used as it is; one the
 * factory keeps float (`shouldQuantize` false) is dequantized as bitsandbytes does.
 */
export function int8LinearFactory(options: Int8LinearFactoryOptions = {}): LinearFactory {
  checkFactoryOptions(options);
  const shouldQuantize = options.shouldQuantize ?? quantizeAllButLmHead;
  const fallback = options.fallback ?? ((spec: LinearSpec) => new Float32Linear(spec.weight, spec.path));
  return (spec) => {
    const [out, inF] = spec.weight.shape;
    if (spec.weight.shape.length !== 2 || out !== spec.outFeatures || inF !== spec.inFeatures) {
      throw new Error(`${spec.path}: weight shape [${spec.weight.shape.join(', ')}] is not [outFeatures ${spec.outFeatures}, inFeatures ${spec.inFeatures}]`);
    }
    if (!shouldQuantize(spec)) return fallback(spec);
    const linearOptions = { ...(options.mode !== undefined ? { mode: options.mode } : {}), ...(options.threshold !== undefined ? { threshold: options.threshold } : {}) };
    // An 8-bit checkpoint's weight (bitsandbytes' I8 + SCB) is taken as it is: no float round trip.
    if (spec.weight.dtype === 'I8') return Int8Linear.fromQuantized(fromBitsAndBytes(bitsAndBytesOf(spec.weight, spec.path), spec.path), linearOptions);
    return Int8Linear.fromWeightData(spec.weight, linearOptions, spec.path);
  };
}
