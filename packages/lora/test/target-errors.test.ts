// A PEFT user's target selection: errors that say why nothing was adapted (exclude_modules,
// layers_to_transform, a string taken as a regex), LoraConfig fields of the wrong type or with a bad
// regex refused naming the field, and "all-linear" in any case (PEFT's `target_modules.lower()`).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { FloatLinear, LoraConfigError, injectLora, resolveLoraConfig, type LoraConfigInput } from '../src/index.js';
import { MapHost } from './helpers.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** T5's layout: self-attention q/k/v/o of 2 encoder and 2 decoder blocks, and lm_head. */
class T5LikeHost extends MapHost {
  constructor() {
    super();
    let seed = 1;
    for (const stack of ['encoder', 'decoder']) {
      for (let b = 0; b < 2; b++) {
        for (const m of ['q', 'k', 'v', 'o']) {
          this.linears.set(`${stack}.block.${b}.layer.0.SelfAttention.${m}`, new FloatLinear(tf.randomNormal([4, 4], 0, 0.1, 'float32', seed++) as tf.Tensor2D));
        }
      }
    }
    this.linears.set('lm_head', new FloatLinear(tf.randomNormal([6, 4], 0, 0.1, 'float32', seed) as tf.Tensor2D));
  }
}

/** The error `injectLora` throws, checking that it changed nothing (linears, tensor count). */
function injectError(host: T5LikeHost, config: LoraConfigInput): Error {
  const before = [...host.linears.values()];
  const tensors = tf.memory().numTensors;
  let error: unknown;
  try {
    injectLora(host, config);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(Error);
  expect([...host.linears.values()]).toEqual(before);
  expect(tf.memory().numTensors).toBe(tensors);
  return error as Error;
}

describe('target selection errors', () => {
  it('every matched linear excluded: names exclude_modules, not "matched no linear"', () => {
    const host = new T5LikeHost();
    const e = injectError(host, { target_modules: ['q'], exclude_modules: '.*q' });
    expect(e.message).toMatch(/no linear is left to adapt: target_modules \["q"\] matched 4 \(e\.g\. encoder\.block\.0\.layer\.0\.SelfAttention\.q, .*\), but exclude_modules "\.\*q" excludes 4 of them/);
    expect(e.message).not.toMatch(/matched no linear/);
    const list = injectError(host, { target_modules: ['q'], exclude_modules: ['encoder.block.0.layer.0.SelfAttention.q', 'encoder.block.1.layer.0.SelfAttention.q', 'decoder.block.0.layer.0.SelfAttention.q', 'decoder.block.1.layer.0.SelfAttention.q'] });
    expect(list.message).toMatch(/matched 4 .*excludes 4 of them/);
    host.dispose();
  });

  it('layers_to_transform leaving out every match: names it and the layer index PEFT reads from the paths', () => {
    const host = new T5LikeHost();
    // Without layers_pattern PEFT's regex `.*\.[^.]*\.(\d+)\.` reads T5's "layer.0", not the block's number.
    const e = injectError(host, { target_modules: ['q'], layers_to_transform: 1 });
    expect(e.message).toMatch(/no linear is left to adapt: target_modules \["q"\] matched 4 .*but layers_to_transform 1 leaves out 4 \(layer index: 0 for encoder\.block\.0\.layer\.0\.SelfAttention\.q, 0 for encoder\.block\.1\.layer\.0\.SelfAttention\.q/);
    expect(e.message).toMatch(/without layers_pattern/);
    const pattern = injectError(host, { target_modules: ['q'], layers_to_transform: [5], layers_pattern: 'block' });
    expect(pattern.message).toMatch(/layers_to_transform \[5\] leaves out 4 \(layer index: 0 for encoder\.block\.0\..*1 for encoder\.block\.1\..*layers_pattern "block"\)/);
    // Both filters at once: each count is named.
    const both = injectError(host, { target_modules: ['q'], exclude_modules: ['encoder.block.0.layer.0.SelfAttention.q'], layers_to_transform: [7], layers_pattern: 'block' });
    expect(both.message).toMatch(/matched 4 .*exclude_modules \["encoder\.block\.0\.layer\.0\.SelfAttention\.q"\] excludes 1 of them, and layers_to_transform \[7\] leaves out 3/);
    // And with layers_pattern the same config adapts block 1 only.
    const lora = injectLora(host, { target_modules: ['q'], layers_to_transform: 1, layers_pattern: 'block' });
    expect([...lora.layers.keys()]).toEqual(['encoder.block.1.layer.0.SelfAttention.q', 'decoder.block.1.layer.0.SelfAttention.q']);
    lora.unload();
    host.dispose();
  });

  it('an entry matching nothing is still named, with a hint for a name given as a regex string or "all-linear" in a list', () => {
    const host = new T5LikeHost();
    expect(injectError(host, { target_modules: ['q', 'query'] }).message).toMatch(/^LoRA: target_modules \["query"\] matched no linear of the model \(17 linears/);
    const str = injectError(host, { target_modules: 'q' });
    expect(str.message).toMatch(/target_modules regex "q" matched no linear of the model \(a string is a regular expression over the whole path, PEFT's re\.fullmatch; for module names pass a list: \["q"\]\)/);
    expect(injectError(host, { target_modules: '.*\\.query' }).message).not.toMatch(/for module names/);
    expect(injectError(host, { target_modules: ['all-linear'] }).message).toMatch(/"all-linear" works as the whole value, a string, not as a list entry/);
    host.dispose();
    // "all-linear" on a host whose only linear is the output head: named as such, not as a regex.
    const headOnly = new T5LikeHost();
    for (const path of [...headOnly.linears.keys()]) if (path !== 'lm_head') headOnly.linears.get(path)!.dispose?.(), headOnly.linears.delete(path);
    expect(injectError(headOnly, { target_modules: 'all-linear' }).message).toBe('LoRA: target_modules "all-linear" (every linear but lm_head) matched no linear of the model (1 linears, e.g. lm_head)');
    headOnly.dispose();
  });

  it('"all-linear" in any case, as PEFT compares target_modules.lower(); also in add_weighted_adapter', async () => {
    const host = new T5LikeHost();
    const lora = injectLora(host, { target_modules: 'All-Linear', r: 2, lora_alpha: 2, init_lora_weights: false });
    expect(lora.layers.size).toBe(16); // every linear but lm_head
    expect(lora.layers.has('lm_head')).toBe(false);
    // Counted as the names of the linears it adapts, so it combines with a list adapter.
    lora.addAdapter('b', { target_modules: ['q', 'k', 'v', 'o'], r: 2, lora_alpha: 2, init_lora_weights: false }, { seed: 1 });
    await lora.addWeightedAdapter(['default', 'b'], [1, 1], 'sum', { combinationType: 'cat' });
    expect(lora.peftConfig.get('sum')!.target_modules).toEqual(['k', 'o', 'q', 'v']);
    lora.unload();
    host.dispose();
  });
});

describe('LoraConfig field checks', () => {
  const configError = (input: LoraConfigInput): string => {
    let error: unknown;
    try {
      resolveLoraConfig(input);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LoraConfigError);
    return (error as Error).message;
  };

  it('refuses exclude_modules, layers_to_transform, layers_pattern and use_rslora of the wrong type, naming the field and value', () => {
    expect(configError({ exclude_modules: 3 as never })).toBe('LoRA config: exclude_modules must be a list of names, a regex string or null, got 3');
    expect(configError({ exclude_modules: ['q', 1] as never })).toMatch(/exclude_modules must be .*got \["q",1\]/);
    expect(configError({ layers_to_transform: 'x' as never })).toBe('LoRA config: layers_to_transform must be a layer index or a list of layer indices (integers), got "x"');
    expect(configError({ layers_to_transform: [0, 1.5] })).toMatch(/layers_to_transform must be .*got \[0,1\.5\]/);
    expect(configError({ layers_to_transform: [0], layers_pattern: 3 as never })).toBe('LoRA config: layers_pattern must be a name, a list of names or null, got 3');
    expect(configError({ use_rslora: 'true' as never })).toBe('LoRA config: use_rslora must be a boolean, got "true"');
    // PEFT's types: int or list[int]; str or list[str].
    expect(resolveLoraConfig({ layers_to_transform: 2, layers_pattern: ['block', 'layers'] }).layers_to_transform).toBe(2);
    expect(resolveLoraConfig({ exclude_modules: '.*lm_head' }).exclude_modules).toBe('.*lm_head');
  });

  it('refuses a bad regular expression in each field that holds one, naming the field and the pattern', () => {
    expect(configError({ target_modules: '(q|v' })).toMatch(/^LoRA config: target_modules "\(q\|v" is not a valid regular expression \(JavaScript's RegExp syntax.*\): Invalid regular expression/);
    expect(configError({ exclude_modules: 'a)(b' })).toMatch(/^LoRA config: exclude_modules "a\)\(b" is not a valid regular expression/);
    expect(configError({ rank_pattern: { 'q[': 4 } })).toMatch(/^LoRA config: rank_pattern key "q\[" is not a valid regular expression/);
    expect(configError({ alpha_pattern: { '*v': 4 } })).toMatch(/^LoRA config: alpha_pattern key "\*v" is not a valid regular expression/);
    expect(configError({ layers_to_transform: [0], layers_pattern: ['block', 'h('] })).toMatch(/^LoRA config: layers_pattern "h\(" is not a valid regular expression/);
    // As an injection: the same error, nothing changed.
    const host = new T5LikeHost();
    expect(injectError(host, { target_modules: ['q'], rank_pattern: { '(': 2 } }).message).toMatch(/rank_pattern key "\(" is not a valid regular expression/);
    host.dispose();
  });

  it('refuses Python-only regex syntax (\\A, \\Z read as letters by JavaScript; (?P<…>, (?#…), inline flags refused), naming it', () => {
    expect(configError({ target_modules: '.*q_proj\\Z' })).toBe(
      'LoRA config: target_modules ".*q_proj\\\\Z" uses Python-only regex syntax (\\Z), which JavaScript\'s RegExp reads otherwise or refuses: write it with ^ and $, (?<name>…), no inline flags',
    );
    expect(configError({ exclude_modules: '\\Aencoder\\..*' })).toMatch(/^LoRA config: exclude_modules ".*" uses Python-only regex syntax \(\\A\)/);
    expect(configError({ rank_pattern: { '(?P<n>q)': 4 } })).toMatch(/rank_pattern key "\(\?P<n>q\)" uses Python-only regex syntax \(\(\?P<\)/);
    expect(configError({ alpha_pattern: { '(?i)Q': 4 } })).toMatch(/alpha_pattern key "\(\?i\)Q" uses Python-only regex syntax \(\(\?i\)\)/);
    // an escaped backslash before A is a backslash and the letter, in both languages; \\d and ordinary groups pass
    expect(resolveLoraConfig({ target_modules: '.*\\\\Aq' }).target_modules).toBe('.*\\\\Aq');
    expect(resolveLoraConfig({ target_modules: '.*block\\.\\d+\\.(?:q|v)' }).target_modules).toBe('.*block\\.\\d+\\.(?:q|v)');
  });
});
