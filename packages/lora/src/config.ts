import { describeUnknownField, FILE_FIELDS, fileFields, unknownFields } from './config-fields.js';
import { isAllLinear } from './target.js';

/**
 * PEFT's `LoraConfig`, with PEFT's field names (snake_case, as in `adapter_config.json`) and
 * PEFT 0.21's defaults. Fields this package cannot honour are refused with a clear error by
 * {@link validateLoraConfig} instead of being silently ignored.
 */

/** What `injectLora` accepts: any subset of PEFT's `LoraConfig` fields. */
export interface LoraConfigInput {
  /** LoRA rank (PEFT default 8). */
  r?: number;
  /** Scaling numerator: scaling = lora_alpha / r (PEFT default 8). */
  lora_alpha?: number;
  /** Dropout probability applied to the adapter's input, in training mode only (default 0). */
  lora_dropout?: number;
  /**
   * Which linears to adapt. A list: a path matches when it equals an entry or ends with
   * `"." + entry` (PEFT's `check_target_module_exists`), so `"q"` matches every
   * `….SelfAttention.q` and `….EncDecAttention.q`. A string: a regular expression that must match
   * the whole path (`re.fullmatch`). `"all-linear"`: every linear except `lm_head`.
   * Default (null/undefined): PEFT's default for T5/UL2, `["q", "v"]`.
   */
  target_modules?: string[] | string | null;
  /** Paths to leave alone, with the same matching rules as `target_modules`. */
  exclude_modules?: string[] | string | null;
  /** scaling = lora_alpha / √r instead of lora_alpha / r (rank-stabilized LoRA). */
  use_rslora?: boolean;
  /**
   * DoRA (weight-decomposed LoRA, PEFT's `use_dora`): each adapted row of W is rescaled to a trainable
   * magnitude m, y = base(x) + (m/‖W + s·B·A‖ − 1)·x'·Wᵀ + (m/‖W + s·B·A‖)·s·x'·Aᵀ·Bᵀ, the norm per output
   * row and without gradient. Needs a base with `dequantize()` (float32 and `@conifer/int8` bases).
   */
  use_dora?: boolean;
  /** Only `"none"` is supported (biases stay frozen and are not saved). */
  bias?: 'none' | 'all' | 'lora_only';
  /** `true`: A Kaiming-uniform (a = √5), B zeros (the adapter starts as a no-op). `false`: B is random too
   *  (PEFT leaves `nn.Linear`'s own init). `"gaussian"`: A ~ N(0, 1/r²) (std 1/r), B zeros. `"orthogonal"`: A and B
   *  random with orthogonal row spaces so B·A = 0 (even r only). `"eva"`: only when loading an adapter
   *  (EVA's data-driven init needs PEFT's `initialize_lora_eva_weights`); the file's A and B are used. */
  init_lora_weights?: InitLoraWeights;
  /** Per-module rank overrides, keyed by a regex matched against the end of the path. */
  rank_pattern?: Record<string, number>;
  /** Per-module alpha overrides, keyed like `rank_pattern`. */
  alpha_pattern?: Record<string, number>;
  /** Only adapt layers with these indices (PEFT's layer-index regex, see `layers_pattern`). */
  layers_to_transform?: number[] | number | null;
  /** The name of the layer list in the path (e.g. `"block"`), for `layers_to_transform`. */
  layers_pattern?: string[] | string | null;
  /** PEFT's `task_type`; saved as is (default `"SEQ_2_SEQ_LM"`). */
  task_type?: string | null;
  /** Saved as is; PEFT uses it to find the base model. */
  base_model_name_or_path?: string | null;
  /** Saved as is. */
  revision?: string | null;
  /**
   * Any other field of PEFT's `LoraConfig` (the keys of {@link peftLoraDefaults}): kept, saved back, and otherwise
   * ignored (unsupported features are refused). A key that is not one is refused in a config given in code (as PEFT's
   * `LoraConfig(**kwargs)`), and kept from an `adapter_config.json` (another PEFT version's fields).
   */
  [field: string]: unknown;
}

/** The `init_lora_weights` values this package accepts (PEFT's names). */
export type InitLoraWeights = boolean | 'gaussian' | 'orthogonal' | 'eva';

/** A config with every PEFT field present. */
export type LoraConfig = LoraConfigInput & {
  r: number;
  lora_alpha: number;
  lora_dropout: number;
  target_modules: string[] | string;
  use_rslora: boolean;
  use_dora: boolean;
  bias: 'none' | 'all' | 'lora_only';
  init_lora_weights: InitLoraWeights;
  rank_pattern: Record<string, number>;
  alpha_pattern: Record<string, number>;
};

