import * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';
import { type LoraConfig, type LoraConfigInput, resolveLoraConfig } from './config.js';
import { type AdapterTensor, readAdapter, writeAdapter } from './adapter-files.js';
import { LoraLinear, peftKey } from './lora-linear.js';
import { resolveAdapterDir, type AdapterHubOptions } from './hub.js';
import { isTargetModule, moduleRankAlpha, unmatchedTargets } from './target.js';
import type { Linear, LinearHost } from './types.js';

/** Options of {@link injectLora} that are not part of PEFT's config. */
export interface InjectOptions {
  /** Seed of A's (and B's, with `init_lora_weights: false`) initialisation and of the dropout masks (default 0). */
  seed?: number | string;
  /** Whether A and B are trainable (default true). */
  trainable?: boolean;
  /**
   * By default every entry of a `target_modules` list must match at least one linear, else the error
   * names those that matched nothing. True: only fail when nothing at all matched (PEFT's check).
   */
  allowUnmatchedTargets?: boolean;
}

/** PEFT's `print_trainable_parameters` numbers. */
export interface ParameterCounts {
  trainable: number;
  /** Base model parameters (host.numParameters(), or the listed linears' weights) + adapter parameters. */
  all: number;
  /** 100 · trainable / all */
  percent: number;
}

/**
 * What {@link LoraModel.trainable} needs from the host model: a summed token loss over a batch in
 * training or eval mode (`@conifer/t5-model`'s `lossSum`), and optionally its own dropout reseeding.
 */
export interface LossModel<B> {
  lossSum(batch: B, training: boolean): { sum: tf.Scalar; count: number };
  setDropoutSeed?(seed: number): void;
}

/** The host model and its adapter as one trainable unit (`@conifer/trainer`'s `Trainable`, structurally). */
export interface LoraTrainable<B> {
  /** Switches LoRA's dropout with `training`, then the host's `lossSum`. */
  lossSum(batch: B, training: boolean): { sum: tf.Scalar; count: number };
  /** LoRA's A and B: the only variables the optimizer updates. */
  trainableVariables(): tf.Variable[];
  /** Reseeds the host's dropout and every LoRA layer's, so a resumed run draws the same masks. */
  setDropoutSeed(seed: number): void;
}

/** `f"{n:,d}"` */
const thousands = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/**
 * A host with LoRA injected: the handle to train, save, load, merge and remove the adapter.
 * Created by {@link injectLora} or {@link loadAdapter}.
 */
export class LoraModel {
  private released = false;
  private isTraining = false;
  private merging = false;

  private constructor(
    readonly host: LinearHost,
    /** The resolved PEFT config (every field present). */
    readonly config: LoraConfig,
    /** The LoRA layers by path, in the host's order. */
    readonly layers: ReadonlyMap<string, LoraLinear>,
  ) {}

  /** @internal use {@link injectLora} */
  static inject(host: LinearHost, configInput: LoraConfigInput = {}, options: InjectOptions = {}, weightsFromFile = false): LoraModel {
    const config = resolveLoraConfig(configInput);
    const linears = host.listLinears();
    const paths = linears.map(([p]) => p);
    const unmatched = unmatchedTargets(config, paths);
    const targets = linears.filter(([p]) => isTargetModule(config, p));
    if (targets.length === 0 || (unmatched.length > 0 && !options.allowUnmatchedTargets)) {
      const what = typeof config.target_modules === 'string' ? `target_modules regex ${JSON.stringify(config.target_modules)}` : `target_modules ${JSON.stringify(unmatched.length ? unmatched : config.target_modules)}`;
      const sample = paths.slice(0, 6).join(', ');
      throw new Error(`LoRA: ${what} matched no linear of the model (${paths.length} linears, e.g. ${sample}${paths.length > 6 ? ', …' : ''})`);
    }
    const layers = new Map<string, LoraLinear>();
    try {
      for (const [path, base] of targets) {
        if (base instanceof LoraLinear) throw new Error(`LoRA: ${path} already has a LoRA adapter`);
        const { r, alpha } = moduleRankAlpha(config, path);
        layers.set(
          path,
          new LoraLinear(base, {
            path,
            r,
            loraAlpha: alpha,
            loraDropout: config.lora_dropout,
            useRslora: config.use_rslora,
            // Loading: A and B are overwritten from the file, so the cheapest init serves whatever the file says ("eva" included).
            initLoraWeights: weightsFromFile ? true : config.init_lora_weights,
            seed: options.seed ?? 0,
            trainable: options.trainable ?? true,
          }),
        );
      }
    } catch (e) {
      for (const l of layers.values()) l.disposeAdapter();
      throw e;
    }
    for (const [path, layer] of layers) host.replaceLinear(path, layer);
    return new LoraModel(host, config, layers);
  }

