import type * as tf from '@tensorflow/tfjs-core';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import seedrandom from 'seedrandom';
import { type LoraConfig, type LoraConfigInput, completeLoraConfig, resolveLoraConfig } from './config.js';
import type { DoraWeightNorm } from './dora.js';
import { type AdapterTensor, readAdapter, writeAdapter } from './adapter-files.js';
import {
  ADD_ADAPTER_OPTIONS,
  checkOptionArgument,
  inferenceModeProblems,
  LOAD_ADAPTER_NAMES,
  LOAD_NAMED_ADAPTER_OPTIONS,
  SAVE_ADAPTER_NAMES,
  SAVE_ADAPTER_OPTIONS,
  SET_ADAPTER_OPTIONS,
  WEIGHTED_ADAPTER_OPTIONS,
} from './option-arguments.js';
import { adapterStateDict, loadAdapterStateDict, loadStateDictValueProblems, type LoadStateDictOptions, readAdapterStateDict } from './adapter-state.js';
import { injectAdapterLayers } from './inject-layers.js';
import { DEFAULT_ADAPTER_NAME, checkAdapterName } from './lora-adapter.js';
import { LoraLinear } from './lora-linear.js';
import { resolveAdapterDir } from './hub.js';
import { mergeAndUnloadLayers, mergeAndUnloadLayersAsync } from './merge-unload.js';
import { AdapterNamesBatch, checkAdapterNames } from './mixed-batch.js';
import type { AddAdapterOptions, InjectOptions, LoadNamedAdapterOptions, LoraTrainable, LossModel, ParameterCounts, SaveAdapterOptions } from './model-options.js';
import { runThenEnd } from './settle.js';
import type { LinearHost } from './types.js';
import { type AddWeightedAdapterOptions, type WeightedSource, combineLayer, planWeightedAdapter } from './weighted-adapter.js';

/** `f"{n:,d}"` */
const thousands = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
const byName = (a: tf.Variable, b: tf.Variable) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * A host with LoRA injected: the handle to train, save, load, merge and remove its adapters.
 * Created by {@link injectLora} or {@link loadAdapter} with one adapter (`"default"` unless named);
 * more are added by name ({@link addAdapter}, {@link loadAdapter}) and chosen with {@link setAdapter},
 * as on PEFT's `PeftModel`.
 */
export class LoraModel {
  private released = false;
  private isTraining = false;
  private merging = false;
  /** How many {@link withAdapterDisabled} calls are running (nested, or async ones overlapping). */
  private disabledRuns = 0;
  /** The running {@link withAdapterNames} batch, or null. */
  private mixed: AdapterNamesBatch | null = null;
  /** PEFT's `peft_config`: every adapter's config by name, in the order they were added. */
  private readonly configs: Map<string, LoraConfig>;
  private layerMap: Map<string, LoraLinear>;
  private active: string[];

  private constructor(
    readonly host: LinearHost,
    name: string,
    config: LoraConfig,
    layers: Map<string, LoraLinear>,
  ) {
    this.configs = new Map([[name, config]]);
    this.layerMap = layers;
    this.active = [name];
  }

  /** @internal use {@link injectLora} */
  static inject(host: LinearHost, configInput: LoraConfigInput = {}, options: InjectOptions = {}, weightsFromFile = false): LoraModel {
    const name = checkAdapterName(options.adapterName ?? DEFAULT_ADAPTER_NAME);
    // A config read from adapter_config.json keeps the fields PEFT's LoraConfig lacks; one given in code may have none.
    const config = weightsFromFile ? completeLoraConfig(configInput) : resolveLoraConfig(configInput);
    const { created } = injectAdapterLayers(host, config, new Map(), {
      adapterName: name,
      seed: options.seed ?? 0,
      trainable: options.trainable ?? true,
      allowUnmatchedTargets: options.allowUnmatchedTargets ?? false,
      weightsFromFile,
      ...(options.doraWeightNorm !== undefined ? { doraWeightNorm: options.doraWeightNorm } : {}),
    });
    return new LoraModel(host, name, config, created);
  }