/** The PEFT version whose `adapter_config.json` field set this package writes. */
export const PEFT_FORMAT_VERSION = '0.21.0';

/** PEFT's default `target_modules` for T5-family models (`TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING["t5"]`). */
export const T5_DEFAULT_TARGET_MODULES: readonly string[] = ['q', 'v'];

/** Every field PEFT 0.21 writes to `adapter_config.json`, with `LoraConfig`'s defaults. */
export function peftLoraDefaults(): Record<string, unknown> {
  return {
    alora_invocation_tokens: null,
    alpha_pattern: {},
    arrow_config: null,
    auto_mapping: null,
    base_model_name_or_path: null,
    bias: 'none',
    corda_config: null,
    ensure_weight_tying: false,
    eva_config: null,
    exclude_modules: null,
    fan_in_fan_out: false,
    inference_mode: false,
    init_lora_weights: true,
    kasa_config: null,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_alpha: 8,
    lora_bias: false,
    lora_dropout: 0.0,
    lora_ga_config: null,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    monteclora_config: null,
    peft_type: 'LORA',
    peft_version: PEFT_FORMAT_VERSION,
    qalora_group_size: 16,
    r: 8,
    rank_pattern: {},
    revision: null,
    target_modules: null,
    target_parameters: null,
    task_type: 'SEQ_2_SEQ_LM',
    trainable_token_indices: null,
    use_bdlora: null,
    use_dora: false,
    use_qalora: false,
    use_rslora: false,
    velora_config: null,
  };
}

export class LoraConfigError extends Error {
  override name = 'LoraConfigError';
}

/** The fields of PEFT's `LoraConfig` (0.21): the keys of {@link peftLoraDefaults}, sorted. */
export function peftLoraFields(): string[] {
  return Object.keys(peftLoraDefaults()).sort();
}

/**
 * A config given in code: every key must be a field of PEFT's `LoraConfig` (PEFT's constructor refuses any other
 * keyword argument), else one {@link LoraConfigError} names each unknown key and the field it probably meant
 * (`lora_alhpa (did you mean lora_alpha?)`, `loraAlpha (did you mean lora_alpha?)`). Then PEFT's defaults fill the
 * missing fields and what is supported is checked. A config read from `adapter_config.json` keeps its unknown fields
 * instead (`parseAdapterConfig`, `readAdapter`, `loadAdapter`).
 */
export function resolveLoraConfig(input: LoraConfigInput = {}): LoraConfig {
  const known = peftLoraFields();
  // a loaded adapter's config spread into a new one brings its file's other fields along: kept, as from the file
  const fromFile = new Set(fileFields(input));
  const unknown = unknownFields(input, [...known, ...CODE_ONLY_FIELDS]).filter((k) => !fromFile.has(k));
  if (unknown.length) {
    throw new LoraConfigError(
      `LoRA config: unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => describeUnknownField(k, known)).join(', ')}: ` +
        `not a field of PEFT's LoraConfig (PEFT ${PEFT_FORMAT_VERSION}, whose constructor refuses it too; the fields are peftLoraDefaults()'s keys)`,
    );
  }
  return completeLoraConfig(input);
}

/**
 * Fields PEFT's `LoraConfig` takes but never saves (`to_dict` drops them): accepted in code and ignored here
 * (`runtime_config`'s only setting, `ephemeral_gpu_offload`, moves weights to a CUDA device), not written.
 */
export const CODE_ONLY_FIELDS: readonly string[] = ['runtime_config'];

/** @internal PEFT's defaults for missing fields, unknown fields kept (a config read from a file); checks what is supported. */
export function completeLoraConfig(input: LoraConfigInput = {}): LoraConfig {
  const merged: Record<string | symbol, unknown> = { ...peftLoraDefaults() };
  for (const [k, v] of Object.entries(input)) if (v !== undefined && !CODE_ONLY_FIELDS.includes(k)) merged[k] = v;
  const fromFile = fileFields(input);
  if (fromFile.length > 0) merged[FILE_FIELDS] = fromFile;
  if (merged.target_modules === null || merged.target_modules === undefined) merged.target_modules = [...T5_DEFAULT_TARGET_MODULES];
  // PEFT keeps target_modules as a set and saves it as a list; sorted keeps files deterministic.
  if (Array.isArray(merged.target_modules)) merged.target_modules = [...new Set(merged.target_modules as string[])].sort();
  validateLoraConfig(merged);
  return merged as unknown as LoraConfig;
}

const isOff = (v: unknown) => v === null || v === undefined || v === false || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0);

