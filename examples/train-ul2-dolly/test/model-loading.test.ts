// loadModel's int8 options: which projections end up int8 and which float32.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { fileURLToPath } from 'node:url';
import { Float32Linear, Int8Linear } from '@conifer/int8';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../src/pipeline/model.js';

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

  it('--int8-skip-modules naming no projection of the model (wi on a gated model) is one clear error, from config.json before any weight loads', async () => {
    const before = tf.memory().numTensors;
    const err = await loadModel({ kind: 'dir', dir: UL2_TINY }, { int8: 'weight-only', int8SkipModules: ['wo', 'wi'], seed: 1 }).catch((e: Error) => e);
    expect((err as Error).message).toBe('--int8-skip-modules: wi matches no projection of this model (it has q, k, v, o, wi_0, wi_1, wo)');
    expect(tf.memory().numTensors).toBe(before); // nothing was loaded
  });
});
