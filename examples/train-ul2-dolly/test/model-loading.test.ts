// loadModel's int8 options: which projections end up int8 and which float32.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { fileURLToPath } from 'node:url';
import { Float32Linear, Int8Linear, isSkippedModule } from '@conifer/int8';
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { loadModel } from '../src/pipeline/model.js';
import { t5Linears } from '../src/plan.js';
import { t5Shape } from '../src/t5-config.js';

const UL2_TINY = fileURLToPath(new URL('../../../packages/t5-model/test/fixtures/models/ul2-tiny', import.meta.url));

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('loadModel', () => {
  it('--int8-skip-modules wo keeps every wo (and lm_head) float32, the other projections int8; without it only lm_head', async () => {
    const kinds = async (int8SkipModules: string[]) => {
      const { model } = await loadModel({ kind: 'dir', dir: UL2_TINY }, { int8: 'weight-only', int8SkipModules, seed: 1 });
      const out = model.listLinears().map(([path, l]) => [path, l instanceof Int8Linear ? 'int8' : l instanceof Float32Linear ? 'f32' : 'other'] as const);
      model.dispose();
      return out;
    };
    const skipped = await kinds(['wo']);
    expect(skipped.length).toBeGreaterThan(20);
    for (const [path, kind] of skipped) expect(kind, path).toBe(path.endsWith('.wo') ? 'f32' : 'int8');
    expect(skipped.filter(([p]) => p.endsWith('.wo'))).toHaveLength(5); // 2 encoder + 3 decoder blocks
    for (const [path, kind] of await kinds([])) expect(kind, path).toBe('int8');
  });

  it('--int8-skip-modules module paths keep their subtrees float32: what loads is what the plan counts (isSkippedModule)', async () => {
    const names = ['encoder', 'decoder.block.2', 'decoder.block.0.layer.1.EncDecAttention.q'];
    const { model } = await loadModel({ kind: 'dir', dir: UL2_TINY }, { int8: 'weight-only', int8SkipModules: names, seed: 1 });
    const f32 = model.listLinears().filter(([, l]) => l instanceof Float32Linear).map(([p]) => p);
    const int8 = model.listLinears().filter(([, l]) => l instanceof Int8Linear).map(([p]) => p);
    model.dispose();
    // ul2-tiny: 2 encoder blocks × 7 projections, decoder block 2's 11, one cross-attention q; lm_head is not a listed linear here
    expect(f32).toHaveLength(14 + 11 + 1);
    expect(int8).toHaveLength(3 * 11 - 11 - 1);
    const shape = t5Shape(JSON.parse(readFileSync(`${UL2_TINY}/config.json`, 'utf8')) as Record<string, unknown>);
    expect(t5Linears(shape).filter((l) => isSkippedModule(l.path, names)).map((l) => l.path).sort()).toEqual([...f32].sort());
  });

  it('--int8-skip-modules naming no projection of the model (wi on a gated model) is one clear error, from config.json before any weight loads', async () => {
    const before = tf.memory().numTensors;
    const err = await loadModel({ kind: 'dir', dir: UL2_TINY }, { int8: 'weight-only', int8SkipModules: ['wo', 'wi'], seed: 1 }).catch((e: Error) => e);
    expect((err as Error).message).toBe('--int8-skip-modules: wi matches no projection of this model (it has q, k, v, o, wi_0, wi_1, wo in encoder.block.0–1 and decoder.block.0–2)');
    expect(tf.memory().numTensors).toBe(before); // nothing was loaded
  });
});
