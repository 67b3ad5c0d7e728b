import type { LoraConfig } from './config.js';
import type { DoraWeightNorm } from './dora.js';
import { LoraLinear } from './lora-linear.js';
import { noTargetsMessage } from './no-targets.js';
import { isTargetModule, moduleRankAlpha, unmatchedTargets } from './target.js';
import type { LinearHost } from './types.js';

/** How {@link injectAdapterLayers} creates one named adapter. */
export interface AdapterLayerOptions {
  adapterName: string;
  /** Seed of the initialisation, and of the dropout of the layers it creates. */
  seed: number | string;
  /** Whether the new A and B are trainable. */
  trainable: boolean;
  /** Fail only when no linear at all matched (PEFT's check), not when one list entry matched nothing. */
  allowUnmatchedTargets: boolean;
  /** Loading: A and B are overwritten from the file, so the cheapest init serves whatever the file says ("eva" included). */
  weightsFromFile: boolean;
  /** DoRA's norm computation (`dora.ts`'s {@link DoraWeightNorm}; default `'factored'`). */
  doraWeightNorm?: DoraWeightNorm;
}

/**
 * PEFT's `inject_adapter` for one adapter: every target linear of `host` gets the adapter — a
 * {@link LoraLinear} of `owned` (the model's layers) gains it as one more adapter (PEFT's
 * `update_layer`), any other linear is wrapped in a new `LoraLinear` and swapped into the host. A
 * LoRA layer that `owned` does not hold (another model's) is refused. Nothing changes on a failure.
 * Returns the new layers (already in the host) and the layers that gained the adapter.
 */
export function injectAdapterLayers(
  host: LinearHost,
  config: LoraConfig,
  owned: ReadonlyMap<string, LoraLinear>,
  options: AdapterLayerOptions,
): { created: Map<string, LoraLinear>; extended: LoraLinear[] } {
  const linears = host.listLinears();
  const paths = linears.map(([p]) => p);
  const unmatched = unmatchedTargets(config, paths);
  const targets = linears.filter(([p]) => isTargetModule(config, p));
  if (targets.length === 0 || (unmatched.length > 0 && !options.allowUnmatchedTargets)) {
    throw new Error(noTargetsMessage(config, paths, unmatched, targets.length === 0));
  }
  if (config.use_dora) {
    // DoRA reads W's row norms: refused up front, before any adapter is allocated (PEFT dequantizes any base).
    const lacking = targets.filter(([, l]) => !(l instanceof LoraLinear ? l.base : l).dequantize).map(([p]) => p);
    if (lacking.length) {
      throw new Error(`LoRA: use_dora needs base linears with dequantize() (DoRA rescales each row of W by its norm); ${lacking.length} target(s) have none: ${lacking.slice(0, 6).join(', ')}${lacking.length > 6 ? ', …' : ''}`);
    }
  }
  const created = new Map<string, LoraLinear>();
  const extended: LoraLinear[] = [];
  try {
    for (const [path, base] of targets) {
      const { r, alpha } = moduleRankAlpha(config, path);
      const adapter = {
        adapterName: options.adapterName,
        r,
        loraAlpha: alpha,
        loraDropout: config.lora_dropout,
        useRslora: config.use_rslora,
        useDora: config.use_dora,
        initLoraWeights: options.weightsFromFile ? true : config.init_lora_weights,
        seed: options.seed,
        trainable: options.trainable,
        ...(options.doraWeightNorm !== undefined ? { doraWeightNorm: options.doraWeightNorm } : {}),
      };
      if (base instanceof LoraLinear) {
        if (owned.get(path) !== base) {
          throw new Error(`LoRA: ${path} already has a LoRA adapter; add another to its LoraModel with loadAdapter(dir, name) or addAdapter(name, config)`);
        }
        base.addAdapter(adapter);
        extended.push(base);
      } else {
        created.set(path, new LoraLinear(base, { path, ...adapter }));
      }
    }
  } catch (e) {
    for (const l of extended) l.deleteAdapter(options.adapterName);
    for (const l of created.values()) l.disposeAdapter();
    throw e;
  }
  for (const [path, layer] of created) host.replaceLinear(path, layer);
  return { created, extended };
}
