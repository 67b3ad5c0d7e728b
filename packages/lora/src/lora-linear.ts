import * as tf from '@tensorflow/tfjs-core';
import { dropout } from '@conifer/dropout';
import seedrandom from 'seedrandom';
import { type DoraBaseStats, addDoraDelta, disposeDoraStats, doraMergedWeight, initDora } from './dora.js';
import { FloatLinear } from './float-linear.js';
import { DEFAULT_ADAPTER_NAME, LoraAdapter, type LoraAdapterOptions, checkAdapterName, peftKey } from './lora-adapter.js';
import { loraDeltaWebGPU } from './lora-webgpu.js';
import { type AdapterNamesBatch, BASE_ADAPTER_NAME } from './mixed-batch.js';
import type { Linear } from './types.js';
import { ADAPTER_OPTIONS_REQUIRED, checkOptionArgument, inferenceModeProblems, LORA_ADAPTER_OPTIONS, LORA_LINEAR_OPTIONS, SET_ADAPTER_OPTIONS } from './option-arguments.js';

export { peftKey };

/** Options of one {@link LoraLinear}; names follow PEFT's `LoraConfig` in camelCase. */
export interface LoraLinearOptions extends LoraAdapterOptions {
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
  initLoraWeights?: LoraAdapterOptions['initLoraWeights'];
  /** Seed of the initialisation and of the dropout masks (default 0). Each layer derives its own streams from it and its path. */
  seed?: number | string;
  /** Whether A and B are trainable variables (default true). */
  trainable?: boolean;
  /** Name of the layer's first adapter (default `"default"`, as PEFT). */
  adapterName?: string;
}

/**
 * A linear with LoRA adapters (PEFT's `lora.Linear`): y = base(x) + Σ over the active adapters of
 * (dropout(x) · Aᵀ · Bᵀ) · scaling — or, for a DoRA adapter (`useDora`), its term of `dora.ts`'s
 * {@link addDoraDelta} on the running sum — A [r, in], B [out, r] (PEFT's shapes, stored as is; see
 * {@link LoraAdapter.adapterPath} for how the products run). The base stays frozen. It is created
 * with one adapter (`"default"` unless named); {@link addAdapter} adds more, {@link setAdapter}
 * chooses the active ones. `loraA`, `loraB`, `r`, `scaling`… are those of the layer's first adapter
 * (its only one in the single-adapter case); {@link adapters} has them all by name.
 */
export class LoraLinear implements Linear {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly path: string;
  /** Dropout is applied only while true (see {@link LoraModel.train}). */
  training = false;
  /** While false the layer is its base (the adapters are kept): PEFT's `disable_adapters`, for every adapter. */
  adapterEnabled = true;
  private readonly byName = new Map<string, LoraAdapter>();
  private active: string[];
  private merged: FloatLinear | null = null;
  private mergedNames: string[] = [];
  /** The running mixed batch (PEFT's `adapter_names` forward argument), or null. */
  private mixedBatch: AdapterNamesBatch | null = null;
  /** One stream for the layer, as PEFT's dropouts all draw from torch's generator: each active adapter draws in turn. */
  private dropoutRng: seedrandom.StatefulPRNG<seedrandom.State.Arc4>;
  /** ‖W_i‖² and the bias of the base, kept from the first DoRA adapter on (the base is frozen). */
  private doraStats: DoraBaseStats | null = null;

  constructor(
    /** The wrapped linear; kept untouched (merge does not modify it). */
    readonly base: Linear,
    options: LoraLinearOptions,
  ) {
    checkOptionArgument('LoraLinear', options, { known: LORA_LINEAR_OPTIONS, required: '{ path, r, loraAlpha, … }' });
    this.inFeatures = base.inFeatures;
    this.outFeatures = base.outFeatures;
    this.path = options.path;
    const { path: _path, ...adapterOptions } = options;
    const first = this.newAdapter(adapterOptions);
    this.byName.set(first.name, first);
    this.active = [first.name];
    this.dropoutRng = seedrandom(`${String(options.seed ?? 0)}:${this.path}:dropout`, { state: true });
  }