/** Throws a {@link LoraConfigError} naming the field for anything this package cannot do as PEFT would. */
export function validateLoraConfig(c: Record<string, unknown>): void {
  const fail = (msg: string): never => {
    throw new LoraConfigError(`LoRA config: ${msg}`);
  };
  if (c.peft_type !== 'LORA') fail(`peft_type is ${JSON.stringify(c.peft_type)}; only "LORA" adapters are supported`);
  const r = c.r;
  if (typeof r !== 'number' || !Number.isInteger(r) || r <= 0) fail(`r must be a positive integer, got ${JSON.stringify(r)}`);
  if (typeof c.lora_alpha !== 'number' || !Number.isFinite(c.lora_alpha)) fail(`lora_alpha must be a number, got ${JSON.stringify(c.lora_alpha)}`);
  const p = c.lora_dropout;
  if (typeof p !== 'number' || !(p >= 0 && p < 1)) fail(`lora_dropout must be in [0, 1), got ${JSON.stringify(p)}`);
  const t = c.target_modules;
  if (!(typeof t === 'string' || (Array.isArray(t) && t.length > 0 && t.every((x) => typeof x === 'string')))) {
    fail(`target_modules must be a non-empty list of names or a regex string, got ${JSON.stringify(t)}`);
  }
  if (c.bias !== 'none') fail(`bias "${String(c.bias)}" is not supported: only "none" (base biases stay frozen and are not saved)`);
  const init = c.init_lora_weights;
  if (typeof init === 'string' && /^(pissa|olora|corda|loftq|lora[-_]ga)/i.test(init)) {
    // These move part of the base weight into A·B at init (W_res = W − scaling·B₀A₀): the saved A and B only
    // make sense on that residual base, which PEFT rebuilds from the base weights when it loads the adapter.
    fail(
      `init_lora_weights "${init}" is not supported: its adapter was trained against a residual base weight (W − scaling·B₀A₀) that this package does not rebuild. ` +
        'Save it with PEFT\'s path_initial_model_for_weight_conversion (or convert it with PEFT) to get a plain LoRA adapter, which loads here',
    );
  }
  if (![true, false, 'gaussian', 'orthogonal', 'eva'].includes(init as never)) {
    fail(`init_lora_weights ${JSON.stringify(init)} is not supported (true, false, "gaussian", "orthogonal", or "eva" for a saved adapter)`);
  }
  if (init === 'orthogonal' && (c.r as number) % 2 !== 0) fail(`init_lora_weights "orthogonal" requires the LoRA rank to be even, got r = ${String(c.r)}`);
  if (typeof c.use_rslora !== 'boolean') fail(`use_rslora must be a boolean, got ${JSON.stringify(c.use_rslora)}`);
  if (typeof c.use_dora !== 'boolean') fail(`use_dora must be a boolean, got ${JSON.stringify(c.use_dora)}`);
  // PEFT's LoraConfig.__post_init__.
  if (c.use_dora && !isOff(c.megatron_config)) fail('DoRA does not support megatron_core, please set `use_dora=False`');
  const unsupported: Array<[string, string]> = [
    ['lora_bias', 'a LoRA bias'],
    ['fan_in_fan_out', 'fan_in_fan_out (Conv1D weights)'],
    ['modules_to_save', 'modules_to_save (fully trained extra modules)'],
    ['use_qalora', 'QA-LoRA'],
    ['layer_replication', 'layer_replication'],
    ['target_parameters', 'target_parameters'],
    ['trainable_token_indices', 'trainable_token_indices'],
    ['use_bdlora', 'BD-LoRA'],
  ];
  for (const [field, what] of unsupported) if (!isOff(c[field])) fail(`${field} = ${JSON.stringify(c[field])}: ${what} is not supported`);
  // PEFT's LoraModel._create_and_replace switches the layer's variant on `is not None` for these two, so even `[]` or
  // `{}` turns aLoRA (`use_alora`) or Arrow routing on there: anything but null would compute something else here.
  const variants: Array<[string, string]> = [
    ['alora_invocation_tokens', 'activated LoRA (aLoRA: the adapter acts only after its invocation tokens)'],
    ['arrow_config', 'Arrow routing between adapters'],
  ];
  for (const [field, what] of variants) if (c[field] !== null && c[field] !== undefined) fail(`${field} = ${JSON.stringify(c[field])}: ${what} is not supported (null turns it off)`);
  for (const field of ['rank_pattern', 'alpha_pattern']) {
    const v = c[field];
    if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.values(v).every((x) => typeof x === 'number')) {
      fail(`${field} must be an object of numbers`);
    }
  }
  const ranks = Object.entries(c.rank_pattern as Record<string, number>).filter(([, x]) => !(Number.isInteger(x) && x > 0));
  if (ranks.length) fail(`rank_pattern values must be positive integers (${ranks.map(([k, x]) => `${k}: ${x}`).join(', ')})`);
  const alphas = Object.entries(c.alpha_pattern as Record<string, number>).filter(([, x]) => !Number.isFinite(x));
  if (alphas.length) fail(`alpha_pattern values must be finite numbers (${alphas.map(([k, x]) => `${k}: ${x}`).join(', ')})`);
  const names = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');
  const ex = c.exclude_modules;
  if (!(ex === null || ex === undefined || typeof ex === 'string' || names(ex))) fail(`exclude_modules must be a list of names, a regex string or null, got ${JSON.stringify(ex)}`);
  const idx = c.layers_to_transform;
  if (!(idx === null || idx === undefined || Number.isInteger(idx) || (Array.isArray(idx) && idx.every((i) => Number.isInteger(i))))) {
    fail(`layers_to_transform must be a layer index or a list of layer indices (integers), got ${JSON.stringify(idx)}`);
  }
  const lp = c.layers_pattern;
  if (!(lp === null || lp === undefined || typeof lp === 'string' || names(lp))) fail(`layers_pattern must be a name, a list of names or null, got ${JSON.stringify(lp)}`);
  // Every regular expression is compiled here, so a bad one is one error naming its field (not a bare SyntaxError at injection).
  // re.fullmatch compiles the pattern alone (so `a)(b` is refused, as Python does), get_pattern_key and the layer regex wrapped.
  const regexes: Array<[field: string, pattern: string, source: string]> = [];
  if (typeof t === 'string' && !isAllLinear(t)) regexes.push(['target_modules', t, t], ['target_modules', t, `^(?:${t})$`]);
  if (typeof ex === 'string') regexes.push(['exclude_modules', ex, ex], ['exclude_modules', ex, `^(?:${ex})$`]);
  for (const p of typeof lp === 'string' ? [lp] : Array.isArray(lp) ? (lp as string[]) : []) regexes.push(['layers_pattern', p, `^.*\\.${p}\\.(\\d+)\\.`]);
  for (const field of ['rank_pattern', 'alpha_pattern']) for (const k of Object.keys(c[field] as object)) regexes.push([`${field} key`, k, `^(?:.*\\.)?(?:${k})$`]);
  for (const [field, pattern, source] of regexes) {
    const python = pythonOnlySyntax(pattern);
    if (python) fail(`${field} ${JSON.stringify(pattern)} uses Python-only regex syntax (${python}), which JavaScript's RegExp reads otherwise or refuses: write it with ^ and $, (?<name>…), no inline flags`);
    try {
      new RegExp(source);
    } catch (e) {
      fail(`${field} ${JSON.stringify(pattern)} is not a valid regular expression (JavaScript's RegExp syntax, which shares Python's common syntax): ${(e as Error).message}`);
    }
  }
  // PEFT's LoraConfig.__post_init__ refuses these combinations (they would silently adapt every layer here).
  if (typeof t === 'string' && !isOff(c.layers_to_transform)) fail('`layers_to_transform` cannot be used when `target_modules` is a str');
  if (typeof t === 'string' && !isOff(c.layers_pattern)) fail('`layers_pattern` cannot be used when `target_modules` is a str');
  if (!isOff(c.layers_pattern) && isOff(c.layers_to_transform)) fail('when `layers_pattern` is specified, `layers_to_transform` must also be specified');
}

/**
 * The first piece of `pattern` that Python's `re` reads one way and JavaScript's RegExp another (`\\A`, `\\Z` are the
 * letters A, Z there, without the u flag) or refuses (`(?P<name>`, `(?P=name)`, comments, inline flags), or null.
 */
export function pythonOnlySyntax(pattern: string): string | null {
  // an escape is a backslash after an even run of backslashes
  const m = /(?:^|[^\\])(?:\\\\)*(\\[AZ])|(\(\?P[<=])|(\(\?#)|(\(\?[aiLmsux]+[):-])/.exec(pattern);
  return m ? (m[1] ?? m[2] ?? m[3] ?? m[4] ?? null) : null;
}

/** The scaling PEFT applies to B·A: lora_alpha / r, or lora_alpha / √r with use_rslora. */
export function loraScaling(r: number, loraAlpha: number, useRslora: boolean): number {
  return useRslora ? loraAlpha / Math.sqrt(r) : loraAlpha / r;
}