  private live(): ReadonlyMap<string, LoraLinear> {
    if (this.released) throw new Error('LoRA: this adapter was unloaded');
    return this.layerMap;
  }

  private known(names: string | readonly string[]): string[] {
    const list = typeof names === 'string' ? [names] : [...names];
    const unknown = list.filter((n) => !this.configs.has(n));
    if (unknown.length) throw new Error(`LoRA: no adapter named ${unknown.map((n) => JSON.stringify(n)).join(', ')} (adapters: ${[...this.configs.keys()].join(', ') || 'none'})`);
    return list;
  }

  /** The LoRA layers by path, in the host's order (every adapter's; a layer holds the adapters that target it). */
  get layers(): ReadonlyMap<string, LoraLinear> {
    return this.layerMap;
  }

  /** PEFT's `active_peft_config`: the resolved config (every PEFT field) of the active adapter (the first, if several). */
  get config(): LoraConfig {
    const name = this.active[0];
    if (name === undefined) throw new Error(`LoRA: no active adapter (adapters: ${[...this.configs.keys()].join(', ') || 'none'})`);
    return this.configs.get(name)!;
  }

  /** PEFT's `peft_config`: every adapter's config by name, in the order they were added. */
  get peftConfig(): ReadonlyMap<string, LoraConfig> {
    return this.configs;
  }

  /** PEFT's `active_adapter`: the first active adapter's name (undefined when none is). */
  get activeAdapter(): string | undefined {
    return this.active[0];
  }

  /** PEFT's `active_adapters`: the adapters whose deltas the forward adds, in that order. */
  get activeAdapters(): readonly string[] {
    return [...this.active];
  }

  /**
   * PEFT's `add_adapter(name, config)`: a fresh adapter (its A and B initialised as `config` says)
   * on every linear its `target_modules` match — next to other adapters on shared layers, ranks and
   * targets free. As PEFT (since PR #3495) it is neither active nor trainable: {@link setAdapter}`(name)`
   * makes it both. Nothing changes on a failure.
   */
  addAdapter(name: string, config: LoraConfigInput, options: AddAdapterOptions = {}): void {
    checkOptionArgument('LoraModel.addAdapter', options, { known: ADD_ADAPTER_OPTIONS });
    const dora = options.doraWeightNorm !== undefined ? { doraWeightNorm: options.doraWeightNorm } : {};
    this.addNamed(name, resolveLoraConfig(config), { seed: options.seed ?? 0, trainable: false, allowUnmatchedTargets: options.allowUnmatchedTargets ?? false, ...dora }, false);
  }

  private addNamed(name: string, config: LoraConfig, o: { seed: number | string; trainable: boolean; allowUnmatchedTargets: boolean; doraWeightNorm?: DoraWeightNorm }, weightsFromFile: boolean): Map<string, LoraLinear> {
    const layers = this.live();
    checkAdapterName(name);
    if (this.configs.has(name)) throw new Error(`LoRA: an adapter named "${name}" already exists`);
    const { created } = injectAdapterLayers(this.host, config, layers, { adapterName: name, ...o, weightsFromFile });
    for (const layer of created.values()) {
      layer.training = this.isTraining;
      layer.setActiveAdapters(this.active); // the new adapter is not active (PEFT's inject_adapter re-sets the active ones)
      layer.setAdapterNamesBatch(this.mixed); // a layer added inside withAdapterNames follows its names
    }
    // The layers in the host's order, new ones included.
    const all = new Map<string, LoraLinear>();
    for (const [path] of this.host.listLinears()) {
      const l = this.layerMap.get(path) ?? created.get(path);
      if (l) all.set(path, l);
    }
    for (const [path, l] of [...this.layerMap, ...created]) if (!all.has(path)) all.set(path, l);
    this.layerMap = all;
    this.configs.set(name, config);
    return created;
  }

