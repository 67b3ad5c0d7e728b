/**
 * Adafactor's options (transformers' `Adafactor.__init__` arguments in camelCase) and their check:
 * one error naming the option and its value, before anything is allocated.
 */

/** Options of {@link Adafactor}; defaults are transformers' `Adafactor.__init__`'s. */
export interface AdafactorOptions {
  /**
   * External learning rate (`lr`; default none). Needs `relativeStep: false` (transformers: "Cannot
   * combine manual `lr` and `relative_step=True` options"); without it `relativeStep` must be on.
   */
  lr?: number;
  /** `eps`: regularisation added to the squared gradient, and the floor of the parameter scale (default [1e-30, 1e-3]). */
  eps?: [number, number];
  /** `clip_threshold`: the update is divided by max(1, RMS(update) / clipThreshold) (default 1). */
  clipThreshold?: number;
  /** `decay_rate`: the second-moment decay is `1 − step^decayRate` (default −0.8; must be ≤ 0). */
  decayRate?: number;
  /** `beta1`: first-moment coefficient; null (the default) keeps no first moment. */
  beta1?: number | null;
  /** `weight_decay`: `p ← p − weightDecay·lr·p` before the update (default 0). */
  weightDecay?: number;
  /** `scale_parameter`: multiply the step size by max(eps[1], RMS(p)) (default true). */
  scaleParameter?: boolean;
  /** `relative_step`: step size min(1e-2, 1/√step) instead of `lr` (default true). */
  relativeStep?: boolean;
  /** `warmup_init`: with `relativeStep`, step size min(1e-6·step, 1/√step) (default false). */
  warmupInit?: boolean;
  /**
   * Not transformers': `true` updates each variable in one JavaScript loop that rounds every
   * operation to float32 (adafactor-cpu.ts; reads synchronously, so the `cpu` backend only), `false`
   * tensor ops (every backend). Default `'auto'`: the loop on 'cpu', tensor ops elsewhere.
   */
  fused?: boolean | 'auto';
}

/** The options with transformers' defaults filled in. */
export interface ResolvedAdafactorOptions {
  lr: number | undefined;
  eps: [number, number];
  clipThreshold: number;
  decayRate: number;
  beta1: number | null;
  weightDecay: number;
  scaleParameter: boolean;
  relativeStep: boolean;
  warmupInit: boolean;
  fused: boolean | 'auto';
}

const KEYS = ['lr', 'eps', 'clipThreshold', 'decayRate', 'beta1', 'weightDecay', 'scaleParameter', 'relativeStep', 'warmupInit', 'fused'] as const;

/**
 * Checks Adafactor's options and fills in defaults (transformers' unless `defaults` overrides them).
 * `where` prefixes the messages (`'Adafactor: '`, or `'train: adafactor.'` for the trainer's option).
 */
export function resolveAdafactorOptions(options: AdafactorOptions, where: string, defaults: Partial<ResolvedAdafactorOptions> = {}): ResolvedAdafactorOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new TypeError(`${where}options must be an object, got ${JSON.stringify(options)}`);
  for (const k of Object.keys(options)) {
    if (!(KEYS as readonly string[]).includes(k)) throw new RangeError(`${where}${k}: unknown Adafactor option (known: ${KEYS.join(', ')})`);
  }
  const o = { ...options } as Record<string, unknown>;
  for (const k of KEYS) if (o[k] === undefined) delete o[k];
  const bad = (k: string, what: string): never => {
    throw new RangeError(`${where}${k} must be ${what}, got ${JSON.stringify(o[k]) ?? String(o[k])}`);
  };
  const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
  const r: ResolvedAdafactorOptions = {
    lr: undefined, eps: [1e-30, 1e-3], clipThreshold: 1, decayRate: -0.8, beta1: null, weightDecay: 0,
    scaleParameter: true, relativeStep: true, warmupInit: false, fused: 'auto', ...defaults,
  };
  if ('lr' in o) r.lr = finite(o.lr) && o.lr >= 0 ? o.lr : bad('lr', 'a finite number >= 0');
  if ('eps' in o) {
    const e = o.eps;
    r.eps = Array.isArray(e) && e.length === 2 && e.every((x) => finite(x) && x >= 0) ? [e[0] as number, e[1] as number] : bad('eps', 'two finite numbers >= 0 ([eps1, eps2])');
  }
  if ('clipThreshold' in o) r.clipThreshold = finite(o.clipThreshold) && o.clipThreshold > 0 ? o.clipThreshold : bad('clipThreshold', 'a finite number > 0');
  // beta2t = 1 − step^decay_rate is a decay in [0, 1) only for decay_rate <= 0
  if ('decayRate' in o) r.decayRate = finite(o.decayRate) && o.decayRate <= 0 ? o.decayRate : bad('decayRate', 'a finite number <= 0');
  if ('beta1' in o) r.beta1 = o.beta1 === null ? null : finite(o.beta1) && o.beta1 >= 0 && o.beta1 < 1 ? o.beta1 : bad('beta1', 'null or a number in [0, 1)');
  if ('weightDecay' in o) r.weightDecay = finite(o.weightDecay) && o.weightDecay >= 0 ? o.weightDecay : bad('weightDecay', 'a finite number >= 0');
  for (const k of ['scaleParameter', 'relativeStep', 'warmupInit'] as const) {
    if (k in o) r[k] = typeof o[k] === 'boolean' ? o[k] : bad(k, 'a boolean');
  }
  if ('fused' in o) r.fused = typeof o.fused === 'boolean' || o.fused === 'auto' ? o.fused : bad('fused', "true, false or 'auto'");
  // Adafactor.__init__'s two checks
  if (r.lr !== undefined && r.relativeStep) throw new RangeError(`${where}lr (${r.lr}) cannot be combined with relativeStep: true (it computes its own step size); set relativeStep: false`);
  if (r.lr === undefined && !r.relativeStep) throw new RangeError(`${where}lr is needed with relativeStep: false`);
  if (r.warmupInit && !r.relativeStep) throw new RangeError(`${where}warmupInit: true requires relativeStep: true`);
  return r;
}
