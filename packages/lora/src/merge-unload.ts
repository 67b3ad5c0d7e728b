import type { LoraLinear } from './lora-linear.js';
import type { Linear, LinearHost } from './types.js';

/**
 * What PEFT's `merge_and_unload(adapter_names)` leaves in one layer: the adapters already merged,
 * then `names` (the active adapters by default) not yet merged — those the layer has, in that order.
 */
export function adaptersToMerge(layer: LoraLinear, names: readonly string[]): string[] {
  const out: string[] = [];
  for (const n of [...layer.mergedAdapters, ...names]) if (layer.adapters.has(n) && !out.includes(n)) out.push(n);
  return out;
}

/** Swaps each built layer into the host (a layer with nothing to merge gets its base back) and frees the LoRA layers. */
function swap(host: LinearHost, layers: Array<[string, LoraLinear]>, built: Array<Linear | null>): void {
  for (const [i, [path, l]] of layers.entries()) {
    const m = built[i];
    if (m) {
      host.replaceLinear(path, m);
      l.dispose();
    } else {
      host.replaceLinear(path, l.base);
      l.disposeAdapter();
    }
  }
}

/**
 * PEFT's `merge_and_unload`: a float32 linear holding W + the deltas of {@link adaptersToMerge} at
 * every adapted path (a layer with none of them gets its base back, as PEFT's), then frees the
 * adapters and the replaced bases. Every merged layer is built before any is swapped in: a failure
 * (a base without dequantize) changes nothing.
 */
export function mergeAndUnloadLayers(host: LinearHost, layers: Array<[string, LoraLinear]>, names: readonly string[]): void {
  const built: Array<Linear | null> = [];
  try {
    for (const [, l] of layers) {
      const merge = adaptersToMerge(l, names);
      built.push(merge.length ? l.toLinear(merge) : null);
    }
  } catch (e) {
    for (const m of built) m?.dispose?.();
    throw e;
  }
  swap(host, layers, built);
}

/**
 * {@link mergeAndUnloadLayers} keeping each base's format: a base with `requantize` gets back a layer
 * of its own kind holding the merged weight (read back asynchronously: every backend), other bases
 * float32 linears. All merged layers are built before any is swapped in.
 */
export async function mergeAndUnloadLayersAsync(host: LinearHost, layers: Array<[string, LoraLinear]>, names: readonly string[]): Promise<void> {
  const built: Array<Linear | null> = [];
  try {
    for (const [, l] of layers) {
      const merge = adaptersToMerge(l, names);
      const requantize = l.base.requantize?.bind(l.base);
      if (!merge.length || !requantize) {
        built.push(merge.length ? l.toLinear(merge) : null);
        continue;
      }
      const w = l.mergedWeight(merge);
      try {
        built.push(requantize((await w.data()) as Float32Array));
      } finally {
        w.dispose();
      }
    }
  } catch (e) {
    for (const m of built) m?.dispose?.();
    throw e;
  }
  swap(host, layers, built);
}