  /** Undoes {@link addNamed}: the layers it created give their bases back, the others lose the adapter. */
  private removeNamed(name: string, created: ReadonlyMap<string, LoraLinear>): void {
    for (const [path, l] of [...this.layerMap]) {
      if (created.get(path) === l) {
        this.host.replaceLinear(path, l.base);
        l.disposeAdapter();
        this.layerMap.delete(path);
      } else if (l.adapters.has(name)) {
        l.deleteAdapter(name);
      }
    }
    this.configs.delete(name);
  }

  /**
   * PEFT's `PeftModel.load_adapter(dirOrId, adapter_name, is_trainable)`: reads the adapter folder (or
   * hub id) and adds it under `adapterName` as its config says (targets and ranks may differ from the
   * other adapters'). Not active (use {@link setAdapter}); trainable only with `isTrainable` — the
   * other adapters' trainability is unchanged (PEFT PR #3495) — and, as PEFT, without `isTrainable` the
   * model is put in eval mode. An existing name gets the folder's weights (PEFT's behaviour).
   * `subfolder` (PEFT's) reads `<dirOrId>/<subfolder>/`, locally or on the hub. As PEFT's
   * `load_state_dict(strict=False)`, keys no layer of the adapter has are ignored with a warning
   * (`onWarning`); missing keys and wrong shapes are errors.
   */
  async loadAdapter(dirOrId: string, adapterName: string, options: LoadNamedAdapterOptions = {}): Promise<void> {
    this.live();
    checkOptionArgument('LoraModel.loadAdapter', options, { known: LOAD_NAMED_ADAPTER_OPTIONS, aliases: LOAD_ADAPTER_NAMES, hub: true, values: (o) => loadStateDictValueProblems({ onWarning: o['onWarning'] }) });
    const dir = await resolveAdapterDir(dirOrId, options.hub, options.subfolder);
    const { config, tensors } = await readAdapter(dir, options.onWarning ? { onWarning: options.onWarning } : {});
    const load = { strict: false, source: dir, ...(options.onWarning ? { onWarning: options.onWarning } : {}) };
    if (this.configs.has(adapterName)) {
      this.loadStateDict(tensors, adapterName, load);
    } else {
      const trainable = options.isTrainable ?? false;
      const created = this.addNamed(adapterName, { ...config, inference_mode: !trainable }, { seed: options.seed ?? 0, trainable, allowUnmatchedTargets: true, ...(options.doraWeightNorm !== undefined ? { doraWeightNorm: options.doraWeightNorm } : {}) }, true);
      try {
        this.loadStateDict(tensors, adapterName, load);
      } catch (e) {
        this.removeNamed(adapterName, created);
        throw e;
      }
    }
    if (!options.isTrainable) this.eval();
  }

