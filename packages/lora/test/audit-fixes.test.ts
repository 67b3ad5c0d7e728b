// Fixes from an audit against PEFT 0.21: disabled adapters and merges, LoraConfig's combination
// checks, mergeAndUnload changing nothing when a layer cannot merge.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { injectLora, resolveLoraConfig, type Linear } from '../src/index.js';
import { TwoLayerHost, maxAbsDiff } from './helpers.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const x = () => tf.tensor2d(Array.from({ length: 16 }, (_, i) => Math.sin(i)), [2, 8]);
const out = (host: TwoLayerHost) => {
  const input = x();
  const y = host.forward(input);
  const v = y.dataSync().slice();
  tf.dispose([input, y]);
  return v;
};

describe('LoRA audit fixes (PEFT semantics)', () => {
  it('a disabled adapter gives the base even while merged; merges include the adapter even while it is disabled', () => {
    const host = new TwoLayerHost(3);
    const base = out(host);
    const lora = injectLora(host, { target_modules: ['q', 'v'], init_lora_weights: false, r: 2, lora_alpha: 4 });
    lora.eval();
    const adapted = out(host);
    expect(maxAbsDiff(adapted, base)).toBeGreaterThan(1e-3);
    lora.merge();
    expect(maxAbsDiff(lora.withAdapterDisabled(() => out(host)), base)).toBeLessThan(1e-6); // was the merged output
    expect(maxAbsDiff(out(host), adapted)).toBeLessThan(1e-5);
    lora.unmerge();
    // Merged while disabled: the adapter is in the merged weights (PEFT merges the active adapter).
    lora.disableAdapterLayers();
    lora.merge();
    lora.enableAdapterLayers();
    expect(maxAbsDiff(out(host), adapted)).toBeLessThan(1e-5); // was the base
    lora.unmerge();
    lora.disableAdapterLayers();
    lora.mergeAndUnload();
    expect(maxAbsDiff(out(host), adapted)).toBeLessThan(1e-5); // was the base
    host.dispose();
  });

  it('mergeAndUnload changes nothing when a layer cannot be merged', () => {
    const host = new TwoLayerHost(4);
    const lora = injectLora(host, { target_modules: ['q', 'v'], init_lora_weights: false });
    lora.eval();
    const adapted = out(host);
    // The second layer's base loses dequantize(): it cannot be merged.
    const l1 = lora.layers.get('layers.1.v')!;
    const base1 = l1.base as Linear & { dequantize?: unknown };
    const saved = base1.dequantize;
    base1.dequantize = undefined;
    const before = tf.memory().numTensors;
    expect(() => lora.mergeAndUnload()).toThrow(/has no dequantize\(\), so it cannot be merged/);
    expect(tf.memory().numTensors).toBe(before); // the first layer's merged copy was freed
    expect(host.linears.get('layers.0.q')).toBe(lora.layers.get('layers.0.q')); // not swapped
    expect(maxAbsDiff(out(host), adapted)).toBe(0);
    base1.dequantize = saved;
    lora.unload();
    host.dispose();
  });

  it("LoraConfig refuses PEFT's invalid combinations: layer filters with a regex or all-linear target, layers_pattern alone, bad rank/alpha patterns", () => {
    expect(() => resolveLoraConfig({ target_modules: '.*q', layers_to_transform: [0] })).toThrow(/`layers_to_transform` cannot be used when `target_modules` is a str/);
    expect(() => resolveLoraConfig({ target_modules: 'all-linear', layers_to_transform: 0, layers_pattern: 'block' })).toThrow(/`layers_to_transform` cannot be used when `target_modules` is a str/);
    expect(() => resolveLoraConfig({ target_modules: ['q'], layers_pattern: 'block' })).toThrow(/when `layers_pattern` is specified, `layers_to_transform` must also be specified/);
    expect(() => resolveLoraConfig({ rank_pattern: { q: 0, v: 2.5 } })).toThrow(/rank_pattern values must be positive integers \(q: 0, v: 2\.5\)/);
    expect(resolveLoraConfig({ target_modules: ['q'], layers_to_transform: 0, layers_pattern: 'block' }).layers_to_transform).toBe(0);
  });
});