  private live(): ReadonlyMap<string, LoraLinear> {
    if (this.released) throw new Error('LoRA: this adapter was unloaded');
    return this.layers;
  }

  /** A and B of every layer that are trainable, ordered by PEFT key. The base stays frozen. */
  trainableVariables(): tf.Variable[] {
    const vars: tf.Variable[] = [];
    for (const l of this.live().values()) vars.push(l.loraA, l.loraB);
    return vars.filter((v) => v.trainable).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Makes A and B trainable or frozen (PEFT's `is_trainable`). */
  setTrainable(trainable: boolean): void {
    for (const l of this.live().values()) {
      l.loraA.trainable = trainable;
      l.loraB.trainable = trainable;
    }
  }

  /** Trainable / all parameters, as PEFT's `get_nb_trainable_parameters`. */
  trainableParameterCounts(): ParameterCounts {
    let lora = 0;
    let trainable = 0;
    for (const l of this.live().values()) {
      for (const v of [l.loraA, l.loraB]) {
        lora += v.size;
        if (v.trainable) trainable += v.size;
      }
    }
    let base = this.host.numParameters?.();
    if (base === undefined) {
      base = 0;
      for (const [, lin] of this.host.listLinears()) {
        const b = lin instanceof LoraLinear ? lin.base : lin;
        base += b.inFeatures * b.outFeatures;
      }
    }
    const all = base + lora;
    return { trainable, all, percent: all ? (100 * trainable) / all : 0 };
  }

  /** PEFT's line, `trainable params: 8,192 || all params: 1,234,567 || trainable%: 0.6636`; printed with `print` and returned. */
  printTrainableParameters(print: ((line: string) => void) | null = console.log): string {
    const c = this.trainableParameterCounts();
    const line = `trainable params: ${thousands(c.trainable)} || all params: ${thousands(c.all)} || trainable%: ${c.percent.toFixed(4)}`;
    print?.(line);
    return line;
  }

  /** Training mode: LoRA dropout is active. */
  train(): void {
    for (const l of this.live().values()) l.training = true;
    this.isTraining = true;
  }

  /** Inference mode: no dropout (the default). */
  eval(): void {
    for (const l of this.live().values()) l.training = false;
    this.isTraining = false;
  }

  /**
   * Reseeds every layer's dropout generator from `seed` and the layer's path (deterministic, and
   * different per layer): what a trainer calls before each step so that a resumed run draws the
   * same masks as an uninterrupted one.
   */
  setDropoutSeed(seed: number): void {
    for (const [path, layer] of this.live()) layer.setRandomState(seedrandom(`${seed}:${path}`, { state: true }).state());
  }

  /**
   * The host model with this adapter as what `@conifer/trainer` trains: `lossSum` puts LoRA in
   * training or eval mode to match (so its dropout is on exactly while training), the variables are
   * LoRA's, and `setDropoutSeed` reseeds the host's dropout (when it has one) and LoRA's.
   * `model` is usually the host itself (`@conifer/t5-model`'s `T5ForConditionalGeneration`).
   * The mode the last `lossSum` set persists (a checkpointed backward recomputes in it): call
   * {@link eval} after training before using the model for anything else.
   */
  trainable<B>(model: LossModel<B>): LoraTrainable<B> {
    return {
      lossSum: (batch, training) => {
        if (training) this.train();
        else this.eval();
        return model.lossSum(batch, training);
      },
      trainableVariables: () => this.trainableVariables(),
      setDropoutSeed: (seed) => {
        model.setDropoutSeed?.(seed);
        this.setDropoutSeed(seed);
      },
    };
  }

  get training(): boolean {
    return this.isTraining;
  }

  /** PEFT's `enable_adapter_layers`. */
  enableAdapterLayers(): void {
    for (const l of this.live().values()) l.adapterEnabled = true;
  }

  /** PEFT's `disable_adapter_layers`: every layer computes its base alone; the adapter is kept. */
  disableAdapterLayers(): void {
    for (const l of this.live().values()) l.adapterEnabled = false;
  }

  /** PEFT's `with model.disable_adapter():` — runs `fn` with the adapter off, then turns it back on. */
  withAdapterDisabled<T>(fn: () => T): T {
    this.disableAdapterLayers();
    try {
      return fn();
    } finally {
      this.enableAdapterLayers();
    }
  }

  /** PEFT's `merge_adapter`: each layer computes with W + scaling·B·A (float32); the bases are kept, see {@link LoraLinear.merge}. */
  merge(): void {
    for (const l of this.live().values()) l.merge();
  }

  /** PEFT's `unmerge_adapter`: back to the exact bases + adapters. */
  unmerge(): void {
    for (const l of this.live().values()) l.unmerge();
  }

  /**
   * PEFT's `merge_and_unload`: puts a float32 linear holding W + scaling·B·A into the host at every
   * adapted path, then frees A, B and the replaced bases (int8 bases become float32 linears).
   */
  mergeAndUnload(): void {
    // Every merged layer is built before any is swapped in: a failure (a base without dequantize) changes nothing.
    const live = [...this.live()];
    const merged: Array<[string, Linear]> = [];
    try {
      for (const [path, l] of live) merged.push([path, l.toLinear()]);
    } catch (e) {
      for (const [, m] of merged) m.dispose?.();
      throw e;
    }
    for (const [i, [path, m]] of merged.entries()) {
      this.host.replaceLinear(path, m);
      live[i]![1].dispose();
    }
    this.released = true;
  }

  /**
   * PEFT's `merge_and_unload` keeping each base's format: a base with `requantize` (`@conifer/int8`'s
   * `Int8Linear`) gets back a layer of its own kind holding W + scaling·B·A (int8 stays int8, as PEFT
   * re-quantizes when merging into 8-bit layers: the merged weight is rounded to int8 once); other
   * bases become float32 linears as in {@link mergeAndUnload}. Async: the merged weights are read back
   * to quantize them (every backend, webgpu in Node included). All merged layers are built before any
   * is swapped in, so a failure changes nothing — and the peak memory is the model plus every merged
   * layer (Flan-UL2's q/v: + 3.2 GB in int8). A second call while one runs is an error.
   */
  async mergeAndUnloadAsync(): Promise<void> {
    if (this.merging) throw new Error('LoRA: mergeAndUnloadAsync is already running');
    const layers = [...this.live()];
    this.merging = true;
    const merged: Array<[string, Linear]> = [];
    try {
      for (const [path, l] of layers) {
        const requantize = l.base.requantize?.bind(l.base);
        if (!requantize) {
          merged.push([path, l.toLinear()]);
          continue;
        }
        const w = l.mergedWeight();
        try {
          merged.push([path, requantize((await w.data()) as Float32Array)]);
        } finally {
          w.dispose();
        }
      }
    } catch (e) {
      for (const [, m] of merged) m.dispose?.();
      throw e;
    } finally {
      this.merging = false;
    }
    for (const [i, [path, l]] of layers.entries()) {
      this.host.replaceLinear(path, merged[i]![1]);
      l.dispose();
    }
    this.released = true;
  }

  /** PEFT's `unload`: puts the original bases back into the host and frees A and B. Also what {@link dispose} does. */
  unload(): void {
    for (const [path, l] of this.live()) {
      this.host.replaceLinear(path, l.base);
      l.disposeAdapter();
    }
    this.released = true;
  }

  dispose(): void {
    if (!this.released) this.unload();
  }

  /**
   * PEFT's `get_peft_model_state_dict`: A and B by saved key (`base_model.model.<path>.lora_A.weight`),
   * float32, sorted by key. Reads synchronously (cpu, wasm, tensorflow); {@link readStateDict} works
   * on every backend, webgpu in Node included.
   */
  stateDict(): Map<string, AdapterTensor> {
    const entries: Array<[string, AdapterTensor]> = [];
    for (const [path, l] of this.live()) {
      entries.push([peftKey(path, 'A'), { shape: [...l.loraA.shape], data: l.loraA.dataSync() as Float32Array }]);
      entries.push([peftKey(path, 'B'), { shape: [...l.loraB.shape], data: l.loraB.dataSync() as Float32Array }]);
    }
    return new Map(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  /** {@link stateDict}, read asynchronously (every backend; what {@link saveAdapter} uses). */
  async readStateDict(): Promise<Map<string, AdapterTensor>> {
    const entries: Array<[string, AdapterTensor]> = [];
    for (const [path, l] of this.live()) {
      entries.push([peftKey(path, 'A'), { shape: [...l.loraA.shape], data: (await l.loraA.data()) as Float32Array }]);
      entries.push([peftKey(path, 'B'), { shape: [...l.loraB.shape], data: (await l.loraB.data()) as Float32Array }]);
    }
    return new Map(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  /**
   * PEFT's `set_peft_model_state_dict`: copies A and B from `tensors` (keys as saved). Every layer's
   * A and B must be there with its shape, and no other key may be (the error lists them).
   */
  loadStateDict(tensors: ReadonlyMap<string, AdapterTensor>): void {
    const layers = this.live();
    const expected = new Map<string, [LoraLinear, 'A' | 'B']>();
    for (const [path, l] of layers) {
      expected.set(peftKey(path, 'A'), [l, 'A']);
      expected.set(peftKey(path, 'B'), [l, 'B']);
    }
    const missing = [...expected.keys()].filter((k) => !tensors.has(k));
    const unexpected = [...tensors.keys()].filter((k) => !expected.has(k));
    if (missing.length || unexpected.length) {
      const list = (xs: string[]) => xs.slice(0, 8).join(', ') + (xs.length > 8 ? `, … (${xs.length})` : '');
      throw new Error(`LoRA: adapter keys do not match the model.${missing.length ? ` Missing: ${list(missing)}.` : ''}${unexpected.length ? ` Unexpected: ${list(unexpected)}.` : ''}`);
    }
    const wrong: string[] = [];
    for (const [key, [l, which]] of expected) {
      const v = which === 'A' ? l.loraA : l.loraB;
      const t = tensors.get(key)!;
      if (t.shape.length !== 2 || t.shape[0] !== v.shape[0] || t.shape[1] !== v.shape[1]) wrong.push(`${key} is [${t.shape}], the model needs [${v.shape}]`);
    }
    if (wrong.length) throw new Error(`LoRA: adapter shapes do not match the model: ${wrong.join('; ')}`);
    for (const [path, l] of layers) l.setWeights(tensors.get(peftKey(path, 'A'))!.data, tensors.get(peftKey(path, 'B'))!.data);
  }

  /**
   * Writes `adapter_config.json` + `adapter_model.safetensors` into `dir` exactly as PEFT's
   * `save_pretrained` does (every PEFT 0.21 field, float32 tensors, atomic writes).
   */
  async saveAdapter(dir: string, options: { baseModelNameOrPath?: string } = {}): Promise<void> {
    const config: LoraConfig = { ...this.config };
    if (options.baseModelNameOrPath !== undefined) config.base_model_name_or_path = options.baseModelNameOrPath;
    await writeAdapter(dir, config, await this.readStateDict());
  }

  /** Loads A and B from an adapter folder written by PEFT or {@link saveAdapter} (`.safetensors` or legacy `.bin`). */
  async loadAdapterWeights(dir: string): Promise<void> {
    const { tensors } = await readAdapter(dir);
    this.loadStateDict(tensors);
  }
}

/**
 * Wraps the host's target linears with LoRA (PEFT's `get_peft_model`) and returns the handle.
 * `config` uses PEFT's names: `r`, `lora_alpha`, `lora_dropout`, `target_modules` (default
 * `["q", "v"]`), `use_rslora`, `bias: "none"`, …
 */
export function injectLora(host: LinearHost, config: LoraConfigInput = {}, options: InjectOptions = {}): LoraModel {
  return LoraModel.inject(host, config, options);
}

/** Options of {@link loadAdapter}. */
export interface LoadAdapterOptions {
  /** PEFT's `is_trainable`: false (default, as PEFT) freezes A and B for inference. */
  isTrainable?: boolean;
  /** Seed of the dropout masks. */
  seed?: number | string;
  /** How a hub id (`owner/name` that is not a local folder) is downloaded: cache, revision, endpoint, token. */
  hub?: AdapterHubOptions;
}

/**
 * PEFT's `PeftModel.from_pretrained(model, dir)`: reads `adapter_config.json` (missing fields get
 * PEFT's defaults, unknown ones are kept and ignored), injects LoRA into `host` accordingly and
 * loads A and B from `adapter_model.safetensors` (or the legacy `adapter_model.bin`). The key set
 * and shapes must match the model exactly. A hub id (`coniferlabs/flan-ul2-dolly-lora`) that is not
 * a local folder is downloaded first into the Hugging Face cache (`options.hub`), as PEFT does.
 */
export async function loadAdapter(host: LinearHost, dirOrId: string, options: LoadAdapterOptions = {}): Promise<LoraModel> {
  const { config, tensors } = await readAdapter(await resolveAdapterDir(dirOrId, options.hub));
  const model = LoraModel.inject(host, { ...config, inference_mode: !options.isTrainable }, {
    seed: options.seed ?? 0,
    trainable: options.isTrainable ?? false,
    allowUnmatchedTargets: true,
  }, true);
  try {
    model.loadStateDict(tensors);
  } catch (e) {
    model.unload();
    throw e;
  }
  return model;
}

export type { Linear, LinearHost };