  /**
   * PEFT's `add_weighted_adapter(adapters, weights, adapter_name, combination_type, …)`: a new adapter
   * `adapterName` combining `adapters` with `weights` (negative ones subtract), on every layer any of
   * them adapts. Its r and lora_alpha are `linear`/`ties`/`dare_*`/`magnitude_prune`: the common r (the
   * adapters must share it); `cat`: the sum of the r's; `*svd`: `svdRank` or the largest r — so its
   * scaling is 1 and the sources' scalings are in its A and B. Its config is `adapters[0]`'s otherwise
   * (target_modules: the union). As PEFT it is neither active nor trainable ({@link setAdapter}), and it
   * saves and loads like any adapter. A single adapter is always combined `linear`, as PEFT.
   *
   * Computed on the host in float64 (A and B read asynchronously: every backend); the `*svd` types run
   * an SVD per layer (see {@link AddWeightedAdapterOptions}). Every argument is checked first: a problem
   * is one error and nothing changes. Unlike PEFT, an existing `adapterName` is an error (PEFT returns
   * without doing anything).
   */
  async addWeightedAdapter(adapters: readonly string[], weights: readonly number[], adapterName: string, options: AddWeightedAdapterOptions = {}): Promise<void> {
    checkOptionArgument('LoraModel.addWeightedAdapter', options, { known: WEIGHTED_ADAPTER_OPTIONS });
    const plan = () =>
      planWeightedAdapter({
        configs: this.configs,
        layers: this.live(),
        hostPaths: this.host.listLinears().map(([p]) => p),
        adapters,
        weights,
        adapterName,
        options,
      });
    const { paths } = plan();
    const dora = adapters.filter((n) => this.configs.get(n)?.use_dora);
    if (dora.length) {
      // PEFT copies adapters[0]'s config (use_dora too) and keeps the new adapter's freshly initialised magnitude,
      // dropping the sources' magnitudes: the result is not a combination of them. Refused instead.
      throw new Error(`LoRA: addWeightedAdapter does not combine DoRA adapters (${dora.join(', ')}): their magnitude vectors cannot be combined (PEFT keeps a fresh magnitude and drops theirs)`);
    }
    const sources = new Map<string, WeightedSource[]>();
    for (const path of paths) {
      const layer = this.layerMap.get(path)!;
      const read = new Map<string, { a: Float32Array; b: Float32Array }>();
      const list: WeightedSource[] = [];
      for (const [i, name] of adapters.entries()) {
        const ad = layer.adapters.get(name);
        if (!ad) continue; // PEFT: an adapter that does not target this layer adds nothing to it
        if (!read.has(name)) read.set(name, { a: (await ad.loraA.data()) as Float32Array, b: (await ad.loraB.data()) as Float32Array });
        list.push({ name, weight: weights[i]!, scaling: ad.scaling, r: ad.r, ...read.get(name)! });
      }
      sources.set(path, list);
    }
    const final = plan(); // again: the model may have changed while reading
    const combined = final.paths.map((path) => {
      const l = this.layerMap.get(path)!;
      return combineLayer(final, path, sources.get(path) ?? [], l.inFeatures, l.outFeatures);
    });
    this.addNamed(adapterName, final.config, { seed: 0, trainable: false, allowUnmatchedTargets: true }, true);
    for (const [i, path] of final.paths.entries()) this.layerMap.get(path)!.setWeights(combined[i]!.a, combined[i]!.b, adapterName);
  }

  /**
   * PEFT's `set_adapter(name | names)`: the forward adds exactly these adapters' deltas (a list: the
   * sum of them, in that order). Their A and B become trainable and every other adapter's frozen
   * (`inferenceMode: true` freezes them too, PEFT's `inference_mode`). Merged layers are unmerged first, as PEFT.
   */
  setAdapter(names: string | readonly string[], options: { inferenceMode?: boolean } = {}): void {
    checkOptionArgument('LoraModel.setAdapter', options, { known: SET_ADAPTER_OPTIONS, values: inferenceModeProblems });
    const list = this.known(names);
    for (const l of this.live().values()) {
      if (l.isMerged) l.unmerge();
      l.setAdapter(list, options);
    }
    this.active = list;
  }

  /**
   * PEFT's `delete_adapter(name)`: frees its A and B on every layer (layers left without adapters stay
   * LoRA layers computing their base, as PEFT's; {@link unload} removes them). Refused while it is
   * merged. If it was active, the other active adapters stay active; if it was the only one, the
   * first remaining adapter by sorted name becomes active (PEFT's `BaseTunerLayer.delete_adapter`,
   * chosen here once for the whole model); either way through {@link setAdapter}, so the new active
   * ones are trainable, as PEFT's.
   */
  deleteAdapter(name: string): void {
    const layers = this.live();
    this.known(name);
    const merged = [...layers.values()].some((l) => l.mergedAdapters.includes(name));
    if (merged) throw new Error(`LoRA: cannot delete adapter "${name}" while it is merged; unmerge() first`);
    if (this.mixed?.names.includes(name)) throw new Error(`LoRA: cannot delete adapter "${name}" while withAdapterNames runs with it`);
    for (const l of layers.values()) if (l.adapters.has(name)) l.deleteAdapter(name);
    this.configs.delete(name);
    if (!this.active.includes(name)) return;
    const rest = this.active.filter((n) => n !== name);
    const next = rest.length ? rest : [...this.configs.keys()].sort().slice(0, 1);
    if (next.length) this.setAdapter(next);
    else {
      for (const l of layers.values()) l.setActiveAdapters([]);
      this.active = [];
    }
  }