  /** The adapters of this layer by name, in the order they were added. */
  get adapters(): ReadonlyMap<string, LoraAdapter> {
    return this.byName;
  }

  /** The adapter `name` of this layer (an error naming the layer's adapters if it has none of that name). */
  adapter(name: string): LoraAdapter {
    const a = this.byName.get(name);
    if (!a) throw new Error(`LoRA layer ${this.path} has no adapter "${name}" (it has: ${[...this.byName.keys()].join(', ') || 'none'})`);
    return a;
  }

  private get first(): LoraAdapter {
    const a = this.byName.values().next().value;
    if (!a) throw new Error(`LoRA layer ${this.path} has no adapter left`);
    return a;
  }

  /** Rank of the first adapter. */
  get r(): number {
    return this.first.r;
  }
  get loraAlpha(): number {
    return this.first.loraAlpha;
  }
  get loraDropout(): number {
    return this.first.loraDropout;
  }
  get scaling(): number {
    return this.first.scaling;
  }
  /** lora_A [r, inFeatures] of the first adapter, variable named {@link peftKey}(path, 'A') for `"default"`. */
  get loraA(): tf.Variable<tf.Rank.R2> {
    return this.first.loraA;
  }
  /** lora_B [outFeatures, r] of the first adapter, variable named {@link peftKey}(path, 'B') for `"default"`. */
  get loraB(): tf.Variable<tf.Rank.R2> {
    return this.first.loraB;
  }
  // Assignable, as they were when the layer had one adapter (tests probe the forward with other tensors).
  set loraA(v: tf.Variable<tf.Rank.R2>) {
    Object.assign(this.first, { loraA: v });
  }
  set loraB(v: tf.Variable<tf.Rank.R2>) {
    Object.assign(this.first, { loraB: v });
  }

  /** PEFT's `active_adapters`: the names whose deltas the forward adds (names this layer lacks are skipped). */
  get activeAdapters(): readonly string[] {
    return this.active;
  }

  /**
   * PEFT's `BaseTunerLayer.set_adapter`: `names` become the active adapters; their A and B become
   * trainable (frozen with `inferenceMode`), every other adapter's frozen. A merged layer keeps
   * computing with its merged weights until {@link unmerge} (`LoraModel.setAdapter` unmerges first, as PEFT).
   */
  setAdapter(names: string | readonly string[], options: { inferenceMode?: boolean } = {}): void {
    checkOptionArgument('LoraLinear.setAdapter', options, { known: SET_ADAPTER_OPTIONS, values: inferenceModeProblems });
    const list = typeof names === 'string' ? [names] : [...names];
    for (const [name, a] of this.byName) a.trainable = list.includes(name) && !options.inferenceMode;
    this.active = list;
  }

  /** Sets the active adapters without changing any adapter's trainability (a layer created while others were active). */
  setActiveAdapters(names: readonly string[]): void {
    this.active = [...names];
  }

  /** PEFT's `update_layer`: adds an adapter (not active, as PEFT: see {@link setAdapter}). */
  addAdapter(options: LoraAdapterOptions): LoraAdapter {
    checkOptionArgument('LoraLinear.addAdapter', options, { known: LORA_ADAPTER_OPTIONS, required: ADAPTER_OPTIONS_REQUIRED });
    const name = checkAdapterName(options.adapterName ?? DEFAULT_ADAPTER_NAME);
    if (this.byName.has(name)) throw new Error(`LoRA layer ${this.path} already has an adapter "${name}"`);
    const a = this.newAdapter(options);
    this.byName.set(name, a);
    return a;
  }

