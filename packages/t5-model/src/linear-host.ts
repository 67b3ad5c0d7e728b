/**
 * What `T5ForConditionalGeneration` and `T5EncoderModel` share as `LinearHost`s: their projections
 * listed and replaced by Hugging Face module path, and the per-stack weights counted and freed.
 */
import type { Linear } from './interfaces.js';
import type { T5Stack } from './stack.js';
import type { T5StackName } from './weights.js';

export function isLinear(x: unknown): x is Linear {
  return x !== null && typeof x === 'object' && typeof (x as Linear).apply === 'function' && typeof (x as Linear).inFeatures === 'number';
}

/** Every projection of `stacks` by Hugging Face module path (`encoder.block.0.layer.0.SelfAttention.q`), in checkpoint order. */
export function stackLinears(stacks: ReadonlyArray<readonly [T5StackName, T5Stack]>): Array<[path: string, linear: Linear]> {
  const out: Array<[string, Linear]> = [];
  for (const [stackName, stack] of stacks) {
    stack.block.forEach((block, i) => {
      block.layer.forEach((layer, j) => {
        for (const [moduleName, module] of Object.entries(layer)) {
          if (moduleName === 'layer_norm' || module === null || typeof module !== 'object') continue;
          for (const [name, value] of Object.entries(module)) {
            if (isLinear(value)) out.push([`${stackName}.block.${i}.layer.${j}.${moduleName}.${name}`, value]);
          }
        }
      });
    });
  }
  return out;
}

/**
 * Replaces the projection at `path` under `root` (a model whose fields carry the checkpoint's names);
 * `known` is the model's `listLinears()`. Same in/out features; the old one is not disposed.
 */
export function replaceLinearIn(root: object, known: ReadonlyArray<readonly [string, Linear]>, path: string, linear: Linear): void {
  const parts = path.split('.');
  const name = parts.pop()!;
  let parent: unknown = root;
  for (const p of parts) {
    parent = parent !== null && typeof parent === 'object' ? (parent as Record<string, unknown>)[p] : undefined;
  }
  const old = parent !== null && typeof parent === 'object' ? (parent as Record<string, unknown>)[name] : undefined;
  if (!isLinear(old) || !known.some(([p]) => p === path)) throw new Error(`replaceLinear: no linear at "${path}"`);
  if (old.inFeatures !== linear.inFeatures || old.outFeatures !== linear.outFeatures) {
    throw new Error(`replaceLinear(${path}): ${linear.inFeatures}→${linear.outFeatures} does not match ${old.inFeatures}→${old.outFeatures}`);
  }
  (parent as Record<string, unknown>)[name] = linear;
}

/** A stack's parameters besides its projections: the layer norms and layer 0's relative attention bias. */
export function stackNonLinearParameters(stack: T5Stack): number {
  let n = stack.final_layer_norm.weight.size;
  for (const b of stack.block) {
    for (const layer of b.layer) n += layer.layer_norm.weight.size;
    n += b.selfAttention.SelfAttention.relative_attention_bias?.size ?? 0;
  }
  return n;
}

/** Frees a stack's layer norms and relative attention bias (its projections are freed through `listLinears`). */
export function disposeStackNonLinear(stack: T5Stack): void {
  stack.final_layer_norm.dispose();
  for (const b of stack.block) {
    for (const layer of b.layer) layer.layer_norm.dispose();
    b.selfAttention.SelfAttention.relative_attention_bias?.dispose();
  }
}