  /**
   * PEFT's mixed-adapter batch, `model(**inputs, adapter_names=[...])` / `generate(..., adapter_names=...)`:
   * runs `fn` with one adapter per input example — `adapterNames[i]` for example i, `"__base__"` for the
   * base model alone — whatever adapters are active, then puts the layers back. Every adapted layer
   * computes base(x) for all rows plus, for each name it has, that adapter's delta on that name's rows
   * (PEFT's `_mixed_batch_forward`): row i equals a forward with only `adapterNames[i]` active.
   *
   * Rows: a layer's input [..., in] is flattened to N rows, and with B names each example owns N / B
   * consecutive rows — [B, S, d] and T5's flattened [B·S, d] alike, the encoder's and the decoder's
   * inputs alike, and a beam search's or `numReturnSequences`' repeated rows (b·numBeams + beam, as
   * transformers and `@conifer/generate` lay them out) without a `num_beams` argument. A layer whose N
   * is not a multiple of B throws (PEFT's length check).
   *
   * Refused, each with one error and nothing changed: training mode (PEFT: inference only), unknown
   * names (all listed), merged adapters (`unmerge()` first), an empty or non-string list, and a second
   * call while one runs (nested, or overlapping while an async `fn` is pending). A layer that finds
   * the model merged or in training mode when it runs also throws. `fn` may be async: the names stay
   * set until its promise settles, and every forward of this model meanwhile uses them. Disabled
   * adapters ({@link withAdapterDisabled}) win: every row gets the base, as in PEFT.
   */
  withAdapterNames<T>(adapterNames: readonly string[], fn: () => T): T {
    const layers = this.live();
    if (this.mixed) throw new Error(`LoRA: withAdapterNames is already running on this model (with ${JSON.stringify(this.mixed.names)}); one mixed batch at a time`);
    if (typeof fn !== 'function') throw new Error('LoRA: withAdapterNames(adapterNames, fn) needs a function to run');
    // PEFT's order: training mode, then the names, then (in each layer) the rows and merged adapters.
    if (this.isTraining) throw new Error('LoRA: cannot pass adapter names when the model is in training mode (inference only, as PEFT); call eval() first');
    const names = checkAdapterNames(adapterNames, this.configs.keys());
    // PEFT's _check_forward_args: "Cannot pass `adapter_names` when DoRA is enabled." (checked here before anything is set up)
    const dora = [...new Set(names)].filter((n) => this.configs.get(n)?.use_dora);
    if (dora.length) throw new Error(`LoRA: Cannot pass \`adapter_names\` when DoRA is enabled (DoRA adapter${dora.length > 1 ? 's' : ''}: ${dora.join(', ')}), as PEFT`);
    const merged = [...layers].filter(([, l]) => l.isMerged).map(([p]) => p);
    if (merged.length) {
      throw new Error(`LoRA: cannot pass adapter names when there are merged adapters (${merged.length} layer(s), e.g. ${merged[0]}); call unmerge() first`);
    }
    const batch = new AdapterNamesBatch(names);
    this.mixed = batch;
    for (const l of layers.values()) l.setAdapterNamesBatch(batch);
    const end = () => {
      for (const l of this.layerMap.values()) l.setAdapterNamesBatch(null);
      batch.dispose();
      this.mixed = null;
    };
    return runThenEnd(fn, end);
  }

  /** PEFT's `adapter_names` of the running {@link withAdapterNames}, or null. */
  get adapterNames(): readonly string[] | null {
    return this.mixed?.names ?? null;
  }

  /** A and B (and DoRA's magnitude) of every adapter that are trainable, ordered by variable name. The base stays frozen. */
  trainableVariables(): tf.Variable[] {
    const vars: tf.Variable[] = [];
    for (const l of this.live().values()) for (const a of l.adapters.values()) vars.push(...a.variables);
    return vars.filter((v) => v.trainable).sort(byName);
  }