  /** A new adapter; for DoRA with its magnitude ‖W + s·B·A‖ (PEFT's `DoraLinearVariant.init`, after A and B are initialised). */
  private newAdapter(options: LoraAdapterOptions): LoraAdapter {
    const a = new LoraAdapter(this.path, this.inFeatures, this.outFeatures, options);
    if (!options.useDora) return a;
    try {
      const { stats, magnitude } = initDora(this.base, this.path, a, this.doraStats);
      this.doraStats = stats;
      a.attachMagnitude(magnitude);
    } catch (e) {
      a.dispose();
      throw e;
    }
    return a;
  }

  /** Frees one adapter's A and B and forgets it (and its place among the active ones). Refused while it is merged. */
  deleteAdapter(name: string): void {
    const a = this.adapter(name);
    if (this.mergedNames.includes(name)) throw new Error(`LoRA layer ${this.path}: cannot delete adapter "${name}" while it is merged; unmerge() first`);
    a.dispose();
    this.byName.delete(name);
    this.active = this.active.filter((n) => n !== name);
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

  /** Whether adapters are currently merged into a float copy of the weight. */
  get isMerged(): boolean {
    return this.merged !== null;
  }

  /** PEFT's `merged_adapters`, in the order they were merged. */
  get mergedAdapters(): readonly string[] {
    return this.mergedNames;
  }

  /** The adapters of `names` this layer has, in that order (names it lacks are skipped, as PEFT's forward and merge do). */
  private pick(names: readonly string[]): LoraAdapter[] {
    const out: LoraAdapter[] = [];
    for (const n of names) {
      const a = this.byName.get(n);
      if (a) out.push(a);
    }
    return out;
  }

  apply(x: tf.Tensor): tf.Tensor {
    if (this.mixedBatch) return this.applyMixed(x, this.mixedBatch);
    // Disabled: the base alone, merged or not (PEFT's forward with disabled adapters unmerges and runs the base).
    if (!this.adapterEnabled) return this.base.apply(x);
    if (this.merged) {
      if (this.training) throw new Error(`LoRA layer ${this.path} is merged: unmerge() before training`);
      return this.merged.apply(x);
    }
    const adapters = this.pick(this.active);
    if (adapters.length === 0) return this.base.apply(x);
    // Each adapter's dropout seed, drawn in the order of the active adapters.
    const draws = adapters.map((a) => {
      const p = this.training ? a.loraDropout : 0;
      return { a, p, seed: p > 0 ? this.dropoutRng.int32() : 0 };
    });
    return tf.tidy(() => this.addDeltas(this.base.apply(x), x, draws));
  }

  /** y + each adapter's delta on x (y = base(x), any leading shape): the fused kernels on webgpu, tensor ops elsewhere. */
  private addDeltas(y: tf.Tensor, x: tf.Tensor, draws: ReadonlyArray<{ a: LoraAdapter; p: number; seed: number }>): tf.Tensor {
    const x2 = tf.reshape(x, [-1, this.inFeatures]) as tf.Tensor2D; // (N, in)
    const webgpu = tf.getBackend() === 'webgpu';
    // Several active adapters: each one adds its term to the running sum, in order (PEFT's `result`).
    let y2 = tf.reshape(y, [-1, this.outFeatures]) as tf.Tensor2D; // (N, out)
    for (const { a, p, seed } of draws) {
      if (a.useDora) {
        // DoRA: tensor ops on every backend (the fused webgpu kernels are LoRA's only).
        y2 = addDoraDelta(this.base, this.doraStats!, y2, x2, a, p, seed);
      } else if (webgpu) {
        // 2 kernels forward, 4 backward per adapter, instead of ~7 and ~10 tensor ops (lora-webgpu.ts).
        y2 = loraDeltaWebGPU(y2, x2, a.loraA, a.loraB, a.scaling, p, seed);
      } else {
        const d = p > 0 ? dropout(x2, p, seed) : x2; // the mask is drawn on the device (@conifer/dropout)
        y2 = tf.add(y2, a.adapterPath(d, a.loraA, a.loraB)); // (N, out)
      }
    }
    return tf.reshape(y2, y.shape);
  }

  /**
   * PEFT's `Linear.forward` with `adapter_names`: `_check_forward_args` (the rows split into one group
   * per name, nothing merged), then a disabled layer runs its base, else `_mixed_batch_forward` — base(x)
   * for every row, plus, for each name this layer has, that adapter's delta on its rows alone
   * (`"__base__"` and names the layer lacks add nothing). Inference only: refused in training mode.
   */
  private applyMixed(x: tf.Tensor, batch: AdapterNamesBatch): tf.Tensor {
    const plan = batch.plan(x.shape.slice(0, -1).reduce((m, d) => m * d, 1), x.shape, this.path); // rows: every dim but the last
    if (this.merged) {
      throw new Error(`LoRA layer ${this.path}: cannot run with adapter names while adapters are merged (${this.mergedNames.join(', ')}); unmerge() first`);
    }
    const dora = batch.names.filter((n, i, all) => n !== BASE_ADAPTER_NAME && all.indexOf(n) === i && this.byName.get(n)?.useDora);
    if (dora.length) throw new Error(`LoRA layer ${this.path}: Cannot pass \`adapter_names\` when DoRA is enabled (DoRA adapter${dora.length > 1 ? 's' : ''} ${dora.join(', ')}), as PEFT`);
    if (this.training) throw new Error(`LoRA layer ${this.path}: adapter names are for inference only; call eval() first`);
    if (!this.adapterEnabled) return this.base.apply(x);
    const draw = (name: string) => {
      const a = this.byName.get(name);
      return a && name !== BASE_ADAPTER_NAME ? [{ a, p: 0, seed: 0 }] : [];
    };
    if (plan.single !== null) {
      const draws = draw(plan.single);
      return draws.length ? tf.tidy(() => this.addDeltas(this.base.apply(x), x, draws)) : this.base.apply(x);
    }
    return tf.tidy(() => {
      const y = this.base.apply(x); // (..., out)
      const y2 = tf.reshape(y, [-1, this.outFeatures]); // (N, out)
      const x2 = tf.reshape(x, [-1, this.inFeatures]); // (N, in)
      // Each group's rows: base rows as they are, an adapter's rows + its delta on them alone.
      const parts = plan.groups.map(({ name, index }) => {
        const yg = tf.gather(y2, index); // (n, out)
        const draws = draw(name);
        return draws.length ? this.addDeltas(yg, tf.gather(x2, index), draws) : yg;
      });
      return tf.reshape(tf.gather(tf.concat(parts, 0), plan.inverse), y.shape); // back in row order
    });
  }

  /** PEFT's `adapter_names` of the running mixed batch ({@link LoraModel.withAdapterNames}), or null. */
  get adapterNames(): readonly string[] | null {
    return this.mixedBatch?.names ?? null;
  }

  /** @internal {@link LoraModel.withAdapterNames} sets and clears it on every layer. */
  setAdapterNamesBatch(batch: AdapterNamesBatch | null): void {
    this.mixedBatch = batch;
  }

  /** scaling · B·A, [out, in] (PEFT's `get_delta_weight`) of adapter `name` (default: the first adapter). */
  deltaWeight(name?: string): tf.Tensor2D {
    return (name === undefined ? this.first : this.adapter(name)).deltaWeight();
  }

  /**
   * The effective float32 weight [out, in]: what the forward computes with — base + the merged or
   * active adapters' deltas, or the base alone while disabled. Needs `base.dequantize()`. Merges use
   * {@link mergedWeight}: the adapters are merged even while disabled, as PEFT does.
   */
  dequantize(): tf.Tensor2D {
    if (!this.adapterEnabled) return this.baseWeight();
    return this.mergedWeight(this.merged ? this.mergedNames : this.active);
  }

  /**
   * base + Σ scaling·B·A over `names` (default: the active adapters; names this layer lacks are
   * skipped), added in that order as PEFT's merge does, whether or not the adapters are enabled.
   * A DoRA adapter turns the weight so far W into (m / ‖W + ΔW‖)·(W + ΔW) per row (PEFT's `merge_safe`).
   */
  mergedWeight(names: readonly string[] = this.active): tf.Tensor2D {
    const adapters = this.pick(names);
    return tf.tidy(() => {
      let w = this.baseWeight();
      for (const a of adapters) w = a.useDora ? doraMergedWeight(w, a) : tf.add(w, a.deltaWeight());
      return w;
    });
  }

  private baseWeight(): tf.Tensor2D {
    const deq = this.base.dequantize?.bind(this.base);
    if (!deq) throw new Error(`LoRA layer ${this.path}: its base linear has no dequantize(), so it cannot be merged`);
    return deq();
  }

  /**
   * A new float linear holding {@link mergedWeight}(names) and the base's bias: none when the base
   * declares `bias: null`, else read as base(0) (zeros for a bias-free base that does not say so). For
   * an int8 base the result is float32 (W dequantized, not re-quantized). Leaves this layer unchanged.
   * Reads nothing back from the device, so it works on webgpu in Node (no synchronous reads there).
   */
  toLinear(names: readonly string[] = this.active): FloatLinear {
    const w = this.mergedWeight(names);
    if ((this.base as { bias?: unknown }).bias === null) return new FloatLinear(w, null);
    const b = tf.tidy(() => tf.reshape(this.base.apply(tf.zeros([1, this.inFeatures])), [this.outFeatures]) as tf.Tensor1D);
    return new FloatLinear(w, b);
  }

  /**
   * PEFT's `merge(adapter_names)`: the forward becomes one float matMul with W + the deltas of
   * `names` (default: the active adapters) added to those already merged. The base is kept untouched,
   * so {@link unmerge} restores it exactly (bit-for-bit, float or int8). Costs a float32 copy of the
   * weight while merged.
   */
  merge(names: readonly string[] = this.active): void {
    const add = this.pick(names)
      .map((a) => a.name)
      .filter((n, i, all) => !this.mergedNames.includes(n) && all.indexOf(n) === i);
    if (add.length === 0) return;
    const all = [...this.mergedNames, ...add];
    const next = this.toLinear(all);
    this.merged?.dispose();
    this.merged = next;
    this.mergedNames = all;
  }

  /** Undoes {@link merge}: back to base(x) + adapters, the base exactly as it was. */
  unmerge(): void {
    this.merged?.dispose();
    this.merged = null;
    this.mergedNames = [];
  }

  /**
   * Copies new values into A [r·in] and B [out·r] (row-major) of adapter `name` (default: the first),
   * and into DoRA's magnitude [out] when given, keeping the variables (optimizer state stays
   * attached); a merge that includes it is redone.
   */
  setWeights(a: Float32Array, b: Float32Array, name?: string, magnitude?: Float32Array): void {
    const adapter = name === undefined ? this.first : this.adapter(name);
    if (magnitude !== undefined) adapter.checkMagnitude(magnitude); // before A and B change
    adapter.setWeights(a, b);
    if (magnitude !== undefined) adapter.setMagnitude(magnitude);
    if (this.mergedNames.includes(adapter.name)) {
      const names = this.mergedNames;
      this.unmerge();
      this.merge(names);
    }
  }

  /** Frees every adapter's A and B and the merged copy; the base is left to its owner (see {@link dispose}). */
  disposeAdapter(): void {
    this.unmerge();
    for (const a of this.byName.values()) a.dispose();
    this.byName.clear();
    this.active = [];
    disposeDoraStats(this.doraStats);
    this.doraStats = null;
  }

  /** Frees the adapters and the base. */
  dispose(): void {
    this.disposeAdapter();
    this.base.dispose?.();
  }
}