  /** PEFT's `set_requires_grad(adapter_names, requires_grad)`: makes those adapters' A and B (and DoRA's magnitude) trainable or frozen. */
  setRequiresGrad(names: string | readonly string[], requiresGrad = true): void {
    const list = this.known(names);
    for (const l of this.live().values()) for (const n of list) if (l.adapters.has(n)) l.adapters.get(n)!.trainable = requiresGrad;
  }

  /** Makes the active adapters' A and B (and DoRA's magnitude) trainable or frozen (PEFT's `is_trainable`); see {@link setRequiresGrad} for others. */
  setTrainable(trainable: boolean): void {
    this.setRequiresGrad(this.active, trainable);
  }

  /** Trainable / all parameters, as PEFT's `get_nb_trainable_parameters` (every adapter counts in "all"). */
  trainableParameterCounts(): ParameterCounts {
    let lora = 0;
    let trainable = 0;
    for (const l of this.live().values()) {
      for (const a of l.adapters.values()) {
        for (const v of a.variables) {
          lora += v.size;
          if (v.trainable) trainable += v.size;
        }
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

  /** PEFT's `disable_adapter_layers`: every layer computes its base alone, whichever adapters are active; they are kept. */
  disableAdapterLayers(): void {
    for (const l of this.live().values()) l.adapterEnabled = false;
  }

  /**
   * PEFT's `with model.disable_adapter():` — runs `fn` with the adapters off, then turns them back on.
   * `fn` may be async (e.g. `() => generate(model, …)`): the adapters stay off until its promise settles.
   * Nested or overlapping calls (two async `fn`s at once) turn them back on when the last one ends
   * (PEFT's nested `with` would turn them on at the inner exit).
   */
  withAdapterDisabled<T>(fn: () => T): T {
    this.disableAdapterLayers();
    this.disabledRuns++;
    return runThenEnd(fn, () => {
      if (--this.disabledRuns === 0 && !this.released) this.enableAdapterLayers();
    });
  }

  /**
   * PEFT's `merge_adapter(adapter_names)`: each layer computes with W + the deltas of `adapterNames`
   * (default: the active adapters), added to any already merged (float32); the bases are kept, see
   * {@link LoraLinear.merge}.
   */
  merge(adapterNames?: readonly string[]): void {
    const names = adapterNames === undefined ? this.active : this.known(adapterNames);
    for (const l of this.live().values()) l.merge(names);
  }

  /** PEFT's `unmerge_adapter`: back to the exact bases + adapters. */
  unmerge(): void {
    for (const l of this.live().values()) l.unmerge();
  }

  /**
   * PEFT's `merge_and_unload(adapter_names)`: puts a float32 linear holding W + the deltas of
   * `adapterNames` (default: the active adapters) and of any already merged into the host at every
   * adapted path (a layer with none of them gets its base back), then frees every adapter and the
   * replaced bases (int8 bases become float32 linears). Merges include adapters even while disabled,
   * as PEFT's. Every merged layer is built before any is swapped in: a failure changes nothing.
   */
  mergeAndUnload(adapterNames?: readonly string[]): void {
    const names = adapterNames === undefined ? this.active : this.known(adapterNames);
    mergeAndUnloadLayers(this.host, [...this.live()], names);
    this.released = true;
  }

  /**
   * PEFT's `merge_and_unload` keeping each base's format: a base with `requantize` (`@conifer/int8`'s
   * `Int8Linear`) gets back a layer of its own kind holding the merged weight (int8 stays int8, as PEFT
   * re-quantizes when merging into 8-bit layers: the merged weight is rounded to int8 once); other
   * bases become float32 linears as in {@link mergeAndUnload}. Async: the merged weights are read back
   * to quantize them (every backend, webgpu in Node included). All merged layers are built before any
   * is swapped in, so a failure changes nothing — and the peak memory is the model plus every merged
   * layer (Flan-UL2's q/v: + 3.2 GB in int8). A second call while one runs is an error.
   */
  async mergeAndUnloadAsync(adapterNames?: readonly string[]): Promise<void> {
    if (this.merging) throw new Error('LoRA: mergeAndUnloadAsync is already running');
    const names = adapterNames === undefined ? this.active : this.known(adapterNames);
    const layers = [...this.live()];
    this.merging = true;
    try {
      await mergeAndUnloadLayersAsync(this.host, layers, names);
    } finally {
      this.merging = false;
    }
    this.released = true;
  }

  /** PEFT's `unload`: puts the original bases back into the host and frees every adapter. Also what {@link dispose} does. */
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
   * PEFT's `get_peft_model_state_dict(model, adapter_name)`: A and B of adapter `adapterName`
   * (default `"default"`) by saved key (`base_model.model.<path>.lora_A.weight`, no adapter name, as
   * PEFT saves), float32, sorted by key. Reads synchronously (cpu, wasm, tensorflow);
   * {@link readStateDict} works on every backend, webgpu in Node included.
   */
  stateDict(adapterName: string = DEFAULT_ADAPTER_NAME): Map<string, AdapterTensor> {
    const layers = this.live();
    this.known(adapterName);
    return adapterStateDict(layers, adapterName);
  }

  /** {@link stateDict}, read asynchronously (every backend; what {@link saveAdapter} uses). */
  async readStateDict(adapterName: string = DEFAULT_ADAPTER_NAME): Promise<Map<string, AdapterTensor>> {
    const layers = this.live();
    this.known(adapterName);
    return readAdapterStateDict(layers, adapterName);
  }

  /**
   * PEFT's `set_peft_model_state_dict(model, tensors, adapter_name)`: copies A and B of adapter
   * `adapterName` (default `"default"`) from `tensors` (keys as saved). Every layer's A and B must be
   * there with its shape, and no other key may be (the error lists them) — unless `strict: false`:
   * then other keys are ignored and named in one warning (`onWarning`, default `console.warn`), as
   * PEFT's `load_state_dict(strict=False)`.
   */
  loadStateDict(tensors: ReadonlyMap<string, AdapterTensor>, adapterName: string = DEFAULT_ADAPTER_NAME, options: LoadStateDictOptions = {}): void {
    const layers = this.live();
    this.known(adapterName);
    loadAdapterStateDict(layers, adapterName, tensors, options);
  }

  /**
   * PEFT's `save_pretrained(dir, selected_adapters)`: for each adapter (all by default, or
   * `selectedAdapters`), `adapter_config.json` + `adapter_model.safetensors` exactly as PEFT writes
   * them (every PEFT 0.21 field, float32 tensors, keys without the adapter name, atomic writes) — the
   * `"default"` adapter into `dir` itself, any other into `dir/<name>/`, as PEFT lays them out.
   */
  async saveAdapter(dir: string, options: SaveAdapterOptions = {}): Promise<void> {
    this.live();
    checkOptionArgument('LoraModel.saveAdapter', options, { known: SAVE_ADAPTER_OPTIONS, aliases: SAVE_ADAPTER_NAMES });
    const names = options.selectedAdapters === undefined ? [...this.configs.keys()] : [...options.selectedAdapters];
    const unknown = names.filter((n) => !this.configs.has(n));
    if (unknown.length) {
      throw new Error(`LoRA: selectedAdapters names adapters this model does not have: ${unknown.join(', ')} (adapters: ${[...this.configs.keys()].join(', ')})`);
    }
    await mkdir(dir, { recursive: true });
    for (const name of names) {
      const config: LoraConfig = { ...this.configs.get(name)! };
      if (options.baseModelNameOrPath !== undefined) config.base_model_name_or_path = options.baseModelNameOrPath;
      await writeAdapter(name === DEFAULT_ADAPTER_NAME ? dir : join(dir, name), config, await this.readStateDict(name));
    }
  }

  /** Loads A and B of adapter `adapterName` (default `"default"`) from an adapter folder written by PEFT or {@link saveAdapter} (`.safetensors` or legacy `.bin`). */
  async loadAdapterWeights(dir: string, adapterName: string = DEFAULT_ADAPTER_NAME): Promise<void> {
    const { tensors } = await readAdapter(dir);
    this.loadStateDict(tensors, adapterName);
  }
}
